//! Several realm cores (`sm::realm::RealmCore`) on a simulated network with virtual time:
//! a server that authenticates, announces presence and relays; direct links that a test can
//! forbid or break; every message delayed by a latency and delivered in time order. No
//! sockets, no sleeps, no WebRTC — each test runs in milliseconds. (The model is str0m's
//! `Netem` tests.) The same rules are exercised end to end, with real WebRTC and a real
//! server, in `mesh.rs`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use skypod_peer::Link;
use skypod_peer::RealmKey;
use skypod_peer::sm::realm::{RealmAction, RealmCore};
use skypod_protocol::{IdentId, IdentityKey, PublicJwk, RealmId};

/// Virtual clock start (Unix seconds) and one-way latencies (milliseconds).
const T0: i64 = 1_800_000_000;
const SERVER_MS: u64 = 20;
const LINK_MS: u64 = 5;
const CONNECT_MS: u64 = 300;

#[derive(Debug)]
enum Deliver {
    /// A key token, over a link or through the server.
    Key {
        from: IdentId,
        to: IdentId,
        token: String,
        direct: bool,
    },
    /// A direct link finished connecting.
    LinkUp(IdentId, IdentId),
}

struct Node {
    core: RealmCore,
    /// Every action the core produced, in order.
    log: Vec<RealmAction>,
}

struct Net {
    now_ms: u64,
    realm: RealmId,
    nodes: BTreeMap<IdentId, Node>,
    /// The server's registry and who it sees connected.
    members: BTreeMap<IdentId, PublicJwk>,
    connected: BTreeSet<IdentId>,
    server_up: bool,
    /// Open direct links (pairs in order), and pairs that can never connect (NAT, firewall).
    links: BTreeSet<(IdentId, IdentId)>,
    blocked: BTreeSet<(IdentId, IdentId)>,
    queue: VecDeque<(u64, Deliver)>,
}

fn pair(a: &IdentId, b: &IdentId) -> (IdentId, IdentId) {
    if a < b {
        (a.clone(), b.clone())
    } else {
        (b.clone(), a.clone())
    }
}

impl Net {
    fn new() -> Self {
        Self {
            now_ms: 0,
            realm: RealmId::random(),
            nodes: BTreeMap::new(),
            members: BTreeMap::new(),
            connected: BTreeSet::new(),
            server_up: true,
            links: BTreeSet::new(),
            blocked: BTreeSet::new(),
            queue: VecDeque::new(),
        }
    }

    fn unix(&self) -> i64 {
        T0 + (self.now_ms / 1000) as i64
    }

    /// A member device (registered with the server), holding `key` if given.
    fn member(&mut self, n: u8, key: Option<RealmKey>) -> IdentId {
        let k = IdentityKey::ed25519_from_secret(&[n; 32]);
        let id = k.identid().clone();
        self.members.insert(id.clone(), k.public_jwk().clone());
        let core = RealmCore::new(k, self.realm.clone(), key);
        self.nodes.insert(id.clone(), Node { core, log: vec![] });
        id
    }

    fn core(&mut self, id: &IdentId) -> &mut RealmCore {
        &mut self.nodes.get_mut(id).expect("node").core
    }

    fn key_of(&self, id: &IdentId) -> Option<RealmKey> {
        self.nodes[id].core.key().cloned()
    }

    fn link_of(&self, id: &IdentId, to: &IdentId) -> Link {
        self.nodes[id].core.link(to)
    }

    fn log(&self, id: &IdentId) -> &[RealmAction] {
        &self.nodes[id].log
    }

    fn send(&mut self, after_ms: u64, d: Deliver) {
        let at = self.now_ms + after_ms;
        let i = self.queue.partition_point(|(t, _)| *t <= at);
        self.queue.insert(i, (at, d));
    }

    /// The device connects to the server and authenticates.
    fn connect(&mut self, id: &IdentId) {
        assert!(self.server_up);
        self.connected.insert(id.clone());
        let others: Vec<_> = self
            .connected
            .iter()
            .filter(|o| *o != id)
            .cloned()
            .collect();
        let members = self.members.clone();
        self.core(id).on_authenticated(&members, &others);
        let jwk = self.members[id].clone();
        let now = self.unix();
        for o in others {
            self.core(&o).on_peer_joined(id, jwk.clone(), now);
        }
        self.pump();
    }

