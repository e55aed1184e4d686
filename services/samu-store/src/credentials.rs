//! Tokens of devices, people and wall displays.
//!
//! A token is 32 random bytes shown once to whoever asked for it; the store
//! keeps only its SHA-256. Tokens are long random secrets, not passwords, so
//! a fast hash is enough: nobody can brute-force 256 bits.

use std::fmt;

use chrono::{DateTime, Utc};
use rand::RngCore;
use samu_domain::{CentralId, UnitId, ValidationError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{
    sql::{corrupt, from_ms, ms},
    Store, StoreError,
};

/// What a token lets its holder do (the RPC × role table is in `docs/roles.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Registry and credentials.
    Admin,
    /// Read-only video wall display.
    Wall,
    /// A vehicle app, bound to one unit.
    Device,
    /// Técnico Auxiliar de Regulação Médica (call taker).
    Tarm,
    /// Médico regulador.
    Physician,
    /// Rádio-operador.
    RadioOperator,
    /// Gestor.
    Manager,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 7] = [
        Role::Admin,
        Role::Wall,
        Role::Device,
        Role::Tarm,
        Role::Physician,
        Role::RadioOperator,
        Role::Manager,
    ];

    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Wall => "wall",
            Role::Device => "device",
            Role::Tarm => "tarm",
            Role::Physician => "physician",
            Role::RadioOperator => "radio_operator",
            Role::Manager => "manager",
        }
    }

    /// Parses a storage name.
    ///
    /// # Errors
    /// When the name is not a role.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == raw)
            .ok_or_else(|| ValidationError::new(field, format!("{raw:?} is not a role")))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored credential (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// Stable id, for revocation and the audit trail.
    pub id: String,
    /// The holder's role.
    pub role: Role,
    /// The unit, for a device.
    pub unit: Option<UnitId>,
    /// Who or what holds it.
    pub label: String,
    /// Issued at.
    pub created_at: DateTime<Utc>,
    /// Not valid after this.
    pub expires_at: Option<DateTime<Utc>>,
    /// Revoked at.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The user account, for a login session.
    pub user_id: Option<String>,
    /// The only central the holder works for; `None`: every central.
    pub central: Option<CentralId>,
}

impl Credential {
    /// Whether the holder may work on `central`'s business.
    pub fn may_act_for(&self, central: &CentralId) -> bool {
        self.central.as_ref().is_none_or(|c| c == central)
    }
}

impl Credential {
    /// Valid at `now`: not revoked, not expired.
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

/// A credential with its secret, returned once when issued.
#[derive(Debug, Clone)]
pub struct IssuedCredential {
    /// What is stored.
    pub credential: Credential,
    /// The secret.
    pub token: String,
}

/// A new secret: `samu_` and 256 random bits in hex.
fn new_token() -> String {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    format!("samu_{}", hex::encode(secret))
}

/// The SHA-256 of a token, hex-encoded, as stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Store {
    /// Issues a new token.
    ///
    /// # Errors
    /// A database failure (for example an unknown unit).
    pub async fn issue_credential(
        &self,
        role: Role,
        unit: Option<&UnitId>,
        label: &str,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<IssuedCredential, StoreError> {
        let token = new_token();
        let credential = Credential {
            id: uuid::Uuid::now_v7().to_string(),
            role,
            unit: unit.cloned(),
            label: label.to_owned(),
            created_at: now,
            expires_at,
            revoked_at: None,
            user_id: None,
            central: None,
        };
        self.insert_credential(&credential, &token).await?;
        Ok(IssuedCredential { credential, token })
    }

    /// Issues a login session's token for a user, valid until `expires_at`.
    ///
    /// # Errors
    /// A database failure.
    pub async fn issue_session(
        &self,
        user: &crate::users::User,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<IssuedCredential, StoreError> {
        let token = new_token();
        let credential = Credential {
            id: uuid::Uuid::now_v7().to_string(),
            role: user.role,
            unit: None,
            label: user.name.clone(),
            created_at: now,
            expires_at: Some(expires_at),
            revoked_at: None,
            user_id: Some(user.id.clone()),
            central: user.central.clone(),
        };
        self.insert_credential(&credential, &token).await?;
        Ok(IssuedCredential { credential, token })
    }

    async fn insert_credential(
        &self,
        credential: &Credential,
        token: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO credentials (id, token_hash, role, unit_id, label, created_at, expires_at, \
             user_id, central_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&credential.id)
        .bind(token_hash(token))
        .bind(credential.role.as_str())
        .bind(credential.unit.as_ref().map(|u| u.as_str().to_owned()))
        .bind(&credential.label)
        .bind(ms(credential.created_at))
        .bind(credential.expires_at.map(ms))
        .bind(credential.user_id.clone())
        .bind(credential.central.as_ref().map(|c| c.as_str().to_owned()))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every credential neither revoked nor expired at `now`, with its hash:
    /// the server keeps them in memory so authenticating a call costs no
    /// database round trip. Expired ones are left out: every login adds a
    /// session that expires, and none is ever deleted.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn active_credentials(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, Credential)>, StoreError> {
        self.credentials_where(
            "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)",
            now,
        )
        .await
    }

    /// The credentials created or revoked at or after `since`, revoked ones
    /// included (with their `revoked_at`): what a cache read before `since`
    /// has to apply to be current again, without reading every credential.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn credentials_changed_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, Credential)>, StoreError> {
        self.credentials_where("created_at >= $1 OR revoked_at >= $1", since)
            .await
    }

    /// The credentials, with their hashes, matching `condition` on one time
    /// parameter.
    async fn credentials_where(
        &self,
        condition: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<(String, Credential)>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT id, token_hash, role, unit_id, label, created_at, expires_at, revoked_at, \
             user_id, central_id FROM credentials WHERE {condition}"
        ))
        .bind(ms(at))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("token_hash")?, credential_from_row(r)?)))
            .collect()
    }

    /// Revokes a credential; returns false when no such id exists.
    ///
    /// # Errors
    /// A database failure.
    pub async fn revoke_credential(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE credentials SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
        )
        .bind(id)
        .bind(ms(now))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

fn credential_from_row(r: &sqlx::any::AnyRow) -> Result<Credential, StoreError> {
    const T: &str = "credentials";
    let unit: Option<String> = r.try_get("unit_id")?;
    Ok(Credential {
        id: r.try_get("id")?,
        role: Role::parse("role", r.try_get("role")?).map_err(corrupt(T))?,
        unit: unit
            .map(|u| UnitId::parse("unit_id", &u))
            .transpose()
            .map_err(corrupt(T))?,
        label: r.try_get("label")?,
        created_at: from_ms(T, r.try_get("created_at")?)?,
        expires_at: r
            .try_get::<Option<i64>, _>("expires_at")?
            .map(|v| from_ms(T, v))
            .transpose()?,
        revoked_at: r
            .try_get::<Option<i64>, _>("revoked_at")?
            .map(|v| from_ms(T, v))
            .transpose()?,
        user_id: r.try_get("user_id")?,
        central: r
            .try_get::<Option<String>, _>("central_id")?
            .map(|c| CentralId::parse("central_id", &c))
            .transpose()
            .map_err(corrupt(T))?,
    })
}
