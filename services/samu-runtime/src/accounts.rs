//! People's accounts: argon2id password hashes, login sessions with
//! expiring tokens, and the audit of logins.
//!
//! Hashing is deliberately slow (argon2id, 19 MiB, 2 passes: OWASP's
//! baseline), so it runs on the blocking pool and never stalls the
//! runtime's workers.

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use std::net::IpAddr;

use chrono::TimeDelta;
use samu_domain::{CentralId, ValidationError};
use samu_store::{
    credentials::token_hash, users::check_username, AuditRecord, Credential, IssuedCredential,
    Role, StoreError, User,
};

use crate::central::Central;

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Bad input, naming the field.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// Wrong username or password, or a disabled account (one message for
    /// all three: the caller learns nothing about which).
    #[error("wrong username or password")]
    BadLogin,
    /// The username is taken.
    #[error("username: {0:?} is already taken")]
    Taken(String),
    /// No such user.
    #[error("user_id: no user {0}")]
    NotFound(String),
    /// Too many login attempts for this username or from this address;
    /// the password was not checked.
    #[error(transparent)]
    Limited(#[from] crate::limits::RateLimited),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Shortest password accepted, in characters.
pub const MIN_PASSWORD: usize = 10;

/// A new account's details.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Name shown on timelines.
    pub name: String,
    /// Role; never `device`.
    pub role: Role,
    /// The only central the user works for; `None`: every central.
    pub central: Option<CentralId>,
    /// The password.
    pub password: String,
}

fn check_password(password: &str) -> Result<(), ValidationError> {
    let n = password.chars().count();
    if !(MIN_PASSWORD..=256).contains(&n) {
        return Err(ValidationError::new(
            "password",
            format!("must be {MIN_PASSWORD} to 256 characters"),
        ));
    }
    Ok(())
}

async fn hash_password(password: String) -> Result<String, AccountError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(|e| AccountError::Invalid(ValidationError::new("password", e.to_string())))?
    .map_err(|e| AccountError::Invalid(ValidationError::new("password", e.to_string())))
}

/// Checks a password against a stored PHC string; a malformed hash never
/// matches.
async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// A hash of a password nobody has, checked when the username is unknown so
/// that a wrong username takes as long as a wrong password.
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FtdS1kZWNveS1zYWx0$\
     0Xr3mEYd0cY7sJ0D5xZ1p8wLQmW6Y1E2d7i3l8n9o0Q";

impl Central {
    /// Creates an account.
    ///
    /// # Errors
    /// A bad field, a taken username, or a store failure.
    pub async fn create_user(&self, new: NewUser) -> Result<User, AccountError> {
        let username = check_username(&new.username)?;
        let name = new.name.trim();
        if name.is_empty() || name.chars().count() > 120 {
            return Err(ValidationError::new("name", "must be 1 to 120 characters").into());
        }
        if new.role == Role::Device {
            return Err(
                ValidationError::new("role", "devices get device tokens, not accounts").into(),
            );
        }
        check_password(&new.password)?;
        if let Some(central) = &new.central {
            if self.store().central(central).await?.is_none() {
                return Err(ValidationError::new(
                    "central_id",
                    format!("unknown central {central}"),
                )
                .into());
            }
        }
        let hash = hash_password(new.password).await?;
        let user = User {
            id: uuid::Uuid::now_v7().to_string(),
            username: username.clone(),
            name: name.to_owned(),
            role: new.role,
            central: new.central,
            created_at: samu_domain::time::now(),
            disabled_at: None,
        };
        self.store()
            .create_user(&user, &hash)
            .await?
            .ok_or(AccountError::Taken(username))
    }

