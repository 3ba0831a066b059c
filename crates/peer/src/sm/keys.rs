//! Realm-key delivery and rotation — sans-IO (time and the sender's key passed in, tokens
//! out). The rules:
//!
//! - **announce**: on every new direct link, and to a newcomer when we hold no key, we say
//!   which key we hold (`have`) and give our fresh agreement key;
//! - **grant**: whoever holds a higher (epoch, kid) than announced grants its key, encrypted
//!   to the announced agreement key; whoever holds a lower one answers with its own
//!   announcement, so the holder grants it;
//! - **adopt**: a verified grant for a higher key than ours is adopted (the previous key is
//!   kept for a while to open payloads sent just before), and re-announced to everyone
//!   reachable, so concurrent rotations converge on the highest;
//! - **rotation**: the member that removed a device generates epoch + 1 and grants it to
//!   every remaining member that announced itself; the removed device is forgotten and never
//!   gets a grant.
//!
//! Persisting an adopted key is the application's job ([`KeyAction::Adopted`]).

use std::collections::{HashMap, VecDeque};

use skypod_protocol::token::{self, NoClaims, Purpose};
use skypod_protocol::{IdentId, IdentityKey, PublicJwk, RealmId, TokenRules};

use crate::crypto::{self, AgreementKey, AnnounceClaims, GrantClaims, RealmKey};

/// Previous keys kept to open relayed payloads sealed just before a rotation.
const OLD_KEYS: usize = 3;

#[derive(Clone, Debug, PartialEq)]
pub enum KeyAction {
    /// Send this key token to `to` (announce or grant).
    Send { to: IdentId, token: String },
    /// A new realm key is ours (granted, or rotated by us): report it, persist it.
    Adopted(RealmKey),
    /// A key message failed verification and was dropped.
    Rejected { from: IdentId, reason: String },
}

pub struct KeyAgent {
    identity: IdentityKey,
    realm: RealmId,
    rules: TokenRules,
    key: Option<RealmKey>,
    old_keys: Vec<RealmKey>,
    agreement: AgreementKey,
    /// Each member's announced (verified) agreement key, for grants.
    apks: HashMap<IdentId, String>,
    out: VecDeque<KeyAction>,
}

impl KeyAgent {
    pub fn new(identity: IdentityKey, realm: RealmId, key: Option<RealmKey>) -> Self {
        Self {
            identity,
            realm,
            rules: TokenRules::default(),
            key,
            old_keys: vec![],
            agreement: AgreementKey::generate(),
            apks: HashMap::new(),
            out: VecDeque::new(),
        }
    }

    pub fn poll(&mut self) -> Option<KeyAction> {
        self.out.pop_front()
    }

    pub fn key(&self) -> Option<&RealmKey> {
        self.key.as_ref()
    }

    /// The current key first, then the previous ones (to open relayed payloads).
    pub fn keys(&self) -> impl Iterator<Item = &RealmKey> {
        self.key.iter().chain(self.old_keys.iter())
    }

    fn me(&self) -> &IdentId {
        self.identity.identid()
    }

    /// Our signed announcement (agreement key + the key we hold).
    pub fn announce_token(&self, now: i64) -> Option<String> {
        crypto::announce(
            &self.identity,
            &self.agreement,
            self.key.as_ref(),
            &self.realm,
            now,
        )
        .map_err(|e| tracing::error!(error = %e, "cannot sign announcement"))
        .ok()
    }

    /// Announce ourselves to `to`.
    pub fn announce_to(&mut self, to: &IdentId, now: i64) {
        if let Some(token) = self.announce_token(now) {
            self.out.push_back(KeyAction::Send {
                to: to.clone(),
                token,
            });
        }
    }

    /// Whether we hold no key yet (a newcomer should be asked for one).
    pub fn needs_key(&self) -> bool {
        self.key.is_none()
    }

    /// The member went offline: its agreement key was for that process only.
    pub fn forget_apk(&mut self, id: &IdentId) {
        self.apks.remove(id);
    }

    fn reject(&mut self, from: &IdentId, reason: impl Into<String>) {
        self.out.push_back(KeyAction::Rejected {
            from: from.clone(),
            reason: reason.into(),
        });
    }

