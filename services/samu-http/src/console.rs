//! The HTTP JSON facade of the console API (`docs/console-api.md`): the same
//! operations as gRPC `samu.v1.Regulation` and `samu.v1.Accounts`, checked
//! against the same RPC × role table, for the web console and for scripts.
//! `GET /ws/console` streams the live queues.

use std::{net::SocketAddr, time::Duration};

use axum::{
    body::Bytes,
    extract::{ConnectInfo, Path, Query, State, WebSocketUpgrade},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use samu_domain::{CentralId, GeoPoint, UnitId, UnitType, ValidationError};
use samu_occurrence::{
    CallRecord, Cnes, Decision, Nature, NonCaseReason, OccurrenceId, Priority, Summary, UnitStep,
};
use samu_runtime::{
    access::Rpc, accounts::AccountError, Caller, Command, FleetEvent, RegulationError, RequestKey,
};
use samu_store::User;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::{error::ApiError, reports::authorize, router::HttpState};

/// The console's routes.
pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/api/v1/session", post(login).get(session).delete(logout))
        .route("/api/v1/occurrences", post(open).get(list))
        .route("/api/v1/occurrences/{id}", get(detail))
        .route("/api/v1/occurrences/{id}/non-case", post(non_case))
        .route("/api/v1/occurrences/{id}/regulation", post(regulate))
        .route("/api/v1/occurrences/{id}/recommendation", get(recommend))
        .route("/api/v1/occurrences/{id}/dispatch", post(dispatch))
        .route("/api/v1/occurrences/{id}/units/{unit}/steps", post(step))
        .route("/api/v1/occurrences/{id}/corrections", post(correct))
        .route("/api/v1/occurrences/{id}/close", post(close))
        .route("/api/v1/occurrences/{id}/audit", get(audit))
        .route("/api/v1/occurrences/{id}/export", get(export))
        .route(
            "/api/v1/centrals/{central}/response-times",
            get(response_times),
        )
        .route("/ws/console", get(ws_console))
}

/// Regulation failures as HTTP errors; store errors are logged, not shown.
fn from_regulation(e: RegulationError) -> ApiError {
    match e {
        RegulationError::Invalid(v) => v.into(),
        RegulationError::NotFound { .. } => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
        RegulationError::OtherCentral(_) => ApiError::new(StatusCode::FORBIDDEN, e.to_string()),
        RegulationError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        RegulationError::Store(inner) => {
            tracing::error!(error = %inner, "store failure in a console call");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store failed; try again (see the server log)",
            )
        }
    }
}

fn from_account(e: AccountError) -> ApiError {
    match e {
        AccountError::Invalid(v) => v.into(),
        AccountError::BadLogin => ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()),
        AccountError::Taken(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        AccountError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
        AccountError::Limited(limited) => limited.into(),
        AccountError::Store(inner) => {
            tracing::error!(error = %inner, "store failure in a session call");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store failed; try again (see the server log)",
            )
        }
    }
}

/// Where a request came from: the peer, and what a proxy in front says.
fn origin(peer: Option<SocketAddr>, headers: &HeaderMap) -> Option<String> {
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(200).collect::<String>());
    match (peer, forwarded) {
        (Some(p), Some(f)) => Some(format!("{p} (x-forwarded-for: {f})")),
        (Some(p), None) => Some(p.to_string()),
        (None, f) => f,
    }
}

fn caller(
    state: &HttpState,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    rpc: Rpc,
) -> Result<Caller, ApiError> {
    Ok(Caller {
        credential: authorize(state, headers, None, rpc)?,
        from: origin(peer, headers),
        request_key: request_key(headers)?,
    })
}

