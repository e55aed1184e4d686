//! `Admin`: the registry and credentials, for the admin role only.

use chrono::{DateTime, TimeDelta, Utc};
use samu_domain::{BaseId, CentralId, UnitId, ValidationError};
use samu_fleet::UnitRecord;
use samu_proto::v1 as pb;
use samu_runtime::Central;
use samu_store::{BaseRow, CentralRow, IssuedCredential, Role, UnitRow};
use tonic::{Request, Response, Status};

use crate::{
    access::{authorize, Rpc},
    convert,
    status::{from_registry, invalid},
};

/// The admin service.
#[derive(Debug, Clone)]
pub struct AdminService {
    central: Central,
}

impl AdminService {
    /// A service over `central`.
    pub fn new(central: Central) -> Self {
        Self { central }
    }
}

/// Default time zone of a central.
pub const DEFAULT_TIME_ZONE: &str = "America/Sao_Paulo";

fn text(field: &str, raw: &str, max: usize) -> Result<String, ValidationError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

fn optional_time(
    field: &str,
    ts: Option<&prost_types::Timestamp>,
) -> Result<Option<DateTime<Utc>>, ValidationError> {
    ts.map(|t| convert::time(field, Some(t))).transpose()
}

pub(crate) const ROLE_TABLE: [(pb::Role, Role); 7] = [
    (pb::Role::Admin, Role::Admin),
    (pb::Role::Wall, Role::Wall),
    (pb::Role::Device, Role::Device),
    (pb::Role::Tarm, Role::Tarm),
    (pb::Role::Physician, Role::Physician),
    (pb::Role::RadioOperator, Role::RadioOperator),
    (pb::Role::Manager, Role::Manager),
];

fn issued(i: IssuedCredential) -> pb::IssuedToken {
    let role = ROLE_TABLE
        .iter()
        .find(|(_, r)| *r == i.credential.role)
        .map_or(pb::Role::Unspecified, |(p, _)| *p);
    pb::IssuedToken {
        token_id: i.credential.id,
        token: i.token,
        role: role.into(),
        expires_at: i.credential.expires_at.map(convert::timestamp),
    }
}

#[tonic::async_trait]
impl pb::admin_server::Admin for AdminService {
    async fn upsert_central(
        &self,
        request: Request<pb::Central>,
    ) -> Result<Response<pb::Central>, Status> {
        authorize(&self.central, request.metadata(), Rpc::Admin)?;
        let c = request.into_inner();
        let parse = || -> Result<CentralRow, ValidationError> {
            let time_zone = if c.time_zone.is_empty() {
                DEFAULT_TIME_ZONE
            } else {
                c.time_zone.as_str()
            };
            time_zone.parse::<chrono_tz::Tz>().map_err(|_| {
                ValidationError::new(
                    "time_zone",
                    format!("{time_zone:?} is not an IANA time zone"),
                )
            })?;
            Ok(CentralRow {
                id: CentralId::parse("id", &c.id)?,
                name: text("name", &c.name, 200)?,
                time_zone: time_zone.to_owned(),
                population: c.population,
            })
        };
        let row = parse().map_err(|e| invalid(&e))?;
        let settings = match c.indicator_settings_json.as_deref() {
            None => None,
            Some("") => Some(None),
            Some(json) => {
                let bad = |m: String| invalid(&ValidationError::new("indicator_settings_json", m));
                let parsed: samu_indicators::CentralSettings =
                    serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
                parsed.validate().map_err(|e| bad(e.to_string()))?;
                Some(Some(json.to_owned()))
            }
        };
        let amount = c
            .programmed_monthly_centavos
            .map(|v| {
                i64::try_from(v).map_err(|_| {
                    invalid(&ValidationError::new(
                        "programmed_monthly_centavos",
                        "is too large",
                    ))
                })
            })
            .transpose()?;
        let targets = match c.response_targets_json.as_deref() {
            None => None,
            Some("") => Some(None),
            Some(json) => {
                samu_occurrence::ResponseTargets::from_json("response_targets_json", json)
                    .map_err(|e| invalid(&e))?;
                Some(Some(json.to_owned()))
            }
        };
        self.central
            .upsert_central(&row)
            .await
            .map_err(|e| from_registry(&e))?;
        if let Some(targets) = &targets {
            self.central
                .store()
                .set_response_targets(&row.id, targets.as_deref(), samu_domain::time::now())
                .await
                .map_err(|e| from_registry(&e.into()))?;
        }
        if settings.is_some() || amount.is_some() {
            self.central
                .put_indicator_settings(&row.id, settings, amount)
                .await
                .map_err(|e| from_registry(&e))?;
        }
        Ok(Response::new(pb::Central {
            id: row.id.to_string(),
            name: row.name,
            time_zone: row.time_zone,
            population: row.population,
            programmed_monthly_centavos: c.programmed_monthly_centavos,
            indicator_settings_json: c.indicator_settings_json,
            response_targets_json: c.response_targets_json,
        }))
    }

