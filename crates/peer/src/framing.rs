//! Fragment reassembly on the event stream: every message from both paths passes here, in
//! order, so one [`Reassembler`] per sender sees all of its fragments.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;
use skypod_protocol::IdentId;
use skypod_protocol::fragment::{self, Reassembler, ReassemblyLimits};

use crate::api::PeerEvent;

/// Fragment reassembly for received messages, one [`Reassembler`] per sender.
#[derive(Default)]
pub(crate) struct Framing {
    senders: HashMap<IdentId, Reassembler>,
}

impl Framing {
    /// Pass an event through: whole messages and other events as they are, fragments
    /// buffered until their message is complete; a bad fragment becomes `Rejected`.
    pub(crate) fn event(&mut self, ev: PeerEvent, now: Instant) -> Option<PeerEvent> {
        let (from, bytes, via) = match ev {
            PeerEvent::Message { from, bytes, via } if fragment::is_fragment(&bytes) => {
                (from, bytes, via)
            }
            PeerEvent::MemberRemoved { ref peer, .. } => {
                self.senders.remove(peer);
                return Some(ev);
            }
            ev => return Some(ev),
        };
        let r = self
            .senders
            .entry(from.clone())
            .or_insert_with(|| Reassembler::new(ReassemblyLimits::default()));
        let out = r.push(now, &bytes);
        if r.is_idle() {
            self.senders.remove(&from);
        }
        match out {
            Ok(Some(m)) => Some(PeerEvent::Message {
                from,
                bytes: Bytes::from(m),
                via,
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::debug!(%from, error = %e, "fragment refused");
                Some(PeerEvent::Rejected {
                    from,
                    reason: format!("fragment: {e}"),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Via;
    use skypod_protocol::IdentityKey;
    use skypod_protocol::fragment::Fragment;

    fn id(n: u8) -> IdentId {
        IdentityKey::ed25519_from_secret(&[n; 32]).identid().clone()
    }

    fn msg(from: &IdentId, bytes: Vec<u8>) -> PeerEvent {
        PeerEvent::Message {
            from: from.clone(),
            bytes: Bytes::from(bytes),
            via: Via::Relay,
        }
    }

    #[test]
    fn framing_reassembles_per_sender_and_rejects_bad_fragments() {
        let (a, b) = (id(1), id(2));
        let now = Instant::now();
        let mut f = Framing::default();
        let whole = msg(&a, b"plain".to_vec());
        assert_eq!(f.event(whole.clone(), now), Some(whole));

        let big: Vec<u8> = (0..100u8).collect();
        let parts = fragment::split(&big, 50, 3).unwrap();
        let other = fragment::split(&[7; 100], 50, 3).unwrap();
        assert_eq!(f.event(msg(&a, parts[0].clone()), now), None);
        assert_eq!(f.event(msg(&b, other[0].clone()), now), None);
        for p in &parts[1..parts.len() - 1] {
            assert_eq!(f.event(msg(&a, p.clone()), now), None);
        }
        assert_eq!(
            f.event(msg(&a, parts.last().unwrap().clone()), now),
            Some(msg(&a, big))
        );

        let bad = Fragment {
            id: 9,
            index: 0,
            count: 1000,
            total: 100,
            payload: &[0; 50],
        }
        .encode();
        match f.event(msg(&a, bad), now) {
            Some(PeerEvent::Rejected { from, reason }) => {
                assert_eq!(from, a);
                assert!(reason.contains("fragment"), "{reason}");
            }
            e => panic!("{e:?}"),
        }
        // A removed member's partial messages are dropped.
        assert!(f.senders.contains_key(&b));
        let removed = PeerEvent::MemberRemoved {
            peer: b.clone(),
            by: a.clone(),
        };
        assert_eq!(f.event(removed.clone(), now), Some(removed));
        assert!(!f.senders.contains_key(&b));
    }
}
