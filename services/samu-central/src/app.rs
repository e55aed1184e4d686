//! Building and running a central: store, runtime, listeners, demo.

use std::net::SocketAddr;

use anyhow::Context;
use samu_runtime::{Central, RuntimeTasks};
use samu_store::Store;
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// A central, built and bound, not yet serving.
pub struct Application {
    config: Config,
    central: Central,
    tasks: RuntimeTasks,
    grpc: TcpListener,
    /// The HTTP port and the consoles' own gRPC port (when configured): std
    /// listeners, because they are served from other runtimes than the one
    /// that bound them ([`serve_on_thread`]).
    http: std::net::TcpListener,
    console: Option<std::net::TcpListener>,
    /// Both ports' transport security, decided from `[tls]`.
    transports: samu_tls::Transports,
    redis: Option<redis::Client>,
    demo: bool,
    shutdown: CancellationToken,
}

/// Opens the configured store and applies pending migrations.
///
/// # Errors
/// The store is unreachable or a migration fails.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let url = config.store_url();
    let store = Store::connect(&url)
        .await
        .with_context(|| format!("cannot open the store at {}", redact(&url)))?;
    store.migrate().await.context("cannot migrate the store")?;
    Ok(store)
}

/// A URL with its password hidden, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl Application {
    /// Opens and migrates the store, restores the fleet, binds both
    /// listeners (port 0 picks a free port) and, with `demo`, seeds the demo.
    ///
    /// # Errors
    /// The `[tls]` section (a [`samu_tls::TlsError`] in the chain), the
    /// store, a listener, or the demo seed failed.
    pub async fn build(config: Config, demo: bool) -> anyhow::Result<Self> {
        let shutdown = CancellationToken::new();
        // First, so a bad certificate stops the start before anything else.
        let transports = config.tls.load()?;
        // The metrics recorder before the central: the central takes its
        // ingest path's metric handles from it when it starts.
        samu_http::telemetry::prometheus();
        let store = open_store(&config).await?;
        if demo {
            samu_demo::seed(&store)
                .await
                .context("cannot seed the demo")?;
        }
        let mut runtime = config.runtime.clone();
        if runtime.spool.dir.is_none() {
            runtime.spool.dir = Some(std::path::Path::new(&config.data_dir).join("spool"));
        }
        let (central, tasks) =
            Central::start(store, runtime, config.fleet.clone(), shutdown.clone())
                .await
                .context("cannot restore the fleet from the store")?;
        let grpc = listen(config.grpc_addr)
            .with_context(|| format!("cannot listen for gRPC on {}", config.grpc_addr))?;
        let http = listen(config.http_addr)
            .and_then(TcpListener::into_std)
            .with_context(|| format!("cannot listen for HTTP on {}", config.http_addr))?;
        let console = config
            .console_grpc_addr
            .map(|addr| {
                listen(addr)
                    .and_then(TcpListener::into_std)
                    .with_context(|| format!("cannot listen for console gRPC on {addr}"))
            })
            .transpose()?;
        let redis = config
            .redis_url
            .as_deref()
            .map(redis::Client::open)
            .transpose()
            .context("invalid REDIS_URL")?;
        Ok(Self {
            config,
            central,
            tasks,
            grpc,
            http,
            console,
            transports,
            redis,
            demo,
            shutdown,
        })
    }

    /// The bound gRPC address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc.local_addr().expect("bound listener")
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http.local_addr().expect("bound listener")
    }

    /// The bound console gRPC address, when one is configured.
    pub fn console_grpc_addr(&self) -> Option<SocketAddr> {
        self.console
            .as_ref()
            .map(|l| l.local_addr().expect("bound listener"))
    }

    /// The running central (tests use it to issue tokens).
    pub fn central(&self) -> &Central {
        &self.central
    }

    /// Cancelling this token stops the server gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token fires, then drains: open streams are
    /// told to reconnect, and pending writes are flushed before returning.
    ///
    /// # Errors
    /// A server failed; the others are stopped then.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            config,
            central,
            tasks,
            grpc,
            http,
            console,
            transports,
            redis,
            demo,
            shutdown,
        } = self;
        let grpc_addr = grpc.local_addr()?;
        let http_addr = http.local_addr()?;
        let mut servers = JoinSet::new();
        servers.spawn({
            let (central, shutdown, grpc_config, transport) = (
                central.clone(),
                shutdown.clone(),
                config.grpc.clone(),
                transports.grpc.clone(),
            );
            async move {
                samu_grpc::serve(grpc, central, grpc_config, transport, shutdown)
                    .await
                    .map_err(|e| anyhow::anyhow!("gRPC server failed: {e}"))
            }
        });
        if let Some(listener) = console {
            let addr = listener.local_addr()?;
            let (central, grpc_config, transport, shutdown) = (
                central.clone(),
                config.grpc.clone(),
                transports.grpc.clone(),
                shutdown.clone(),
            );
            let realtime = config.console_grpc_realtime;
            servers.spawn(serve_on_thread("console", realtime, move || async move {
                let listener = TcpListener::from_std(listener)?;
                samu_grpc::serve(listener, central, grpc_config, transport, shutdown)
                    .await
                    .map_err(|e| anyhow::anyhow!("console gRPC server failed: {e}"))
            })?);
            tracing::info!(console_grpc_addr = %addr, "console gRPC port serving");
        }
        let redis_client = redis.clone();
        let state = samu_http::HttpState {
            central: central.clone(),
            redis,
            config: config.http.clone(),
            shutdown: shutdown.clone(),
            prometheus: samu_http::telemetry::prometheus(),
            wall_hubs: samu_http::wall::WallHubs::default(),
        };
        let http_transport = transports.http.clone();
        servers.spawn(serve_on_thread("http", false, move || async move {
            let listener = TcpListener::from_std(http)?;
            samu_http::serve(listener, state, http_transport)
                .await
                .context("HTTP server failed")
        })?);
        let fanout = redis_client
            .map(|client| {
                samu_fanout::start(
                    client,
                    config.fanout.clone(),
                    central.clone(),
                    shutdown.clone(),
                )
            })
            .unwrap_or_default();
        tracing::info!(%grpc_addr, %http_addr, "central serving");
        transports.announce(grpc_addr, http_addr);
        if demo {
            let tokens = samu_demo::write_tokens(&central, &config.data_dir)
                .await
                .context("cannot write the demo tokens")?;
            let wall_host = if http_addr.ip().is_unspecified() {
                "localhost".to_owned()
            } else {
                http_addr.ip().to_string()
            };
            tracing::info!(path = %tokens.path.display(), "demo tokens written");
            println!("demo tokens: {}", tokens.path.display());
            let scheme = if transports.http.is_tls() {
                "https"
            } else {
                "http"
            };
            println!(
                "wall: {scheme}://{wall_host}:{}/?token={}",
                http_addr.port(),
                tokens.wall
            );
            // The simulator drives the units through this server's own gRPC
            // port, over TLS when the port speaks it (trusting exactly the
            // served certificate).
            let target = format!("http://127.0.0.1:{}", grpc_addr.port());
            let endpoint = tonic::transport::Endpoint::from_shared(target.clone())?
                .connect_timeout(std::time::Duration::from_secs(5));
            let channel = match transports.self_client() {
                Some(client) => endpoint.connect_with_connector_lazy(
                    samu_tls::client::Connector::new(client, "localhost")?,
                ),
                None => endpoint.connect_lazy(),
            };
            servers.spawn(samu_demo::simulate_on(
                channel,
                target,
                tokens.devices,
                tokens.users,
                config.demo.clone(),
                shutdown.clone(),
            ));
        }
        // The first server to end (error or shutdown) stops the rest.
        let mut result = Ok(());
        while let Some(joined) = servers.join_next().await {
            shutdown.cancel();
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = format!("{e:#}"), "server stopped with an error");
                    if result.is_ok() {
                        result = Err(e);
                    }
                }
                Err(e) => result = Err(anyhow::anyhow!("server task panicked: {e}")),
            }
        }
        for task in fanout {
            let _ = task.await;
        }
        tasks.join().await;
        central.store().close().await;
        tracing::info!("central stopped");
        result
    }
}

