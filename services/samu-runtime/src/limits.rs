//! Rate limits per device, per person and per login: keyed token buckets.
//!
//! One flooding vehicle app, console or script must not take the server's
//! time from the others, and nobody may guess passwords at the speed of the
//! network. Every limit is a token bucket per key: a key may spend `burst`
//! tokens at once, and gets `per_s` back each second.
//!
//! | limit | key | spent by | over the limit |
//! |---|---|---|---|
//! | device | device credential id | each telemetry report | paced, then the stream ends (`samu-grpc::telemetry`) |
//! | user | user id (else credential id) of TARM, physician, radio operator, manager | each call, gRPC or HTTP | `RESOURCE_EXHAUSTED` / 429 |
//! | service | credential id of admin and wall tokens | each call | `RESOURCE_EXHAUSTED` / 429 |
//! | login | username | each login attempt | refused before the password is checked |
//! | login per address | peer IP (IPv6: its /64) | each login attempt | idem |
//!
//! Calls are counted in [`Central::authorize`](crate::Central::authorize),
//! the one check both doors (gRPC and the HTTP facade) make, so both get the
//! same limits for free.
//!
//! # Memory
//! A key's state is one instant. Keys whose bucket is full again are
//! dropped by a periodic prune (a full bucket is exactly what an unknown key
//! gets, so pruning changes no answer). Device, user and service keys are
//! credential or user ids that authenticated, so there are never more of
//! them than credentials. Login keys come from unauthenticated callers:
//! each login limiter holds at most [`MAX_LOGIN_KEYS`]; when that many
//! usernames or addresses are being limited at once, a new one is refused
//! too (fail closed: a flood of made-up names must not open the way for
//! guessing real ones).
//!
//! # Why not `governor`
//! The `governor` crate does the same (GCRA, keyed, `retain_recent`) but
//! brings several crates we do not otherwise have and no key cap; this is one
//! small GCRA over sharded mutexes, with the clock passed in so the tests
//! drive it through any sequence of instants.

use std::{
    collections::HashMap,
    fmt,
    hash::BuildHasher,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use samu_store::{Credential, Role};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::central::Central;

/// Most keys each login limiter (per username, per address) holds.
pub const MAX_LOGIN_KEYS: usize = 65_536;

/// Shards of a limiter: callers of different keys rarely wait on each other.
const SHARDS: usize = 16;

/// The limits (`[runtime.limits]`). A rate of 0 turns that limit off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Telemetry reports per second one device token may send, sustained.
    /// An app sends about one a second; 50 leaves room for its resends and
    /// for the load generator's "as fast as acknowledged" runs (about 3 a
    /// second per vehicle at the 30 000/s target over 10 000 vehicles; up
    /// to a few dozen with fewer vehicles), while one runaway app gets at
    /// most 50 of the writer's 30 000 a second.
    pub device_reports_per_s: f64,
    /// Reports one device token may send at once. After a tunnel an app
    /// resends everything unacknowledged in one go: 1 000 is a quarter of an
    /// hour of fixes, taken at full speed; a longer backlog is paced.
    pub device_burst: u32,
    /// Seconds a device over its limit is paced (its reports read only as
    /// fast as the limit allows, HTTP/2 flow control holding the rest in
    /// the app) before its stream is ended with `RESOURCE_EXHAUSTED`. A
    /// backlog of an hour drains within two minutes; an app that is still
    /// over after that is looping. 0 ends the stream at the first report
    /// over the limit.
    pub device_pace_s: u64,
    /// Calls per second of a person (TARM, physician, radio operator,
    /// manager), counted per user over all their sessions, gRPC and HTTP.
    pub user_requests_per_s: f64,
    /// Calls a person may make at once (a console opening loads a handful).
    pub user_burst: u32,
    /// Calls per second of one admin or wall token. These are scripts (the
    /// load generator registers 10 000 units with 32 calls in flight) and
    /// screens sharing one token (a hundred walls reconnecting at once), so
    /// the limit only stops a runaway.
    pub service_requests_per_s: f64,
    /// Calls one admin or wall token may make at once.
    pub service_burst: u32,
    /// Login attempts per minute for one username, right or wrong.
    pub login_per_min: f64,
    /// Login attempts one username may make at once.
    pub login_burst: u32,
    /// Login attempts per minute from one address (IPv6: one /64), any
    /// usernames. A regulation room behind one NAT logs in together at the
    /// change of shift, hence the larger burst.
    pub login_per_address_per_min: f64,
    /// Login attempts one address may make at once.
    pub login_per_address_burst: u32,
    /// How often keys whose bucket is full again are dropped, in seconds.
    pub prune_s: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            device_reports_per_s: 50.0,
            device_burst: 1_000,
            device_pace_s: 120,
            user_requests_per_s: 20.0,
            user_burst: 100,
            service_requests_per_s: 1_000.0,
            service_burst: 10_000,
            login_per_min: 5.0,
            login_burst: 10,
            login_per_address_per_min: 30.0,
            login_per_address_burst: 60,
            prune_s: 60,
        }
    }
}

