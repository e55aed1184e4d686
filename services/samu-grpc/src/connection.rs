//! One task per gRPC connection, running the connection's streams itself.
//!
//! hyper spawns a task for every HTTP/2 stream (the pipe of its response)
//! and the telemetry service one more (the stream's reader), so a vehicle
//! report woke three tasks four times: the connection's for its frame, the
//! reader's for the message, the response's for the acknowledgement, the
//! connection's again to write it. Each wake is a trip through tokio's
//! scheduler, often to the other core, with the task's state cold there.
//!
//! Here the connection's task is the executor of its own streams: hyper's
//! stream tasks and the futures given to [`spawn`] while the connection is
//! polled run in a [`FuturesUnordered`] beside the connection, under one
//! waker that loops instead of rescheduling while the task is being polled
//! ([`Driven`]). A frame read wakes the reader in the same poll; the
//! acknowledgement written wakes the connection in the same poll. A report
//! then costs the task two wakes, one for its frame and one for its
//! acknowledgement from the writer: what Redis's event loop does per
//! command.
//!
//! A panic in one stream's future ends that future alone, as in a task of
//! its own; the connection and its other streams go on.

use std::{
    collections::HashMap,
    convert::Infallible,
    future::Future,
    io,
    panic::AssertUnwindSafe,
    pin::{pin, Pin},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, PoisonError, Weak,
    },
    task::{Context, Poll, Wake, Waker},
    time::Duration,
};

use futures::{
    future::{poll_fn, CatchUnwind},
    stream::FuturesUnordered,
    task::AtomicWaker,
    FutureExt, Stream, StreamExt,
};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::conn::auto,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tonic::{body::Body, transport::server::Connected, Status};
use tower::Service;

use crate::incoming::CappedStream;

/// Rounds of polling in one wake of the connection's task before it lets
/// the other tasks of its worker run: each round polls the connection if it
/// was woken and the streams if one was, and a round after which nothing
/// is woken is the last.
const ROUNDS: usize = 8;

/// A future run by the connection's task.
type LocalTask = Pin<Box<dyn Future<Output = ()> + Send>>;

tokio::task_local! {
    /// The connection being polled.
    static CURRENT: Arc<Shared>;
}

/// Runs `future` in the task of the connection being polled, or as a tokio
/// task of its own when called outside one (a test, another server).
///
/// For what belongs to one stream and ends with it, such as the telemetry
/// stream's reader.
pub fn spawn<F>(future: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let mut future = Some(future);
    let _ = CURRENT.try_with(|connection| {
        if let Some(future) = future.take() {
            connection.push(Box::pin(future));
        }
    });
    if let Some(future) = future {
        tokio::spawn(future);
    }
}

/// hyper's executor for HTTP/2 streams: [`spawn`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnectionExecutor;

impl<F> hyper::rt::Executor<F> for ConnectionExecutor
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, future: F) {
        spawn(future);
    }
}

/// What a connection's task shares with its wakers, [`spawn`] and
/// [`Connections::finish`]. Its waker (this type's [`Wake`]) is the streams'
/// one; the connection's is [`ConnectionWaker`]: hyper's connection is the
/// costliest thing to poll, so it is polled only when it was woken.
struct Shared {
    /// The tokio task, woken when a wake comes between polls.
    task: AtomicWaker,
    /// The task is polling the connection and its streams.
    polling: AtomicBool,
    /// The connection was woken since the round began.
    connection_woken: AtomicBool,
    /// A stream was woken, or spawned, since the round began.
    streams_woken: AtomicBool,
    /// The server is shutting down: end the connection gracefully.
    finish: AtomicBool,
    /// Futures spawned since the last round took them.
    spawned: Mutex<Vec<LocalTask>>,
}

impl Shared {
    fn new(finish: bool) -> Self {
        Self {
            task: AtomicWaker::new(),
            polling: AtomicBool::new(false),
            // The first poll polls the connection.
            connection_woken: AtomicBool::new(true),
            streams_woken: AtomicBool::new(false),
            finish: AtomicBool::new(finish),
            spawned: Mutex::default(),
        }
    }

    fn push(&self, task: LocalTask) {
        self.spawned().push(task);
        self.streams_woken.store(true, Ordering::SeqCst);
    }