    /// The server goes away: every socket drops, no `peer-left` is sent.
    fn server_crash(&mut self) {
        self.server_up = false;
        for id in std::mem::take(&mut self.connected) {
            self.core(&id).on_signaling(false);
        }
        self.pump();
    }

    /// `by` removes `target` (the server's response to `by`, `member.removed` to the others,
    /// the removed device refused).
    fn remove(&mut self, by: &IdentId, target: &IdentId) {
        self.members.remove(target);
        self.connected.remove(target);
        self.core(target).on_refused();
        let now = self.unix();
        for id in self.connected.clone() {
            self.core(&id).on_member_removed(target, by, now);
        }
        self.pump();
    }

    /// A direct link fails (both sides see their channel close).
    fn break_link(&mut self, a: &IdentId, b: &IdentId) {
        if self.links.remove(&pair(a, b)) {
            let now = self.unix();
            self.core(a).on_direct(b, false, now);
            self.core(b).on_direct(a, false, now);
        }
        self.pump();
    }

    /// Relay `bytes` from `from` to `to` through the server, as the actor would.
    fn relay(&mut self, from: &IdentId, to: &IdentId, bytes: &[u8]) -> Option<Vec<u8>> {
        if !(self.connected.contains(from) && self.connected.contains(to)) {
            return None;
        }
        let sealed = self.nodes[from].core.seal_relay(bytes)?;
        let opened = self.core(to).open_relayed(from, &sealed);
        self.pump();
        opened
    }

    /// Carry out every core's actions: the simulated IO layer.
    fn pump(&mut self) {
        loop {
            let mut any = false;
            let ids: Vec<_> = self.nodes.keys().cloned().collect();
            for id in ids {
                while let Some(a) = self.core(&id).poll() {
                    any = true;
                    self.nodes.get_mut(&id).unwrap().log.push(a.clone());
                    self.carry_out(&id, a);
                }
            }
            if !any {
                return;
            }
        }
    }

    fn carry_out(&mut self, me: &IdentId, a: RealmAction) {
        match a {
            RealmAction::Present { peer, .. } => {
                // Negotiation (tested on its own in sm::negotiation) either connects the
                // pair after a while or never does.
                let p = pair(me, &peer);
                if !self.blocked.contains(&p) && !self.links.contains(&p) {
                    self.send(CONNECT_MS, Deliver::LinkUp(p.0, p.1));
                }
            }
            RealmAction::Left(peer) | RealmAction::Forget(peer) => {
                // The actor closes its connections to it; the other side sees them close.
                if self.links.remove(&pair(me, &peer)) {
                    let now = self.unix();
                    self.core(me).on_direct(&peer, false, now);
                    if self.nodes.contains_key(&peer) {
                        self.core(&peer).on_direct(me, false, now);
                    }
                }
            }
            RealmAction::SendKey { to, token, direct } => {
                let latency = if direct { LINK_MS } else { SERVER_MS };
                self.send(
                    latency,
                    Deliver::Key {
                        from: me.clone(),
                        to,
                        token,
                        direct,
                    },
                );
            }
            RealmAction::Joined(_)
            | RealmAction::Route { .. }
            | RealmAction::MemberRemoved { .. }
            | RealmAction::Adopted(_)
            | RealmAction::Rejected { .. } => {}
        }
    }

    /// Advance virtual time by `ms`, delivering everything due on the way.
    fn advance(&mut self, ms: u64) {
        let until = self.now_ms + ms;
        while let Some((at, _)) = self.queue.front() {
            if *at > until {
                break;
            }
            let (at, d) = self.queue.pop_front().unwrap();
            self.now_ms = at;
            self.deliver(d);
            self.pump();
        }
        self.now_ms = until;
    }

