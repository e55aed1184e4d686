//! Routes and shared state of the HTTP server.

use std::time::Duration;

use axum::{
    extract::{Query, State, WebSocketUpgrade},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use metrics_exporter_prometheus::PrometheusHandle;
use samu_domain::CentralId;
use samu_runtime::{
    access::{AccessError, Rpc},
    AuthError, Central,
};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    error::ApiError,
    wall::{self, WallConfig},
};

/// Settings of the HTTP server.
#[derive(Debug, Clone, Default, serde::Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// The wall feed.
    pub wall: WallConfig,
    /// Connection cap and header deadline.
    pub limits: crate::listener::ConnectionLimits,
}

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct HttpState {
    /// The running central.
    pub central: Central,
    /// Redis, when configured: `/readyz` checks it.
    pub redis: Option<redis::Client>,
    /// Settings.
    pub config: HttpConfig,
    /// Fires when the server stops; open wall sockets close.
    pub shutdown: CancellationToken,
    /// Renders `/metrics`.
    pub prometheus: PrometheusHandle,
    /// The wall feed's shared encoders.
    pub wall_hubs: wall::WallHubs,
}

/// Every route.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .merge(crate::assets::routes())
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/ws/wall", get(ws_wall))
        .merge(crate::console::routes())
        .route(
            "/api/reports/{central}/{file}",
            get(crate::reports::download),
        )
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such path") })
        .with_state(state)
}

/// Serves HTTP on `listener`, secured as `transport` says, until
/// `shutdown` fires.
///
/// # Errors
/// The listener failed.
pub async fn serve(
    listener: TcpListener,
    state: HttpState,
    transport: samu_tls::Transport,
) -> std::io::Result<()> {
    let shutdown = state.shutdown.clone();
    let limits = state.config.limits.clone();
    crate::listener::serve(listener, router(state), &limits, transport, shutdown).await
}

/// 200 only when the store (and Redis, when configured) answers. The body
/// says `degraded` while writes wait in the local spool (the store was
/// away): ingest and the walls keep working meanwhile.
async fn readyz(State(state): State<HttpState>) -> Response {
    let store = match tokio::time::timeout(Duration::from_secs(2), state.central.ready()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 2 s".to_owned()),
    };
    let redis = match &state.redis {
        None => None,
        Some(client) => Some(ping_redis(client).await),
    };
    let ok = store.is_ok() && redis.as_ref().is_none_or(Result::is_ok);
    let writes = state.central.write_health();
    let describe = |r: &Result<(), String>| match r {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.clone(),
    };
    let status = if writes.degraded {
        "degraded"
    } else if ok {
        "ready"
    } else {
        "unavailable"
    };
    let body = json!({
        "status": status,
        "store": describe(&store),
        "redis": redis.as_ref().map_or_else(|| "disabled".to_owned(), describe),
        "write_backlog": state.central.write_backlog(),
        "spool": writes,
    });
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

async fn ping_redis(client: &redis::Client) -> Result<(), String> {
    let attempt = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(Duration::from_secs(2), attempt).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 2 s".to_owned()),
    }
}

async fn metrics(State(state): State<HttpState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.prometheus.render(),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct WallParams {
    central: Option<String>,
    token: Option<String>,
}

/// The read buffer of a wall's or console's WebSocket. Those clients send
/// little (pongs, a close), and tungstenite zeroes the buffer's free space,
/// up to this size, before every read it tries: at its default of 128 KiB
/// that was 128 KiB of memset each time a wall's task woke, a third of the
/// wall thread's time with 100 walls at 20 frames a second (`perf`,
/// BENCHMARKS.md). A longer message still arrives whole: the buffer grows to
/// the length its header announces, read this much at a time.
pub(crate) const SOCKET_READ_BUFFER: usize = 4 * 1024;

async fn ws_wall(
    State(state): State<HttpState>,
    Query(params): Query<WallParams>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let token = crate::reports::bearer(&headers)
        .or(params.token.as_deref())
        .unwrap_or("");
    state
        .central
        .authorize(token, Rpc::WallFeed)
        .map_err(|e| match e {
            AccessError::Unauthenticated(AuthError::Missing) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing token: send Authorization: Bearer or ?token=",
            ),
            e => e.into(),
        })?;
    let filter = params
        .central
        .filter(|c| !c.is_empty())
        .map(|c| CentralId::parse("central", &c))
        .transpose()?;
    let config = state.config.wall.clone();
    let central = state.central.clone();
    let shutdown = state.shutdown.clone();
    let hubs = state.wall_hubs.clone();
    Ok(upgrade
        .max_message_size(64 * 1024)
        .read_buffer_size(SOCKET_READ_BUFFER)
        .on_upgrade(move |socket| {
            wall::run_client(socket, central, filter, config, hubs, shutdown)
        }))
}