/// Runs the server `serve` makes on a thread and a single-threaded runtime
/// of its own (the HTTP port with the walls, and the consoles' gRPC port),
/// at real-time priority when `realtime` is set and the system allows it;
/// the returned future ends with the server's outcome.
///
/// Why a thread: on the main runtime a wall's tick or a console's call is
/// one task among thousands of vehicle streams, and after every group
/// commit the acknowledgements of a whole batch are ready to run before it.
/// On a thread that sleeps between calls and ticks, the operating system
/// runs it as soon as one is due, and its tasks never leave that thread.
fn serve_on_thread<F, Fut>(
    name: &'static str,
    realtime: bool,
    serve: F,
) -> anyhow::Result<impl std::future::Future<Output = anyhow::Result<()>>>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let (done, finished) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("samu-{name}"))
        .spawn(move || {
            if realtime {
                match crate::realtime::raise_current_thread() {
                    Ok(()) => tracing::info!(thread = name, "running at real-time priority"),
                    Err(e) => tracing::warn!(
                        thread = name,
                        error = %e,
                        "cannot run at real-time priority (needs CAP_SYS_NICE or LimitRTPRIO=1); running at normal priority"
                    ),
                }
            }
            let served = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .with_context(|| format!("cannot start the {name} runtime"))
                .and_then(|runtime| runtime.block_on(serve()));
            let _ = done.send(served);
        })
        .with_context(|| format!("cannot start the {name} thread"))?;
    Ok(async move {
        finished
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the {name} thread panicked")))
    })
}

/// Connections the kernel holds for us before we accept them (capped by
/// `net.core.somaxconn`). After a restart or a network outage every
/// vehicle reconnects at once; with tokio's default of 1 024, thousands of
/// handshakes were dropped and retried, seen as reconnects in the load runs.
const LISTEN_BACKLOG: u32 = 8_192;

/// A listening socket on `addr` with [`LISTEN_BACKLOG`].
fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_reach_the_log() {
        assert_eq!(
            super::redact("postgres://samu:s3cret@db:5432/samu"),
            "postgres://samu:***@db:5432/samu"
        );
        assert_eq!(
            super::redact("sqlite://samu-data/samu.db"),
            "sqlite://samu-data/samu.db"
        );
    }
}
