//! Compiles `proto/samu/v1/*.proto` with protox (a pure-Rust protobuf
//! compiler), so building the workspace needs no `protoc` on the machine.

use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [
        "common.proto",
        "telemetry.proto",
        "fleet.proto",
        "admin.proto",
        "team.proto",
        "regulation.proto",
        "accounts.proto",
    ]
    .map(|f| proto_root.join("samu/v1").join(f));
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let descriptors = protox::compile(&files, [&proto_root])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("samu_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_prost_build::configure()
        // Small per-call buffers: see `CodecBuffers` in src/lib.rs.
        .codec_path("crate::CodecBuffers")
        .compile_fds(descriptors)?;
    Ok(())
}
