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
/// under one lock; a refresh applies what changed in the store, and now and
/// then replaces them wholesale.
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
    /// Credentials revoked on this instance, by id, with the number of
    /// their removal: a refresh that read the store before the revocation
    /// was committed must not bring them back.
    removed: HashMap<String, u64>,
    /// Insertions and removals on this instance so far.
    changes: u64,
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

    /// Takes credential `id` out of the set and fires its streams' signal.
    fn remove(&mut self, id: &str) {
        if let Some(hash) = self.hash_of.remove(id) {
            self.by_hash.remove(&hash);
            self.local.remove(&hash);
        }
        if let Some(revoked) = self.revocations.remove(id) {
            revoked.cancel();
        }
    }

    /// Whether `id` was revoked here after the read that `mark` started.
    fn removed_after(&self, id: &str, mark: RefreshMark) -> bool {
        self.removed.get(id).is_some_and(|&n| n > mark.0)
    }

    /// Forgets the revocations a read started at `mark` already saw (each
    /// was committed to the store before it was recorded here).
    fn prune_removed(&mut self, mark: RefreshMark) {
        self.removed.retain(|_, n| *n > mark.0);
    }
}

/// Where a read of the store started: what this instance changed after it
/// is newer than what the read returns.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RefreshMark(u64);

impl CredentialCache {
    /// Marks the start of a refresh, before the store is read.
    pub(crate) fn mark(&self) -> RefreshMark {
        RefreshMark(self.index.read().unwrap_or_else(|e| e.into_inner()).changes)
    }

    /// Replaces the set with what the store said at `mark`, keeping the
    /// credentials this instance issued since (their insert may have
    /// committed after the store was read: dropping them would refuse a
    /// token just handed out until the next refresh) and leaving out those
    /// it revoked since. The old set is dropped after the lock is released:
    /// with tens of thousands of credentials that takes milliseconds, and
    /// every call being authenticated would wait for it.
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
        for id in index.removed.keys() {
            if index.removed_after(id, mark) {
                next.remove(id);
            }
        }
        next.removed = std::mem::take(&mut index.removed);
        next.prune_removed(mark);
        next.changes = index.changes;
        for (id, revoked) in std::mem::take(&mut index.revocations) {
            if next.hash_of.contains_key(&id) {
                next.revocations.insert(id, revoked);
            } else {
                revoked.cancel();
            }
        }
        let old = std::mem::replace(&mut *index, next);
        drop(index);
        drop(old);
    }

    /// Applies what changed in the store since an earlier read, read
    /// itself from `mark` on (see
    /// [`samu_store::Store::credentials_changed_since`]): a revoked
    /// credential leaves the set and its streams' signal fires; any other
    /// joins it, or stays, unless this instance revoked it after `mark`.
    /// Applying the same changes twice changes nothing.
    ///
    /// Each read repeats the last minute's changes, so after tokens are
    /// issued in bulk (a fleet's devices at once) the next dozen reads
    /// bring the same thousands again. What the set already holds is
    /// sorted out under the read lock, which calls being authenticated
    /// share; the write lock, which holds them all off, is taken only for
    /// what changes the set.
    pub(crate) fn apply(&self, changes: Vec<(String, Credential)>, mark: RefreshMark) {
        let (changes, nothing_to_prune) = {
            let index = self.index.read().unwrap_or_else(|e| e.into_inner());
            let changes: Vec<(String, Credential)> = changes
                .into_iter()
                .filter(|(hash, credential)| {
                    if credential.revoked_at.is_some() {
                        index.hash_of.contains_key(&credential.id)
                    } else {
                        index.by_hash.get(hash) != Some(credential)
                    }
                })
                .collect();
            (changes, index.removed.is_empty())
        };
        if changes.is_empty() && nothing_to_prune {
            return;
        }
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        for (hash, credential) in changes {
            if credential.revoked_at.is_some() {
                index.remove(&credential.id);
            } else if !index.removed_after(&credential.id, mark) {
                index.insert(hash, credential);
            }
        }
        index.prune_removed(mark);
    }

    pub(crate) fn insert(&self, hash: String, credential: Credential) {
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        index.changes += 1;
        let n = index.changes;
        index.removed.remove(&credential.id);
        index.local.insert(hash.clone(), n);
        index.insert(hash, credential);
    }

    /// Revokes credential `id` here, once the store has it revoked.
    pub(crate) fn remove_id(&self, id: &str) {
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        index.changes += 1;
        let n = index.changes;
        index.removed.insert(id.to_owned(), n);
        index.remove(id);
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

    #[cfg(test)]
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

    /// A signal cancelled when credential `id` is revoked, on this instance
    /// or (seen at the next refresh) on another; already cancelled when it
    /// is not active now. Open streams wait on it, so a revocation ends them
    /// without waiting for a reconnect. Expiry is not signalled: the holder
    /// knows `expires_at`.
    pub fn credential_revocation(&self, id: &str) -> CancellationToken {
        self.inner.credentials.revocation(id)
    }

    /// Resolves when `credential` stops being valid: revoked (see
    /// [`Central::credential_revocation`]) or expired. What a long-lived
    /// stream or socket waits on beside its traffic, registered once for its
    /// whole life instead of polled.
    pub fn credential_ended(
        &self,
        credential: &Credential,
    ) -> impl std::future::Future<Output = CredentialEnd> + Send + 'static {
        let revoked = self.credential_revocation(&credential.id).cancelled_owned();
        let expires_at = credential.expires_at;
        async move {
            tokio::select! {
                () = revoked => CredentialEnd::Revoked,
                () = expiry(expires_at) => CredentialEnd::Expired,
            }
        }
    }
}

