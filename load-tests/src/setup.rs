//! The registry a run needs: its own centrals, a base each, N units, their
//! device tokens, all through the admin API.

use std::{future::Future, time::Duration};

use anyhow::Context;
use futures::{stream, StreamExt, TryStreamExt};
use rand::{rngs::StdRng, Rng, SeedableRng};
use samu_proto::v1::{self as pb, admin_client::AdminClient};
use tonic::{metadata::MetadataValue, transport::Channel, Code, Request, Status};

/// Centre of the run's area (Belo Horizonte); units spread ±0.25°.
pub const CENTRE: (f64, f64) = (-19.92, -43.94);

/// A unit the run created.
#[derive(Debug, Clone)]
pub struct LoadUnit {
    /// Its id.
    pub id: String,
    /// Its central.
    pub central: String,
    /// Its type.
    pub unit_type: pb::UnitType,
    /// Its device token.
    pub token: String,
    /// Where it starts.
    pub start: (f64, f64),
}

/// A request carrying a bearer token.
pub fn authed<T>(token: &str, message: T) -> anyhow::Result<Request<T>> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {token}"))?,
    );
    Ok(request)
}

/// A request with the metadata of another (its bearer token).
fn with_auth<T>(metadata: &tonic::metadata::MetadataMap, message: T) -> Request<T> {
    Request::from_parts(metadata.clone(), Default::default(), message)
}

/// Makes a call, and makes it again while the server refuses it for the
/// caller's rate limit (`RESOURCE_EXHAUSTED`, `runtime.limits.service_*`
/// for the admin token), waiting 0.1 s doubling to 2 s: registering
/// thousands of units may outrun the limit on a fast server.
async fn patiently<T, F, Fut>(mut call: F) -> Result<T, Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let mut wait = Duration::from_millis(100);
    for _ in 0..30 {
        match call().await {
            Err(status) if status.code() == Code::ResourceExhausted => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
            done => return done,
        }
    }
    call().await
}

/// The unit type of the i-th unit: 70 % USB, 20 % USA, 10 % MOTO.
pub fn type_of(i: usize) -> pb::UnitType {
    match i % 10 {
        0 | 1 => pb::UnitType::Usa,
        2 => pb::UnitType::Moto,
        _ => pb::UnitType::Usb,
    }
}

/// `n` consecutive central ids from `first` (an IBGE-like 7-digit id).
///
/// # Errors
/// `first` is not 7 digits, or the last id would not be.
pub fn central_ids(first: &str, n: usize) -> anyhow::Result<Vec<String>> {
    let start: u32 = first
        .parse()
        .ok()
        .filter(|_| first.len() == 7)
        .with_context(|| format!("--central-id {first}: not a 7-digit id"))?;
    (0..n.max(1))
        .map(|k| {
            let id = u32::try_from(k)
                .ok()
                .and_then(|k| start.checked_add(k))
                .filter(|id| *id <= 5_399_999)
                .with_context(|| format!("{n} centrals from {first} run past 5399999"))?;
            Ok(id.to_string())
        })
        .collect()
}

/// Creates the centrals, a base each and `n` units (unit i under central
/// i mod the number of centrals) with their device tokens.
///
/// # Errors
/// The admin API refused a call (wrong token, bad central id) or failed.
pub async fn create(
    channel: Channel,
    admin_token: &str,
    centrals: &[String],
    n: usize,
) -> anyhow::Result<Vec<LoadUnit>> {
    let mut admin = AdminClient::new(channel.clone());
    for (k, central_id) in centrals.iter().enumerate() {
        admin
            .upsert_central(authed(
                admin_token,
                pb::Central {
                    id: central_id.clone(),
                    name: format!("Central de carga {} (samu-load)", k + 1),
                    time_zone: String::new(),
                    population: 1_000_000,
                    ..Default::default()
                },
            )?)
            .await
            .context("creating a load central (is the admin token right?)")?;
        admin
            .upsert_base(authed(
                admin_token,
                pb::Base {
                    id: format!("{central_id}-load-base"),
                    central_id: central_id.clone(),
                    name: "Base de carga".into(),
                    location: Some(pb::GeoPoint {
                        latitude: CENTRE.0,
                        longitude: CENTRE.1,
                    }),
                },
            )?)
            .await
            .context("creating a load base")?;
    }
    let mut rng = StdRng::seed_from_u64(n as u64);
    let starts: Vec<(f64, f64)> = (0..n)
        .map(|_| {
            (
                CENTRE.0 + rng.random_range(-0.25..0.25),
                CENTRE.1 + rng.random_range(-0.25..0.25),
            )
        })
        .collect();
    stream::iter(0..n)
        .map(|i| {
            let admin = admin.clone();
            let (central_id, start) = (centrals[i % centrals.len()].clone(), starts[i]);
            async move {
                let base_id = format!("{central_id}-load-base");
                let id = format!("load-{central_id}-{i:05}");
                // Every central gets the whole mix: `i / centrals`, as unit
                // i goes to central `i % centrals`.
                let unit_type = type_of(i / centrals.len());
                let unit = pb::Unit {
                    id: id.clone(),
                    central_id: central_id.clone(),
                    r#type: unit_type.into(),
                    base_id,
                    label: format!("L{i:05}"),
                    habilitated_from: None,
                    retired_at: None,
                };
                let auth = authed(admin_token, ())?.into_parts().0;
                patiently(|| {
                    let (mut admin, request) = (admin.clone(), with_auth(&auth, unit.clone()));
                    async move { admin.upsert_unit(request).await }
                })
                .await
                .with_context(|| format!("creating unit {id}"))?;
                let token = patiently(|| {
                    let mut admin = admin.clone();
                    let request = with_auth(
                        &auth,
                        pb::IssueDeviceTokenRequest {
                            unit_id: id.clone(),
                        },
                    );
                    async move { admin.issue_device_token(request).await }
                })
                .await
                .with_context(|| format!("issuing the device token of {id}"))?
                .into_inner()
                .token;
                Ok::<_, anyhow::Error>(LoadUnit {
                    id,
                    central: central_id,
                    unit_type,
                    token,
                    start,
                })
            }
        })
        .buffer_unordered(32)
        .try_collect()
        .await
}