    fn verify<X: serde::de::DeserializeOwned>(
        &self,
        tok: &str,
        pubkey: &PublicJwk,
        purpose: Purpose,
        now: i64,
    ) -> Result<token::Claims<X>, token::TokenError> {
        token::verify(tok, pubkey, purpose, &self.realm, now, &self.rules)
    }

    /// A key token from member `from` (whose identity key is `pubkey`). `reachable`: every
    /// member to re-announce to if this gives us a new key.
    pub fn on_token(
        &mut self,
        from: &IdentId,
        pubkey: &PublicJwk,
        tok: &str,
        now: i64,
        reachable: &[IdentId],
    ) {
        let aud = match token::peek::<NoClaims>(tok, &self.rules) {
            Ok(c) => c.base.aud,
            Err(e) => return self.reject(from, format!("key message: {e}")),
        };
        match aud.as_str() {
            a if a == Purpose::KeyAnnounce.audience() => {
                let c: token::Claims<AnnounceClaims> =
                    match self.verify(tok, pubkey, Purpose::KeyAnnounce, now) {
                        Ok(c) => c,
                        Err(e) => return self.reject(from, format!("announcement: {e}")),
                    };
                self.apks.insert(from.clone(), c.ext.apk.clone());
                let mine = self.key.as_ref().map(RealmKey::rank);
                if mine > c.ext.have {
                    self.grant_to(from, now);
                } else if c.ext.have > mine {
                    // It holds a newer key: tell it what we have so it grants us.
                    self.announce_to(from, now);
                }
            }
            a if a == Purpose::KeyGrant.audience() => {
                let c: token::Claims<GrantClaims> =
                    match self.verify(tok, pubkey, Purpose::KeyGrant, now) {
                        Ok(c) => c,
                        Err(e) => return self.reject(from, format!("grant: {e}")),
                    };
                let me = self.me().clone();
                match crypto::open_grant(&c, &me, &self.agreement, &self.realm) {
                    Ok(k) => {
                        if Some(k.rank()) > self.key.as_ref().map(RealmKey::rank) {
                            tracing::info!(epoch = k.epoch, %from, "realm key granted");
                            self.adopt(k, now, reachable);
                        }
                    }
                    Err(e) => self.reject(from, format!("grant: {e}")),
                }
            }
            _ => self.reject(from, "unknown key message"),
        }
    }

    fn grant_to(&mut self, to: &IdentId, now: i64) {
        let Some(key) = self.key.clone() else { return };
        let Some(apk) = self.apks.get(to).cloned() else {
            return;
        };
        match crypto::grant(&self.identity, &key, to, &apk, &self.realm, now) {
            Ok(token) => self.out.push_back(KeyAction::Send {
                to: to.clone(),
                token,
            }),
            Err(e) => tracing::warn!(peer = %to, error = %e, "cannot grant the realm key"),
        }
    }

    fn adopt(&mut self, k: RealmKey, now: i64, reachable: &[IdentId]) {
        if let Some(old) = self.key.replace(k.clone()) {
            self.old_keys.insert(0, old);
            self.old_keys.truncate(OLD_KEYS);
        }
        self.out.push_back(KeyAction::Adopted(k));
        // Everyone behind gets a grant, everyone ahead grants us.
        for id in reachable {
            self.announce_to(id, now);
        }
    }

    /// `removed` was removed from the realm by `by`. If we removed it, rotate: a new key for
    /// everyone in `remaining` (announced to `reachable`, granted to those whose agreement
    /// key we know).
    pub fn on_member_removed(
        &mut self,
        removed: &IdentId,
        by: &IdentId,
        now: i64,
        remaining: &[IdentId],
        reachable: &[IdentId],
    ) {
        self.apks.remove(removed);
        if by != self.me() {
            return;
        }
        let epoch = self.key.as_ref().map_or(1, |k| k.epoch + 1);
        tracing::info!(epoch, "rotating the realm key");
        self.adopt(RealmKey::generate(epoch), now, reachable);
        for id in remaining {
            self.grant_to(id, now);
        }
    }
}
