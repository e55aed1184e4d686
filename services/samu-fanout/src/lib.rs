//! Fan-out of fleet changes between instances through Redis pub/sub.
//!
//! Each instance publishes the changes made on it (its vehicles' reports)
//! on one Redis channel and applies what the other instances publish, so a
//! wall connected to any instance sees every unit. Redis is a bus here, not
//! a store: the store stays the source of truth, and an instance whose Redis
//! is away keeps serving its own clients.
//!
//! When the subscription (re)connects, the instance publishes the views of
//! all its own units and asks the others to do the same (a resync request),
//! so that whichever instance gets back to Redis first, every peer catches up
//! on what it missed while Redis was away. A change whose publication failed
//! is published again once the connection is back, not dropped.
#![forbid(unsafe_code)]

use std::time::Duration;

use futures::StreamExt;
use redis::AsyncCommands;
use samu_runtime::{Central, FleetEvent};
use serde::{Deserialize, Serialize};
use tokio::{sync::broadcast::error::RecvError, task::JoinHandle};
use tokio_util::sync::CancellationToken;

/// Settings of the fan-out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FanoutConfig {
    /// The Redis pub/sub channel shared by the instances of a deployment.
    pub channel: String,
}

impl Default for FanoutConfig {
    fn default() -> Self {
        Self {
            channel: "samu:fleet".into(),
        }
    }
}

/// One message on the channel: a change, or a resync request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The publishing instance, so it can skip its own messages.
    pub instance: String,
    /// A change made on the publishing instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<FleetEvent>,
    /// The publisher has just (re)subscribed: every other instance
    /// republishes the views of its own units.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resync: bool,
}

impl Envelope {
    /// Reads a message from the channel.
    ///
    /// # Errors
    /// The payload is not a message of this protocol.
    pub fn decode(payload: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(payload)
    }

    /// Writes a message for the channel.
    ///
    /// # Errors
    /// A value serde_json cannot write.
    pub fn encode(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

/// Starts publishing and subscribing; both tasks stop on `shutdown` and
/// reconnect with backoff while Redis is away.
pub fn start(
    client: redis::Client,
    config: FanoutConfig,
    central: Central,
    shutdown: CancellationToken,
) -> Vec<JoinHandle<()>> {
    let instance = uuid::Uuid::new_v4().to_string();
    tracing::info!(%instance, channel = %config.channel, "Redis fan-out on");
    vec![
        tokio::spawn(publish(
            client.clone(),
            config.channel.clone(),
            instance.clone(),
            central.clone(),
            shutdown.clone(),
        )),
        tokio::spawn(subscribe(
            client,
            config.channel,
            instance,
            central,
            shutdown,
        )),
    ]
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100 * 2u64.pow(attempt.min(6)))
}

async fn publish(
    client: redis::Client,
    channel: String,
    instance: String,
    central: Central,
    shutdown: CancellationToken,
) {
    let mut changes = central.subscribe_local();
    let mut attempt = 0;
    // A change whose publication failed: published first once reconnected.
    let mut pending: Option<String> = None;
    'connect: loop {
        let mut conn = tokio::select! {
            _ = shutdown.cancelled() => return,
            c = client.get_multiplexed_async_connection() => match c {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "Redis unreachable for publishing; retrying");
                    attempt += 1;
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(backoff(attempt)) => continue 'connect,
                    }
                }
            },
        };
        if attempt > 0 {
            tracing::info!("Redis reachable again for publishing");
        }
        attempt = 0;
        loop {
            let payload = match pending.take() {
                Some(payload) => payload,
                None => {
                    let event = tokio::select! {
                        _ = shutdown.cancelled() => return,
                        e = changes.recv() => e,
                    };
                    let event = match event {
                        Ok(event) => event,
                        // Peers resynchronise from the views republished at
                        // the next (re)subscription; missing some intermediate
                        // positions is harmless.
                        Err(RecvError::Lagged(n)) => {
                            metrics::counter!("samu_fanout_dropped_total").increment(n);
                            continue;
                        }
                        Err(RecvError::Closed) => return,
                    };
                    let envelope = Envelope {
                        instance: instance.clone(),
                        event: Some(event),
                        resync: false,
                    };
                    match envelope.encode() {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::error!(error = %e, "cannot encode a fleet event");
                            continue;
                        }
                    }
                }
            };
            if let Err(e) = conn.publish::<_, _, ()>(&channel, &payload).await {
                metrics::counter!("samu_fanout_errors_total").increment(1);
                tracing::warn!(error = %e, "publishing to Redis failed; reconnecting");
                pending = Some(payload);
                attempt += 1;
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff(attempt)) => continue 'connect,
                }
            }
            metrics::counter!("samu_fanout_published_total").increment(1);
        }
    }
}

/// Publishes the views of this instance's own units (they reach the channel
/// through the publisher).
fn republish_own_units(central: &Central) {
    for view in central.local_unit_views() {
        central.publish(FleetEvent::Unit(view));
    }
}

async fn subscribe(
    client: redis::Client,
    channel: String,
    instance: String,
    central: Central,
    shutdown: CancellationToken,
) {
    let mut attempt = 0;
    loop {
        let session = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            // Ask the peers for their units: they may have changed while we
            // could not hear them.
            let request = Envelope {
                instance: instance.clone(),
                event: None,
                resync: true,
            }
            .encode()
            .map_err(|e| redis::RedisError::from(std::io::Error::other(e)))?;
            let mut conn = client.get_multiplexed_async_connection().await?;
            conn.publish::<_, _, ()>(&channel, request).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::select! {
            _ = shutdown.cancelled() => return,
            s = session => s,
        };
        let mut pubsub = match pubsub {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "Redis unreachable for subscribing; retrying");
                attempt += 1;
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff(attempt)) => continue,
                }
            }
        };
        if attempt > 0 {
            tracing::info!("Redis subscription back; resynchronising with the peers");
        }
        attempt = 0;
        // Peers may have missed our changes while we were away: republish
        // the views of our own units.
        republish_own_units(&central);
        let mut messages = pubsub.on_message();
        loop {
            let message = tokio::select! {
                _ = shutdown.cancelled() => return,
                m = messages.next() => m,
            };
            let Some(message) = message else {
                tracing::warn!("Redis subscription lost; reconnecting");
                break;
            };
            let payload: String = match message.get_payload() {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable fan-out message");
                    continue;
                }
            };
            match Envelope::decode(&payload) {
                Ok(envelope) if envelope.instance == instance => {}
                Ok(envelope) => {
                    metrics::counter!("samu_fanout_received_total").increment(1);
                    if envelope.resync {
                        republish_own_units(&central);
                    }
                    if let Some(event) = envelope.event {
                        central.apply_remote(event);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "malformed fan-out message ignored"),
            }
        }
    }
}
