//! The simulated day of every demo unit.
//!
//! Each unit waits at its base, is called out to a scene in its city, works
//! the scene, sometimes carries the patient to a hospital, and comes back;
//! now and then it goes out of service for maintenance or changes a crew
//! member (with a few minutes of incomplete crew). Every step is reported
//! through the real gRPC ingest with the unit's own device token.

use std::{collections::BTreeMap, time::Duration};

use anyhow::Context;
use chrono::Utc;
use rand::{rngs::StdRng, Rng, SeedableRng};
use samu_domain::{GeoPoint, UnitType};
use samu_proto::v1::{self as pb, vehicle_report::Body};
use serde::{Deserialize, Serialize};
use tokio::{task::JoinSet, time::Instant};
use tokio_util::sync::CancellationToken;
use tonic::transport::Endpoint;

use crate::{
    catalogue::{self, DemoUnit},
    link::VehicleLink,
};

/// Settings of the simulator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemoConfig {
    /// Seconds between a unit's position reports.
    pub report_interval_ms: u64,
    /// Mean time a unit waits at base between calls, in seconds.
    pub mean_idle_s: u64,
    /// Chance that a unit goes out of service instead of taking a call.
    pub out_of_service_chance: f64,
    /// Chance that a crew member is replaced instead of taking a call.
    pub crew_change_chance: f64,
    /// Random seed; none means a different day every run.
    pub seed: Option<u64>,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            report_interval_ms: 2_000,
            mean_idle_s: 240,
            out_of_service_chance: 0.05,
            crew_change_chance: 0.05,
            seed: None,
        }
    }
}

/// Drives every demo unit that has a token in `devices` through the gRPC
/// server at `target` until `shutdown` fires.
///
/// # Errors
/// `target` is not a valid endpoint.
pub async fn simulate(
    target: String,
    devices: BTreeMap<String, String>,
    config: DemoConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // One HTTP/2 connection carries every simulated vehicle's stream; it
    // reconnects by itself when the server comes back.
    let channel = Endpoint::from_shared(target.clone())
        .with_context(|| format!("invalid gRPC target {target}"))?
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy();
    let mut seeder = config
        .seed
        .map_or_else(StdRng::from_os_rng, StdRng::seed_from_u64);
    let mut tasks = JoinSet::new();
    let first_seq = u64::try_from(Utc::now().timestamp_micros()).unwrap_or(1);
    for unit in catalogue::centrals().into_iter().flat_map(|c| c.units) {
        let Some(token) = devices.get(unit.id.as_str()) else {
            continue;
        };
        let (link, handle) = VehicleLink::spawn(
            channel.clone(),
            unit.id.to_string(),
            token.clone(),
            first_seq,
            shutdown.clone(),
        );
        let vehicle = Vehicle::new(
            unit,
            link,
            StdRng::seed_from_u64(seeder.random()),
            config.clone(),
        );
        tasks.spawn(vehicle.run(shutdown.clone()));
        tasks.spawn(async move {
            let _ = handle.await;
        });
    }
    tracing::info!(vehicles = devices.len(), %target, "demo simulator running");
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Metres per second while driving with lights and siren.
const DRIVING_MPS: f64 = 11.0;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    AtBase,
    CrewChange,
    OutOfService,
    Dispatched,
    EnRoute(GeoPoint),
    OnScene,
    Transporting(GeoPoint),
    AtDestination,
    Returning,
}

struct Vehicle {
    unit: DemoUnit,
    link: VehicleLink,
    rng: StdRng,
    config: DemoConfig,
    position: GeoPoint,
    heading: f32,
    speed: f32,
    phase: Phase,
    until: Instant,
    crew: Vec<pb::CrewMember>,
    shift: u32,
}

fn crew_roles(t: UnitType) -> &'static [pb::CrewRole] {
    use pb::CrewRole::*;
    match t {
        UnitType::Usa | UnitType::Vir => &[Driver, Nurse, Physician],
        UnitType::Moto => &[NursingTechnician],
        UnitType::Aero => &[Physician, Nurse],
        UnitType::Usb | UnitType::Emb => &[Driver, NursingTechnician],
    }
}

impl Vehicle {
    fn new(unit: DemoUnit, link: VehicleLink, rng: StdRng, config: DemoConfig) -> Self {
        let crew = crew_roles(unit.unit_type)
            .iter()
            .enumerate()
            .map(|(i, role)| pb::CrewMember {
                member_id: format!("{}-p{}", unit.id, i + 1),
                role: (*role).into(),
            })
            .collect();
        Self {
            position: unit.base_location,
            unit,
            link,
            rng,
            config,
            heading: 0.0,
            speed: 0.0,
            phase: Phase::AtBase,
            until: Instant::now(),
            crew,
            shift: 1,
        }
    }