/// Which limit refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// A device's telemetry reports.
    Device,
    /// A person's calls.
    User,
    /// An admin or wall token's calls.
    Service,
    /// Login attempts for one username.
    Login,
    /// Login attempts from one address.
    LoginAddress,
}

impl LimitKind {
    /// The label in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Device => "device",
            LimitKind::User => "user",
            LimitKind::Service => "service",
            LimitKind::Login => "login",
            LimitKind::LoginAddress => "login_address",
        }
    }
}

/// A refusal by a rate limit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}; retry in {} s", self.describe(), self.retry_after_s())]
pub struct RateLimited {
    /// Which limit.
    pub kind: LimitKind,
    /// Its sustained rate, in the unit of [`Self::describe`].
    pub rate: f64,
    /// Its burst.
    pub burst: u32,
    /// When the key has a token again.
    pub retry_after: Duration,
    /// Whether the key's previous attempt was allowed: the first refusal of
    /// a run, which is logged (the rest are only counted).
    pub first: bool,
}

impl RateLimited {
    /// The limit in words: `device rate limit: 50 reports/s (burst 1000)`.
    pub fn describe(&self) -> String {
        let (what, per) = match self.kind {
            LimitKind::Device => ("device", "reports/s"),
            LimitKind::User => ("user", "requests/s"),
            LimitKind::Service => ("token", "requests/s"),
            LimitKind::Login => ("login", "attempts/min per username"),
            LimitKind::LoginAddress => ("login", "attempts/min per address"),
        };
        format!(
            "{what} rate limit: {} {per} (burst {})",
            self.rate, self.burst
        )
    }

    /// Whole seconds until a retry can succeed, at least 1 (`Retry-After`).
    pub fn retry_after_s(&self) -> u64 {
        let d = self.retry_after;
        (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
    }
}

/// A key's bucket, as GCRA keeps it: the theoretical arrival time of the
/// next request. The bucket is full when it is in the past.
#[derive(Debug, Clone, Copy)]
struct Slot {
    tat: Instant,
    /// The last attempt was refused.
    refusing: bool,
}

/// Token buckets by string key (GCRA). Thread-safe; methods take `now` so
/// callers (and tests) decide the clock.
#[derive(Debug)]
pub struct KeyedLimiter {
    /// Time one token takes to come back; `None`: no limit.
    emission: Option<Duration>,
    /// How far ahead of `now` the arrival time may run: `burst - 1` tokens.
    tolerance: Duration,
    burst: u32,
    max_keys_per_shard: usize,
    /// Picks a key's shard. foldhash (seeded per process, its quality
    /// variant: login names come from anyone) rather than SipHash: every
    /// vehicle report is checked here, and the key is hashed twice, for the
    /// shard and in it.
    hasher: foldhash::quality::RandomState,
    shards: Vec<Mutex<Shard>>,
}

/// One shard of a [`KeyedLimiter`]'s keys, hashed as its shards are picked.
type Shard = HashMap<String, Slot, foldhash::quality::RandomState>;

/// Why [`KeyedLimiter::check`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// When the key has a token again.
    pub retry_after: Duration,
    /// The key's previous attempt was allowed (or it had none).
    pub first: bool,
}

