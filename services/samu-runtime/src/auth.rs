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

/// Active credentials, indexed by token hash (to authenticate a call) and by
/// id (every open stream checks its credential every few seconds, so that
/// check must not scan the whole set). Both indexes live under one lock and
/// are replaced wholesale on refresh.
#[derive(Debug, Default)]
pub(crate) struct CredentialCache {
    index: RwLock<Index>,
}

#[derive(Debug, Default)]
struct Index {
    by_hash: HashMap<String, Credential>,
    /// Credential id → token hash.
    hash_of: HashMap<String, String>,
}

impl Index {
    fn insert(&mut self, hash: String, credential: Credential) {
        self.hash_of.insert(credential.id.clone(), hash.clone());
        self.by_hash.insert(hash, credential);
    }
}

impl CredentialCache {
    pub(crate) fn replace(&self, active: Vec<(String, Credential)>) {
        let mut index = Index::default();
        for (hash, credential) in active {
            index.insert(hash, credential);
        }
        *self.index.write().unwrap_or_else(|e| e.into_inner()) = index;
    }

    pub(crate) fn insert(&self, hash: String, credential: Credential) {
        self.index
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash, credential);
    }

    pub(crate) fn remove_id(&self, id: &str) {
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        if let Some(hash) = index.hash_of.remove(id) {
            index.by_hash.remove(&hash);
        }
    }

    fn get(&self, hash: &str) -> Option<Credential> {
        self.index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_hash
            .get(hash)
            .cloned()
    }

    fn contains_id(&self, id: &str) -> bool {
        let index = self.index.read().unwrap_or_else(|e| e.into_inner());
        index
            .hash_of
            .get(id)
            .and_then(|hash| index.by_hash.get(hash))
            .is_some_and(|c| c.is_valid_at(Utc::now()))
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
