//! The simulated central desk of each demo SAMU: the people in the
//! regulation room, working through the real gRPC API as the consoles do.
//!
//! At random moments (a Poisson process per central) a call comes in. The
//! TARM (`Accounts/Login` as the demo user `tarm`, then
//! `Regulation/OpenOccurrence`) records it with made-up data that cannot be
//! mistaken for anyone's (phone `(31) 90000-0123`, "Rua Exemplo, 123"),
//! located near one of the central's bases; about one call in twenty is a
//! prank (`MarkNonCase`). After a short while the physician (`medico`)
//! regulates it: vermelho 20 %, amarelo 40 %, verde 30 %, azul 10 %; azul
//! and half of verde get telephone orientation and are closed. For the rest
//! the radio operator (`radio`) asks `Recommend` and dispatches the first
//! recommended unit, and tells the unit's simulated vehicle over the radio
//! (a channel per unit). The vehicle drives to the scene and reports every
//! step through its own telemetry stream, and tells the desk, which records
//! each step on the occurrence (`RecordUnitStep`), frees the unit and closes
//! the occurrence, then records the unit back at base.
//!
//! When nothing is recommended (every unit busy, out of service or
//! incomplete) the operator tries again a little later, and after about ten
//! minutes closes the call with a note. API errors are logged, never fatal.
//! At start, occurrences a previous run left open are wound up, so their
//! units are not held engaged forever.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

use chrono::{DateTime, Utc};
use rand::{rngs::StdRng, Rng, SeedableRng};
use samu_domain::{GeoPoint, UnitType};
use samu_proto::v1::{
    self as pb, accounts_client::AccountsClient, regulation_client::RegulationClient,
};
use tokio::{sync::mpsc, task::JoinSet, time::Instant};
use tokio_util::sync::CancellationToken;
use tonic::{metadata::MetadataValue, transport::Channel, Code, Request, Response, Status};

use crate::{catalogue::DemoCentral, seed::DemoLogin, sim::DemoConfig};

/// A call-out, from the desk to a unit's vehicle.
#[derive(Debug)]
pub(crate) struct Assignment {
    /// The occurrence.
    pub occurrence: String,
    /// Where to go.
    pub scene: GeoPoint,
    /// Where the vehicle tells its steps.
    pub reports: mpsc::Sender<UnitReport>,
}

/// What a vehicle tells the desk about its call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum UnitReport {
    /// A step, and when it happened.
    Step(pb::UnitStep, DateTime<Utc>),
    /// The unit cannot go (why, in Portuguese).
    Refused(String),
}

/// Priorities of regulated calls and their shares.
pub const PRIORITY_MIX: [(pb::Priority, f64); 4] = [
    (pb::Priority::Vermelho, 0.20),
    (pb::Priority::Amarelo, 0.40),
    (pb::Priority::Verde, 0.30),
    (pb::Priority::Azul, 0.10),
];
/// Share of verde calls settled by telephone orientation.
pub const VERDE_ORIENTATION: f64 = 0.5;

/// Share of calls that end with a unit sent, for a given prank share.
pub fn dispatch_share(prank_chance: f64) -> f64 {
    let sent: f64 = PRIORITY_MIX
        .iter()
        .map(|(p, share)| match p {
            pb::Priority::Verde => share * (1.0 - VERDE_ORIENTATION),
            pb::Priority::Azul => 0.0,
            _ => *share,
        })
        .sum();
    (1.0 - prank_chance.clamp(0.0, 0.99)) * sent
}

/// The priority for a roll in `[0, 1)`.
pub fn priority_for(roll: f64) -> pb::Priority {
    let mut acc = 0.0;
    for (priority, share) in PRIORITY_MIX {
        acc += share;
        if roll < acc {
            return priority;
        }
    }
    pb::Priority::Azul
}

/// The physician's decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Regulation {
    /// Severity.
    pub priority: pb::Priority,
    /// Orientation or dispatch.
    pub decision: pb::Decision,
    /// What to send (empty for orientation).
    pub unit_types: Vec<pb::UnitType>,
    /// The physician's note.
    pub note: &'static str,
}