/// The `Idempotency-Key` header: a console resending a command it got no
/// answer to sends the same key, and gets the occurrence back instead of
/// a second event.
fn request_key(headers: &HeaderMap) -> Result<Option<RequestKey>, ApiError> {
    const FIELD: &str = "Idempotency-Key";
    headers
        .get(FIELD)
        .map(|value| {
            let text = value.to_str().map_err(|_| {
                ValidationError::new(FIELD, "must be visible ASCII characters only")
            })?;
            RequestKey::parse(FIELD, text)
        })
        .transpose()
        .map_err(ApiError::from)
}

/// A JSON body, or a 400 that says what is wrong with it.
fn body<T: DeserializeOwned>(headers: &HeaderMap, bytes: &Bytes) -> Result<T, ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("application/json"));
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send application/json",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ValidationError::new(field_of(&e.to_string()), format!("bad JSON body: {e}")).into()
    })
}

/// The field serde names in its message ("missing field `priority`").
fn field_of(message: &str) -> String {
    message
        .split('`')
        .nth(1)
        .filter(|f| f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or("body")
        .to_owned()
}

/// An IBGE code that may be left out (absent or blank).
fn optional_central(field: &str, raw: Option<&str>) -> Result<Option<CentralId>, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(c) => Ok(Some(CentralId::parse(field, c)?)),
    }
}

fn occurrence_id(raw: &str) -> Result<OccurrenceId, ApiError> {
    Ok(OccurrenceId::parse("id", raw)?)
}

/// The peer's address, when the server was started with connect info.
pub(crate) struct Peer(Option<SocketAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

// ---------------------------------------------------------------- session

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    username: String,
    password: String,
}

/// A user as the console sees it.
#[derive(Serialize)]
struct UserJson {
    id: String,
    username: String,
    name: String,
    role: samu_store::Role,
    central: Option<CentralId>,
}

impl From<&User> for UserJson {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            username: u.username.clone(),
            name: u.name.clone(),
            role: u.role,
            central: u.central.clone(),
        }
    }
}

async fn login(
    State(state): State<HttpState>,
    peer: Peer,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b: LoginBody = body(&headers, &bytes)?;
    let (issued, user) = state
        .central
        .login(
            &b.username,
            &b.password,
            state.central.session_ttl(),
            origin(peer.0, &headers),
            peer.0.map(|p| p.ip()),
        )
        .await
        .map_err(from_account)?;
    Ok(Json(json!({
        "token": issued.token,
        "expires_at": issued.credential.expires_at,
        "user": UserJson::from(&user),
    }))
    .into_response())
}

async fn session(State(state): State<HttpState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let who = authorize(&state, &headers, None, Rpc::Session)?;
    let user = state
        .central
        .session_user(&who)
        .await
        .map_err(from_account)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "this token is not a login session (no account behind it)",
            )
        })?;
    Ok(Json(json!({"user": UserJson::from(&user), "expires_at": who.expires_at})).into_response())
}

