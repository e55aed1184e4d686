//! `Regulation`: occurrences from call to unit free, over gRPC (and
//! gRPC-Web). Thin: validation of the wire format here, everything else in
//! `samu_runtime::regulation`.

use std::pin::Pin;

use chrono::{DateTime, Utc};
use futures::Stream;
use samu_domain::{CentralId, GeoPoint, UnitId, ValidationError};
use samu_occurrence::{
    CallRecord, Cnes, Decision, Detail, Nature, NonCaseReason, OccurrenceId, OccurrenceStatus,
    Priority, PriorityTimes, Summary, TimeFigure, UnitStep,
};
use samu_proto::v1 as pb;
use samu_runtime::{
    regulation::Recommendation, Caller, Central, Command, CredentialEnd, FleetEvent,
    RegulationError, RequestKey,
};
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::{
    access::{authorize, Rpc},
    convert,
    status::invalid,
};

/// The regulation service.
#[derive(Debug, Clone)]
pub struct RegulationService {
    central: Central,
}

impl RegulationService {
    /// A service over `central`.
    pub fn new(central: Central) -> Self {
        Self { central }
    }

    fn caller<T>(&self, request: &Request<T>, rpc: Rpc) -> Result<Caller, Status> {
        let credential = authorize(&self.central, request.metadata(), rpc)?;
        let request_key = request
            .metadata()
            .get("idempotency-key")
            .map(|value| {
                let text = value.to_str().map_err(|_| {
                    ValidationError::new("idempotency-key", "must be visible ASCII characters only")
                })?;
                RequestKey::parse("idempotency-key", text)
            })
            .transpose()
            .map_err(|e| invalid(&e))?;
        Ok(Caller {
            credential,
            from: request.remote_addr().map(|a| a.to_string()),
            request_key,
        })
    }
}

/// Regulation failures to statuses; store errors are logged, not shown.
pub fn from_regulation(e: &RegulationError) -> Status {
    match e {
        RegulationError::Invalid(v) => invalid(v),
        RegulationError::NotFound { .. } => Status::not_found(e.to_string()),
        RegulationError::OtherCentral(_) => Status::permission_denied(e.to_string()),
        RegulationError::Conflict(_) => Status::failed_precondition(e.to_string()),
        RegulationError::Store(inner) => {
            tracing::error!(error = %inner, "store failure in a regulation call");
            Status::unavailable("the store failed; try again (see the server log)")
        }
    }
}

/// Maps a wire enum through a table; 0 is "required", unknown values are named.
fn pick<D: Copy>(field: &str, raw: i32, table: &[(i32, D)]) -> Result<D, Status> {
    table
        .iter()
        .find(|(w, _)| *w == raw)
        .map(|(_, d)| *d)
        .ok_or_else(|| {
            invalid(&ValidationError::new(
                field,
                if raw == 0 {
                    "is required".to_owned()
                } else {
                    format!("{raw} is not a valid value")
                },
            ))
        })
}

fn wire<D: Copy + PartialEq>(value: D, table: &[(i32, D)]) -> i32 {
    table
        .iter()
        .find(|(_, d)| *d == value)
        .map_or(0, |(w, _)| *w)
}