/// The decision for `priority`: vermelho sends a USA, amarelo and the
/// verde not settled by phone (`orientation_roll >= VERDE_ORIENTATION`) a
/// USB, azul gets orientation; a central without the type sends the other.
pub fn regulation_for(
    priority: pb::Priority,
    orientation_roll: f64,
    has_usa: bool,
    has_usb: bool,
) -> Regulation {
    let send = |preferred: pb::UnitType, note| {
        let unit_type = match preferred {
            pb::UnitType::Usa if !has_usa => pb::UnitType::Usb,
            pb::UnitType::Usb if !has_usb => pb::UnitType::Usa,
            t => t,
        };
        Regulation {
            priority,
            decision: pb::Decision::Dispatch,
            unit_types: vec![unit_type],
            note,
        }
    };
    let orientation = |note| Regulation {
        priority,
        decision: pb::Decision::Orientation,
        unit_types: Vec::new(),
        note,
    };
    match priority {
        pb::Priority::Vermelho => send(pb::UnitType::Usa, "Risco de morte: suporte avançado."),
        pb::Priority::Amarelo => send(pb::UnitType::Usb, "Urgência: suporte básico."),
        pb::Priority::Verde if orientation_roll >= VERDE_ORIENTATION => {
            send(pb::UnitType::Usb, "Pouco urgente: suporte básico.")
        }
        pb::Priority::Verde => orientation("Orientado a procurar a UPA."),
        _ => orientation("Orientação médica por telefone."),
    }
}

/// A kind of call: nature, share of calls, complaints, patient ages.
type Case = (pb::Nature, f64, &'static [&'static str], (u32, u32));

/// Kinds of call.
const CASES: [Case; 6] = [
    (
        pb::Nature::Clinical,
        0.50,
        &[
            "Dor no peito há 30 minutos",
            "Falta de ar súbita",
            "Desmaio em casa, já acordado",
            "Fraqueza de um lado do corpo",
            "Glicemia muito baixa, confuso",
        ],
        (18, 95),
    ),
    (
        pb::Nature::Trauma,
        0.25,
        &[
            "Queda de moto, consciente",
            "Queda da escada, dor na perna",
            "Atropelamento, vítima consciente",
            "Corte profundo na mão",
        ],
        (5, 90),
    ),
    (
        pb::Nature::Obstetric,
        0.07,
        &[
            "Trabalho de parto, contrações a cada 5 minutos",
            "Sangramento na gestação",
        ],
        (16, 44),
    ),
    (
        pb::Nature::Psychiatric,
        0.08,
        &["Agitação psicomotora", "Crise de ansiedade intensa"],
        (16, 80),
    ),
    (
        pb::Nature::Paediatric,
        0.07,
        &[
            "Criança com febre alta e convulsão",
            "Engasgo em criança, já respira",
        ],
        (0, 12),
    ),
    (
        pb::Nature::Other,
        0.03,
        &["Mal-estar sem causa definida"],
        (18, 90),
    ),
];

const REFERENCE_POINTS: [&str; 5] = [
    "Em frente à padaria",
    "Próximo à praça",
    "Ao lado da escola",
    "Esquina com a Avenida Exemplo",
    "Portão azul",
];

/// Destinations (CNES of the receiving hospitals).
const HOSPITALS: [&str; 3] = ["0027014", "0026794", "2200457"];

/// Area code of a demo central (IBGE code of its seat).
fn area_code(central: &str) -> u8 {
    match central {
        "3170107" | "3148004" => 34, // Uberaba, Patos de Minas
        "3151800" => 35,             // Poços de Caldas
        "3127701" => 33,             // Governador Valadares
        _ => 31,
    }
}

/// A point `min_m`..`max_m` metres from `from` in a random direction.
pub(crate) fn somewhere_near(rng: &mut StdRng, from: GeoPoint, min_m: f64, max_m: f64) -> GeoPoint {
    let distance = if max_m > min_m {
        rng.random_range(min_m..max_m)
    } else {
        min_m
    };
    let bearing = rng.random_range(0.0..std::f64::consts::TAU);
    let dlat = distance * bearing.cos() / 111_320.0;
    let dlon = distance * bearing.sin() / (111_320.0 * from.lat().to_radians().cos());
    GeoPoint::new(
        "",
        (from.lat() + dlat).clamp(-89.0, 89.0),
        from.lon() + dlon,
    )
    .unwrap_or(from)
}

/// A call as the desk will work it.
#[derive(Debug, Clone, PartialEq)]
pub struct CallPlan {
    /// What the TARM records.
    pub call: pb::CallRecord,
    /// Where the emergency is.
    pub scene: GeoPoint,
    /// A prank: marked non-case, nobody regulates it.
    pub prank: bool,
    /// What the physician will decide.
    pub regulation: Regulation,
}