impl KeyedLimiter {
    /// `per_s` tokens a second, `burst` at once, any number of keys. A rate
    /// that is not a positive number means no limit; a burst of 0 counts
    /// as 1.
    pub fn new(per_s: f64, burst: u32) -> Self {
        Self::with_max_keys(per_s, burst, usize::MAX)
    }

    /// Like [`Self::new`], holding at most about `max_keys` keys.
    pub fn with_max_keys(per_s: f64, burst: u32, max_keys: usize) -> Self {
        let emission = (per_s.is_finite() && per_s > 0.0)
            // Between one token a million seconds and a billion a second.
            .then(|| Duration::from_secs_f64(1.0 / per_s.clamp(1e-6, 1e9)));
        let burst = burst.max(1);
        let tolerance = emission
            .and_then(|e| e.checked_mul(burst - 1))
            .unwrap_or(Duration::MAX);
        Self {
            emission,
            tolerance,
            burst,
            max_keys_per_shard: (max_keys / SHARDS).max(1),
            hasher: foldhash::quality::RandomState::default(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    /// Whether this limiter limits anything.
    pub fn is_on(&self) -> bool {
        self.emission.is_some()
    }

    /// The burst.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    fn shard(&self, key: &str) -> std::sync::MutexGuard<'_, Shard> {
        let i = (self.hasher.hash_one(key) % SHARDS as u64) as usize;
        // A panic while holding the lock cannot leave a slot half written
        // (each is one copy), so a poisoned lock is still good.
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Spends one of `key`'s tokens at `now`, or says how long until one is
    /// back.
    ///
    /// # Errors
    /// [`Refusal`] when the key's bucket is empty, or when it is a new key
    /// and the limiter already holds its most keys (even after dropping
    /// those whose bucket is full).
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Refusal> {
        let Some(emission) = self.emission else {
            return Ok(());
        };
        let mut shard = self.shard(key);
        // A known key (every report of a connected vehicle) is found with
        // one lookup and no allocation; only a new key is copied in.
        if let Some(slot) = shard.get_mut(key) {
            return self.spend(slot, now, emission);
        }
        if shard.len() >= self.max_keys_per_shard {
            shard.retain(|_, slot| slot.tat > now);
            if shard.len() >= self.max_keys_per_shard {
                return Err(Refusal {
                    retry_after: emission,
                    first: false,
                });
            }
        }
        let slot = shard.entry(key.to_owned()).or_insert(Slot {
            tat: now,
            refusing: false,
        });
        self.spend(slot, now, emission)
    }

    /// Spends one of `slot`'s tokens at `now` (GCRA), or says how long
    /// until one is back.
    fn spend(&self, slot: &mut Slot, now: Instant, emission: Duration) -> Result<(), Refusal> {
        let tat = slot.tat.max(now);
        // Allowed while the arrival time is at most `burst - 1` tokens ahead.
        match now.checked_add(self.tolerance) {
            Some(limit) if tat > limit => {
                let first = !slot.refusing;
                slot.refusing = true;
                Err(Refusal {
                    retry_after: tat - limit,
                    first,
                })
            }
            _ => {
                // An arrival time past the clock's range saturates: with a
                // rate that slow the key has no token for ages either way.
                slot.tat = tat.checked_add(emission).unwrap_or(tat);
                slot.refusing = false;
                Ok(())
            }
        }
    }

    /// Drops every key whose bucket is full at `now`; returns how many are
    /// left.
    pub fn retain_recent(&self, now: Instant) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
                shard.retain(|_, slot| slot.tat > now);
                shard.len()
            })
            .sum()
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every limiter of a central.
pub(crate) struct Limits {
    pub(crate) config: LimitsConfig,
    device: KeyedLimiter,
    user: KeyedLimiter,
    service: KeyedLimiter,
    login: KeyedLimiter,
    login_address: KeyedLimiter,
}

impl fmt::Debug for Limits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limits")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Limits {
    pub(crate) fn new(config: LimitsConfig) -> Self {
        let per_min = |n: f64| n / 60.0;
        Self {
            device: KeyedLimiter::new(config.device_reports_per_s, config.device_burst),
            user: KeyedLimiter::new(config.user_requests_per_s, config.user_burst),
            service: KeyedLimiter::new(config.service_requests_per_s, config.service_burst),
            login: KeyedLimiter::with_max_keys(
                per_min(config.login_per_min),
                config.login_burst,
                MAX_LOGIN_KEYS,
            ),
            login_address: KeyedLimiter::with_max_keys(
                per_min(config.login_per_address_per_min),
                config.login_per_address_burst,
                MAX_LOGIN_KEYS,
            ),
            config,
        }
    }

    fn all(&self) -> [(LimitKind, &KeyedLimiter); 5] {
        [
            (LimitKind::Device, &self.device),
            (LimitKind::User, &self.user),
            (LimitKind::Service, &self.service),
            (LimitKind::Login, &self.login),
            (LimitKind::LoginAddress, &self.login_address),
        ]
    }

    /// Spends a token of `key` in the `kind` limiter; counts and logs a
    /// refusal.
    fn check(&self, kind: LimitKind, key: &str) -> Result<(), RateLimited> {
        let (limiter, rate) = match kind {
            LimitKind::Device => (&self.device, self.config.device_reports_per_s),
            LimitKind::User => (&self.user, self.config.user_requests_per_s),
            LimitKind::Service => (&self.service, self.config.service_requests_per_s),
            LimitKind::Login => (&self.login, self.config.login_per_min),
            LimitKind::LoginAddress => (&self.login_address, self.config.login_per_address_per_min),
        };
        limiter.check(key, Instant::now()).map_err(|refusal| {
            metrics::counter!("samu_rate_limited_total", "limit" => kind.as_str()).increment(1);
            RateLimited {
                kind,
                rate,
                burst: limiter.burst(),
                retry_after: refusal.retry_after,
                first: refusal.first,
            }
        })
    }
}

/// The login limiter's key for an address: the IPv4 address, or the /64 of
/// an IPv6 one (one host usually holds a whole /64).
fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

impl Central {
    /// Spends one call of `credential` against its role's limit (the user
    /// limit for people, counted per user over all their sessions; the
    /// service limit for admin and wall tokens). Devices are limited per
    /// report instead ([`Self::admit_report`]).
    ///
    /// # Errors
    /// [`RateLimited`] when the caller is over its limit.
    pub fn spend_call(&self, credential: &Credential) -> Result<(), RateLimited> {
        let limits = &self.inner.limits;
        let kind = match credential.role {
            Role::Device => return Ok(()),
            Role::Admin | Role::Wall => LimitKind::Service,
            Role::Tarm | Role::Physician | Role::RadioOperator | Role::Manager => LimitKind::User,
        };
        let key = credential.user_id.as_deref().unwrap_or(&credential.id);
        limits.check(kind, key).inspect_err(|e| {
            if e.first {
                tracing::warn!(
                    credential = %credential.id,
                    role = %credential.role,
                    limit = e.kind.as_str(),
                    "caller over its rate limit: {}",
                    e.describe()
                );
            }
        })
    }

