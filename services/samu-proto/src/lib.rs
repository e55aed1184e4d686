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