/// Draws a call for `central`.
pub fn plan_call(rng: &mut StdRng, central: &DemoCentral, config: &DemoConfig) -> CallPlan {
    let far = config.scene_max_m();
    let (scene, municipality) = match central.bases.len() {
        0 => (central.municipalities[0].2, central.id.to_string()),
        n => {
            let base = &central.bases[rng.random_range(0..n)];
            (
                somewhere_near(rng, base.location, far / 4.0, far),
                base.municipality.to_string(),
            )
        }
    };
    let mut roll = rng.random::<f64>();
    let (nature, _, complaints, ages) = CASES
        .iter()
        .find(|(_, share, _, _)| {
            roll -= share;
            roll < 0.0
        })
        .unwrap_or(&CASES[0]);
    let call = pb::CallRecord {
        caller_phone: format!(
            "({}) 90000-{:04}",
            area_code(central.id.as_str()),
            rng.random_range(0..10_000)
        ),
        caller_name: "Solicitante (demo)".into(),
        address: format!("Rua Exemplo, {}", rng.random_range(1..=2_000)),
        reference_point: REFERENCE_POINTS[rng.random_range(0..REFERENCE_POINTS.len())].into(),
        municipality,
        complaint: complaints[rng.random_range(0..complaints.len())].into(),
        nature: (*nature).into(),
        patient_name: "Paciente (demo)".into(),
        patient_age: Some(rng.random_range(ages.0..=ages.1)),
        location: Some(pb::GeoPoint {
            latitude: scene.lat(),
            longitude: scene.lon(),
        }),
    };
    let prank = rng.random_bool(config.prank_chance.clamp(0.0, 1.0));
    let has = |t| central.units.iter().any(|u| u.unit_type == t);
    let regulation = regulation_for(
        priority_for(rng.random()),
        rng.random(),
        has(UnitType::Usa),
        has(UnitType::Usb),
    );
    CallPlan {
        call,
        scene,
        prank,
        regulation,
    }
}

/// The first unit recommended, over every type asked for.
pub fn first_recommended(recommendation: &pb::Recommendation) -> Option<&pb::Candidate> {
    recommendation
        .candidates
        .iter()
        .find_map(|t| t.units.first())
}

/// Waiting time of a Poisson process of mean `mean_s` seconds.
pub fn next_call_in(rng: &mut StdRng, mean_s: f64) -> Duration {
    let u: f64 = rng.random();
    let wait = -mean_s * (1.0 - u).ln();
    Duration::from_secs_f64(wait.clamp(0.01, mean_s * 20.0))
}

/// A protobuf timestamp.
pub(crate) fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

