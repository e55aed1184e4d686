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
    type Decoder = SliceDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstCodec::<T, U>::raw_encoder(Self::settings())
    }

    fn decoder(&mut self) -> Self::Decoder {
        SliceDecoder(std::marker::PhantomData)
    }
}

/// prost's decoder, reading a message from one slice of bytes.
///
/// tonic hands the decoder a message whole, in one contiguous buffer, but
/// behind its `DecodeBuf`: decoding through it advances a `BytesMut` at
/// every field key and value, 18 times for a vehicle's fix, and that was
/// the largest part of decoding it (BENCHMARKS.md, "Instructions per
/// report"). Decoding from the slice advances a pointer instead, and the
/// buffer once at the end. A message not in one piece (tonic never gives
/// one today) is decoded through the buffer, as prost's own decoder does.
#[derive(Debug)]
pub struct SliceDecoder<U>(std::marker::PhantomData<U>);

impl<U: prost::Message + Default> tonic::codec::Decoder for SliceDecoder<U> {
    type Item = U;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        buf: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<U>, tonic::Status> {
        use bytes::Buf;
        let len = buf.remaining();
        let chunk = buf.chunk();
        let decoded = if chunk.len() == len {
            let decoded = U::decode(chunk);
            buf.advance(len);
            decoded
        } else {
            U::decode(buf)
        };
        // As tonic-prost's decoder: a message that does not parse is
        // INTERNAL (https://github.com/grpc/grpc/blob/master/doc/statuscodes.md).
        decoded
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }

    fn buffer_settings(&self) -> tonic::codec::BufferSettings {
        CodecBuffers::<(), U>::settings()
    }
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut, Bytes, BytesMut};
    use futures::StreamExt;
    use prost::Message;
    use tonic::{codec::Streaming, Code};

    use super::*;
    use crate::v1::{self as pb, vehicle_report::Body};

    fn report(seq: u64, unit: &str) -> pb::VehicleReport {
        pb::VehicleReport {
            seq,
            unit_id: unit.into(),
            body: Some(Body::Position(pb::Position {
                fix_time: Some(prost_types::Timestamp {
                    seconds: 1_764_000_000 + seq as i64,
                    nanos: 250_000_000,
                }),
                latitude: -19.92,
                longitude: -43.94,
                speed_mps: Some(12.5),
                heading_deg: (seq % 2 == 0).then_some(90.0),
                accuracy_m: None,
            })),
        }
    }

    /// gRPC's framing: no compression, the length, the message.
    fn frame(out: &mut BytesMut, message: &[u8]) {
        out.put_u8(0);
        out.put_u32(message.len() as u32);
        out.put_slice(message);
    }

    /// `wire` cut into pieces of `piece` bytes, decoded as a request
    /// stream with the codec's decoder.
    async fn decode_all(
        wire: Bytes,
        piece: usize,
    ) -> Vec<Result<pb::VehicleReport, tonic::Status>> {
        let chunks: Vec<_> = wire
            .chunks(piece)
            .map(|c| {
                Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::copy_from_slice(c)))
            })
            .collect();
        let body = http_body_util::StreamBody::new(futures::stream::iter(chunks));
        let decoder =
            tonic::codec::Codec::decoder(&mut CodecBuffers::<(), pb::VehicleReport>::default());
        Streaming::new_request(decoder, body, None, None)
            .collect()
            .await
    }

    /// Whatever the transport's pieces, every message comes out as prost
    /// encoded it, an empty one included.
    #[tokio::test]
    async fn messages_decode_as_prost_encoded_them_from_any_pieces() {
        let sent = vec![
            report(1, "USA-01"),
            pb::VehicleReport::default(),
            report(2, "USA-01"),
            report(3, &"U".repeat(300)),
        ];
        let mut wire = BytesMut::new();
        for m in &sent {
            frame(&mut wire, &m.encode_to_vec());
        }
        let wire = wire.freeze();
        for piece in [1, 7, 64, wire.len()] {
            let got: Vec<_> = decode_all(wire.clone(), piece)
                .await
                .into_iter()
                .map(|r| r.expect("decodes"))
                .collect();
            assert_eq!(got, sent, "pieces of {piece} bytes");
        }
    }

    /// Bytes that are not the message end the stream with INTERNAL, as
    /// tonic-prost's decoder does, after the good messages before them.
    #[tokio::test]
    async fn a_message_that_does_not_parse_is_internal() {
        let mut wire = BytesMut::new();
        frame(&mut wire, &report(1, "USA-01").encode_to_vec());
        // Field 1 as a varint that never ends.
        frame(&mut wire, &[0x08, 0xff, 0xff]);
        let got = decode_all(wire.freeze(), 5).await;
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0].as_ref().expect("first decodes"),
            &report(1, "USA-01")
        );
        let status = got[1].as_ref().expect_err("second is refused");
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().is_empty());
    }
}