/// How a credential stopped being valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialEnd {
    /// Revoked, here or on another instance.
    Revoked,
    /// Past its `expires_at`.
    Expired,
}

/// Resolves when a credential expiring at `at` expires; never for one
/// without an expiry.
async fn expiry(at: Option<chrono::DateTime<Utc>>) {
    match at {
        // A time already past gives a zero wait: it ends at once.
        Some(at) => tokio::time::sleep(samu_domain::time::span(Utc::now(), at)).await,
        None => std::future::pending().await,
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

    fn revoked(id: &str) -> Credential {
        Credential {
            revoked_at: Some(Utc::now()),
            ..credential(id)
        }
    }

    #[test]
    fn changes_from_the_store_add_new_credentials_and_drop_revoked_ones() {
        let cache = CredentialCache::default();
        cache.insert("h-a".into(), credential("a"));
        cache.insert("h-b".into(), credential("b"));
        let b = cache.revocation("b");
        // Another instance issued c and revoked b.
        let mark = cache.mark();
        let changes = vec![
            ("h-c".into(), credential("c")),
            ("h-b".into(), revoked("b")),
        ];
        cache.apply(changes.clone(), mark);
        assert!(cache.get("h-c").is_some() && cache.contains_id("c"));
        assert!(cache.get("h-b").is_none() && !cache.contains_id("b"));
        assert!(b.is_cancelled(), "b's open streams hear of it");
        assert!(cache.get("h-a").is_some(), "what did not change stays");
        // The next read overlaps the last one: the same changes again are
        // no change.
        let mark = cache.mark();
        cache.apply(changes, mark);
        assert!(cache.contains_id("c") && !cache.contains_id("b") && cache.contains_id("a"));
        // Nothing changed, nothing moves.
        let mark = cache.mark();
        cache.apply(Vec::new(), mark);
        assert!(cache.contains_id("a") && cache.contains_id("c"));
    }

    #[test]
    fn a_read_that_repeats_known_credentials_updates_only_what_differs() {
        let cache = CredentialCache::default();
        let issued: Vec<(String, Credential)> = (0..1_000)
            .map(|i| (format!("h-{i}"), credential(&format!("c{i}"))))
            .collect();
        let mark = cache.mark();
        cache.apply(issued.clone(), mark);
        let signal = cache.revocation("c7");
        // The overlapping reads of the next minute bring them all again,
        // one of them with an expiry set since, another revoked since.
        let mut again = issued.clone();
        let expires = Utc::now() + chrono::TimeDelta::hours(1);
        again[3].1.expires_at = Some(expires);
        again[5].1 = revoked("c5");
        let mark = cache.mark();
        cache.apply(again, mark);
        assert_eq!(cache.get("h-3").unwrap().expires_at, Some(expires));
        assert!(!cache.contains_id("c5") && cache.get("h-5").is_none());
        assert!(cache.contains_id("c7") && !signal.is_cancelled());
        // A revoked credential the set no longer holds stays out.
        let mark = cache.mark();
        cache.apply(vec![("h-5".into(), revoked("c5"))], mark);
        assert!(!cache.contains_id("c5"));
        assert_eq!(cache.index.read().unwrap().by_hash.len(), 999);
    }

    #[test]
    fn a_read_from_before_a_revocation_here_does_not_bring_the_credential_back() {
        let cache = CredentialCache::default();
        cache.insert("h-a".into(), credential("a"));
        cache.insert("h-b".into(), credential("b"));
        // A refresh starts and reads the store...
        let mark = cache.mark();
        // ...while a and b are revoked here, after that read.
        cache.remove_id("a");
        cache.remove_id("b");
        // The read still lists them as active.
        cache.apply(vec![("h-a".into(), credential("a"))], mark);
        assert!(!cache.contains_id("a"), "a read of changes keeps a revoked");
        cache.replace(vec![("h-b".into(), credential("b"))], mark);
        assert!(!cache.contains_id("b"), "a full read keeps b revoked");
        // Reads that started after the revocations see them in the store
        // (revoked there first); the marks are forgotten once seen.
        let mark = cache.mark();
        cache.apply(vec![("h-a".into(), revoked("a"))], mark);
        assert!(!cache.contains_id("a"));
        assert!(cache.index.read().unwrap().removed.is_empty());
    }
}
