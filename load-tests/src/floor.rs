//! The machine's floor for a round trip under the load being measured.
//!
//! The nearest queries' tail under load is mostly time no server code runs
//! (BENCHMARKS.md): a reply waits for a core, or its reader does. To say
//! how much of a figure the machine itself sets, the nearest probes' thread
//! also exchanges 64 bytes with an echo on a thread of its own, over
//! loopback, at the queries' rate and in the same window. Nothing of
//! samu-central is on that path: its round-trip times are what any server
//! on this machine, at this load, could at best answer in.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context;
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// The message exchanged: about the size of a small gRPC request.
const MESSAGE: usize = 64;

/// A round trip the timeline counts as slow: the floor's share of the
/// nearest queries' 2 ms.
const FLOOR_LIMIT_US: u64 = 1_000;

/// An echo on a thread of its own and the histogram of the round trips to
/// it, in microseconds.
#[derive(Debug, Clone)]
pub struct LoopbackFloor {
    address: std::net::SocketAddr,
    latency: Arc<Mutex<Histogram<u64>>>,
    worst: Arc<crate::timeline::WorstOf>,
}

impl LoopbackFloor {
    /// Starts the echo thread (named `samu-load-echo`) on a free loopback
    /// port, at real-time priority with `realtime` (as the probes' thread,
    /// so the floor stays the floor of what the probes see). It serves one
    /// connection and ends when that one closes.
    ///
    /// # Errors
    /// No loopback port or no thread, or real-time priority refused.
    pub fn start(realtime: bool) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind the loopback echo")?;
        let address = listener.local_addr()?;
        crate::realtime::spawn("samu-load-echo", realtime, move || {
            if let Ok((stream, _)) = listener.accept() {
                echo(stream);
            }
        })?;
        Ok(Self {
            address,
            latency: Arc::new(Mutex::new(Histogram::new(3)?)),
            worst: crate::timeline::WorstOf::shared(),
        })
    }

    /// Round trips at `rate` a second until `shutdown`, recorded only
    /// while `measuring` says so. Run it on the thread whose floor is meant.
    pub async fn run(
        self,
        rate: f64,
        measuring: Arc<std::sync::atomic::AtomicBool>,
        shutdown: CancellationToken,
    ) {
        let Ok(mut stream) = tokio::net::TcpStream::connect(self.address).await else {
            return;
        };
        let _ = stream.set_nodelay(true);
        let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        let mut buffer = [7u8; MESSAGE];
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let started = Instant::now();
            if stream.write_all(&buffer).await.is_err()
                || stream.read_exact(&mut buffer).await.is_err()
            {
                return;
            }
            if measuring.load(std::sync::atomic::Ordering::Relaxed) {
                let micros = started.elapsed().as_micros() as u64;
                let _ = self
                    .latency
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .record(micros);
                self.worst.record(micros, FLOOR_LIMIT_US);
            }
        }
    }

    /// The worst round trip since the timeline last looked.
    pub fn worst(&self) -> Arc<crate::timeline::WorstOf> {
        self.worst.clone()
    }

    /// The round trips recorded so far.
    pub fn histogram(&self) -> Histogram<u64> {
        self.latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn echo(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buffer = [0u8; MESSAGE];
    while stream.read_exact(&mut buffer).is_ok() {
        if stream.write_all(&buffer).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trips_are_recorded_while_measuring() {
        let floor = LoopbackFloor::start(false).unwrap();
        let measuring = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(floor.clone().run(200.0, measuring, shutdown.clone()));
        let deadline = Instant::now() + Duration::from_secs(10);
        while floor.histogram().len() < 5 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        shutdown.cancel();
        task.await.unwrap();
        let histogram = floor.histogram();
        assert!(histogram.len() >= 5, "{} round trips", histogram.len());
        assert!(histogram.max() > 0);
    }
}