const PRIORITIES: [(i32, Priority); 4] = [
    (pb::Priority::Vermelho as i32, Priority::Vermelho),
    (pb::Priority::Amarelo as i32, Priority::Amarelo),
    (pb::Priority::Verde as i32, Priority::Verde),
    (pb::Priority::Azul as i32, Priority::Azul),
];
const DECISIONS: [(i32, Decision); 2] = [
    (pb::Decision::Orientation as i32, Decision::Orientation),
    (pb::Decision::Dispatch as i32, Decision::Dispatch),
];
const NATURES: [(i32, Nature); 6] = [
    (pb::Nature::Clinical as i32, Nature::Clinical),
    (pb::Nature::Trauma as i32, Nature::Trauma),
    (pb::Nature::Obstetric as i32, Nature::Obstetric),
    (pb::Nature::Psychiatric as i32, Nature::Psychiatric),
    (pb::Nature::Paediatric as i32, Nature::Paediatric),
    (pb::Nature::Other as i32, Nature::Other),
];
const NON_CASE: [(i32, NonCaseReason); 5] = [
    (pb::NonCaseReason::Prank as i32, NonCaseReason::Prank),
    (
        pb::NonCaseReason::WrongNumber as i32,
        NonCaseReason::WrongNumber,
    ),
    (pb::NonCaseReason::Dropped as i32, NonCaseReason::Dropped),
    (
        pb::NonCaseReason::Information as i32,
        NonCaseReason::Information,
    ),
    (
        pb::NonCaseReason::Duplicate as i32,
        NonCaseReason::Duplicate,
    ),
];
const STEPS: [(i32, UnitStep); 8] = [
    (pb::UnitStep::Dispatched as i32, UnitStep::Dispatched),
    (pb::UnitStep::EnRoute as i32, UnitStep::EnRoute),
    (pb::UnitStep::OnScene as i32, UnitStep::OnScene),
    (pb::UnitStep::LeftScene as i32, UnitStep::LeftScene),
    (pb::UnitStep::AtDestination as i32, UnitStep::AtDestination),
    (pb::UnitStep::Free as i32, UnitStep::Free),
    (pb::UnitStep::AtBase as i32, UnitStep::AtBase),
    (pb::UnitStep::Cancelled as i32, UnitStep::Cancelled),
];
const STATUSES: [(i32, OccurrenceStatus); 7] = [
    (
        pb::OccurrenceStatus::AwaitingRegulation as i32,
        OccurrenceStatus::AwaitingRegulation,
    ),
    (
        pb::OccurrenceStatus::Orientation as i32,
        OccurrenceStatus::Orientation,
    ),
    (
        pb::OccurrenceStatus::AwaitingDispatch as i32,
        OccurrenceStatus::AwaitingDispatch,
    ),
    (
        pb::OccurrenceStatus::InProgress as i32,
        OccurrenceStatus::InProgress,
    ),
    (
        pb::OccurrenceStatus::UnitsFree as i32,
        OccurrenceStatus::UnitsFree,
    ),
    (
        pb::OccurrenceStatus::Closed as i32,
        OccurrenceStatus::Closed,
    ),
    (
        pb::OccurrenceStatus::NonCase as i32,
        OccurrenceStatus::NonCase,
    ),
];

fn occurrence_id(raw: &str) -> Result<OccurrenceId, Status> {
    OccurrenceId::parse("occurrence_id", raw).map_err(|e| invalid(&e))
}

fn unit_id(raw: &str) -> Result<UnitId, Status> {
    UnitId::parse("unit_id", raw).map_err(|e| invalid(&e))
}

