//! The simulated day of every demo unit.
//!
//! Each unit waits at its base until the central desk of its SAMU
//! ([`crate::desk`]) sends it to a call, drives to the scene, works it,
//! sometimes carries the patient to a hospital, and comes back; while idle
//! it now and then goes out of service for maintenance or changes a crew
//! member (with a few minutes of incomplete crew). Every step is reported
//! through the real gRPC ingest with the unit's own device token, and told
//! to the desk, which records it on the occurrence as a radio operator
//! would.

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use anyhow::Context;
use chrono::{DateTime, Utc};
use rand::{rngs::StdRng, Rng, SeedableRng};
use samu_domain::{GeoPoint, UnitType};
use samu_proto::v1::{self as pb, vehicle_report::Body};
use serde::{Deserialize, Serialize};
use tokio::{sync::mpsc, task::JoinSet, time::Instant};
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};

use crate::{
    catalogue::{self, DemoUnit},
    desk::{self, Assignment, UnitReport},
    link::VehicleLink,
    seed::DemoLogin,
};

/// Settings of the simulator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemoConfig {
    /// Seconds between a unit's position reports.
    pub report_interval_ms: u64,
    /// Mean time a unit waits between calls, in seconds. Sets how often
    /// each central's desk takes a call (unless `mean_call_interval_s` is
    /// set: about one call-out per unit per `mean_idle_s` plus a call's
    /// length) and how often an idle unit draws whether it goes out of
    /// service or changes crew.
    pub mean_idle_s: u64,
    /// Chance, once per call cycle of an idle unit, that it goes out of
    /// service for maintenance.
    pub out_of_service_chance: f64,
    /// Chance, once per call cycle of an idle unit, that a crew member is
    /// replaced (a few minutes with an incomplete crew).
    pub crew_change_chance: f64,
    /// Random seed; none means a different day every run.
    pub seed: Option<u64>,
    /// Whether each central's desk takes calls. Off, units only idle.
    pub desk: bool,
    /// Mean seconds between calls at each central's desk; none derives it
    /// from the central's fleet and `mean_idle_s`.
    pub mean_call_interval_s: Option<f64>,
    /// Share of calls that are pranks (trote).
    pub prank_chance: f64,
    /// How many times faster than real time the simulated waits pass
    /// (the physician's and operator's delays, turnout, time on scene and
    /// at the hospital, maintenance, crew change, `mean_idle_s`); driving
    /// and reporting are set on their own.
    pub time_scale: f64,
    /// Driving speed with lights and siren, metres per second (at most 50:
    /// the fleet flags faster fixes as implausible).
    pub driving_speed_mps: f64,
    /// Farthest a scene is from the base it is drawn around, metres (the
    /// nearest is a quarter of this); hospitals are as far again.
    pub max_scene_distance_m: f64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            report_interval_ms: 2_000,
            mean_idle_s: 240,
            out_of_service_chance: 0.05,
            crew_change_chance: 0.05,
            seed: None,
            desk: true,
            mean_call_interval_s: None,
            prank_chance: 0.05,
            time_scale: 1.0,
            driving_speed_mps: DRIVING_MPS,
            max_scene_distance_m: 6_000.0,
        }
    }
}

impl DemoConfig {
    /// `time_scale`, kept sane.
    pub(crate) fn scale(&self) -> f64 {
        if self.time_scale.is_finite() && self.time_scale > 0.0 {
            self.time_scale.clamp(0.001, 10_000.0)
        } else {
            1.0
        }
    }

    /// A simulated wait of `seconds`, as real time.
    pub(crate) fn wait(&self, seconds: f64) -> Duration {
        Duration::from_secs_f64((seconds.max(0.0) / self.scale()).min(86_400.0))
    }

    /// `driving_speed_mps`, kept within what the fleet believes.
    pub(crate) fn speed_mps(&self) -> f64 {
        if self.driving_speed_mps.is_finite() {
            self.driving_speed_mps.clamp(1.0, 50.0)
        } else {
            DRIVING_MPS
        }
    }

    /// `max_scene_distance_m`, kept sane.
    pub(crate) fn scene_max_m(&self) -> f64 {
        if self.max_scene_distance_m.is_finite() {
            self.max_scene_distance_m.clamp(40.0, 50_000.0)
        } else {
            6_000.0
        }
    }