    fn spawned(&self) -> std::sync::MutexGuard<'_, Vec<LocalTask>> {
        self.spawned.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// While the task polls, a wake is noted and the task goes round again
    /// in the same poll; at other times it wakes the task.
    fn note(&self, woken: &AtomicBool) {
        // With `polling` read after the flag is written here, and the flags
        // read after `polling` is cleared in `Driven::poll` (all SeqCst),
        // one of the two sides sees the other: a wake is never lost.
        woken.store(true, Ordering::SeqCst);
        if !self.polling.load(Ordering::SeqCst) {
            self.task.wake();
        }
    }
}

impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.note(&self.streams_woken);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.note(&self.streams_woken);
    }
}

/// The waker of a connection's own future.
struct ConnectionWaker(Arc<Shared>);

impl Wake for ConnectionWaker {
    fn wake(self: Arc<Self>) {
        self.0.note(&self.0.connection_woken);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.note(&self.0.connection_woken);
    }
}

/// The open connections of a server, to end them all gracefully at
/// shutdown.
#[derive(Clone, Default)]
pub struct Connections(Arc<Mutex<Registry>>);

#[derive(Default)]
struct Registry {
    next: u64,
    open: HashMap<u64, Weak<Shared>>,
    finishing: bool,
}

impl Connections {
    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drives `connection` and the futures it spawns in the calling task;
    /// `graceful` is called once, when [`Connections::finish`] is.
    pub fn drive<C, G>(&self, connection: C, graceful: G) -> Driven<C, G>
    where
        C: Future,
        G: FnOnce(Pin<&mut C>),
    {
        let mut registry = self.registry();
        let shared = Arc::new(Shared::new(registry.finishing));
        let id = registry.next;
        registry.next += 1;
        registry.open.insert(id, Arc::downgrade(&shared));
        drop(registry);
        Driven {
            connection: Some(Box::pin(connection)),
            ended: None,
            streams: FuturesUnordered::new(),
            connection_waker: Waker::from(Arc::new(ConnectionWaker(shared.clone()))),
            streams_waker: Waker::from(shared.clone()),
            shared,
            graceful: Some(graceful),
            registration: (self.clone(), id),
        }
    }

    /// Tells every open connection, and every one driven from now on, to
    /// end gracefully (HTTP/2 GOAWAY: the streams open go on to their end).
    pub fn finish(&self) {
        let mut registry = self.registry();
        registry.finishing = true;
        for shared in registry.open.values().filter_map(Weak::upgrade) {
            shared.finish.store(true, Ordering::SeqCst);
            shared.note(&shared.connection_woken);
        }
    }

    /// Connections being driven.
    pub fn open(&self) -> usize {
        self.registry().open.len()
    }
}

/// A connection future with the futures its streams spawn, driven together
/// by one task ([`Connections::drive`]). Ends when the connection has ended
/// and every stream's future with it.
pub struct Driven<C: Future, G> {
    /// `None` once it has ended (and been dropped, freeing its socket).
    connection: Option<Pin<Box<C>>>,
    ended: Option<C::Output>,
    streams: FuturesUnordered<CatchUnwind<AssertUnwindSafe<LocalTask>>>,
    shared: Arc<Shared>,
    connection_waker: Waker,
    streams_waker: Waker,
    /// Taken when called.
    graceful: Option<G>,
    registration: (Connections, u64),
}

impl<C: Future, G> Drop for Driven<C, G> {
    fn drop(&mut self) {
        let (connections, id) = &self.registration;
        connections.registry().open.remove(id);
    }
}

