//! `Fleet`: what the consoles ask of the hot fleet state.

use std::time::Instant;

use samu_domain::{UnitId, ValidationError};
use samu_fleet::{nearest::MAX_LIMIT, NearestQuery};
use samu_proto::v1 as pb;
use samu_runtime::Central;
use tonic::{Request, Response, Status};

use crate::{
    access::{authorize, Rpc},
    convert,
    status::invalid,
};

/// Units returned when a request leaves `limit` at 0.
const DEFAULT_LIMIT: usize = 5;

/// The fleet query service.
#[derive(Debug, Clone)]
pub struct FleetService {
    central: Central,
}

impl FleetService {
    /// A service over `central`.
    pub fn new(central: Central) -> Self {
        Self { central }
    }
}

#[tonic::async_trait]
impl pb::fleet_server::Fleet for FleetService {
    #[tracing::instrument(skip_all, fields(types = ?request.get_ref().types, limit = request.get_ref().limit))]
    async fn nearest_units(
        &self,
        request: Request<pb::NearestUnitsRequest>,
    ) -> Result<Response<pb::NearestUnitsResponse>, Status> {
        authorize(&self.central, request.metadata(), Rpc::NearestUnits)?;
        let started = Instant::now();
        let req = request.into_inner();
        let point = convert::point("point", req.point.as_ref()).map_err(|e| invalid(&e))?;
        if req.types.is_empty() {
            return Err(invalid(&ValidationError::new(
                "types",
                "name at least one unit type",
            )));
        }
        let types = req
            .types
            .iter()
            .enumerate()
            .map(|(i, t)| convert::unit_type(&format!("types[{i}]"), *t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(&e))?;
        let limit = match usize::try_from(req.limit).unwrap_or(usize::MAX) {
            0 => DEFAULT_LIMIT,
            n if n > MAX_LIMIT => {
                return Err(invalid(&ValidationError::new(
                    "limit",
                    format!("{n} is more than {MAX_LIMIT}"),
                )))
            }
            n => n,
        };
        let central =
            convert::optional_central("central_id", &req.central_id).map_err(|e| invalid(&e))?;
        let query = NearestQuery {
            point,
            types: &types,
            limit,
            central: central.as_ref(),
        };
        let units = self.central.with_fleet(|fleet| {
            fleet
                .nearest(&query)
                .into_iter()
                .map(|n| pb::NearestUnit {
                    unit: Some(convert::unit_state(n.unit)),
                    distance_m: n.distance_m,
                    eta_s: n.eta_s,
                })
                .collect()
        });
        metrics::histogram!("samu_nearest_query_seconds").record(started.elapsed().as_secs_f64());
        Ok(Response::new(pb::NearestUnitsResponse { units }))
    }

    async fn get_unit(
        &self,
        request: Request<pb::GetUnitRequest>,
    ) -> Result<Response<pb::UnitState>, Status> {
        authorize(&self.central, request.metadata(), Rpc::GetUnit)?;
        let id = UnitId::parse("unit_id", &request.get_ref().unit_id).map_err(|e| invalid(&e))?;
        self.central
            .with_fleet(|fleet| fleet.unit(&id).map(convert::unit_state))
            .map(Response::new)
            .ok_or_else(|| Status::not_found(format!("unit_id: unknown unit {id}")))
    }

    async fn list_units(
        &self,
        request: Request<pb::ListUnitsRequest>,
    ) -> Result<Response<pb::ListUnitsResponse>, Status> {
        authorize(&self.central, request.metadata(), Rpc::ListUnits)?;
        let central = samu_domain::CentralId::parse("central_id", &request.get_ref().central_id)
            .map_err(|e| invalid(&e))?;
        let units = self.central.with_fleet(|fleet| {
            fleet
                .units_of(&central)
                .into_iter()
                .map(convert::unit_state)
                .collect()
        });
        Ok(Response::new(pb::ListUnitsResponse { units }))
    }
}