    /// Real seconds a unit is busy with a dispatched call, on average: turnout,
    /// the drive out, the scene, a transport three times in five (drive and
    /// hand-over) and the drive back.
    pub fn typical_call_s(&self) -> f64 {
        let scale = self.scale();
        let speed = self.speed_mps();
        let mean_scene_m = self.scene_max_m() * 0.625;
        let waits = (TURNOUT_S.0 + TURNOUT_S.1) / 2.0
            + (ON_SCENE_S.0 + ON_SCENE_S.1) / 2.0
            + TRANSPORT_CHANCE * (AT_HOSPITAL_S.0 + AT_HOSPITAL_S.1) / 2.0;
        // Out, to the hospital and back, or out and back.
        let driven = mean_scene_m * (2.0 + TRANSPORT_CHANCE * 1.2);
        waits / scale + driven / speed
    }

    /// Real seconds of a unit's call cycle: idle plus a call.
    pub fn unit_cycle_s(&self) -> f64 {
        self.mean_idle_s as f64 / self.scale() + self.typical_call_s()
    }

    /// Mean real seconds between calls at a central of `units` units: as
    /// set, or such that each unit is called out about once per cycle as it
    /// was when units called themselves out (pranks and telephone
    /// orientation send nobody, so there are more calls than call-outs).
    pub fn call_interval_s(&self, units: usize) -> f64 {
        let mean = self.mean_call_interval_s.unwrap_or_else(|| {
            self.unit_cycle_s() * desk::dispatch_share(self.prank_chance) / units.max(1) as f64
        });
        if mean.is_finite() {
            mean.clamp(0.05, 86_400.0)
        } else {
            60.0
        }
    }
}

/// Drives every demo unit that has a token in `devices` through the gRPC
/// server at `target` until `shutdown` fires, and runs the central desk of
/// each SAMU with the demo users' logins (`users` of `demo-tokens.json`,
/// keyed by role; without them, units only idle).
///
/// # Errors
/// `target` is not a valid endpoint.
pub async fn simulate(
    target: String,
    devices: BTreeMap<String, String>,
    users: BTreeMap<String, DemoLogin>,
    config: DemoConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // One HTTP/2 connection carries every simulated vehicle's stream and
    // the desks' calls; it reconnects by itself when the server comes back.
    let channel = Endpoint::from_shared(target.clone())
        .with_context(|| format!("invalid gRPC target {target}"))?
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy();
    simulate_on(channel, target, devices, users, config, shutdown).await
}