impl<C, G> Driven<C, G>
where
    C: Future,
    G: FnOnce(Pin<&mut C>),
{
    /// One round: the connection if it was woken, then the streams if one
    /// was woken or spawned, taking in new futures as they come.
    fn round(&mut self) {
        if self.shared.connection_woken.swap(false, Ordering::SeqCst) {
            if let Some(connection) = &mut self.connection {
                let mut cx = Context::from_waker(&self.connection_waker);
                if let Poll::Ready(ended) = connection.as_mut().poll(&mut cx) {
                    self.ended = Some(ended);
                    self.connection = None;
                }
            }
        }
        if self.shared.streams_woken.swap(false, Ordering::SeqCst) {
            let spawned = std::mem::take(&mut *self.shared.spawned());
            self.streams.extend(
                spawned
                    .into_iter()
                    .map(|task| AssertUnwindSafe(task).catch_unwind()),
            );
            let mut cx = Context::from_waker(&self.streams_waker);
            while let Poll::Ready(Some(ended)) = self.streams.poll_next_unpin(&mut cx) {
                if ended.is_err() {
                    metrics::counter!("samu_grpc_stream_panics_total").increment(1);
                    tracing::error!("a gRPC stream's future panicked; its connection goes on");
                }
            }
        }
    }
}

impl<C, G> Future for Driven<C, G>
where
    C: Future,
    C::Output: Unpin,
    G: FnOnce(Pin<&mut C>) + Unpin,
{
    type Output = C::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<C::Output> {
        let this = &mut *self;
        this.shared.task.register(cx.waker());
        if this.shared.finish.load(Ordering::Relaxed) {
            if let (Some(graceful), Some(connection)) = (this.graceful.take(), &mut this.connection)
            {
                graceful(connection.as_mut());
                this.shared.connection_woken.store(true, Ordering::SeqCst);
            }
        }
        let settled = CURRENT.sync_scope(this.shared.clone(), || {
            for _ in 0..ROUNDS {
                this.shared.polling.store(true, Ordering::SeqCst);
                this.round();
                this.shared.polling.store(false, Ordering::SeqCst);
                let woken = this.shared.connection_woken.load(Ordering::SeqCst)
                    || this.shared.streams_woken.load(Ordering::SeqCst);
                if !woken {
                    return true;
                }
                if !tokio::task::coop::has_budget_remaining() {
                    // What is left would only be told to wait for budget.
                    return false;
                }
            }
            false
        });
        if this.connection.is_none() && this.streams.is_empty() && this.shared.spawned().is_empty()
        {
            if let Some(ended) = this.ended.take() {
                return Poll::Ready(ended);
            }
        }
        if !settled {
            // Still woken after every round, or out of tokio's budget: let
            // the worker's other tasks run, and come back.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

/// How the port's HTTP/1.1 and HTTP/2 connections are served.
#[derive(Debug, Clone)]
pub struct Limits {
    /// HTTP/2 keep-alive ping interval.
    pub keepalive: Duration,
    /// How long a keep-alive ping may go unanswered.
    pub keepalive_timeout: Duration,
    /// Concurrent streams per connection.
    pub max_concurrent_streams: u32,
}

/// Serves `service` on every connection `incoming` yields, each in a task
/// of its own ([`Driven`]), until `shutdown` fires; then tells every open
/// connection to finish (HTTP/2 GOAWAY) and returns once all have closed.
///
/// Requests carry the peer's [`tonic::transport::server::TcpConnectInfo`]
/// (for `Request::remote_addr`), and a client's `grpc-timeout` ends a call
/// that has not answered by then with `CANCELLED`, as tonic's own server does.
pub async fn serve<S>(
    incoming: impl Stream<Item = Result<CappedStream, io::Error>>,
    service: S,
    limits: &Limits,
    shutdown: CancellationToken,
) where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = auto::Builder::new(ConnectionExecutor);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.keepalive)
        .keep_alive_timeout(limits.keepalive_timeout)
        .max_concurrent_streams(limits.max_concurrent_streams);
    // hyper enforces its HTTP/1 header read timeout only with a timer.
    builder.http1().timer(TokioTimer::new());

    let tasks = TaskTracker::new();
    let connections = Connections::default();
    {
        let mut incoming = pin!(incoming);
        loop {
            let io = tokio::select! {
                () = shutdown.cancelled() => break,
                io = incoming.next() => match io {
                    Some(Ok(io)) => io,
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "a gRPC connection failed before serving");
                        continue;
                    }
                    None => break,
                },
            };
            let peer = io.connect_info();
            let service = service.clone();
            let per_request =
                hyper::service::service_fn(move |request: http::Request<Incoming>| {
                    let mut request = request.map(Body::new);
                    request.extensions_mut().insert(peer.clone());
                    call(service.clone(), request)
                });
            let builder = builder.clone();
            let connections = connections.clone();
            tasks.spawn(async move {
                let connection = builder.serve_connection(TokioIo::new(io), per_request);
                let driven = connections.drive(connection, |connection: Pin<&mut _>| {
                    auto::Connection::graceful_shutdown(connection);
                });
                if let Err(e) = driven.await {
                    tracing::debug!(error = %e, "gRPC connection ended");
                }
            });
        }
    }
    connections.finish();
    tasks.close();
    tasks.wait().await;
}