fn text(raw: String) -> Option<String> {
    let t = raw.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

fn optional_time(
    field: &str,
    ts: Option<&prost_types::Timestamp>,
) -> Result<Option<DateTime<Utc>>, Status> {
    ts.map(|t| convert::time(field, Some(t)))
        .transpose()
        .map_err(|e| invalid(&e))
}

fn call_record(c: Option<pb::CallRecord>) -> Result<CallRecord, Status> {
    let c = c.ok_or_else(|| invalid(&ValidationError::new("call", "is required")))?;
    let municipality =
        CentralId::parse("call.municipality", &c.municipality).map_err(|e| invalid(&e))?;
    let nature = pick("call.nature", c.nature, &NATURES)?;
    let location = c
        .location
        .map(|p| GeoPoint::new("call.location", p.latitude, p.longitude))
        .transpose()
        .map_err(|e| invalid(&e))?;
    let patient_age = c
        .patient_age
        .map(|a| {
            u16::try_from(a).map_err(|_| {
                invalid(&ValidationError::new(
                    "call.patient_age",
                    "must be between 0 and 130 years",
                ))
            })
        })
        .transpose()?;
    Ok(CallRecord {
        caller_phone: c.caller_phone,
        caller_name: text(c.caller_name),
        address: c.address,
        reference_point: text(c.reference_point),
        municipality,
        complaint: c.complaint,
        nature,
        patient_name: text(c.patient_name),
        patient_age,
        location,
    })
}

fn call_pb(c: &CallRecord) -> pb::CallRecord {
    pb::CallRecord {
        caller_phone: c.caller_phone.clone(),
        caller_name: c.caller_name.clone().unwrap_or_default(),
        address: c.address.clone(),
        reference_point: c.reference_point.clone().unwrap_or_default(),
        municipality: c.municipality.to_string(),
        complaint: c.complaint.clone(),
        nature: wire(c.nature, &NATURES),
        patient_name: c.patient_name.clone().unwrap_or_default(),
        patient_age: c.patient_age.map(u32::from),
        location: c.location.map(|p| pb::GeoPoint {
            latitude: p.lat(),
            longitude: p.lon(),
        }),
    }
}

/// A summary on the wire.
pub fn summary_pb(s: &Summary) -> pb::OccurrenceSummary {
    pb::OccurrenceSummary {
        id: s.id.to_string(),
        number: s.number,
        central_id: s.central.to_string(),
        status: wire(s.status, &STATUSES),
        priority: s.priority.map_or(0, |p| wire(p, &PRIORITIES)),
        nature: wire(s.nature, &NATURES),
        municipality: s.municipality.to_string(),
        opened_at: Some(convert::timestamp(s.opened_at)),
        regulated_at: s.regulated_at.map(convert::timestamp),
        closed_at: s.closed_at.map(convert::timestamp),
        decision: s.decision.map_or(0, |d| wire(d, &DECISIONS)),
        requested: s
            .requested
            .iter()
            .map(|t| convert::unit_type_pb(*t).into())
            .collect(),
        uncovered: s
            .uncovered
            .iter()
            .map(|t| convert::unit_type_pb(*t).into())
            .collect(),
        units: s
            .units
            .iter()
            .map(|u| pb::UnitLine {
                unit_id: u.unit.to_string(),
                r#type: convert::unit_type_pb(u.unit_type).into(),
                label: u.label.clone(),
                step: wire(u.step, &STEPS),
                at: Some(convert::timestamp(u.at)),
            })
            .collect(),
        target_min: s.target_min.unwrap_or(0),
        has_location: s.has_location,
        version: s.version,
        updated_at: Some(convert::timestamp(s.updated_at)),
    }
}

fn detail_pb(d: &Detail) -> pb::OccurrenceDetail {
    pb::OccurrenceDetail {
        summary: Some(summary_pb(&d.summary)),
        call: Some(call_pb(&d.call)),
        timeline: d
            .timeline
            .iter()
            .map(|t| pb::TimelineEntry {
                no: t.no,
                kind: t.event.kind().to_owned(),
                at: Some(convert::timestamp(t.at)),
                declared_at: Some(convert::timestamp(t.declared_at)),
                recorded_at: Some(convert::timestamp(t.recorded_at)),
                corrected: t.corrected,
                by: t.by.clone(),
                text: t.text.clone(),
                unit_id: t.event.unit().map(ToString::to_string).unwrap_or_default(),
                event_json: serde_json::to_string(&t.event).unwrap_or_default(),
            })
            .collect(),
    }
}

fn figure_pb(f: Option<TimeFigure>) -> Option<pb::TimeFigure> {
    f.map(|f| pb::TimeFigure {
        count: f.count,
        mean_s: f.mean_s,
        p90_s: f.p90_s,
    })
}

fn times_pb(p: &PriorityTimes) -> pb::PriorityTimes {
    pb::PriorityTimes {
        priority: wire(p.priority, &PRIORITIES),
        occurrences: p.occurrences,
        call_to_regulation: figure_pb(p.call_to_regulation),
        regulation_to_dispatch: figure_pb(p.regulation_to_dispatch),
        dispatch_to_scene: figure_pb(p.dispatch_to_scene),
        call_to_scene: figure_pb(p.call_to_scene),
    }
}

fn recommendation_pb(r: &Recommendation) -> pb::Recommendation {
    pb::Recommendation {
        occurrence_id: r.occurrence.to_string(),
        candidates: r
            .candidates
            .iter()
            .map(|c| pb::TypeCandidates {
                r#type: convert::unit_type_pb(c.unit_type).into(),
                units: c
                    .units
                    .iter()
                    .map(|u| pb::Candidate {
                        unit_id: u.unit.to_string(),
                        label: u.label.clone(),
                        r#type: convert::unit_type_pb(u.unit_type).into(),
                        status: convert::status_pb(u.status).into(),
                        distance_m: u.distance_m,
                        eta_s: u.eta_s,
                        crew_complete: u.crew_complete,
                    })
                    .collect(),
            })
            .collect(),
    }
}

type Answer = Result<Response<pb::OccurrenceDetail>, Status>;

impl RegulationService {
    /// Runs a command for a caller already checked against the table
    /// (authorization always comes before looking at the input).
    async fn act(
        &self,
        caller: Caller,
        id: &str,
        command: Command,
        at: Option<DateTime<Utc>>,
    ) -> Answer {
        let id = occurrence_id(id)?;
        self.central
            .act(&caller, &id, command, at)
            .await
            .map(|d| Response::new(detail_pb(&d)))
            .map_err(|e| from_regulation(&e))
    }
}

#[tonic::async_trait]
impl pb::regulation_server::Regulation for RegulationService {
    async fn open_occurrence(&self, request: Request<pb::OpenOccurrenceRequest>) -> Answer {
        let caller = self.caller(&request, Rpc::OpenOccurrence)?;
        let r = request.into_inner();
        let central = CentralId::parse("central_id", &r.central_id).map_err(|e| invalid(&e))?;
        let call = call_record(r.call)?;
        let received_at = optional_time("received_at", r.received_at.as_ref())?;
        self.central
            .open_occurrence(&caller, &central, call, received_at)
            .await
            .map(|d| Response::new(detail_pb(&d)))
            .map_err(|e| from_regulation(&e))
    }

    async fn mark_non_case(&self, request: Request<pb::MarkNonCaseRequest>) -> Answer {
        let caller = self.caller(&request, Rpc::MarkNonCase)?;
        let r = request.get_ref();
        let command = Command::NonCase {
            reason: pick("reason", r.reason, &NON_CASE)?,
            note: text(r.note.clone()),
        };
        self.act(caller, &r.occurrence_id, command, None).await
    }

    async fn regulate(&self, request: Request<pb::RegulateRequest>) -> Answer {
        let caller = self.caller(&request, Rpc::Regulate)?;
        let r = request.get_ref();
        let unit_types = r
            .unit_types
            .iter()
            .enumerate()
            .map(|(i, t)| convert::unit_type(&format!("unit_types[{i}]"), *t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(&e))?;
        let command = Command::Regulate {
            priority: pick("priority", r.priority, &PRIORITIES)?,
            decision: pick("decision", r.decision, &DECISIONS)?,
            unit_types,
            note: text(r.note.clone()),
        };
        let at = optional_time("at", r.at.as_ref())?;
        self.act(caller, &r.occurrence_id, command, at).await
    }

    async fn recommend(
        &self,
        request: Request<pb::OccurrenceRef>,
    ) -> Result<Response<pb::Recommendation>, Status> {
        let caller = self.caller(&request, Rpc::Recommend)?;
        let id = occurrence_id(&request.get_ref().occurrence_id)?;
        self.central
            .recommend(&caller, &id)
            .await
            .map(|r| Response::new(recommendation_pb(&r)))
            .map_err(|e| from_regulation(&e))
    }

    async fn dispatch(&self, request: Request<pb::DispatchRequest>) -> Answer {
        let caller = self.caller(&request, Rpc::Dispatch)?;
        let r = request.get_ref();
        let command = Command::Dispatch {
            unit: unit_id(&r.unit_id)?,
            reason: text(r.reason.clone()),
        };
        let at = optional_time("at", r.at.as_ref())?;
        self.act(caller, &r.occurrence_id, command, at).await
    }

    async fn record_unit_step(&self, request: Request<pb::UnitStepRequest>) -> Answer {
        let caller = self.caller(&request, Rpc::RecordUnitStep)?;
        let r = request.get_ref();
        let destination_cnes = text(r.destination_cnes.clone())
            .map(|c| Cnes::parse("destination_cnes", &c))
            .transpose()
            .map_err(|e| invalid(&e))?;
        let command = Command::Step {
            unit: unit_id(&r.unit_id)?,
            step: pick("step", r.step, &STEPS)?,
            destination_cnes,
            note: text(r.note.clone()),
        };
        let at = optional_time("at", r.at.as_ref())?;
        self.act(caller, &r.occurrence_id, command, at).await
    }

    async fn correct_time(&self, request: Request<pb::CorrectTimeRequest>) -> Answer {
        let caller = self.caller(&request, Rpc::CorrectTime)?;
        let r = request.get_ref();
        let command = Command::Correct {
            event_no: r.event_no,
            at: convert::time("at", r.at.as_ref()).map_err(|e| invalid(&e))?,
            reason: r.reason.clone(),
        };
        self.act(caller, &r.occurrence_id, command, None).await
    }

    async fn close_occurrence(&self, request: Request<pb::CloseOccurrenceRequest>) -> Answer {
        let caller = self.caller(&request, Rpc::CloseOccurrence)?;
        let r = request.get_ref();
        let command = Command::Close {
            note: text(r.note.clone()),
        };
        let at = optional_time("at", r.at.as_ref())?;
        self.act(caller, &r.occurrence_id, command, at).await
    }

    async fn get_occurrence(&self, request: Request<pb::OccurrenceRef>) -> Answer {
        let caller = self.caller(&request, Rpc::GetOccurrence)?;
        let id = occurrence_id(&request.get_ref().occurrence_id)?;
        self.central
            .occurrence_detail(&caller, &id)
            .await
            .map(|d| Response::new(detail_pb(&d)))
            .map_err(|e| from_regulation(&e))
    }

    async fn list_occurrences(
        &self,
        request: Request<pb::ListOccurrencesRequest>,
    ) -> Result<Response<pb::ListOccurrencesResponse>, Status> {
        let caller = self.caller(&request, Rpc::ListOccurrences)?;
        let central = convert::optional_central("central_id", &request.get_ref().central_id)
            .map_err(|e| invalid(&e))?;
        let list = self
            .central
            .occurrence_summaries(&caller, central.as_ref())
            .await
            .map_err(|e| from_regulation(&e))?;
        Ok(Response::new(pb::ListOccurrencesResponse {
            occurrences: list.iter().map(summary_pb).collect(),
        }))
    }

    type WatchOccurrencesStream =
        Pin<Box<dyn Stream<Item = Result<pb::OccurrenceUpdate, Status>> + Send + 'static>>;

    async fn watch_occurrences(
        &self,
        request: Request<pb::ListOccurrencesRequest>,
    ) -> Result<Response<Self::WatchOccurrencesStream>, Status> {
        let caller = self.caller(&request, Rpc::ListOccurrences)?;
        let central = convert::optional_central("central_id", &request.get_ref().central_id)
            .map_err(|e| invalid(&e))?;
        let scope = central
            .clone()
            .or_else(|| caller.credential.central.clone());
        let mut changes = self.central.subscribe();
        let first = self
            .central
            .occurrence_summaries(&caller, central.as_ref())
            .await
            .map_err(|e| from_regulation(&e))?;
        let (tx, rx) = mpsc::channel(256);
        let core = self.central.clone();
        tokio::spawn(async move {
            let snapshot = |list: Vec<Summary>| pb::OccurrenceUpdate {
                update: Some(pb::occurrence_update::Update::Snapshot(
                    pb::ListOccurrencesResponse {
                        occurrences: list.iter().map(summary_pb).collect(),
                    },
                )),
            };
            if tx.send(Ok(snapshot(first))).await.is_err() {
                return;
            }
            let ended = core.credential_ended(&caller.credential);
            tokio::pin!(ended);
            loop {
                let message = tokio::select! {
                    _ = tx.closed() => return,
                    end = &mut ended => Err(Status::unauthenticated(match end {
                        CredentialEnd::Revoked => "the token was revoked",
                        CredentialEnd::Expired => "the token expired",
                    })),
                    change = changes.recv() => match change {
                        Ok(FleetEvent::Occurrence(s)) => {
                            if scope.as_ref().is_some_and(|c| c != &s.central) {
                                continue;
                            }
                            Ok(pb::OccurrenceUpdate {
                                update: Some(pb::occurrence_update::Update::Occurrence(summary_pb(&s))),
                            })
                        }
                        Ok(_) => continue,
                        Err(RecvError::Lagged(_)) => {
                            match core.occurrence_summaries(&caller, scope.as_ref()).await {
                                Ok(list) => Ok(snapshot(list)),
                                Err(e) => Err(from_regulation(&e)),
                            }
                        }
                        Err(RecvError::Closed) => Err(Status::unavailable("the server is stopping")),
                    },
                };
                let end = message.is_err();
                if tx.send(message).await.is_err() || end {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn response_times(
        &self,
        request: Request<pb::ResponseTimesRequest>,
    ) -> Result<Response<pb::ResponseTimesResponse>, Status> {
        let caller = self.caller(&request, Rpc::ResponseTimes)?;
        let r = request.get_ref();
        let central = CentralId::parse("central_id", &r.central_id).map_err(|e| invalid(&e))?;
        let from = convert::time("from", r.from.as_ref()).map_err(|e| invalid(&e))?;
        let to = convert::time("to", r.to.as_ref()).map_err(|e| invalid(&e))?;
        let figures = self
            .central
            .response_times(&caller, &central, from, to)
            .await
            .map_err(|e| from_regulation(&e))?;
        Ok(Response::new(pb::ResponseTimesResponse {
            priorities: figures.iter().map(times_pb).collect(),
        }))
    }

    async fn audit_trail(
        &self,
        request: Request<pb::OccurrenceRef>,
    ) -> Result<Response<pb::AuditTrailResponse>, Status> {
        let caller = self.caller(&request, Rpc::AuditTrail)?;
        let id = occurrence_id(&request.get_ref().occurrence_id)?;
        let records = self
            .central
            .audit_trail(&caller, &id)
            .await
            .map_err(|e| from_regulation(&e))?;
        Ok(Response::new(pb::AuditTrailResponse {
            records: records
                .into_iter()
                .map(|r| pb::AuditRecord {
                    at: Some(convert::timestamp(r.at)),
                    actor: r.actor,
                    role: r.role,
                    action: r.action,
                    fields: r.fields,
                    remote_addr: r.remote_addr.unwrap_or_default(),
                    credential_id: r.credential_id,
                })
                .collect(),
        }))
    }
}
