//! User accounts of the people at the consoles. The store keeps an argon2id
//! hash of each password (hashing and checking live in the runtime).

use chrono::{DateTime, Utc};
use samu_domain::{CentralId, ValidationError};
use sqlx::Row;

use crate::{
    sql::{corrupt, from_ms, ms},
    Role, Store, StoreError,
};

/// A user account (never the password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable id.
    pub id: String,
    /// Login name: 3 to 64 of `[a-z0-9._-]`.
    pub username: String,
    /// Name shown on timelines and the audit trail.
    pub name: String,
    /// What the user does.
    pub role: Role,
    /// The only central the user works for; `None`: every central.
    pub central: Option<CentralId>,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Disabled at: a disabled user cannot log in.
    pub disabled_at: Option<DateTime<Utc>>,
}

/// Checks a login name.
///
/// # Errors
/// When not 3 to 64 of `[a-z0-9._-]`.
pub fn check_username(raw: &str) -> Result<String, ValidationError> {
    let name = raw.trim().to_ascii_lowercase();
    if !(3..=64).contains(&name.len())
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    {
        return Err(ValidationError::new(
            "username",
            "must be 3 to 64 characters of a-z, 0-9, '.', '_' or '-'",
        ));
    }
    Ok(name)
}

impl Store {
    /// Creates a user; `Ok(None)` when the username is taken.
    ///
    /// # Errors
    /// A database failure (for example an unknown central).
    pub async fn create_user(
        &self,
        user: &User,
        password_hash: &str,
    ) -> Result<Option<User>, StoreError> {
        let done = sqlx::query(
            "INSERT INTO users (id, username, name, role, central_id, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (username) DO NOTHING",
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(&user.name)
        .bind(user.role.as_str())
        .bind(user.central.as_ref().map(|c| c.as_str().to_owned()))
        .bind(password_hash)
        .bind(ms(user.created_at))
        .execute(self.pool())
        .await?;
        Ok((done.rows_affected() > 0).then(|| user.clone()))
    }

    /// A user and their password hash, by login name.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn user_by_username(
        &self,
        username: &str,
    ) -> Result<Option<(User, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT id, username, name, role, central_id, password_hash, created_at, disabled_at \
             FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| Ok((user_from_row(&r)?, r.try_get("password_hash")?)))
            .transpose()
    }

    /// A user by id.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn user(&self, id: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(
            "SELECT id, username, name, role, central_id, created_at, disabled_at \
             FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| user_from_row(&r)).transpose()
    }

    /// Replaces a user's password hash; false when no such user.
    ///
    /// # Errors
    /// A database failure.
    pub async fn set_password_hash(&self, id: &str, hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(id)
            .bind(hash)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Disables a user and revokes their open sessions; false when no such
    /// user.
    ///
    /// # Errors
    /// A database failure.
    pub async fn disable_user(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let done =
            sqlx::query("UPDATE users SET disabled_at = COALESCE(disabled_at, $2) WHERE id = $1")
                .bind(id)
                .bind(ms(now))
                .execute(&mut *tx)
                .await?;
        sqlx::query(
            "UPDATE credentials SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(ms(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }
}

fn user_from_row(r: &sqlx::any::AnyRow) -> Result<User, StoreError> {
    const T: &str = "users";
    Ok(User {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        name: r.try_get("name")?,
        role: Role::parse("role", r.try_get("role")?).map_err(corrupt(T))?,
        central: r
            .try_get::<Option<String>, _>("central_id")?
            .map(|c| CentralId::parse("central_id", &c))
            .transpose()
            .map_err(corrupt(T))?,
        created_at: from_ms(T, r.try_get("created_at")?)?,
        disabled_at: r
            .try_get::<Option<i64>, _>("disabled_at")?
            .map(|v| from_ms(T, v))
            .transpose()?,
    })
}