/// One request through `service`, within the client's `grpc-timeout`.
async fn call<S>(
    mut service: S,
    request: http::Request<Body>,
) -> Result<http::Response<Body>, Infallible>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
{
    let deadline = grpc_timeout(request.headers());
    poll_fn(|cx| service.poll_ready(cx)).await?;
    let answer = service.call(request);
    match deadline {
        None => answer.await,
        Some(deadline) => match tokio::time::timeout(deadline, answer).await {
            Ok(answered) => answered,
            Err(_) => Ok(Status::cancelled("Timeout expired").into_http()),
        },
    }
}

/// The client's `grpc-timeout` (gRPC over HTTP/2: at most 8 digits and a
/// unit); `None` when absent or malformed, as tonic reads it.
fn grpc_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3_600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use tokio::sync::{mpsc, oneshot};

    /// A connection stand-in that spawns one future per message it gets
    /// and ends when its channel closes.
    async fn spawning_connection(mut messages: mpsc::Receiver<oneshot::Sender<usize>>) -> usize {
        let mut count = 0;
        while let Some(reply) = messages.recv().await {
            count += 1;
            let n = count;
            spawn(async move {
                tokio::task::yield_now().await;
                let _ = reply.send(n);
            });
        }
        count
    }

    /// What a connection spawns runs in the connection's task, answers, and
    /// the connection ends once it and everything it spawned have ended.
    #[tokio::test]
    async fn spawned_futures_run_in_the_connections_task() {
        let (tx, rx) = mpsc::channel(8);
        let connections = Connections::default();
        let driven = tokio::spawn(connections.drive(spawning_connection(rx), |_: Pin<&mut _>| {}));
        for expected in 1..=5 {
            let (reply, answer) = oneshot::channel();
            tx.send(reply).await.unwrap();
            assert_eq!(answer.await.unwrap(), expected);
        }
        drop(tx);
        assert_eq!(driven.await.unwrap(), 5);
        assert_eq!(
            connections.open(),
            0,
            "an ended connection leaves the registry"
        );
    }

    /// A future spawned outside any connection is a tokio task of its own.
    #[tokio::test]
    async fn spawn_outside_a_connection_is_a_tokio_task() {
        let (reply, answer) = oneshot::channel();
        spawn(async move {
            let _ = reply.send(7);
        });
        assert_eq!(answer.await.unwrap(), 7);
    }

    /// A stream's future that panics ends alone; the connection and the
    /// other streams go on.
    #[tokio::test]
    async fn a_panicking_stream_leaves_the_connection_alive() {
        let survivors = Arc::new(AtomicUsize::new(0));
        let (go, gate) = oneshot::channel::<()>();
        let connection = {
            let survivors = survivors.clone();
            async move {
                spawn(async { panic!("a stream's handler panicked") });
                let survivors = survivors.clone();
                spawn(async move {
                    tokio::task::yield_now().await;
                    survivors.fetch_add(1, Ordering::SeqCst);
                });
                let _ = gate.await;
                "ended"
            }
        };
        let driven = tokio::spawn(Connections::default().drive(connection, |_: Pin<&mut _>| {}));
        while survivors.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        go.send(()).unwrap();
        assert_eq!(driven.await.unwrap(), "ended");
    }

    /// `finish` calls each open connection's graceful end once, and that of
    /// one driven after it; each connection then ends as it chooses.
    #[tokio::test]
    async fn finish_asks_every_connection_to_end() {
        let connections = Connections::default();
        let asked = Arc::new(AtomicUsize::new(0));
        let stand_in = || {
            let (tx, rx) = mpsc::channel::<oneshot::Sender<usize>>(1);
            let mut tx = Some(tx);
            let asked = asked.clone();
            connections.drive(spawning_connection(rx), move |_: Pin<&mut _>| {
                asked.fetch_add(1, Ordering::SeqCst);
                // The stand-in ends when its channel closes.
                tx.take();
            })
        };
        let open = [tokio::spawn(stand_in()), tokio::spawn(stand_in())];
        tokio::task::yield_now().await;
        connections.finish();
        let late = tokio::spawn(stand_in());
        for driven in open {
            assert_eq!(driven.await.unwrap(), 0);
        }
        assert_eq!(late.await.unwrap(), 0);
        assert_eq!(asked.load(Ordering::SeqCst), 3);
        assert_eq!(connections.open(), 0);
    }

    /// Wakes from another thread while the task is idle are not lost: a
    /// thousand answers sent from a plain thread all arrive.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wakes_from_other_threads_are_not_lost() {
        let (tx, mut rx) = mpsc::channel::<usize>(1);
        let (done_tx, done_rx) = oneshot::channel();
        let connection = async move {
            spawn(async move {
                let mut sum = 0;
                while let Some(n) = rx.recv().await {
                    sum += n;
                }
                let _ = done_tx.send(sum);
            });
        };
        let driven = tokio::spawn(Connections::default().drive(connection, |_: Pin<&mut _>| {}));
        std::thread::spawn(move || {
            for n in 1..=1_000 {
                tx.blocking_send(n).unwrap();
            }
        });
        assert_eq!(done_rx.await.unwrap(), 500_500);
        driven.await.unwrap();
    }

    /// A service that answers OK after `delay`.
    #[derive(Clone)]
    struct Slow {
        delay: Duration,
    }

    impl Service<http::Request<Body>> for Slow {
        type Response = http::Response<Body>;
        type Error = Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<Body>) -> Self::Future {
            let delay = self.delay;
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                Ok(http::Response::new(Body::empty()))
            })
        }
    }

    fn request(grpc_timeout: Option<&str>) -> http::Request<Body> {
        let mut request = http::Request::new(Body::empty());
        if let Some(value) = grpc_timeout {
            request
                .headers_mut()
                .insert("grpc-timeout", value.parse().unwrap());
        }
        request
    }

    /// A call past the client's `grpc-timeout` is answered CANCELLED when the
    /// deadline passes; one within it, or without one, gets its answer.
    #[tokio::test(start_paused = true)]
    async fn a_call_past_its_grpc_timeout_is_cancelled() {
        let slow = Slow {
            delay: Duration::from_secs(2),
        };
        let started = tokio::time::Instant::now();
        let late = call(slow.clone(), request(Some("500m"))).await.unwrap();
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(500) && waited < Duration::from_secs(2),
            "{waited:?}"
        );
        let status = Status::from_header_map(late.headers()).expect("a gRPC status");
        assert_eq!(status.code(), tonic::Code::Cancelled);

        let in_time = call(slow.clone(), request(Some("3S"))).await.unwrap();
        assert!(Status::from_header_map(in_time.headers()).is_none());
        let unbounded = call(slow, request(None)).await.unwrap();
        assert!(Status::from_header_map(unbounded.headers()).is_none());
    }

    #[test]
    fn grpc_timeouts_are_read_as_tonic_reads_them() {
        let header = |v: &str| {
            let mut h = http::HeaderMap::new();
            h.insert("grpc-timeout", v.parse().unwrap());
            grpc_timeout(&h)
        };
        assert_eq!(header("5S"), Some(Duration::from_secs(5)));
        assert_eq!(header("250m"), Some(Duration::from_millis(250)));
        assert_eq!(header("2H"), Some(Duration::from_secs(7_200)));
        assert_eq!(header("3M"), Some(Duration::from_secs(180)));
        assert_eq!(header("10u"), Some(Duration::from_micros(10)));
        assert_eq!(header("99999999n"), Some(Duration::from_nanos(99_999_999)));
        assert_eq!(header("123456789S"), None, "more than 8 digits");
        assert_eq!(header("S"), None);
        assert_eq!(header("5x"), None);
        assert_eq!(header("-5S"), None);
        assert_eq!(grpc_timeout(&http::HeaderMap::new()), None);
    }
}
