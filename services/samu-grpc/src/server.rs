//! Assembling the gRPC services, health and reflection into one server.

use std::time::Duration;

use samu_proto::v1 as pb;
use samu_runtime::Central;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;

use crate::{
    accounts::AccountsService, admin::AdminService, fleet::FleetService,
    regulation::RegulationService, team::TeamService, telemetry::TelemetryService,
};

/// Limits of the gRPC server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcConfig {
    /// Largest message accepted, in bytes. A report is a few hundred bytes;
    /// anything near this is an error or an attack.
    pub max_message_bytes: usize,
    /// HTTP/2 keep-alive ping interval, in seconds: finds dead vehicle
    /// connections (a tunnel, a dead zone) without waiting for TCP.
    pub keepalive_s: u64,
    /// Concurrent streams per connection.
    pub max_concurrent_streams: u32,
    /// Open connections at most (each vehicle keeps one); past it, new ones
    /// wait until one closes.
    pub max_connections: usize,
    /// A vehicle stream that carries no report for this long is ended, in
    /// seconds: a slow-loris client (or a stuck app) cannot hold a stream
    /// open for nothing. Apps report at least every few seconds while
    /// running, so only a dead one meets it; a live one reconnects.
    pub stream_silence_s: u64,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 * 1024,
            keepalive_s: 20,
            max_concurrent_streams: 1024,
            max_connections: 20_000,
            stream_silence_s: 300,
        }
    }
}

/// Serves gRPC on `listener`, secured as `transport` says (TLS, plaintext,
/// or plaintext to loopback peers only), until `shutdown` fires; open
/// vehicle streams are told to reconnect.
///
/// # Errors
/// The transport failed.
pub async fn serve(
    listener: TcpListener,
    central: Central,
    config: GrpcConfig,
    transport: samu_tls::Transport,
    shutdown: CancellationToken,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<pb::telemetry_server::TelemetryServer<TelemetryService>>()
        .await;
    health
        .set_serving::<pb::fleet_server::FleetServer<FleetService>>()
        .await;
    health
        .set_serving::<pb::admin_server::AdminServer<AdminService>>()
        .await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(samu_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(samu_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let max = config.max_message_bytes;
    let telemetry = pb::telemetry_server::TelemetryServer::new(TelemetryService::new(
        central.clone(),
        Duration::from_secs(config.stream_silence_s.max(1)),
        shutdown.clone(),
    ))
    .max_decoding_message_size(max);
    let fleet = pb::fleet_server::FleetServer::new(FleetService::new(central.clone()))
        .max_decoding_message_size(max);
    let team = pb::team_server::TeamServer::new(TeamService::new(central.clone()))
        .max_decoding_message_size(max);
    let regulation =
        pb::regulation_server::RegulationServer::new(RegulationService::new(central.clone()))
            .max_decoding_message_size(max);
    let accounts = pb::accounts_server::AccountsServer::new(AccountsService::new(
        central.clone(),
        central.session_ttl(),
    ))
    .max_decoding_message_size(max);
    let admin = pb::admin_server::AdminServer::new(AdminService::new(central))
        .max_decoding_message_size(max);

    // Browsers speak gRPC-Web over HTTP/1.1; tonic-web translates.
    Server::builder()
        .accept_http1(true)
        .layer(tonic_web::GrpcWebLayer::new())
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(Duration::from_secs(config.keepalive_s.max(1))))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .max_concurrent_streams(config.max_concurrent_streams)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(telemetry)
        .add_service(fleet)
        .add_service(admin)
        .add_service(team)
        .add_service(regulation)
        .add_service(accounts)
        .serve_with_incoming_shutdown(
            crate::incoming::capped(
                listener,
                config.max_connections,
                transport,
                shutdown.clone(),
            ),
            shutdown.cancelled_owned(),
        )
        .await?;
    Ok(())
}