    fn deliver(&mut self, d: Deliver) {
        let now = self.unix();
        match d {
            Deliver::Key {
                from,
                to,
                token,
                direct,
            } => {
                let arrives = if direct {
                    self.links.contains(&pair(&from, &to))
                } else {
                    self.server_up && self.connected.contains(&from) && self.connected.contains(&to)
                };
                if arrives && self.nodes.contains_key(&to) {
                    self.core(&to).on_key_token(&from, &token, now);
                }
            }
            Deliver::LinkUp(a, b) => {
                let p = pair(&a, &b);
                let both_members = self.members.contains_key(&a) && self.members.contains_key(&b);
                if both_members && !self.blocked.contains(&p) && self.links.insert(p) {
                    self.core(&a).on_direct(&b, true, now);
                    self.core(&b).on_direct(&a, true, now);
                }
            }
        }
    }
}

fn adopted(log: &[RealmAction]) -> Vec<u64> {
    log.iter()
        .filter_map(|a| match a {
            RealmAction::Adopted(k) => Some(k.epoch),
            _ => None,
        })
        .collect()
}

/// Three members, A holding the key; `blocked` pairs (0 = A, 1 = B, 2 = C) never link;
/// they come online in `order`, a second apart.
fn three_with(blocked: &[(usize, usize)], order: [usize; 3]) -> (Net, IdentId, IdentId, IdentId) {
    let mut net = Net::new();
    let ids = [
        net.member(1, Some(RealmKey::generate(1))),
        net.member(2, None),
        net.member(3, None),
    ];
    for &(x, y) in blocked {
        net.blocked.insert(pair(&ids[x], &ids[y]));
    }
    for i in order {
        net.connect(&ids[i]);
        net.advance(1_000);
    }
    let [a, b, c] = ids;
    (net, a, b, c)
}

/// Three members online with a full mesh and the key delivered.
fn three() -> (Net, IdentId, IdentId, IdentId) {
    three_with(&[], [0, 1, 2])
}

#[test]
fn the_key_reaches_every_member_over_links_or_through_the_server() {
    // A can never reach anyone directly. B, online without a key, asks the newcomer A
    // through the server and is granted through the server; C gets it from B over a link.
    let (mut net, a, b, c) = three_with(&[(0, 1), (0, 2)], [1, 0, 2]);
    let want = net.key_of(&a).unwrap();
    assert_eq!(net.key_of(&b), Some(want.clone()));
    assert_eq!(net.key_of(&c), Some(want));
    let sent_by = |id: &IdentId, direct: bool| {
        net.log(id)
            .iter()
            .filter(|x| matches!(x, RealmAction::SendKey { direct: d, .. } if *d == direct))
            .count()
    };
    assert!(sent_by(&a, false) > 0, "A granted through the server");
    assert!(sent_by(&b, true) > 0, "B granted over its link");
    assert_eq!(net.link_of(&b, &c), Link::P2p);
    assert_eq!(net.link_of(&a, &c), Link::Relay);
    assert_eq!(net.relay(&a, &c, b"hi").as_deref(), Some(&b"hi"[..]));
}

#[test]
fn key_rotation_after_removal() {
    let (mut net, a, b, c) = three();
    let epoch1 = net.key_of(&a).unwrap();
    assert_eq!(net.key_of(&c), Some(epoch1.clone()));

    net.remove(&a, &c);
    net.advance(1_000);

    let rotated = net.key_of(&a).unwrap();
    assert_eq!(rotated.epoch, 2, "the remover rotates");
    assert_eq!(net.key_of(&b), Some(rotated.clone()), "the others get it");
    assert_eq!(
        net.key_of(&c),
        Some(epoch1),
        "the removed device keeps the old one"
    );
    assert_eq!(adopted(net.log(&c)), vec![1], "and never gets a grant");
    assert!(net.log(&a).contains(&RealmAction::MemberRemoved {
        peer: c.clone(),
        by: a.clone()
    }));
    // What A relays now opens for B and not with the key C holds.
    assert_eq!(
        net.relay(&a, &b, b"secret").as_deref(),
        Some(&b"secret"[..])
    );
    let sealed = net.nodes[&a].core.seal_relay(b"secret").unwrap();
    let old = [net.key_of(&c).unwrap()];
    assert!(skypod_peer::crypto::open_relay(&old, &net.realm, &a, &sealed).is_err());
    // C is gone from everyone's mesh.
    assert!(net.nodes[&b].core.member(&c).is_none());
    assert_eq!(net.link_of(&b, &c), Link::Down);
}