    async fn run(mut self, shutdown: CancellationToken) {
        let interval = Duration::from_millis(self.config.report_interval_ms.max(100));
        // Stagger the first calls so the central does not see every unit
        // dispatched at once.
        let first_idle = self
            .rng
            .random_range(0..=self.config.mean_idle_s.max(1) * 2);
        self.until = Instant::now() + Duration::from_secs(first_idle);
        self.declare(pb::UnitStatus::AvailableAtBase, None).await;
        let mut ticker = tokio::time::interval(interval);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            self.step(interval.as_secs_f64()).await;
            let report = Body::Position(pb::Position {
                fix_time: Some(timestamp_now()),
                latitude: self.position.lat(),
                longitude: self.position.lon(),
                speed_mps: Some(self.speed),
                heading_deg: Some(self.heading),
                accuracy_m: Some(5.0),
            });
            if !self.link.send(report).await {
                return;
            }
        }
    }

    async fn declare(&mut self, status: pb::UnitStatus, reason: Option<pb::OutOfServiceReason>) {
        let body = Body::CrewStatus(pb::CrewStatus {
            reported_at: Some(timestamp_now()),
            status: status.into(),
            out_of_service_reason: reason.unwrap_or(pb::OutOfServiceReason::Unspecified).into(),
            crew: self.crew.clone(),
        });
        self.link.send(body).await;
    }

    fn minutes(&mut self, from: u64, to: u64) -> Instant {
        Instant::now() + Duration::from_secs(self.rng.random_range(from * 60..=to * 60))
    }

    /// A point `min_m`..`max_m` metres away in a random direction.
    fn somewhere_near(&mut self, from: GeoPoint, min_m: f64, max_m: f64) -> GeoPoint {
        let distance = self.rng.random_range(min_m..max_m);
        let bearing = self.rng.random_range(0.0..std::f64::consts::TAU);
        let dlat = distance * bearing.cos() / 111_320.0;
        let dlon = distance * bearing.sin() / (111_320.0 * from.lat().to_radians().cos());
        GeoPoint::new(
            "",
            (from.lat() + dlat).clamp(-89.0, 89.0),
            from.lon() + dlon,
        )
        .unwrap_or(from)
    }

    /// Moves towards `target`; true when there.
    fn drive(&mut self, target: GeoPoint, seconds: f64) -> bool {
        let remaining = self.position.distance_m(target);
        let step = DRIVING_MPS * seconds;
        let (dlat, dlon) = (
            target.lat() - self.position.lat(),
            target.lon() - self.position.lon(),
        );
        let east = dlon * self.position.lat().to_radians().cos();
        self.heading = (east.atan2(dlat).to_degrees().rem_euclid(360.0) as f32).min(359.9);
        if remaining <= step {
            self.position = target;
            self.speed = 0.0;
            return true;
        }
        let f = step / remaining;
        self.position = GeoPoint::new(
            "",
            self.position.lat() + dlat * f,
            self.position.lon() + dlon * f,
        )
        .unwrap_or(target);
        self.speed = DRIVING_MPS as f32;
        false
    }

    async fn step(&mut self, seconds: f64) {
        use pb::UnitStatus as S;
        let now = Instant::now();
        let phase = self.phase;
        match phase {
            Phase::AtBase if now >= self.until => {
                let roll: f64 = self.rng.random();
                if roll < self.config.out_of_service_chance {
                    self.phase = Phase::OutOfService;
                    self.until = self.minutes(5, 15);
                    self.declare(S::OutOfService, Some(pb::OutOfServiceReason::Maintenance))
                        .await;
                } else if roll < self.config.out_of_service_chance + self.config.crew_change_chance
                {
                    // Shift change: one member leaves before the relief arrives.
                    self.crew.pop();
                    self.phase = Phase::CrewChange;
                    self.until = self.minutes(1, 3);
                    self.declare(S::AvailableAtBase, None).await;
                } else {
                    self.phase = Phase::Dispatched;
                    self.until = now + Duration::from_secs(self.rng.random_range(20..60));
                    self.declare(S::Dispatched, None).await;
                }
            }
            Phase::CrewChange if now >= self.until => {
                self.shift += 1;
                let roles = crew_roles(self.unit.unit_type);
                let role = roles[self.crew.len() % roles.len()];
                self.crew.push(pb::CrewMember {
                    member_id: format!("{}-p{}-s{}", self.unit.id, self.crew.len() + 1, self.shift),
                    role: role.into(),
                });
                self.phase = Phase::AtBase;
                self.until = self.minutes(2, self.config.mean_idle_s.div_ceil(30).max(3));
                self.declare(S::AvailableAtBase, None).await;
            }
            Phase::OutOfService if now >= self.until => {
                self.phase = Phase::AtBase;
                self.until = self.minutes(1, 5);
                self.declare(S::AvailableAtBase, None).await;
            }
            Phase::Dispatched if now >= self.until => {
                let scene = self.somewhere_near(self.unit.base_location, 1_500.0, 6_000.0);
                self.phase = Phase::EnRoute(scene);
                self.declare(S::EnRoute, None).await;
            }
            Phase::EnRoute(scene) if self.drive(scene, seconds) => {
                self.phase = Phase::OnScene;
                self.until = self.minutes(3, 8);
                self.declare(S::OnScene, None).await;
            }
            Phase::OnScene if now >= self.until => {
                if self.rng.random_bool(0.6) {
                    let hospital = self.somewhere_near(self.position, 2_000.0, 6_000.0);
                    self.phase = Phase::Transporting(hospital);
                    self.declare(S::Transporting, None).await;
                } else {
                    self.phase = Phase::Returning;
                    self.declare(S::AvailableOnTheMove, None).await;
                }
            }
            Phase::Transporting(hospital) if self.drive(hospital, seconds) => {
                self.phase = Phase::AtDestination;
                self.until = self.minutes(3, 6);
                self.declare(S::AtDestination, None).await;
            }
            Phase::AtDestination if now >= self.until => {
                self.phase = Phase::Returning;
                self.declare(S::AvailableOnTheMove, None).await;
            }
            Phase::Returning if self.drive(self.unit.base_location, seconds) => {
                self.phase = Phase::AtBase;
                let idle = self.config.mean_idle_s.max(1);
                self.until =
                    now + Duration::from_secs(self.rng.random_range(idle / 2..=idle * 3 / 2));
                self.declare(S::AvailableAtBase, None).await;
            }
            _ => {}
        }
    }
}

fn timestamp_now() -> prost_types::Timestamp {
    let now = Utc::now();
    prost_types::Timestamp {
        seconds: now.timestamp(),
        nanos: i32::try_from(now.timestamp_subsec_nanos()).unwrap_or(0),
    }
}