async fn logout(State(state): State<HttpState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let who = authorize(&state, &headers, None, Rpc::Session)?;
    state.central.logout(&who).await.map_err(from_account)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ------------------------------------------------------------ occurrences

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LatLon {
    lat: f64,
    lon: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenBody {
    central: String,
    municipality: Option<String>,
    caller_phone: String,
    caller_name: Option<String>,
    address: String,
    reference_point: Option<String>,
    complaint: String,
    nature: String,
    patient_name: Option<String>,
    patient_age: Option<i64>,
    location: Option<LatLon>,
    received_at: Option<DateTime<Utc>>,
}

async fn open(
    State(state): State<HttpState>,
    peer: Peer,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let who = caller(&state, &headers, peer.0, Rpc::OpenOccurrence)?;
    let b: OpenBody = body(&headers, &bytes)?;
    let central = CentralId::parse("central", &b.central)?;
    let municipality =
        optional_central("municipality", b.municipality.as_deref())?.unwrap_or(central.clone());
    let patient_age = b
        .patient_age
        .map(|a| {
            u16::try_from(a).ok().filter(|a| *a <= 130).ok_or_else(|| {
                ValidationError::new("patient_age", "must be between 0 and 130 years")
            })
        })
        .transpose()?;
    let call = CallRecord {
        caller_phone: b.caller_phone,
        caller_name: b.caller_name,
        address: b.address,
        reference_point: b.reference_point,
        municipality,
        complaint: b.complaint,
        nature: Nature::parse("nature", &b.nature)?,
        patient_name: b.patient_name,
        patient_age,
        location: b
            .location
            .map(|l| GeoPoint::new("location", l.lat, l.lon))
            .transpose()?,
    };
    let detail = state
        .central
        .open_occurrence(&who, &central, call, b.received_at)
        .await
        .map_err(from_regulation)?;
    Ok((StatusCode::CREATED, Json(detail)).into_response())
}

#[derive(Deserialize)]
struct ListParams {
    central: Option<String>,
}

async fn list(
    State(state): State<HttpState>,
    peer: Peer,
    headers: HeaderMap,
    Query(params): Query<ListParams>,
) -> Result<Response, ApiError> {
    let who = caller(&state, &headers, peer.0, Rpc::ListOccurrences)?;
    let central = optional_central("central", params.central.as_deref())?;
    let list = state
        .central
        .occurrence_summaries(&who, central.as_ref())
        .await
        .map_err(from_regulation)?;
    Ok(Json(json!({"occurrences": list})).into_response())
}

async fn detail(
    State(state): State<HttpState>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let who = caller(&state, &headers, peer.0, Rpc::GetOccurrence)?;
    let detail = state
        .central
        .occurrence_detail(&who, &occurrence_id(&id)?)
        .await
        .map_err(from_regulation)?;
    Ok(Json(detail).into_response())
}

/// Runs one command and answers the occurrence's detail.
async fn act(
    state: &HttpState,
    peer: Peer,
    headers: &HeaderMap,
    rpc: Rpc,
    id: &str,
    command: impl FnOnce() -> Result<(Command, Option<DateTime<Utc>>), ApiError>,
) -> Result<Response, ApiError> {
    let who = caller(state, headers, peer.0, rpc)?;
    let id = occurrence_id(id)?;
    let (command, at) = command()?;
    let detail = state
        .central
        .act(&who, &id, command, at)
        .await
        .map_err(from_regulation)?;
    Ok(Json(detail).into_response())
}

fn note(raw: Option<String>) -> Option<String> {
    raw.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NonCaseBody {
    reason: String,
    note: Option<String>,
}

async fn non_case(
    State(state): State<HttpState>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    act(&state, peer, &headers, Rpc::MarkNonCase, &id, || {
        let b: NonCaseBody = body(&headers, &bytes)?;
        Ok((
            Command::NonCase {
                reason: NonCaseReason::parse("reason", &b.reason)?,
                note: note(b.note),
            },
            None,
        ))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegulationBody {
    priority: String,
    decision: String,
    #[serde(default)]
    unit_types: Vec<String>,
    note: Option<String>,
    at: Option<DateTime<Utc>>,
}

async fn regulate(
    State(state): State<HttpState>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    act(&state, peer, &headers, Rpc::Regulate, &id, || {
        let b: RegulationBody = body(&headers, &bytes)?;
        let unit_types = b
            .unit_types
            .iter()
            .enumerate()
            .map(|(i, t)| UnitType::parse(&format!("unit_types[{i}]"), t))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((
            Command::Regulate {
                priority: Priority::parse("priority", &b.priority)?,
                decision: Decision::parse("decision", &b.decision)?,
                unit_types,
                note: note(b.note),
            },
            b.at,
        ))
    })
    .await
}

async fn recommend(
    State(state): State<HttpState>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let who = caller(&state, &headers, peer.0, Rpc::Recommend)?;
    let r = state
        .central
        .recommend(&who, &occurrence_id(&id)?)
        .await
        .map_err(from_regulation)?;
    Ok(Json(r).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DispatchBody {
    unit: String,
    reason: Option<String>,
    at: Option<DateTime<Utc>>,
}

async fn dispatch(
    State(state): State<HttpState>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    act(&state, peer, &headers, Rpc::Dispatch, &id, || {
        let b: DispatchBody = body(&headers, &bytes)?;
        Ok((
            Command::Dispatch {
                unit: UnitId::parse("unit", &b.unit)?,
                reason: note(b.reason),
            },
            b.at,
        ))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepBody {
    step: String,
    at: Option<DateTime<Utc>>,
    destination_cnes: Option<String>,
    note: Option<String>,
}

async fn step(
    State(state): State<HttpState>,
    peer: Peer,
    headers: HeaderMap,
    Path((id, unit)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    act(&state, peer, &headers, Rpc::RecordUnitStep, &id, || {
        let b: StepBody = body(&headers, &bytes)?;
        let destination_cnes = match b.destination_cnes.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(c) => Some(Cnes::parse("destination_cnes", c)?),
        };
        Ok((
            Command::Step {
                unit: UnitId::parse("unit", &unit)?,
                step: UnitStep::parse("step", &b.step)?,
                destination_cnes,
                note: note(b.note),
            },
            b.at,
        ))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CorrectionBody {
    event_no: u64,
    at: DateTime<Utc>,
    reason: String,
}

async fn correct(
    State(state): State<HttpState>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    act(&state, peer, &headers, Rpc::CorrectTime, &id, || {
        let b: CorrectionBody = body(&headers, &bytes)?;
        Ok((
            Command::Correct {
                event_no: b.event_no,
                at: samu_domain::time::to_millis(b.at),
                reason: b.reason,
            },
            None,
        ))
    })
    .await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CloseBody {
    note: Option<String>,
    at: Option<DateTime<Utc>>,
}

async fn close(
    State(state): State<HttpState>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    act(&state, peer, &headers, Rpc::CloseOccurrence, &id, || {
        let b: CloseBody = if bytes.is_empty() {
            CloseBody::default()
        } else {
            body(&headers, &bytes)?
        };
        Ok((Command::Close { note: note(b.note) }, b.at))
    })
    .await
}

async fn audit(
    State(state): State<HttpState>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let who = caller(&state, &headers, peer.0, Rpc::AuditTrail)?;
    let records = state
        .central
        .audit_trail(&who, &occurrence_id(&id)?)
        .await
        .map_err(from_regulation)?;
    let records: Vec<_> = records
        .into_iter()
        .map(|r| {
            json!({
                "at": r.at, "actor": r.actor, "role": r.role, "action": r.action,
                "fields": r.fields, "from": r.remote_addr, "credential_id": r.credential_id,
            })
        })
        .collect();
    Ok(Json(json!({"records": records})).into_response())
}

async fn export(
    State(state): State<HttpState>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let who = caller(&state, &headers, peer.0, Rpc::ExportOccurrence)?;
    let export = state
        .central
        .export_occurrence(&who, &occurrence_id(&id)?)
        .await
        .map_err(from_regulation)?;
    Ok((
        [(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"ocorrencia-{id}.json\""),
        )],
        Json(export),
    )
        .into_response())
}

#[derive(Deserialize)]
struct PeriodParams {
    from: Option<String>,
    to: Option<String>,
}

fn instant(field: &str, raw: Option<&str>) -> Result<DateTime<Utc>, ApiError> {
    let raw = raw.ok_or_else(|| ValidationError::new(field, "is required (RFC 3339)"))?;
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            ValidationError::new(field, format!("{raw:?} is not an RFC 3339 time: {e}")).into()
        })
}

async fn response_times(
    State(state): State<HttpState>,
    peer: Peer,
    headers: HeaderMap,
    Path(central): Path<String>,
    Query(period): Query<PeriodParams>,
) -> Result<Response, ApiError> {
    let who = caller(&state, &headers, peer.0, Rpc::ResponseTimes)?;
    let central = CentralId::parse("central", &central)?;
    let from = instant("from", period.from.as_deref())?;
    let to = instant("to", period.to.as_deref())?;
    let priorities = state
        .central
        .response_times(&who, &central, from, to)
        .await
        .map_err(from_regulation)?;
    Ok(
        Json(json!({"central": central, "from": from, "to": to, "priorities": priorities}))
            .into_response(),
    )
}

// ------------------------------------------------------------ live queues

#[derive(Deserialize)]
struct WatchParams {
    central: Option<String>,
    token: Option<String>,
}

/// One frame of the console feed.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ConsoleFrame<'a> {
    Snapshot {
        at: DateTime<Utc>,
        occurrences: &'a [Summary],
    },
    Occurrence {
        occurrence: &'a Summary,
    },
}

/// How often a console socket pings.
const PING_EVERY: Duration = Duration::from_secs(5);

async fn ws_console(
    State(state): State<HttpState>,
    peer: Peer,
    headers: HeaderMap,
    Query(params): Query<WatchParams>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let who = Caller {
        credential: authorize(
            &state,
            &headers,
            params.token.as_deref(),
            Rpc::ListOccurrences,
        )?,
        from: origin(peer.0, &headers),
        request_key: None,
    };
    let central = optional_central("central", params.central.as_deref())?;
    if let Some(c) = &central {
        if !who.credential.may_act_for(c) {
            return Err(from_regulation(RegulationError::OtherCentral(c.clone())));
        }
    }
    let scope = central.or_else(|| who.credential.central.clone());
    let core = state.central.clone();
    let shutdown = state.shutdown.clone();
    Ok(upgrade
        .max_message_size(64 * 1024)
        .read_buffer_size(crate::router::SOCKET_READ_BUFFER)
        .on_upgrade(move |socket| async move {
            use axum::extract::ws::{Message, Utf8Bytes};
            let (mut sink, mut stream) = socket.split();
            let mut changes = core.subscribe();
            let text = |frame: ConsoleFrame<'_>| {
                Message::Text(Utf8Bytes::from(
                    serde_json::to_string(&frame).expect("frames serialize"),
                ))
            };
            let snapshot = |list: &[Summary]| {
                text(ConsoleFrame::Snapshot {
                    at: Utc::now(),
                    occurrences: list,
                })
            };
            let Ok(first) = core.occurrence_summaries(&who, scope.as_ref()).await else {
                let _ = sink.send(Message::Close(None)).await;
                return;
            };
            if sink.send(snapshot(&first)).await.is_err() {
                return;
            }
            let mut ping = tokio::time::interval(PING_EVERY);
            // Revoked or expired: the socket closes at once.
            let ended = core.credential_ended(&who.credential);
            tokio::pin!(ended);
            loop {
                let outgoing = tokio::select! {
                    _ = shutdown.cancelled() => {
                        let _ = sink.send(Message::Close(None)).await;
                        return;
                    }
                    _ = &mut ended => {
                        let _ = sink.send(Message::Close(None)).await;
                        return;
                    }
                    _ = ping.tick() => Message::Ping(Bytes::new()),
                    incoming = stream.next() => match incoming {
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                        Some(Ok(_)) => continue,
                    },
                    change = changes.recv() => match change {
                        Ok(FleetEvent::Occurrence(s)) => {
                            if scope.as_ref().is_some_and(|c| c != &s.central) {
                                continue;
                            }
                            text(ConsoleFrame::Occurrence { occurrence: &s })
                        }
                        Ok(_) => continue,
                        Err(RecvError::Lagged(_)) => match core.occurrence_summaries(&who, scope.as_ref()).await {
                            Ok(list) => snapshot(&list),
                            Err(_) => return,
                        },
                        Err(RecvError::Closed) => return,
                    },
                };
                match tokio::time::timeout(Duration::from_secs(5), sink.send(outgoing)).await {
                    Ok(Ok(())) => {}
                    _ => return,
                }
            }
        }))
}
