//! `Accounts`: login sessions and the admin's management of accounts.

use chrono::TimeDelta;
use samu_domain::ValidationError;
use samu_proto::v1 as pb;
use samu_runtime::{
    accounts::{AccountError, NewUser},
    Central,
};
use samu_store::User;
use tonic::{Request, Response, Status};

use crate::{
    access::{authorize, Rpc},
    admin::ROLE_TABLE,
    convert,
    status::{invalid, rate_limited},
};

/// The accounts service.
#[derive(Debug, Clone)]
pub struct AccountsService {
    central: Central,
    session_ttl: TimeDelta,
}

impl AccountsService {
    /// A service over `central`; logins last `session_ttl`.
    pub fn new(central: Central, session_ttl: TimeDelta) -> Self {
        Self {
            central,
            session_ttl,
        }
    }
}

/// Account failures to statuses.
pub fn from_account(e: &AccountError) -> Status {
    match e {
        AccountError::Invalid(v) => invalid(v),
        AccountError::BadLogin => Status::unauthenticated(e.to_string()),
        AccountError::Taken(_) => Status::already_exists(e.to_string()),
        AccountError::NotFound(_) => Status::not_found(e.to_string()),
        AccountError::Limited(limited) => rate_limited(limited),
        AccountError::Store(inner) => {
            tracing::error!(error = %inner, "store failure in an accounts call");
            Status::unavailable("the store failed; try again (see the server log)")
        }
    }
}

fn user_pb(u: &User) -> pb::User {
    pb::User {
        id: u.id.clone(),
        username: u.username.clone(),
        name: u.name.clone(),
        role: ROLE_TABLE
            .iter()
            .find(|(_, r)| *r == u.role)
            .map_or(pb::Role::Unspecified, |(p, _)| *p)
            .into(),
        central_id: u
            .central
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        disabled_at: u.disabled_at.map(convert::timestamp),
    }
}

#[tonic::async_trait]
impl pb::accounts_server::Accounts for AccountsService {
    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let peer = request.remote_addr();
        let from = peer.map(|a| a.to_string());
        let r = request.into_inner();
        let (issued, user) = self
            .central
            .login(
                &r.username,
                &r.password,
                self.session_ttl,
                from,
                peer.map(|a| a.ip()),
            )
            .await
            .map_err(|e| from_account(&e))?;
        Ok(Response::new(pb::LoginResponse {
            token: issued.token,
            expires_at: issued.credential.expires_at.map(convert::timestamp),
            user: Some(user_pb(&user)),
        }))
    }

    async fn logout(
        &self,
        request: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::LogoutResponse>, Status> {
        let credential = authorize(&self.central, request.metadata(), Rpc::Session)?;
        self.central
            .logout(&credential)
            .await
            .map_err(|e| from_account(&e))?;
        Ok(Response::new(pb::LogoutResponse {}))
    }

    async fn who_am_i(
        &self,
        request: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let credential = authorize(&self.central, request.metadata(), Rpc::Session)?;
        let user = self
            .central
            .session_user(&credential)
            .await
            .map_err(|e| from_account(&e))?
            .ok_or_else(|| {
                Status::failed_precondition(
                    "this token is not a login session (no account behind it)",
                )
            })?;
        Ok(Response::new(user_pb(&user)))
    }

    async fn create_user(
        &self,
        request: Request<pb::CreateUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        authorize(&self.central, request.metadata(), Rpc::ManageUsers)?;
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
        let central =
            convert::optional_central("central_id", &r.central_id).map_err(|e| invalid(&e))?;
        let user = self
            .central
            .create_user(NewUser {
                username: r.username,
                name: r.name,
                role,
                central,
                password: r.password,
            })
            .await
            .map_err(|e| from_account(&e))?;
        Ok(Response::new(user_pb(&user)))
    }

    async fn set_password(
        &self,
        request: Request<pb::SetPasswordRequest>,
    ) -> Result<Response<pb::SetPasswordResponse>, Status> {
        authorize(&self.central, request.metadata(), Rpc::ManageUsers)?;
        let r = request.into_inner();
        self.central
            .set_password(&r.user_id, &r.password)
            .await
            .map_err(|e| from_account(&e))?;
        Ok(Response::new(pb::SetPasswordResponse {}))
    }

    async fn disable_user(
        &self,
        request: Request<pb::DisableUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        authorize(&self.central, request.metadata(), Rpc::ManageUsers)?;
        let r = request.into_inner();
        self.central
            .disable_user(&r.user_id)
            .await
            .map_err(|e| from_account(&e))?;
        let user = self
            .central
            .store()
            .user(&r.user_id)
            .await
            .map_err(|e| from_account(&e.into()))?
            .ok_or_else(|| Status::not_found(format!("user_id: no user {}", r.user_id)))?;
        Ok(Response::new(user_pb(&user)))
    }
}