#[test]
fn presence_after_a_server_restart() {
    // A reaches C only through the server.
    let (mut net, a, b, c) = three_with(&[(0, 2)], [0, 1, 2]);
    assert_eq!(net.link_of(&a, &b), Link::P2p);
    assert_eq!(net.link_of(&a, &c), Link::Relay);

    net.server_crash();
    assert_eq!(
        net.link_of(&a, &b),
        Link::P2p,
        "the mesh does not need the server"
    );
    assert_eq!(net.link_of(&a, &c), Link::Down, "no server, no relay");
    net.server_up = true;
    let seen = net.log(&a).len();

    // A is back first: the server lists nobody online yet.
    net.connect(&a);
    let after: Vec<_> = net.log(&a)[seen..].to_vec();
    let b_info = net.nodes[&a].core.member(&b).unwrap();
    assert!(b_info.online, "a live direct link keeps B online");
    assert!(
        !net.nodes[&a].core.member(&c).unwrap().online,
        "C is offline"
    );
    assert!(after.contains(&RealmAction::Left(c.clone())));
    assert!(!after.contains(&RealmAction::Left(b.clone())));

    // Then B and C: C comes back (once), B was never gone.
    net.connect(&b);
    net.connect(&c);
    net.advance(1_000);
    let after: Vec<_> = net.log(&a)[seen..].to_vec();
    let joined = |id: &IdentId| {
        after
            .iter()
            .filter(|x| **x == RealmAction::Joined(id.clone()))
            .count()
    };
    assert_eq!(joined(&c), 1);
    assert_eq!(joined(&b), 0);
    assert_eq!(net.link_of(&a, &b), Link::P2p);
    assert_eq!(net.link_of(&a, &c), Link::Relay);
}

#[test]
fn relay_fallback_when_a_link_fails() {
    let (mut net, a, b, _c) = three();
    assert_eq!(net.link_of(&a, &b), Link::P2p);
    // No realm traffic is lost: the route switches to the relay at once, on both sides.
    net.blocked.insert(pair(&a, &b));
    net.break_link(&a, &b);
    assert_eq!(net.link_of(&a, &b), Link::Relay);
    assert_eq!(net.link_of(&b, &a), Link::Relay);
    assert!(net.log(&a).contains(&RealmAction::Route {
        peer: b.clone(),
        link: Link::Relay
    }));
    assert_eq!(
        net.relay(&a, &b, b"over the relay").as_deref(),
        Some(&b"over the relay"[..])
    );
    // Without the server there is no route at all.
    net.server_crash();
    assert_eq!(net.link_of(&a, &b), Link::Down);
    // The link comes back: direct again, server or not.
    net.blocked.remove(&pair(&a, &b));
    net.send(0, Deliver::LinkUp(a.clone(), b.clone()));
    net.advance(10);
    assert_eq!(net.link_of(&a, &b), Link::P2p);
}

#[test]
fn a_key_token_delayed_past_its_lifetime_is_refused() {
    let mut net = Net::new();
    let a = net.member(1, Some(RealmKey::generate(1)));
    let b = net.member(2, None);
    net.blocked.insert(pair(&a, &b));
    // B, online without a key, announces itself to the newcomer A through the server.
    net.connect(&b);
    net.connect(&a);
    // Hold that announcement in flight for 10 minutes of virtual time.
    let held: Vec<_> = net.queue.drain(..).map(|(_, d)| d).collect();
    assert!(!held.is_empty());
    net.advance(600_000);
    for d in held {
        net.deliver(d);
        net.pump();
        net.advance(1_000);
    }
    assert_eq!(net.key_of(&b), None);
    assert!(
        net.log(&a).iter().chain(net.log(&b)).any(
            |x| matches!(x, RealmAction::Rejected { reason, .. } if reason.contains("expired"))
        )
    );
}