fn from_timestamp(t: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

/// Simulated seconds the TARM takes to give up on a prank.
const PRANK_S: (f64, f64) = (10.0, 40.0);
/// Simulated seconds until the physician regulates.
const REGULATION_S: (f64, f64) = (15.0, 60.0);
/// Simulated seconds of a telephone orientation.
const ORIENTATION_S: (f64, f64) = (60.0, 240.0);
/// Simulated seconds until the radio operator dispatches.
const DISPATCH_S: (f64, f64) = (5.0, 30.0);
/// Simulated seconds between dispatch attempts when nothing could be sent.
const RETRY_S: (f64, f64) = (20.0, 40.0);
/// Dispatch attempts before the call is closed unserved (~10 min).
const MAX_DISPATCH_ATTEMPTS: u32 = 20;
/// Real seconds without trying to log in after the server refused a login.
const LOGIN_BACKOFF: Duration = Duration::from_secs(30);

/// The role names of the demo users, as keys of `users`.
const TARM: &str = "tarm";
const PHYSICIAN: &str = "physician";
const RADIO: &str = "radio_operator";
const MANAGER: &str = "manager";

/// The desk's sessions: one login per role, shared by every central (the
/// demo users work for all of them), renewed when the server stops taking
/// the token.
pub(crate) struct Api {
    channel: Channel,
    users: BTreeMap<String, DemoLogin>,
    sessions: tokio::sync::Mutex<HashMap<&'static str, String>>,
    refused_until: std::sync::Mutex<Option<Instant>>,
}

/// One Regulation call as `role`, logging in first if needed and once more
/// if the token has expired.
macro_rules! rpc {
    ($api:expr, $role:expr, $method:ident, $message:expr) => {{
        let message = $message;
        let mut result = Err(Status::unknown("not called"));
        for attempt in 0..2 {
            let token = match $api.token($role).await {
                Ok(token) => token,
                Err(status) => {
                    result = Err(status);
                    break;
                }
            };
            let mut client = RegulationClient::new($api.channel.clone());
            result = client
                .$method(authed(&token, message.clone()))
                .await
                .map(Response::into_inner);
            match &result {
                Err(status) if status.code() == Code::Unauthenticated && attempt == 0 => {
                    $api.forget($role, &token).await;
                }
                _ => break,
            }
        }
        result
    }};
}

fn authed<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    if let Ok(value) = MetadataValue::try_from(format!("Bearer {token}")) {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

impl Api {
    /// The desk's API over `channel`, or none when a role's login is missing.
    pub(crate) fn new(channel: Channel, users: BTreeMap<String, DemoLogin>) -> Option<Self> {
        [TARM, PHYSICIAN, RADIO, MANAGER]
            .iter()
            .all(|r| users.contains_key(*r))
            .then(|| Self {
                channel,
                users,
                sessions: tokio::sync::Mutex::new(HashMap::new()),
                refused_until: std::sync::Mutex::new(None),
            })
    }

    fn refused_until(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.refused_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn token(&self, role: &'static str) -> Result<String, Status> {
        let mut sessions = self.sessions.lock().await;
        if let Some(token) = sessions.get(role) {
            return Ok(token.clone());
        }
        if self.refused_until().is_some_and(|t| Instant::now() < t) {
            return Err(Status::unauthenticated(
                "the demo desk's login was refused a moment ago",
            ));
        }
        let login = self
            .users
            .get(role)
            .ok_or_else(|| Status::unauthenticated(format!("no demo {role} user")))?;
        let answer = AccountsClient::new(self.channel.clone())
            .login(pb::LoginRequest {
                username: login.username.clone(),
                password: login.password.clone(),
            })
            .await;
        match answer {
            Ok(r) => {
                let token = r.into_inner().token;
                sessions.insert(role, token.clone());
                tracing::debug!(role, username = %login.username, "demo desk logged in");
                Ok(token)
            }
            Err(status) => {
                if matches!(
                    status.code(),
                    Code::Unauthenticated | Code::PermissionDenied | Code::InvalidArgument
                ) {
                    tracing::warn!(role, username = %login.username, %status,
                        "the demo desk cannot log in; calls wait");
                    *self.refused_until() = Some(Instant::now() + LOGIN_BACKOFF);
                } else {
                    tracing::debug!(role, %status, "demo desk login failed");
                }
                Err(status)
            }
        }
    }

    async fn forget(&self, role: &'static str, token: &str) {
        let mut sessions = self.sessions.lock().await;
        if sessions.get(role).is_some_and(|t| t == token) {
            sessions.remove(role);
        }
    }
}

/// Logs an API refusal at a level that fits: the expected ones (nothing
/// to send, a race with another console) at debug, the rest at info, and
/// those that mean the demo is misconfigured at warn.
fn log_refusal(what: &str, occurrence: &str, status: &Status) {
    match status.code() {
        Code::FailedPrecondition | Code::InvalidArgument | Code::NotFound => {
            tracing::debug!(occurrence, code = ?status.code(), message = status.message(), "demo desk: {what} refused");
        }
        Code::Unauthenticated | Code::PermissionDenied => {
            tracing::warn!(occurrence, code = ?status.code(), message = status.message(), "demo desk: {what} refused");
        }
        _ => {
            tracing::info!(occurrence, code = ?status.code(), message = status.message(), "demo desk: {what} failed");
        }
    }
}

/// The desk of one central.
pub(crate) struct Desk {
    central: DemoCentral,
    api: Arc<Api>,
    radios: Arc<HashMap<String, mpsc::Sender<Assignment>>>,
    config: DemoConfig,
    rng: StdRng,
    started: DateTime<Utc>,
}

impl Desk {
    pub(crate) fn new(
        central: DemoCentral,
        api: Arc<Api>,
        radios: Arc<HashMap<String, mpsc::Sender<Assignment>>>,
        config: DemoConfig,
        rng: StdRng,
        started: DateTime<Utc>,
    ) -> Self {
        Self {
            central,
            api,
            radios,
            config,
            rng,
            started,
        }
    }

    /// Takes calls until `shutdown`.
    pub(crate) async fn run(mut self, shutdown: CancellationToken) {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = self.wind_up_previous_run() => {}
        }
        let mean = self.config.call_interval_s(self.central.units.len());
        // More calls than this at once means the API is stuck: skip calls
        // rather than pile up.
        let most = self.central.units.len() * 3 + 5;
        tracing::info!(central = %self.central.id, mean_call_interval_s = mean, "demo desk taking calls");
        let mut lines = JoinSet::new();
        loop {
            let wait = next_call_in(&mut self.rng, mean);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
            while lines.try_join_next().is_some() {}
            if lines.len() >= most {
                tracing::debug!(central = %self.central.id, open = lines.len(), "demo desk busy; call skipped");
                continue;
            }
            let plan = plan_call(&mut self.rng, &self.central, &self.config);
            let line = Line {
                api: self.api.clone(),
                radios: self.radios.clone(),
                config: self.config.clone(),
                rng: StdRng::seed_from_u64(self.rng.random()),
                central: self.central.id.to_string(),
                occurrence: String::new(),
                shutdown: shutdown.clone(),
            };
            lines.spawn(line.run(plan));
        }
        lines.shutdown().await;
    }

    /// Winds up what a previous run of the demo left open at this central
    /// (its vehicles are gone, so nobody would ever free their units).
    async fn wind_up_previous_run(&self) {
        let central = self.central.id.to_string();
        let list = rpc!(
            self.api,
            RADIO,
            list_occurrences,
            pb::ListOccurrencesRequest {
                central_id: central.clone(),
            }
        );
        let list = match list {
            Ok(list) => list.occurrences,
            Err(status) => {
                log_refusal("listing the open occurrences", "", &status);
                return;
            }
        };
        const NOTE: &str = "Encerrada ao reiniciar a demonstração.";
        for s in list {
            let before = s
                .opened_at
                .as_ref()
                .and_then(from_timestamp)
                .is_some_and(|at| at < self.started);
            use pb::OccurrenceStatus as O;
            if !before || matches!(s.status(), O::Closed | O::NonCase | O::Unspecified) {
                continue;
            }
            tracing::info!(occurrence = %s.id, %central, status = ?s.status(), "demo desk winds up an occurrence of a previous run");
            if s.status() == O::AwaitingRegulation {
                let regulated = rpc!(
                    self.api,
                    PHYSICIAN,
                    regulate,
                    pb::RegulateRequest {
                        occurrence_id: s.id.clone(),
                        priority: pb::Priority::Azul.into(),
                        decision: pb::Decision::Orientation.into(),
                        unit_types: Vec::new(),
                        note: NOTE.into(),
                        at: None,
                    }
                );
                if let Err(status) = regulated {
                    log_refusal("regulation", &s.id, &status);
                    continue;
                }
            }
            for u in &s.units {
                use pb::UnitStep as U;
                let (step, note) = match u.step() {
                    U::Dispatched | U::EnRoute => (U::Cancelled, NOTE),
                    U::OnScene | U::LeftScene | U::AtDestination => (U::Free, ""),
                    _ => continue,
                };
                let recorded = rpc!(
                    self.api,
                    RADIO,
                    record_unit_step,
                    pb::UnitStepRequest {
                        occurrence_id: s.id.clone(),
                        unit_id: u.unit_id.clone(),
                        step: step.into(),
                        destination_cnes: String::new(),
                        note: note.into(),
                        at: None,
                    }
                );
                if let Err(status) = recorded {
                    log_refusal("a unit step", &s.id, &status);
                }
            }
            let closed = rpc!(
                self.api,
                RADIO,
                close_occurrence,
                pb::CloseOccurrenceRequest {
                    occurrence_id: s.id.clone(),
                    note: NOTE.into(),
                    at: None,
                }
            );
            if let Err(status) = closed {
                log_refusal("closing", &s.id, &status);
            }
        }
    }
}

/// One call, from ringing to the unit back at base.
struct Line {
    api: Arc<Api>,
    radios: Arc<HashMap<String, mpsc::Sender<Assignment>>>,
    config: DemoConfig,
    rng: StdRng,
    central: String,
    occurrence: String,
    shutdown: CancellationToken,
}

/// How following a unit ended.
enum Followed {
    /// The call is done (or the unit went quiet).
    Done,
    /// The unit could not go: send another.
    Refused,
}

impl Line {
    /// Waits a simulated time drawn from `range`; false on shutdown.
    async fn pause(&mut self, (from, to): (f64, f64)) -> bool {
        let wait = self.config.wait(self.rng.random_range(from..=to));
        tokio::select! {
            _ = self.shutdown.cancelled() => false,
            _ = tokio::time::sleep(wait) => true,
        }
    }

    async fn run(mut self, plan: CallPlan) {
        let opened = rpc!(
            self.api,
            TARM,
            open_occurrence,
            pb::OpenOccurrenceRequest {
                central_id: self.central.clone(),
                call: Some(plan.call.clone()),
                received_at: None,
            }
        );
        match opened {
            Ok(detail) => self.occurrence = detail.summary.map(|s| s.id).unwrap_or_default(),
            Err(status) => {
                log_refusal("opening a call", "", &status);
                return;
            }
        }
        tracing::debug!(occurrence = %self.occurrence, central = %self.central, prank = plan.prank, "demo call opened");
        if plan.prank {
            if self.pause(PRANK_S).await {
                self.non_case().await;
            }
            return;
        }
        if !self.pause(REGULATION_S).await || !self.regulate(&plan.regulation).await {
            return;
        }
        if plan.regulation.decision == pb::Decision::Orientation {
            if self.pause(ORIENTATION_S).await {
                self.close(PHYSICIAN, "Orientação por telefone concluída.")
                    .await;
            }
            return;
        }
        let mut attempts = 0;
        while attempts < MAX_DISPATCH_ATTEMPTS {
            attempts += 1;
            let delay = if attempts == 1 { DISPATCH_S } else { RETRY_S };
            if !self.pause(delay).await {
                return;
            }
            let Some((unit, reports)) = self.dispatch(plan.scene).await else {
                continue;
            };
            match self.follow(&unit, reports).await {
                Followed::Done => return,
                Followed::Refused => continue,
            }
        }
        tracing::info!(occurrence = %self.occurrence, central = %self.central, "demo desk: no unit could be sent; call closed");
        self.close(
            RADIO,
            "Nenhuma unidade disponível por 10 minutos; solicitante orientado a procurar a UPA mais próxima.",
        )
        .await;
    }

    async fn non_case(&self) {
        let marked = rpc!(
            self.api,
            TARM,
            mark_non_case,
            pb::MarkNonCaseRequest {
                occurrence_id: self.occurrence.clone(),
                reason: pb::NonCaseReason::Prank.into(),
                note: "Trote.".into(),
            }
        );
        if let Err(status) = marked {
            log_refusal("marking a prank", &self.occurrence, &status);
        }
    }

    /// The physician's regulation, tried a few times; false when it never
    /// went through (the call then waits on the physician's queue).
    async fn regulate(&mut self, regulation: &Regulation) -> bool {
        for _ in 0..3 {
            let done = rpc!(
                self.api,
                PHYSICIAN,
                regulate,
                pb::RegulateRequest {
                    occurrence_id: self.occurrence.clone(),
                    priority: regulation.priority.into(),
                    decision: regulation.decision.into(),
                    unit_types: regulation.unit_types.iter().map(|t| (*t).into()).collect(),
                    note: regulation.note.into(),
                    at: None,
                }
            );
            match done {
                Ok(_) => return true,
                Err(status) => {
                    log_refusal("regulation", &self.occurrence, &status);
                    if !self.pause(RETRY_S).await {
                        return false;
                    }
                }
            }
        }
        false
    }

    /// Dispatches the first recommended unit and calls it on the radio: the
    /// unit and where its steps come, or none when nothing went out.
    async fn dispatch(&mut self, scene: GeoPoint) -> Option<(String, mpsc::Receiver<UnitReport>)> {
        let recommendation = rpc!(
            self.api,
            RADIO,
            recommend,
            pb::OccurrenceRef {
                occurrence_id: self.occurrence.clone(),
            }
        );
        let recommendation = match recommendation {
            Ok(r) => r,
            Err(status) => {
                log_refusal("recommendation", &self.occurrence, &status);
                return None;
            }
        };
        let Some(unit) = first_recommended(&recommendation).map(|c| c.unit_id.clone()) else {
            tracing::debug!(occurrence = %self.occurrence, "demo desk: no unit recommended; trying again later");
            return None;
        };
        let dispatched = rpc!(
            self.api,
            RADIO,
            dispatch,
            pb::DispatchRequest {
                occurrence_id: self.occurrence.clone(),
                unit_id: unit.clone(),
                reason: String::new(),
                at: None,
            }
        );
        if let Err(status) = dispatched {
            log_refusal("dispatch", &self.occurrence, &status);
            return None;
        }
        let (reports, steps) = mpsc::channel(16);
        let assignment = Assignment {
            occurrence: self.occurrence.clone(),
            scene,
            reports,
        };
        let heard = self
            .radios
            .get(&unit)
            .is_some_and(|radio| radio.try_send(assignment).is_ok());
        if heard {
            tracing::debug!(occurrence = %self.occurrence, %unit, "demo unit dispatched");
            return Some((unit, steps));
        }
        self.record(
            &unit,
            pb::UnitStep::Cancelled,
            None,
            "A unidade não respondeu ao rádio.",
        )
        .await;
        None
    }

    /// Records the unit's steps as it reports them; frees it and closes the
    /// occurrence, then records it back at base.
    async fn follow(&mut self, unit: &str, mut steps: mpsc::Receiver<UnitReport>) -> Followed {
        loop {
            let report = tokio::select! {
                _ = self.shutdown.cancelled() => return Followed::Done,
                report = steps.recv() => report,
            };
            // The vehicle stopped, or was sent elsewhere after being freed.
            let Some(report) = report else {
                return Followed::Done;
            };
            match report {
                UnitReport::Refused(why) => {
                    self.record(unit, pb::UnitStep::Cancelled, None, &why).await;
                    return Followed::Refused;
                }
                UnitReport::Step(step, at) => {
                    self.record(unit, step, Some(at), "").await;
                    match step {
                        pb::UnitStep::Free => {
                            self.close(RADIO, "Atendimento concluído.").await;
                        }
                        pb::UnitStep::AtBase => return Followed::Done,
                        _ => {}
                    }
                }
            }
        }
    }

    async fn record(
        &mut self,
        unit: &str,
        step: pb::UnitStep,
        at: Option<DateTime<Utc>>,
        note: &str,
    ) {
        let destination_cnes = if step == pb::UnitStep::AtDestination {
            HOSPITALS[self.rng.random_range(0..HOSPITALS.len())].to_owned()
        } else {
            String::new()
        };
        let recorded = rpc!(
            self.api,
            RADIO,
            record_unit_step,
            pb::UnitStepRequest {
                occurrence_id: self.occurrence.clone(),
                unit_id: unit.to_owned(),
                step: step.into(),
                destination_cnes,
                note: note.to_owned(),
                at: at.map(timestamp),
            }
        );
        if let Err(status) = recorded {
            log_refusal(step.as_str_name(), &self.occurrence, &status);
        }
    }

    async fn close(&self, role: &'static str, note: &str) {
        let closed = rpc!(
            self.api,
            role,
            close_occurrence,
            pb::CloseOccurrenceRequest {
                occurrence_id: self.occurrence.clone(),
                note: note.to_owned(),
                at: None,
            }
        );
        if let Err(status) = closed {
            log_refusal("closing", &self.occurrence, &status);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue;

    #[test]
    fn the_priority_mix_is_20_40_30_10() {
        let mut counts = HashMap::new();
        for i in 0..1_000 {
            *counts
                .entry(priority_for((f64::from(i) + 0.5) / 1_000.0))
                .or_insert(0) += 1;
        }
        assert_eq!(counts[&pb::Priority::Vermelho], 200);
        assert_eq!(counts[&pb::Priority::Amarelo], 400);
        assert_eq!(counts[&pb::Priority::Verde], 300);
        assert_eq!(counts[&pb::Priority::Azul], 100);
        assert_eq!(priority_for(0.999_999), pb::Priority::Azul);
    }

    #[test]
    fn what_the_physician_sends() {
        let vermelho = regulation_for(pb::Priority::Vermelho, 0.0, true, true);
        assert_eq!(vermelho.decision, pb::Decision::Dispatch);
        assert_eq!(vermelho.unit_types, vec![pb::UnitType::Usa]);
        let amarelo = regulation_for(pb::Priority::Amarelo, 0.0, true, true);
        assert_eq!(amarelo.unit_types, vec![pb::UnitType::Usb]);
        assert_eq!(
            regulation_for(pb::Priority::Verde, 0.2, true, true).decision,
            pb::Decision::Orientation
        );
        assert_eq!(
            regulation_for(pb::Priority::Verde, 0.8, true, true).unit_types,
            vec![pb::UnitType::Usb]
        );
        let azul = regulation_for(pb::Priority::Azul, 0.99, true, true);
        assert_eq!(azul.decision, pb::Decision::Orientation);
        assert!(azul.unit_types.is_empty());
        // A central without USA sends a USB to a vermelho.
        assert_eq!(
            regulation_for(pb::Priority::Vermelho, 0.0, false, true).unit_types,
            vec![pb::UnitType::Usb]
        );
        // 95 % of calls are cases; 75 % of those send a unit.
        assert!((dispatch_share(0.05) - 0.95 * 0.75).abs() < 1e-9);
    }

    #[test]
    fn calls_look_plausible_and_stay_near_the_central() {
        let config = DemoConfig::default();
        let mut rng = StdRng::seed_from_u64(7);
        let centrals = catalogue::centrals();
        let (mut pranks, mut total) = (0, 0);
        for central in &centrals {
            for _ in 0..200 {
                let plan = plan_call(&mut rng, central, &config);
                total += 1;
                pranks += usize::from(plan.prank);
                let call = &plan.call;
                let phone: String = call
                    .caller_phone
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect();
                assert_eq!(phone.len(), 11, "{}", call.caller_phone);
                assert!(
                    call.caller_phone.contains(") 90000-"),
                    "{}",
                    call.caller_phone
                );
                assert!(call.address.starts_with("Rua Exemplo, "));
                assert!(!call.complaint.is_empty());
                assert_ne!(call.nature, 0);
                assert!(central
                    .municipalities
                    .iter()
                    .any(|(m, _, _)| m.as_str() == call.municipality));
                let near = central
                    .bases
                    .iter()
                    .map(|b| b.location.distance_m(plan.scene))
                    .fold(f64::INFINITY, f64::min);
                assert!(near <= config.max_scene_distance_m + 1.0, "{near}");
                let location = call.location.unwrap();
                assert_eq!(
                    (location.latitude, location.longitude),
                    (plan.scene.lat(), plan.scene.lon())
                );
                if let [t] = plan.regulation.unit_types.as_slice() {
                    let t = match t {
                        pb::UnitType::Usa => UnitType::Usa,
                        _ => UnitType::Usb,
                    };
                    assert!(central.units.iter().any(|u| u.unit_type == t));
                }
            }
        }
        let share = pranks as f64 / total as f64;
        assert!((0.02..0.09).contains(&share), "prank share {share}");
    }

    #[test]
    fn call_times_average_the_mean() {
        let mut rng = StdRng::seed_from_u64(3);
        let n = 20_000;
        let total: f64 = (0..n)
            .map(|_| next_call_in(&mut rng, 10.0).as_secs_f64())
            .sum();
        let mean = total / f64::from(n);
        assert!((9.5..10.5).contains(&mean), "{mean}");
    }

    #[test]
    fn the_first_recommended_unit_is_the_nearest_of_the_first_type_with_any() {
        let candidate = |id: &str| pb::Candidate {
            unit_id: id.into(),
            ..Default::default()
        };
        let recommendation = pb::Recommendation {
            occurrence_id: "o".into(),
            candidates: vec![
                pb::TypeCandidates {
                    r#type: pb::UnitType::Usa.into(),
                    units: Vec::new(),
                },
                pb::TypeCandidates {
                    r#type: pb::UnitType::Usb.into(),
                    units: vec![candidate("usb-02"), candidate("usb-01")],
                },
            ],
        };
        assert_eq!(
            first_recommended(&recommendation).map(|c| c.unit_id.as_str()),
            Some("usb-02")
        );
        assert!(first_recommended(&pb::Recommendation::default()).is_none());
    }

    #[tokio::test]
    async fn the_desk_needs_all_four_logins() {
        let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:1").connect_lazy();
        let login = || DemoLogin {
            username: "x".into(),
            password: "0123456789".into(),
        };
        let mut users: BTreeMap<String, DemoLogin> = [TARM, PHYSICIAN, RADIO]
            .iter()
            .map(|r| ((*r).to_owned(), login()))
            .collect();
        assert!(Api::new(channel.clone(), users.clone()).is_none());
        users.insert(MANAGER.into(), login());
        assert!(Api::new(channel, users).is_some());
    }
}
