//! The `samu-central` server: configuration, wiring and the command line.
//!
//! `main.rs` only parses the command line, sets up logging and calls into
//! here, so integration tests build the very same [`app::Application`] on
//! port 0.
//!
//! # Layout
//! - [`cli`]: commands and options (`serve`, `migrate`, `token`).
//! - [`config`]: defaults, TOML file, environment.
//! - [`app`]: building, serving and draining a central.
//! - [`logging`]: tracing subscriber setup.
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod config;
pub mod logging;
pub mod realtime;