    /// Logs a person in: a new token valid for `ttl`. Every attempt, failed
    /// or not, is audited with where it came from (`from`, as shown; its
    /// `address` keys the per-address login limit).
    ///
    /// Attempts are rate limited per username and per address before the
    /// password is checked, right or wrong, so guessing is slow and a flood
    /// of attempts costs no argon2 time. Of a run of refused attempts only
    /// the first is audited (`login_limited`): a guesser's flood must not
    /// fill the audit table; the rest are counted in
    /// `samu_rate_limited_total`.
    ///
    /// # Errors
    /// [`AccountError::BadLogin`] for any wrong pair or a disabled account;
    /// [`AccountError::Limited`] over the login limits.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        ttl: TimeDelta,
        from: Option<String>,
        address: Option<IpAddr>,
    ) -> Result<(IssuedCredential, User), AccountError> {
        let username = username.trim().to_ascii_lowercase();
        if let Err(limited) = self.spend_login(&username, address) {
            if limited.first {
                tracing::warn!(
                    limit = limited.kind.as_str(),
                    "login attempts over the rate limit: {}",
                    limited.describe()
                );
                self.store()
                    .record_audit(&AuditRecord {
                        at: samu_domain::time::now(),
                        credential_id: String::new(),
                        user_id: None,
                        actor: username.chars().take(64).collect(),
                        role: "unknown".into(),
                        action: "login_limited".into(),
                        occurrence_id: None,
                        fields: Vec::new(),
                        remote_addr: from,
                    })
                    .await?;
            }
            return Err(limited.into());
        }
        let found = self.store().user_by_username(&username).await?;
        let (hash, user) = match &found {
            Some((user, hash)) => (hash.clone(), Some(user)),
            None => (DECOY_HASH.to_owned(), None),
        };
        let matches = verify_password(password.to_owned(), hash).await;
        let now = samu_domain::time::now();
        let user = match user {
            Some(user) if matches && user.disabled_at.is_none() => user.clone(),
            _ => {
                metrics::counter!("samu_login_failures_total").increment(1);
                self.store()
                    .record_audit(&AuditRecord {
                        at: now,
                        credential_id: String::new(),
                        user_id: user.map(|u| u.id.clone()),
                        actor: username.clone(),
                        role: user.map_or("unknown", |u| u.role.as_str()).to_owned(),
                        action: "login_failed".into(),
                        occurrence_id: None,
                        fields: Vec::new(),
                        remote_addr: from,
                    })
                    .await?;
                return Err(AccountError::BadLogin);
            }
        };
        let issued = self.store().issue_session(&user, now + ttl, now).await?;
        self.inner
            .credentials
            .insert(token_hash(&issued.token), issued.credential.clone());
        self.store()
            .record_audit(&AuditRecord {
                at: now,
                credential_id: issued.credential.id.clone(),
                user_id: Some(user.id.clone()),
                actor: user.name.clone(),
                role: user.role.as_str().to_owned(),
                action: "login".into(),
                occurrence_id: None,
                fields: Vec::new(),
                remote_addr: from,
            })
            .await?;
        tracing::info!(user_id = %user.id, role = %user.role, "login");
        Ok((issued, user))
    }

    /// Ends a session: its token is revoked at once.
    ///
    /// # Errors
    /// A store failure.
    pub async fn logout(&self, credential: &Credential) -> Result<(), AccountError> {
        self.store()
            .revoke_credential(&credential.id, samu_domain::time::now())
            .await?;
        self.inner.credentials.remove_id(&credential.id);
        Ok(())
    }

    /// Replaces a user's password.
    ///
    /// # Errors
    /// A short password, an unknown user, or a store failure.
    pub async fn set_password(&self, user_id: &str, password: &str) -> Result<(), AccountError> {
        check_password(password)?;
        let hash = hash_password(password.to_owned()).await?;
        if !self.store().set_password_hash(user_id, &hash).await? {
            return Err(AccountError::NotFound(user_id.to_owned()));
        }
        Ok(())
    }

    /// Disables a user; their open sessions end at once.
    ///
    /// # Errors
    /// An unknown user, or a store failure.
    pub async fn disable_user(&self, user_id: &str) -> Result<(), AccountError> {
        let now = samu_domain::time::now();
        if !self.store().disable_user(user_id, now).await? {
            return Err(AccountError::NotFound(user_id.to_owned()));
        }
        // The store revoked the user's sessions at `now`: what changed since
        // then is those revocations (and whatever other instances did
        // meanwhile), not every credential.
        let mark = self.inner.credentials.mark();
        let changes = self.store().credentials_changed_since(now).await?;
        self.inner.credentials.apply(changes, mark);
        Ok(())
    }

    /// The account behind a session's credential.
    ///
    /// # Errors
    /// A store failure.
    pub async fn session_user(
        &self,
        credential: &Credential,
    ) -> Result<Option<User>, AccountError> {
        match &credential.user_id {
            Some(id) => Ok(self.store().user(id).await?),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_the_decoy_is_well_formed_but_matches_nothing() {
        let hash = hash_password("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery".into(), hash.clone()).await);
        assert!(!verify_password("wrong horse battery".into(), hash).await);
        assert!(
            PasswordHash::new(DECOY_HASH).is_ok(),
            "the decoy must cost a real check"
        );
        assert!(!verify_password("anything at all".into(), DECOY_HASH.into()).await);
    }
}