    async fn upsert_base(&self, request: Request<pb::Base>) -> Result<Response<pb::Base>, Status> {
        authorize(&self.central, request.metadata(), Rpc::Admin)?;
        let b = request.into_inner();
        let row = (|| -> Result<BaseRow, ValidationError> {
            Ok(BaseRow {
                id: BaseId::parse("id", &b.id)?,
                central: CentralId::parse("central_id", &b.central_id)?,
                name: text("name", &b.name, 200)?,
                location: convert::point("location", b.location.as_ref())?,
            })
        })()
        .map_err(|e| invalid(&e))?;
        self.central
            .upsert_base(&row)
            .await
            .map_err(|e| from_registry(&e))?;
        Ok(Response::new(pb::Base {
            name: row.name,
            ..b
        }))
    }

    async fn upsert_unit(&self, request: Request<pb::Unit>) -> Result<Response<pb::Unit>, Status> {
        authorize(&self.central, request.metadata(), Rpc::Admin)?;
        let u = request.into_inner();
        let row = (|| -> Result<UnitRow, ValidationError> {
            let habilitated_from = optional_time("habilitated_from", u.habilitated_from.as_ref())?
                .unwrap_or_else(Utc::now);
            let retired_at = optional_time("retired_at", u.retired_at.as_ref())?;
            if retired_at.is_some_and(|r| r < habilitated_from) {
                return Err(ValidationError::new(
                    "retired_at",
                    "is before habilitated_from",
                ));
            }
            Ok(UnitRow {
                record: UnitRecord {
                    id: UnitId::parse("id", &u.id)?,
                    central: CentralId::parse("central_id", &u.central_id)?,
                    unit_type: convert::unit_type("type", u.r#type)?,
                    base: if u.base_id.is_empty() {
                        None
                    } else {
                        Some(BaseId::parse("base_id", &u.base_id)?)
                    },
                    label: text("label", &u.label, 60)?,
                },
                habilitated_from,
                retired_at,
            })
        })()
        .map_err(|e| invalid(&e))?;
        self.central
            .upsert_unit(&row)
            .await
            .map_err(|e| from_registry(&e))?;
        Ok(Response::new(pb::Unit {
            label: row.record.label,
            habilitated_from: Some(convert::timestamp(row.habilitated_from)),
            ..u
        }))
    }

    async fn issue_device_token(
        &self,
        request: Request<pb::IssueDeviceTokenRequest>,
    ) -> Result<Response<pb::IssuedToken>, Status> {
        authorize(&self.central, request.metadata(), Rpc::Admin)?;
        let unit = UnitId::parse("unit_id", &request.get_ref().unit_id).map_err(|e| invalid(&e))?;
        let token = self
            .central
            .issue_device_token(&unit)
            .await
            .map_err(|e| from_registry(&e))?;
        Ok(Response::new(issued(token)))
    }

    async fn issue_access_token(
        &self,
        request: Request<pb::IssueAccessTokenRequest>,
    ) -> Result<Response<pb::IssuedToken>, Status> {
        authorize(&self.central, request.metadata(), Rpc::Admin)?;
        let r = request.into_inner();
        let role = pb::Role::try_from(r.role)
            .ok()
            .and_then(|p| ROLE_TABLE.iter().find(|(w, _)| *w == p).map(|(_, d)| *d))
            .ok_or_else(|| {
                invalid(&ValidationError::new(
                    "role",
                    format!("{} is not a role", r.role),
                ))
            })?;
        let expires_at = match r.ttl_s {
            0 => None,
            s => Some(
                i64::try_from(s)
                    .ok()
                    .and_then(TimeDelta::try_seconds)
                    .and_then(|d| Utc::now().checked_add_signed(d))
                    .ok_or_else(|| invalid(&ValidationError::new("ttl_s", "is too large")))?,
            ),
        };
        let token = self
            .central
            .issue_access_token(role, &r.label, expires_at)
            .await
            .map_err(|e| from_registry(&e))?;
        Ok(Response::new(issued(token)))
    }

    async fn revoke_token(
        &self,
        request: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::RevokeTokenResponse>, Status> {
        authorize(&self.central, request.metadata(), Rpc::Admin)?;
        let id = request.get_ref().token_id.trim();
        if id.is_empty() {
            return Err(invalid(&ValidationError::new("token_id", "is required")));
        }
        self.central
            .revoke_token(id)
            .await
            .map_err(|e| from_registry(&e))?;
        Ok(Response::new(pb::RevokeTokenResponse {}))
    }
}