    /// Spends one report of a device credential.
    ///
    /// # Errors
    /// [`RateLimited`] (with the wait until the next token) when the device
    /// is over its limit.
    pub fn admit_report(&self, credential_id: &str) -> Result<(), RateLimited> {
        self.inner.limits.check(LimitKind::Device, credential_id)
    }

    /// The limits in force.
    pub fn limits(&self) -> &LimitsConfig {
        &self.inner.limits.config
    }

    /// Spends one login attempt for `username` (as typed: trimmed and
    /// lower-cased here, like the login) and for the address it came from.
    ///
    /// # Errors
    /// [`RateLimited`] when either is over its limit.
    pub(crate) fn spend_login(
        &self,
        username: &str,
        address: Option<IpAddr>,
    ) -> Result<(), RateLimited> {
        let limits = &self.inner.limits;
        // Checked first, so a guesser spraying usernames from one address
        // does not also fill the username limiter.
        if let Some(ip) = address {
            limits.check(LimitKind::LoginAddress, &address_key(ip))?;
        }
        // Usernames are at most 64 characters; longer input cannot be a
        // user, and is cut so it cannot make keys large.
        let key: String = username.chars().take(64).collect();
        limits.check(LimitKind::Login, &key)
    }
}

/// Drops full buckets every `period` until `shutdown`, and reports how many
/// keys each limiter holds.
pub(crate) async fn prune(central: Central, period: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = Instant::now();
        for (kind, limiter) in central.inner.limits.all() {
            if limiter.is_on() {
                let left = limiter.retain_recent(now);
                metrics::gauge!("samu_rate_limit_keys", "limit" => kind.as_str()).set(left as f64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_fresh_key_spends_its_burst_then_one_token_per_period() {
        let limiter = KeyedLimiter::new(10.0, 5);
        let t0 = Instant::now();
        for _ in 0..5 {
            limiter.check("a", t0).unwrap();
        }
        let refused = limiter.check("a", t0).unwrap_err();
        assert_eq!(refused.retry_after, ms(100));
        assert!(refused.first);
        // Still refused a moment later, and no longer the first refusal.
        let again = limiter.check("a", t0 + ms(50)).unwrap_err();
        assert_eq!(again.retry_after, ms(50));
        assert!(!again.first);
        // One token back after 100 ms, and only one.
        limiter.check("a", t0 + ms(100)).unwrap();
        assert!(limiter.check("a", t0 + ms(100)).is_err());
        // After a quiet second the whole burst is back (and no more).
        let t1 = t0 + Duration::from_secs(2);
        for _ in 0..5 {
            limiter.check("a", t1).unwrap();
        }
        assert!(limiter.check("a", t1).is_err());
    }

    #[test]
    fn a_sustained_rate_at_the_limit_is_never_refused() {
        let limiter = KeyedLimiter::new(20.0, 1);
        let t0 = Instant::now();
        for i in 0..1_000 {
            limiter.check("a", t0 + ms(50 * i)).unwrap();
        }
        // Faster than that is.
        assert!(limiter.check("a", t0 + ms(50 * 999 + 10)).is_err());
    }

    #[test]
    fn keys_are_independent() {
        let limiter = KeyedLimiter::new(1.0, 2);
        let t0 = Instant::now();
        limiter.check("a", t0).unwrap();
        limiter.check("a", t0).unwrap();
        assert!(limiter.check("a", t0).is_err());
        limiter.check("b", t0).unwrap();
        limiter.check("b", t0).unwrap();
    }

    #[test]
    fn a_zero_or_absurd_rate_means_no_limit() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let limiter = KeyedLimiter::new(rate, 1);
            assert!(!limiter.is_on());
            let t0 = Instant::now();
            for _ in 0..10_000 {
                limiter.check("a", t0).unwrap();
            }
            assert!(limiter.is_empty(), "an unlimited limiter keeps no state");
        }
        // A burst of 0 is a burst of 1.
        let limiter = KeyedLimiter::new(1.0, 0);
        let t0 = Instant::now();
        limiter.check("a", t0).unwrap();
        assert!(limiter.check("a", t0).is_err());
    }

    #[test]
    fn extreme_rates_and_bursts_do_not_overflow() {
        let t0 = Instant::now();
        let slow = KeyedLimiter::new(1e-300, u32::MAX);
        slow.check("a", t0).unwrap();
        let fast = KeyedLimiter::new(1e300, u32::MAX);
        for _ in 0..1_000 {
            fast.check("a", t0).unwrap();
        }
        let slow_burst_one = KeyedLimiter::new(1e-300, 1);
        slow_burst_one.check("a", t0).unwrap();
        let refused = slow_burst_one.check("a", t0).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(1_000_000));
    }

    #[test]
    fn pruning_drops_full_buckets_and_changes_no_answer() {
        let limiter = KeyedLimiter::new(10.0, 3);
        let t0 = Instant::now();
        for key in ["a", "b", "c"] {
            limiter.check(key, t0).unwrap();
        }
        for _ in 0..2 {
            limiter.check("c", t0).unwrap();
        }
        assert_eq!(limiter.len(), 3);
        // After 100 ms a and b (one token spent) are full again; c spent
        // three and is not.
        assert_eq!(limiter.retain_recent(t0 + ms(100)), 1);
        assert!(limiter.check("c", t0 + ms(100)).is_ok());
        assert!(limiter.check("c", t0 + ms(100)).is_err());
        for _ in 0..3 {
            limiter.check("a", t0 + ms(100)).unwrap();
        }
        assert!(limiter.check("a", t0 + ms(100)).is_err());
        assert_eq!(limiter.retain_recent(t0 + Duration::from_secs(10)), 0);
    }

    #[test]
    fn a_full_limiter_refuses_new_keys_until_old_ones_are_full_again() {
        let limiter = KeyedLimiter::with_max_keys(1.0, 1, SHARDS * 2);
        let t0 = Instant::now();
        let mut held = 0;
        let mut refused = 0;
        // Enough names that every shard gets its two (shards are drawn by
        // a random hash: 40 a shard on average).
        for i in 0..(SHARDS * 40) {
            match limiter.check(&format!("name-{i}"), t0) {
                Ok(()) => held += 1,
                Err(_) => refused += 1,
            }
        }
        assert_eq!(held, SHARDS * 2, "two keys per shard");
        assert_eq!(refused, SHARDS * 38);
        assert!(limiter.len() <= SHARDS * 2);
        // A second later every bucket is full again: new keys fit.
        for i in 0..(SHARDS * 2) {
            let _ = limiter.check(&format!("other-{i}"), t0 + Duration::from_secs(1));
        }
        assert!(limiter.check("late", t0 + Duration::from_secs(2)).is_ok());
    }

    #[test]
    fn many_threads_never_spend_more_than_the_burst() {
        let limiter = std::sync::Arc::new(KeyedLimiter::new(1e-3, 100));
        let t0 = Instant::now();
        let allowed = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..100 {
                        if limiter.check("shared", t0).is_ok() {
                            allowed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(allowed.into_inner(), 100);
    }

    #[test]
    fn messages_name_the_limit() {
        let e = RateLimited {
            kind: LimitKind::Device,
            rate: 50.0,
            burst: 1000,
            retry_after: ms(20),
            first: true,
        };
        assert_eq!(
            e.to_string(),
            "device rate limit: 50 reports/s (burst 1000); retry in 1 s"
        );
        let e = RateLimited {
            kind: LimitKind::Login,
            rate: 5.0,
            burst: 10,
            retry_after: Duration::from_millis(11_500),
            first: false,
        };
        assert_eq!(e.retry_after_s(), 12);
        assert!(e
            .to_string()
            .starts_with("login rate limit: 5 attempts/min per username"));
    }

    #[test]
    fn addresses_are_keyed_by_host_or_ipv6_prefix() {
        assert_eq!(address_key("10.0.0.7".parse().unwrap()), "10.0.0.7");
        assert_eq!(
            address_key("2001:db8:1:2:aaaa::1".parse().unwrap()),
            address_key("2001:db8:1:2:bbbb::9".parse().unwrap())
        );
        assert_ne!(
            address_key("2001:db8:1:2::1".parse().unwrap()),
            address_key("2001:db8:1:3::1".parse().unwrap())
        );
        assert_eq!(address_key("::ffff:10.0.0.7".parse().unwrap()), "10.0.0.7");
    }

    #[test]
    fn the_defaults_fit_a_real_central() {
        let c = LimitsConfig::default();
        // A vehicle at 1 Hz, and the load generator's 3/s per vehicle, are
        // far below the device limit; an hour of backlog is paced through
        // within the pacing time.
        assert!(c.device_reports_per_s >= 10.0 * 3.0);
        let backlog = 3_600.0 - f64::from(c.device_burst);
        assert!(backlog / (c.device_reports_per_s - 1.0) < c.device_pace_s as f64);
    }
}
