//! The realm core: [`Presence`] (who is online, direct vs relay) and [`KeyAgent`] (realm-key
//! delivery and rotation) behind one sans-IO interface. Events in, [`RealmAction`]s out,
//! Unix time passed in; the actor in `crate::actor` feeds it what the server and the links
//! say and carries out what it asks. `tests/it/realm_sim.rs` runs several cores on a simulated
//! network with virtual time.

use std::collections::{BTreeMap, VecDeque};

use skypod_protocol::{IdentId, IdentityKey, PublicJwk, RealmId};

use super::keys::{KeyAction, KeyAgent};
use super::presence::{Link, Member, Presence};
use crate::crypto::{self, RealmKey};

#[derive(Clone, Debug, PartialEq)]
pub enum RealmAction {
    /// It came online.
    Joined(IdentId),
    /// It went offline: stop negotiating with it.
    Left(IdentId),
    /// It is online: negotiate a link (`initiate`: offer first).
    Present { peer: IdentId, initiate: bool },
    /// No longer a member: drop its connections and state.
    Forget(IdentId),
    /// Its route changed.
    Route { peer: IdentId, link: Link },
    /// `peer` was removed from the realm by `by`.
    MemberRemoved { peer: IdentId, by: IdentId },
    /// Send a key token: over the direct link when `direct` (falling back to the server if
    /// that send fails), else through the server as a `realm-key` signal.
    SendKey {
        to: IdentId,
        token: String,
        direct: bool,
    },
    /// A new realm key is ours: report it; the application persists it.
    Adopted(RealmKey),
    /// A message from `from` failed verification and was dropped.
    Rejected { from: IdentId, reason: String },
}

pub struct RealmCore {
    me: IdentId,
    realm: RealmId,
    presence: Presence,
    keys: KeyAgent,
    out: VecDeque<RealmAction>,
}

impl RealmCore {
    pub fn new(identity: IdentityKey, realm: RealmId, key: Option<RealmKey>) -> Self {
        let me = identity.identid().clone();
        Self {
            presence: Presence::new(me.clone()),
            keys: KeyAgent::new(identity, realm.clone(), key),
            me,
            realm,
            out: VecDeque::new(),
        }
    }

    pub fn poll(&mut self) -> Option<RealmAction> {
        self.out.pop_front()
    }

    pub fn me(&self) -> &IdentId {
        &self.me
    }

    pub fn member(&self, id: &IdentId) -> Option<&Member> {
        self.presence.member(id)
    }

    pub fn members(&self) -> impl Iterator<Item = (&IdentId, &Member)> {
        self.presence.members()
    }

    pub fn link(&self, id: &IdentId) -> Link {
        self.presence.member(id).map_or(Link::Down, |m| m.link)
    }

    pub fn online_count(&self) -> usize {
        self.presence.online_count()
    }

    pub fn signaling_online(&self) -> bool {
        self.presence.signaling_online()
    }

    pub fn key(&self) -> Option<&RealmKey> {
        self.keys.key()
    }

    /// Move what both machines produced to the output, in order.
    fn pump(&mut self) {
        while let Some(a) = self.presence.poll() {
            if let RealmAction::Left(id) = &a {
                // Its agreement key was for the process that left.
                self.keys.forget_apk(id);
            }
            self.out.push_back(a);
        }
        while let Some(a) = self.keys.poll() {
            self.out.push_back(match a {
                KeyAction::Send { to, token } => {
                    let direct = self.presence.member(&to).is_some_and(|m| m.direct);
                    RealmAction::SendKey { to, token, direct }
                }
                KeyAction::Adopted(k) => RealmAction::Adopted(k),
                KeyAction::Rejected { from, reason } => RealmAction::Rejected { from, reason },
            });
        }
    }

    fn reachable(&self) -> Vec<IdentId> {
        self.presence.reachable().cloned().collect()
    }

    /// The signaling connection went down (or up, before authentication).
    pub fn on_signaling(&mut self, online: bool) {
        self.presence.on_signaling(online);
        self.pump();
    }

    /// The server refused us (we were removed): everyone is gone.
    pub fn on_refused(&mut self) {
        self.presence.on_refused();
        self.pump();
    }

    /// Authenticated on a (re)connect: reconcile presence with the server's view.
    pub fn on_authenticated(
        &mut self,
        identities: &BTreeMap<IdentId, PublicJwk>,
        online: &[IdentId],
    ) {
        self.presence.on_authenticated(identities, online);
        self.pump();
    }

    /// `peer-joined`. A newcomer is asked for the key (through the server: there is no link
    /// yet) when we hold none.
    pub fn on_peer_joined(&mut self, id: &IdentId, pubkey: PublicJwk, now: i64) {
        if !self.presence.on_peer_joined(id, pubkey) {
            return;
        }
        if self.keys.needs_key() {
            self.keys.announce_to(id, now);
        }
        self.pump();
    }

    pub fn on_peer_left(&mut self, id: &IdentId) {
        self.presence.on_peer_left(id);
        self.pump();
    }

    /// A direct link to `id` opened (announce ourselves over it) or closed.
    pub fn on_direct(&mut self, id: &IdentId, up: bool, now: i64) {
        if self.presence.member(id).is_none() {
            return;
        }
        self.presence.on_direct(id, up);
        if up {
            self.keys.announce_to(id, now);
        }
        self.pump();
    }

    /// A member was removed by `by`; if that was us, the key rotates.
    pub fn on_member_removed(&mut self, peer: &IdentId, by: &IdentId, now: i64) {
        if *peer == self.me {
            return;
        }
        self.presence.on_member_removed(peer);
        self.pump();
        self.out.push_back(RealmAction::MemberRemoved {
            peer: peer.clone(),
            by: by.clone(),
        });
        let remaining: Vec<_> = self.presence.members().map(|(id, _)| id.clone()).collect();
        let reachable = self.reachable();
        self.keys
            .on_member_removed(peer, by, now, &remaining, &reachable);
        self.pump();
    }

    /// A key token from `from`, over a link or through the server.
    pub fn on_key_token(&mut self, from: &IdentId, token: &str, now: i64) {
        let Some(pubkey) = self.presence.member(from).map(|m| m.pubkey.clone()) else {
            self.out.push_back(RealmAction::Rejected {
                from: from.clone(),
                reason: "key message from a non-member".into(),
            });
            return;
        };
        let reachable = self.reachable();
        self.keys.on_token(from, &pubkey, token, now, &reachable);
        self.pump();
    }

    /// Open a relayed payload from `from`; `None` (and a `Rejected`) if it is not from a
    /// member or does not open with any key we hold.
    pub fn open_relayed(&mut self, from: &IdentId, payload: &str) -> Option<Vec<u8>> {
        if self.presence.member(from).is_none() {
            self.out.push_back(RealmAction::Rejected {
                from: from.clone(),
                reason: "relayed message from a non-member".into(),
            });
            return None;
        }
        match crypto::open_relay(self.keys.keys(), &self.realm, from, payload) {
            Ok(pt) => Some(pt),
            Err(e) => {
                self.out.push_back(RealmAction::Rejected {
                    from: from.clone(),
                    reason: format!("relayed message: {e}"),
                });
                None
            }
        }
    }

    /// Seal `bytes` for the relay with the current key.
    pub fn seal_relay(&self, bytes: &[u8]) -> Option<String> {
        let key = self.keys.key()?;
        Some(crypto::seal_relay(key, &self.realm, &self.me, bytes))
    }
}
