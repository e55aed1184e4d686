//! `Team`: clock-in and clock-out of the regulation room's staff.

use samu_domain::{CentralId, MemberId, StaffRole, ValidationError};
use samu_proto::v1 as pb;
use samu_runtime::Central;
use samu_store::PresenceRow;
use tonic::{Request, Response, Status};

use crate::{
    access::{authorize, Rpc},
    convert,
    status::{from_registry, invalid},
};

/// The team service.
#[derive(Debug, Clone)]
pub struct TeamService {
    central: Central,
}

impl TeamService {
    /// A service over `central`.
    pub fn new(central: Central) -> Self {
        Self { central }
    }
}

const ROLE_TABLE: [(pb::StaffRole, StaffRole); 3] = [
    (pb::StaffRole::Physician, StaffRole::Physician),
    (pb::StaffRole::Tarm, StaffRole::Tarm),
    (pb::StaffRole::RadioOperator, StaffRole::RadioOperator),
];

fn staff_role(raw: i32) -> Result<StaffRole, ValidationError> {
    pb::StaffRole::try_from(raw)
        .ok()
        .and_then(|p| ROLE_TABLE.iter().find(|(w, _)| *w == p).map(|(_, d)| *d))
        .ok_or_else(|| {
            ValidationError::new(
                "role",
                if raw == 0 {
                    "is required".to_owned()
                } else {
                    format!("{raw} is not a staff role")
                },
            )
        })
}

fn presence_pb(p: PresenceRow) -> pb::Presence {
    let role = ROLE_TABLE
        .iter()
        .find(|(_, d)| *d == p.role)
        .map_or(pb::StaffRole::Unspecified, |(w, _)| *w);
    pb::Presence {
        presence_id: p.id,
        central_id: p.central.to_string(),
        member_id: p.member.to_string(),
        role: role.into(),
        reachable_only: p.reachable_only,
        started_at: Some(convert::timestamp(p.started_at)),
        ended_at: p.ended_at.map(convert::timestamp),
    }
}

#[tonic::async_trait]
impl pb::team_server::Team for TeamService {
    async fn clock_in(
        &self,
        request: Request<pb::ClockInRequest>,
    ) -> Result<Response<pb::Presence>, Status> {
        authorize(&self.central, request.metadata(), Rpc::ClockInOut)?;
        let r = request.into_inner();
        let (central, member, role, at) = (|| {
            Ok::<_, ValidationError>((
                CentralId::parse("central_id", &r.central_id)?,
                MemberId::parse("member_id", &r.member_id)?,
                staff_role(r.role)?,
                r.at.as_ref()
                    .map(|t| convert::time("at", Some(t)))
                    .transpose()?,
            ))
        })()
        .map_err(|e| invalid(&e))?;
        let presence = self
            .central
            .clock_in(&central, &member, role, r.reachable_only, at)
            .await
            .map_err(|e| from_registry(&e))?;
        Ok(Response::new(presence_pb(presence)))
    }

    async fn clock_out(
        &self,
        request: Request<pb::ClockOutRequest>,
    ) -> Result<Response<pb::Presence>, Status> {
        authorize(&self.central, request.metadata(), Rpc::ClockInOut)?;
        let r = request.into_inner();
        if r.presence_id.trim().is_empty() {
            return Err(invalid(&ValidationError::new("presence_id", "is required")));
        }
        let at =
            r.at.as_ref()
                .map(|t| convert::time("at", Some(t)))
                .transpose()
                .map_err(|e| invalid(&e))?;
        let presence = self
            .central
            .clock_out(r.presence_id.trim(), at)
            .await
            .map_err(|e| from_registry(&e))?;
        Ok(Response::new(presence_pb(presence)))
    }

    async fn on_duty(
        &self,
        request: Request<pb::OnDutyRequest>,
    ) -> Result<Response<pb::OnDutyResponse>, Status> {
        authorize(&self.central, request.metadata(), Rpc::OnDuty)?;
        let central = CentralId::parse("central_id", &request.get_ref().central_id)
            .map_err(|e| invalid(&e))?;
        let presences = self.central.store().on_duty(&central).await.map_err(|e| {
            tracing::error!(error = %e, "store failure listing the team on duty");
            Status::internal("the store failed; see the server log")
        })?;
        Ok(Response::new(pb::OnDutyResponse {
            presences: presences.into_iter().map(presence_pb).collect(),
        }))
    }
}
