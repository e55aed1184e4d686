//! `samu-load`: drives a running samu-central through its real protocols
//! and measures it.
//!
//! It creates its own central, base, units and device tokens through the
//! admin API (with the `admin` token of a tokens file such as the demo's
//! `demo-tokens.json`), then for a bounded time: N vehicle streams sending
//! positions at a set rate or as fast as acknowledged, M wall clients
//! measuring ingest-to-wall latency from the fix time each unit view
//! carries, and nearest-unit queries at a set rate. It ends by printing one
//! line of JSON (see [`Summary`]). Traffic goes only where `--grpc` and
//! `--http` point; use loopback addresses.
//!
//! # Layout
//! - [`args`]: the command-line options.
//! - [`setup`]: the registry the run needs.
//! - [`run`]: vehicles, walls, queries, and the summary.
//! - [`process`]: the server's RSS and CPU from `/proc`.
//! - [`floor`]: the machine's own round-trip floor under the load.
//! - [`vehicle`]: the vehicles' reports, and the bare stream client.
//! - [`h2stream`]: the bare stream over `h2` itself, as thin as the Redis
//!   side's client.
//! - [`timeline`]: the measured window second by second.
#![forbid(unsafe_code)]

pub mod args;
pub mod floor;
pub mod h2stream;
pub mod process;
pub mod realtime;
pub mod run;
pub mod setup;
pub mod timeline;
pub mod vehicle;

pub use args::Args;
pub use run::{run, Summary};
