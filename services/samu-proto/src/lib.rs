//! Generated code for the `samu.v1` gRPC protocol (`proto/samu/v1/`).
//!
//! Nothing here validates anything: the adapters parse these messages into
//! domain types at the edge (`samu-grpc`).
#![allow(missing_docs, clippy::all)]

/// The `samu.v1` package.
pub mod v1 {
    tonic::include_proto!("samu.v1");
}

/// Encoded `FileDescriptorSet` of the protocol, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/samu_descriptor.bin"));

/// The protobuf codec of every `samu.v1` service, with small buffers.
///
/// tonic's default gives every call an 8 KiB encode buffer and an 8 KiB
/// decode buffer, held for as long as the call lasts. A vehicle's stream
/// lasts its whole shift and carries messages of a few dozen bytes, so at
/// 10 000 vehicles the defaults alone held 160 MiB. Buffers start at
/// [`CodecBuffers::SIZE`] and grow when a larger message needs it.
#[derive(Debug, Clone)]
pub struct CodecBuffers<T, U>(std::marker::PhantomData<(T, U)>);

impl<T, U> CodecBuffers<T, U> {
    /// First capacity of each call's encode and decode buffer, in bytes.
    pub const SIZE: usize = 128;
    /// Encoded bytes a streaming response gathers before it yields, as
    /// tonic's default.
    const YIELD_THRESHOLD: usize = 32 * 1024;

    fn settings() -> tonic::codec::BufferSettings {
        tonic::codec::BufferSettings::new(Self::SIZE, Self::YIELD_THRESHOLD)
    }
}

impl<T, U> Default for CodecBuffers<T, U> {
    fn default() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<T, U> tonic::codec::Codec for CodecBuffers<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = tonic_prost::ProstEncoder<T>;
    type Decoder = tonic_prost::ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstCodec::<T, U>::raw_encoder(Self::settings())
    }

    fn decoder(&mut self) -> Self::Decoder {
        tonic_prost::ProstCodec::<T, U>::raw_decoder(Self::settings())
    }
}
