//! Who is in the realm, who is online, and how each member is reached — sans-IO.
//!
//! Inputs are what the server says (authentication response, `peer-joined`, `peer-left`,
//! removals), the signaling connection's state, and whether a direct link to a member is up.
//! Outputs are [`RealmAction`]s (`Joined`, `Left`, `Present`, `Forget`, `Route`). Two rules live here and nowhere else:
//!
//! - **Reconciliation after a (re)connect**: members the server no longer knows were removed
//!   while we were away and are forgotten; members it does not list as online are offline —
//!   unless a direct link to them is still alive (the server restarted; the mesh does not
//!   depend on it); members it lists are present, and we offer to them (they were first).
//! - **Direct vs relay**: a member with a direct link is reached [`Link::P2p`]; one that is
//!   online while our signaling connection is up is reached through the encrypted relay;
//!   anything else is [`Link::Down`].

use std::collections::{BTreeMap, VecDeque};

use skypod_protocol::{IdentId, PublicJwk};

use super::realm::RealmAction;

/// How a member is reached now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    P2p,
    Relay,
    Down,
}

#[derive(Clone, Debug)]
pub struct Member {
    pub pubkey: PublicJwk,
    /// The server lists it as online (or its direct link kept it so).
    pub online: bool,
    /// A direct data channel to it is open.
    pub direct: bool,
    /// The route last reported.
    pub link: Link,
}

#[derive(Debug)]
pub struct Presence {
    me: IdentId,
    signaling_online: bool,
    members: BTreeMap<IdentId, Member>,
    out: VecDeque<RealmAction>,
}

impl Presence {
    pub fn new(me: IdentId) -> Self {
        Self {
            me,
            signaling_online: false,
            members: BTreeMap::new(),
            out: VecDeque::new(),
        }
    }

    pub fn poll(&mut self) -> Option<RealmAction> {
        self.out.pop_front()
    }

    pub fn member(&self, id: &IdentId) -> Option<&Member> {
        self.members.get(id)
    }

    pub fn members(&self) -> impl Iterator<Item = (&IdentId, &Member)> {
        self.members.iter()
    }

    /// Members that are online or directly linked (the ones a broadcast should reach).
    pub fn reachable(&self) -> impl Iterator<Item = &IdentId> {
        self.members
            .iter()
            .filter(|(_, m)| m.online || m.direct)
            .map(|(id, _)| id)
    }

    pub fn online_count(&self) -> usize {
        self.members.values().filter(|m| m.online).count()
    }

    pub fn signaling_online(&self) -> bool {
        self.signaling_online
    }

    /// The direct-vs-relay decision.
    fn route_of(&self, m: &Member) -> Link {
        if m.direct {
            Link::P2p
        } else if m.online && self.signaling_online {
            Link::Relay
        } else {
            Link::Down
        }
    }

    fn update_route(&mut self, id: &IdentId) {
        let Some(m) = self.members.get(id) else {
            return;
        };
        let link = self.route_of(m);
        if m.link != link {
            if let Some(m) = self.members.get_mut(id) {
                m.link = link;
            }
            self.out.push_back(RealmAction::Route {
                peer: id.clone(),
                link,
            });
        }
    }

    fn update_routes(&mut self) {
        let ids: Vec<_> = self.members.keys().cloned().collect();
        for id in ids {
            self.update_route(&id);
        }
    }

    fn know(&mut self, id: &IdentId, pubkey: PublicJwk) {
        self.members
            .entry(id.clone())
            .and_modify(|m| m.pubkey = pubkey.clone())
            .or_insert(Member {
                pubkey,
                online: false,
                direct: false,
                link: Link::Down,
            });
    }

    fn present(&mut self, id: &IdentId, pubkey: PublicJwk, initiate: bool) {
        self.know(id, pubkey);
        let m = self.members.get_mut(id).expect("just inserted");
        let was = m.online;
        m.online = true;
        self.out.push_back(RealmAction::Present {
            peer: id.clone(),
            initiate,
        });
        if !was {
            self.out.push_back(RealmAction::Joined(id.clone()));
        }
        self.update_route(id);
    }

    fn gone(&mut self, id: &IdentId) {
        let Some(m) = self.members.get_mut(id) else {
            return;
        };
        let was = m.online;
        m.online = false;
        if was {
            self.out.push_back(RealmAction::Left(id.clone()));
        }
    }

    fn forget(&mut self, id: &IdentId) {
        if self.members.remove(id).is_some() {
            self.out.push_back(RealmAction::Forget(id.clone()));
        }
    }

    /// The signaling connection went up or down (before or without authentication).
    pub fn on_signaling(&mut self, online: bool) {
        self.signaling_online = online;
        self.update_routes();
    }

    /// We were refused (removed from the realm): every member is gone.
    pub fn on_refused(&mut self) {
        self.signaling_online = false;
        let ids: Vec<_> = self.members.keys().cloned().collect();
        for id in &ids {
            self.gone(id);
        }
        self.update_routes();
    }

    /// Authenticated on a (re)connect: `identities` are all members, `online` the ones the
    /// server sees online now.
    pub fn on_authenticated(
        &mut self,
        identities: &BTreeMap<IdentId, PublicJwk>,
        online: &[IdentId],
    ) {
        self.signaling_online = true;
        let removed: Vec<_> = self
            .members
            .keys()
            .filter(|id| !identities.contains_key(*id))
            .cloned()
            .collect();
        for id in removed {
            self.gone(&id);
            self.forget(&id);
        }
        for (id, jwk) in identities {
            if *id != self.me {
                self.know(id, jwk.clone());
            }
        }
        let offline: Vec<_> = self
            .members
            .iter()
            .filter(|(id, m)| m.online && !m.direct && !online.contains(id))
            .map(|(id, _)| id.clone())
            .collect();
        for id in offline {
            self.gone(&id);
        }
        for id in online {
            if *id == self.me {
                continue;
            }
            if let Some(jwk) = identities.get(id).cloned() {
                // They were here first: we offer.
                self.present(id, jwk, true);
            }
        }
        self.update_routes();
    }

    /// `peer-joined`: a member came online. Returns false (and changes nothing) for ourselves
    /// or a key that does not match the id.
    pub fn on_peer_joined(&mut self, id: &IdentId, pubkey: PublicJwk) -> bool {
        if *id == self.me || pubkey.thumbprint() != *id {
            return false;
        }
        // The newcomer offers to us; we only wait (and offer if it does not).
        self.present(id, pubkey, false);
        true
    }

    pub fn on_peer_left(&mut self, id: &IdentId) {
        self.gone(id);
    }

    /// A member was removed from the realm: gone and forgotten.
    pub fn on_member_removed(&mut self, id: &IdentId) {
        self.gone(id);
        self.forget(id);
    }

    /// A direct link to `id` opened or closed.
    pub fn on_direct(&mut self, id: &IdentId, up: bool) {
        if let Some(m) = self.members.get_mut(id) {
            m.direct = up;
        }
        self.update_route(id);
    }
}
