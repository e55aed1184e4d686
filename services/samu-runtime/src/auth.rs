//! Authenticating bearer tokens against the in-memory credential cache.

use std::{collections::HashMap, sync::RwLock};

use chrono::Utc;
use samu_store::{credentials::token_hash, Credential};
use tokio_util::sync::CancellationToken;

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
/// id (to revoke one, and to tell open streams theirs was). The indexes live
/// under one lock and are replaced wholesale on refresh.
#[derive(Debug, Default)]
pub(crate) struct CredentialCache {
    index: RwLock<Index>,
}

#[derive(Debug, Default)]
struct Index {
    by_hash: HashMap<String, Credential>,
    /// Credential id → token hash.
    hash_of: HashMap<String, String>,
    /// Credentials issued on this instance, by hash, with the number of
    /// their insertion: a refresh that read the store before one was
    /// committed must not drop it.
    local: HashMap<String, u64>,
    /// Insertions so far.
    inserted: u64,
    /// Credential id → the signal its open streams wait on, cancelled when
    /// the credential leaves the set (revoked here, or gone from the
    /// store's active set at a refresh). A stream waits on it instead of
    /// polling: 10 000 streams checking every two seconds were 5 000
    /// wake-ups a second for nothing.
    revocations: HashMap<String, CancellationToken>,
}

impl Index {
    fn insert(&mut self, hash: String, credential: Credential) {
        self.hash_of.insert(credential.id.clone(), hash.clone());
        self.by_hash.insert(hash, credential);
    }
}

/// Where a refresh started: credentials inserted after it survive it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RefreshMark(u64);

impl CredentialCache {
    /// Marks the start of a refresh, before the store is read.
    pub(crate) fn mark(&self) -> RefreshMark {
        RefreshMark(
            self.index
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .inserted,
        )
    }

    /// Replaces the set with what the store said at `mark`, keeping the
    /// credentials this instance issued since (their insert may have
    /// committed after the store was read: dropping them would refuse a
    /// token just handed out until the next refresh).
    pub(crate) fn replace(&self, active: Vec<(String, Credential)>, mark: RefreshMark) {
        let mut next = Index::default();
        for (hash, credential) in active {
            next.insert(hash, credential);
        }
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        for (hash, &n) in &index.local {
            if n > mark.0 && !next.by_hash.contains_key(hash) {
                if let Some(credential) = index.by_hash.get(hash) {
                    next.insert(hash.clone(), credential.clone());
                    next.local.insert(hash.clone(), n);
                }
            }
        }
        next.inserted = index.inserted;
        for (id, revoked) in std::mem::take(&mut index.revocations) {
            if next.hash_of.contains_key(&id) {
                next.revocations.insert(id, revoked);
            } else {
                revoked.cancel();
            }
        }
        *index = next;
    }

    pub(crate) fn insert(&self, hash: String, credential: Credential) {
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        index.inserted += 1;
        let n = index.inserted;
        index.local.insert(hash.clone(), n);
        index.insert(hash, credential);
    }

    pub(crate) fn remove_id(&self, id: &str) {
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        if let Some(hash) = index.hash_of.remove(id) {
            index.by_hash.remove(&hash);
            index.local.remove(&hash);
        }
        if let Some(revoked) = index.revocations.remove(id) {
            revoked.cancel();
        }
    }

    /// The signal cancelled when credential `id` leaves the set; already
    /// cancelled when it is not in the set now.
    fn revocation(&self, id: &str) -> CancellationToken {
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        if !index.hash_of.contains_key(id) {
            let revoked = CancellationToken::new();
            revoked.cancel();
            return revoked;
        }
        index.revocations.entry(id.to_owned()).or_default().clone()
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

    /// Whether a credential is still valid.
    pub fn credential_is_valid(&self, id: &str) -> bool {
        self.inner.credentials.contains_id(id)
    }

    /// A signal cancelled when credential `id` is revoked, on this instance
    /// or (seen at the next refresh) on another; already cancelled when it
    /// is not active now. Open streams wait on it, so a revocation ends them
    /// without waiting for a reconnect. Expiry is not signalled: the holder
    /// knows `expires_at`.
    pub fn credential_revocation(&self, id: &str) -> CancellationToken {
        self.inner.credentials.revocation(id)
    }
}

#[cfg(test)]
mod tests {
    use samu_store::Role;

    use super::*;

    fn credential(id: &str) -> Credential {
        Credential {
            id: id.into(),
            role: Role::Device,
            unit: None,
            label: id.into(),
            created_at: Utc::now(),
            expires_at: None,
            revoked_at: None,
            user_id: None,
            central: None,
        }
    }

    #[test]
    fn a_refresh_that_read_the_store_too_early_keeps_a_token_just_issued() {
        let cache = CredentialCache::default();
        cache.insert("h-old".into(), credential("old"));
        // A refresh starts and reads the store...
        let mark = cache.mark();
        // ...while a token is issued here and committed after that read.
        cache.insert("h-new".into(), credential("new"));
        cache.replace(vec![("h-old".into(), credential("old"))], mark);
        assert!(cache.get("h-new").is_some(), "the new token survives");
        assert!(cache.contains_id("new"));
        // The next refresh reads it from the store, or drops it if revoked
        // elsewhere meanwhile.
        let mark = cache.mark();
        cache.replace(vec![("h-old".into(), credential("old"))], mark);
        assert!(cache.get("h-new").is_none());
        // Tokens issued before the refresh started are the store's to keep.
        let mark = cache.mark();
        cache.replace(Vec::new(), mark);
        assert!(cache.get("h-old").is_none());
    }

    #[test]
    fn revocation_signals_fire_when_their_credential_leaves_and_only_then() {
        let cache = CredentialCache::default();
        cache.insert("h-a".into(), credential("a"));
        cache.insert("h-b".into(), credential("b"));
        let a = cache.revocation("a");
        let a_again = cache.revocation("a");
        let b = cache.revocation("b");
        assert!(!a.is_cancelled() && !b.is_cancelled());
        // A refresh that keeps both keeps their signals quiet...
        let mark = cache.mark();
        cache.replace(
            vec![
                ("h-a".into(), credential("a")),
                ("h-b".into(), credential("b")),
            ],
            mark,
        );
        assert!(!a.is_cancelled() && !b.is_cancelled());
        // ...one that no longer lists b (revoked on another instance) fires b's.
        let mark = cache.mark();
        cache.replace(vec![("h-a".into(), credential("a"))], mark);
        assert!(b.is_cancelled());
        assert!(!a.is_cancelled());
        // Revoked here: every stream of a hears it.
        cache.remove_id("a");
        assert!(a.is_cancelled() && a_again.is_cancelled());
        // A credential not in the set is already revoked for a new stream.
        assert!(cache.revocation("a").is_cancelled());
        assert!(cache.revocation("never-issued").is_cancelled());
    }
}
