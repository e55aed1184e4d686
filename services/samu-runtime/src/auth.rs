//! Authenticating bearer tokens against the in-memory credential cache.

use std::{collections::HashMap, sync::RwLock};

use chrono::Utc;
use samu_store::{credentials::token_hash, Credential};

use crate::central::Central;

/// Why a token was refused. Deliberately vague towards the caller: the
/// message never says whether a token exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `authorization: Bearer …` was sent.
    #[error("missing bearer token")]
    Missing,
    /// Unknown, revoked or expired token.
    #[error("invalid, revoked or expired token")]
    Invalid,
}

/// Active credentials by token hash. Authenticating a call is a hash and a
/// map lookup; the map is replaced wholesale on refresh.
#[derive(Debug, Default)]
pub(crate) struct CredentialCache {
    by_hash: RwLock<HashMap<String, Credential>>,
}

impl CredentialCache {
    pub(crate) fn replace(&self, active: Vec<(String, Credential)>) {
        let map = active.into_iter().collect();
        *self.by_hash.write().unwrap_or_else(|e| e.into_inner()) = map;
    }

    pub(crate) fn insert(&self, hash: String, credential: Credential) {
        self.by_hash
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash, credential);
    }

    pub(crate) fn remove_id(&self, id: &str) {
        self.by_hash
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, c| c.id != id);
    }

    fn get(&self, hash: &str) -> Option<Credential> {
        self.by_hash
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(hash)
            .cloned()
    }

    fn contains_id(&self, id: &str) -> bool {
        self.by_hash
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .any(|c| c.id == id && c.is_valid_at(Utc::now()))
    }
}

impl Central {
    /// The credential a bearer token stands for.
    ///
    /// # Errors
    /// [`AuthError::Missing`] for an empty token, [`AuthError::Invalid`] for
    /// an unknown, revoked or expired one.
    pub fn authenticate(&self, token: &str) -> Result<Credential, AuthError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        self.inner
            .credentials
            .get(&token_hash(token))
            .filter(|c| c.is_valid_at(Utc::now()))
            .ok_or(AuthError::Invalid)
    }

    /// Whether a credential is still valid (open streams check this so a
    /// revocation takes effect without waiting for a reconnect).
    pub fn credential_is_valid(&self, id: &str) -> bool {
        self.inner.credentials.contains_id(id)
    }
}