/// As [`simulate`], over a channel made by the caller (one that dials the
/// server's TLS port, say); `target` only names it in the log.
///
/// # Errors
/// None today: it returns when `shutdown` fires.
pub async fn simulate_on(
    channel: Channel,
    target: String,
    devices: BTreeMap<String, String>,
    users: BTreeMap<String, DemoLogin>,
    config: DemoConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let started = Utc::now();
    let mut seeder = config
        .seed
        .map_or_else(StdRng::from_os_rng, StdRng::seed_from_u64);
    let mut tasks = JoinSet::new();
    let first_seq = u64::try_from(Utc::now().timestamp_micros()).unwrap_or(1);
    let centrals = catalogue::centrals();
    let mut radios = HashMap::new();
    for unit in centrals.iter().flat_map(|c| c.units.iter().cloned()) {
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
        let (radio, dispatches) = mpsc::channel(4);
        radios.insert(unit.id.to_string(), radio);
        let vehicle = Vehicle::new(
            unit,
            link,
            dispatches,
            StdRng::seed_from_u64(seeder.random()),
            config.clone(),
        );
        tasks.spawn(vehicle.run(shutdown.clone()));
        tasks.spawn(async move {
            let _ = handle.await;
        });
    }
    let desks = if !config.desk {
        0
    } else if let Some(api) = desk::Api::new(channel.clone(), users) {
        let api = std::sync::Arc::new(api);
        let radios = std::sync::Arc::new(radios);
        let mut desks = 0;
        for central in centrals {
            if !central
                .units
                .iter()
                .any(|u| radios.contains_key(u.id.as_str()))
            {
                continue;
            }
            let desk = desk::Desk::new(
                central,
                api.clone(),
                radios.clone(),
                config.clone(),
                StdRng::seed_from_u64(seeder.random()),
                started,
            );
            tasks.spawn(desk.run(shutdown.clone()));
            desks += 1;
        }
        desks
    } else {
        tracing::warn!(
            "no demo users (tarm, physician, radio_operator, manager) were given: \
             the central desks are off and units only idle"
        );
        0
    };
    tracing::info!(vehicles = devices.len(), desks, %target, "demo simulator running");
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Metres per second while driving with lights and siren.
const DRIVING_MPS: f64 = 11.0;
/// From the call-out to departure, seconds (simulated).
const TURNOUT_S: (f64, f64) = (20.0, 60.0);
/// Time on scene, seconds (simulated).
const ON_SCENE_S: (f64, f64) = (180.0, 480.0);
/// Hand-over at the hospital, seconds (simulated).
const AT_HOSPITAL_S: (f64, f64) = (180.0, 360.0);
/// Maintenance, seconds (simulated).
const MAINTENANCE_S: (f64, f64) = (300.0, 900.0);
/// Until the relief arrives at a crew change, seconds (simulated).
const RELIEF_S: (f64, f64) = (60.0, 180.0);
/// Share of attended scenes that end with a transport to a hospital.
const TRANSPORT_CHANCE: f64 = 0.6;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    AtBase,
    CrewChange,
    OutOfService,
    Dispatched(GeoPoint),
    EnRoute(GeoPoint),
    OnScene,
    Transporting(GeoPoint),
    AtDestination,
    Returning,
}

impl Phase {
    /// Working a call: not free to take another.
    fn is_engaged(self) -> bool {
        matches!(
            self,
            Phase::Dispatched(_)
                | Phase::EnRoute(_)
                | Phase::OnScene
                | Phase::Transporting(_)
                | Phase::AtDestination
        )
    }
}

struct Vehicle {
    unit: DemoUnit,
    link: VehicleLink,
    dispatches: mpsc::Receiver<Assignment>,
    /// Where the steps of the current call are told (the desk's line).
    job: Option<mpsc::Sender<UnitReport>>,
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

/// The roles of a complete crew of each type (the domain's default minimum,
/// `samu_domain::CrewRules`, one role per slot).
fn crew_roles(t: UnitType) -> &'static [pb::CrewRole] {
    use pb::CrewRole::*;
    match t {
        UnitType::Usa | UnitType::Vir => &[Driver, Nurse, Physician],
        UnitType::Moto => &[NursingTechnician],
        UnitType::Aero => &[Physician, Nurse],
        UnitType::Usb | UnitType::Emb => &[Driver, NursingTechnician],
    }
}

/// A complete crew of `unit_type` as a vehicle app declares it when it
/// starts, members `{unit}-m0`, `{unit}-m1`, …: for load generators and
/// tests that need a dispatchable unit. An unspecified type gets nobody.
pub fn complete_crew(unit_type: pb::UnitType, unit: &str) -> Vec<pb::CrewMember> {
    let Ok(unit_type) = samu_grpc::convert::unit_type("unit_type", unit_type.into()) else {
        return Vec::new();
    };
    crew_roles(unit_type)
        .iter()
        .enumerate()
        .map(|(i, role)| pb::CrewMember {
            member_id: format!("{unit}-m{i}"),
            role: (*role).into(),
        })
        .collect()
}

