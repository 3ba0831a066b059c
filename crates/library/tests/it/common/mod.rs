//! In-memory transport for sync tests: nodes exchange the real Automerge sync messages
//! through queues, like the mesh would with `send(peer, bytes)` / `on_message(peer, bytes)`.
#![allow(dead_code)]

use std::collections::{BTreeSet, VecDeque};

use skypod_library::{Library, SyncHub, SyncPeer};

pub struct Node {
    pub id: String,
    pub lib: Library,
    pub hub: SyncHub,
    /// Saved per-peer states while disconnected (what `Store::save_peer_state` keeps).
    pub saved: std::collections::BTreeMap<String, Vec<u8>>,
}

impl Node {
    pub fn new(id: &str) -> Self {
        Self {
            id: id.into(),
            lib: Library::new(id).expect("new library"),
            hub: SyncHub::new(),
            saved: Default::default(),
        }
    }
}

#[derive(Default)]
pub struct Net {
    pub links: BTreeSet<(usize, usize)>,
    queue: VecDeque<(usize, usize, Vec<u8>)>,
    pub bytes: u64,
    pub messages: u64,
}

impl Net {
    pub fn connect(&mut self, nodes: &mut [Node], a: usize, b: usize) {
        let (ida, idb) = (nodes[a].id.clone(), nodes[b].id.clone());
        let sa = nodes[a]
            .saved
            .get(&idb)
            .map(|s| SyncPeer::restore(s).expect("state"));
        let sb = nodes[b]
            .saved
            .get(&ida)
            .map(|s| SyncPeer::restore(s).expect("state"));
        nodes[a].hub.connect(&idb, sa);
        nodes[b].hub.connect(&ida, sb);
        self.links.insert((a.min(b), a.max(b)));
    }

    pub fn disconnect_all(&mut self, nodes: &mut [Node]) {
        for &(a, b) in &self.links.clone() {
            let (ida, idb) = (nodes[a].id.clone(), nodes[b].id.clone());
            if let Some(s) = nodes[a].hub.disconnect(&idb) {
                nodes[a].saved.insert(idb.clone(), s.save());
            }
            if let Some(s) = nodes[b].hub.disconnect(&ida) {
                nodes[b].saved.insert(ida.clone(), s.save());
            }
        }
        self.links.clear();
        // In-flight messages are lost with the connection.
        self.queue.clear();
    }

    /// Exchange messages until every node is quiet. Returns rounds used.
    pub fn run(&mut self, nodes: &mut [Node]) -> usize {
        let ids: Vec<String> = nodes.iter().map(|n| n.id.clone()).collect();
        let idx = |id: &str| ids.iter().position(|x| x == id).expect("known peer");
        for round in 0..1000 {
            for (i, n) in nodes.iter_mut().enumerate() {
                for (peer, bytes) in n.hub.outgoing(&mut n.lib) {
                    self.queue.push_back((i, idx(&peer), bytes));
                }
            }
            if self.queue.is_empty() {
                return round;
            }
            while let Some((from, to, bytes)) = self.queue.pop_front() {
                self.bytes += bytes.len() as u64;
                self.messages += 1;
                let from_id = ids[from].clone();
                let n = &mut nodes[to];
                n.hub
                    .receive(&mut n.lib, &from_id, &bytes)
                    .expect("receive sync message");
            }
        }
        panic!("sync did not converge in 1000 rounds");
    }
}