impl Vehicle {
    fn new(
        unit: DemoUnit,
        link: VehicleLink,
        dispatches: mpsc::Receiver<Assignment>,
        rng: StdRng,
        config: DemoConfig,
    ) -> Self {
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
            dispatches,
            job: None,
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
        // Stagger the first maintenance and crew-change draws.
        let cycle = self.config.unit_cycle_s().max(1.0);
        self.until = Instant::now() + Duration::from_secs_f64(self.rng.random_range(0.0..cycle));
        self.declare(pb::UnitStatus::AvailableAtBase, now_ms())
            .await;
        let mut ticker = tokio::time::interval(interval);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                Some(assignment) = self.dispatches.recv() => {
                    self.assigned(assignment).await;
                    continue;
                }
                _ = ticker.tick() => {}
            }
            self.step(interval.as_secs_f64()).await;
            let report = Body::Position(pb::Position {
                fix_time: Some(desk::timestamp(Utc::now())),
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

    async fn declare(&mut self, status: pb::UnitStatus, at: DateTime<Utc>) {
        let reason = if status == pb::UnitStatus::OutOfService {
            pb::OutOfServiceReason::Maintenance
        } else {
            pb::OutOfServiceReason::Unspecified
        };
        let body = Body::CrewStatus(pb::CrewStatus {
            reported_at: Some(desk::timestamp(at)),
            status: status.into(),
            out_of_service_reason: reason.into(),
            crew: self.crew.clone(),
        });
        self.link.send(body).await;
    }

    /// Declares a status and tells the desk the matching step of the call.
    async fn progress(&mut self, status: pb::UnitStatus, step: pb::UnitStep) {
        let at = now_ms();
        self.declare(status, at).await;
        if let Some(job) = &self.job {
            // The desk's line holds a few steps; a stalled desk loses
            // steps rather than stopping the vehicle.
            let _ = job.try_send(UnitReport::Step(step, at));
        }
    }

    /// The desk sends this unit to a call.
    async fn assigned(&mut self, assignment: Assignment) {
        if self.phase.is_engaged() {
            let _ = assignment.reports.try_send(UnitReport::Refused(format!(
                "{} já está em outro atendimento",
                self.unit.label
            )));
            return;
        }
        // Out of service or mid crew change when the call came: the
        // maintenance is cut short, the relief is already there.
        self.complete_crew();
        tracing::debug!(unit = %self.unit.id, occurrence = %assignment.occurrence, "unit dispatched");
        self.job = Some(assignment.reports);
        self.phase = Phase::Dispatched(assignment.scene);
        self.until = self.within(TURNOUT_S);
        self.speed = 0.0;
        self.declare(pb::UnitStatus::Dispatched, now_ms()).await;
    }

    fn complete_crew(&mut self) {
        let roles = crew_roles(self.unit.unit_type);
        while self.crew.len() < roles.len() {
            self.shift += 1;
            let role = roles[self.crew.len() % roles.len()];
            self.crew.push(pb::CrewMember {
                member_id: format!("{}-p{}-s{}", self.unit.id, self.crew.len() + 1, self.shift),
                role: role.into(),
            });
        }
    }

    /// A moment `range` simulated seconds from now.
    fn within(&mut self, (from, to): (f64, f64)) -> Instant {
        Instant::now() + self.config.wait(self.rng.random_range(from..=to))
    }

    /// When an idle unit next draws whether it goes out of service or
    /// changes crew: about once per call cycle.
    fn next_draw(&mut self) -> Instant {
        let cycle = self.config.unit_cycle_s().max(1.0);
        Instant::now() + Duration::from_secs_f64(self.rng.random_range(cycle / 2.0..=cycle * 1.5))
    }

    /// Moves towards `target`; true when there.
    fn drive(&mut self, target: GeoPoint, seconds: f64) -> bool {
        let remaining = self.position.distance_m(target);
        let speed = self.config.speed_mps();
        let step = speed * seconds;
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
        self.speed = speed as f32;
        false
    }

    async fn step(&mut self, seconds: f64) {
        use pb::{UnitStatus as S, UnitStep as Step};
        let now = Instant::now();
        let phase = self.phase;
        match phase {
            Phase::AtBase if now >= self.until => {
                let roll: f64 = self.rng.random();
                if roll < self.config.out_of_service_chance {
                    self.phase = Phase::OutOfService;
                    self.until = self.within(MAINTENANCE_S);
                    self.declare(S::OutOfService, now_ms()).await;
                } else if roll < self.config.out_of_service_chance + self.config.crew_change_chance
                {
                    // Shift change: one member leaves before the relief arrives.
                    self.crew.pop();
                    self.phase = Phase::CrewChange;
                    self.until = self.within(RELIEF_S);
                    self.declare(S::AvailableAtBase, now_ms()).await;
                } else {
                    self.until = self.next_draw();
                }
            }
            Phase::CrewChange if now >= self.until => {
                self.complete_crew();
                self.phase = Phase::AtBase;
                self.until = self.next_draw();
                self.declare(S::AvailableAtBase, now_ms()).await;
            }
            Phase::OutOfService if now >= self.until => {
                self.phase = Phase::AtBase;
                self.until = self.next_draw();
                self.declare(S::AvailableAtBase, now_ms()).await;
            }
            Phase::Dispatched(scene) if now >= self.until => {
                self.phase = Phase::EnRoute(scene);
                self.progress(S::EnRoute, Step::EnRoute).await;
            }
            Phase::EnRoute(scene) if self.drive(scene, seconds) => {
                self.phase = Phase::OnScene;
                self.until = self.within(ON_SCENE_S);
                self.progress(S::OnScene, Step::OnScene).await;
            }
            Phase::OnScene if now >= self.until => {
                if self.rng.random_bool(TRANSPORT_CHANCE) {
                    let far = self.config.scene_max_m();
                    let hospital =
                        desk::somewhere_near(&mut self.rng, self.position, far / 3.0, far);
                    self.phase = Phase::Transporting(hospital);
                    self.progress(S::Transporting, Step::LeftScene).await;
                } else {
                    self.phase = Phase::Returning;
                    self.progress(S::AvailableOnTheMove, Step::Free).await;
                }
            }
            Phase::Transporting(hospital) if self.drive(hospital, seconds) => {
                self.phase = Phase::AtDestination;
                self.until = self.within(AT_HOSPITAL_S);
                self.progress(S::AtDestination, Step::AtDestination).await;
            }
            Phase::AtDestination if now >= self.until => {
                self.phase = Phase::Returning;
                self.progress(S::AvailableOnTheMove, Step::Free).await;
            }
            Phase::Returning if self.drive(self.unit.base_location, seconds) => {
                self.phase = Phase::AtBase;
                self.until = self.next_draw();
                self.progress(S::AvailableAtBase, Step::AtBase).await;
                self.job = None;
            }
            _ => {}
        }
    }
}

/// Now, in whole milliseconds (what the server keeps).
fn now_ms() -> DateTime<Utc> {
    samu_domain::time::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_call_rate_keeps_each_unit_called_out_as_before() {
        let config = DemoConfig::default();
        // A call as the units made it themselves: about 25 minutes busy.
        let busy = config.typical_call_s();
        assert!((1_200.0..1_800.0).contains(&busy), "{busy}");
        // Belo Horizonte's 32 units: a call every half minute or so, of
        // which about 70 % send a unit.
        let bh = config.call_interval_s(32);
        let call_outs_per_unit_s = (1.0 / bh) * desk::dispatch_share(0.05) / 32.0;
        let before = 1.0 / (240.0 + busy);
        assert!(
            (call_outs_per_unit_s / before - 1.0).abs() < 0.01,
            "{call_outs_per_unit_s} vs {before}"
        );
        assert!((25.0..60.0).contains(&bh), "{bh}");
        // A small central waits longer between calls.
        assert!(config.call_interval_s(3) > bh * 10.0);
    }

    #[test]
    fn a_set_call_interval_and_the_time_scale_are_taken_as_given() {
        let config = DemoConfig {
            mean_call_interval_s: Some(2.5),
            time_scale: 20.0,
            ..DemoConfig::default()
        };
        assert_eq!(config.call_interval_s(32), 2.5);
        assert_eq!(config.wait(60.0), Duration::from_secs(3));
        let silly = DemoConfig {
            time_scale: f64::NAN,
            driving_speed_mps: 500.0,
            mean_call_interval_s: Some(0.0),
            ..DemoConfig::default()
        };
        assert_eq!(silly.wait(60.0), Duration::from_secs(60));
        assert_eq!(silly.speed_mps(), 50.0);
        assert_eq!(silly.call_interval_s(1), 0.05);
    }

    #[test]
    fn a_config_file_may_leave_the_new_settings_out() {
        let config: DemoConfig =
            serde_json::from_str(r#"{"mean_idle_s": 100000, "seed": 11}"#).unwrap();
        assert!(config.desk);
        assert_eq!(config.mean_idle_s, 100_000);
        assert_eq!(config.time_scale, 1.0);
    }
}
