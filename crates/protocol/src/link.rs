//! Peer-to-peer link facts both peers (native `crates/peer` and the web app) must agree on:
//! the data channel's label and frame tags, message size limits, relay pacing, and the
//! timing policy of a link. One owner: the web app imports the generated copies
//! (`web/src/protocol/generated.ts`, `LINK` and `TIMING`), so a change here reaches both
//! sides and a stale copy fails `typescript_fresh`.

use std::time::Duration;

/// The single data channel's label. Reliable and ordered, created by the offerer.
pub const DATA_CHANNEL_LABEL: &str = "skypod";

/// First byte of every data channel message: what the rest is.
pub mod tag {
    /// Application bytes (possibly a fragment, see [`crate::fragment`]).
    pub const DATA: u8 = 0;
    /// Health ping: an 8-byte big-endian nonce.
    pub const PING: u8 = 1;
    /// Health pong: the ping's nonce echoed.
    pub const PONG: u8 = 2;
    /// A realm-key control token (announce or grant JWT, UTF-8).
    pub const CTRL: u8 = 3;
    /// Several application frames in one message ([`crate::batch`]). Sent only to a peer
    /// whose [`FEATURES`] frame listed [`super::feature::BATCH`].
    pub const BATCH: u8 = 4;
    /// What this peer accepts: one byte of [`super::feature`] bits, sent once when the
    /// channel opens. A peer that predates a feature ignores the frame (unknown tags are
    /// dropped), so it is never sent what it cannot read.
    pub const FEATURES: u8 = 5;
}

/// Bits of the [`tag::FEATURES`] byte.
pub mod feature {
    /// The peer reads [`super::tag::BATCH`] frames.
    pub const BATCH: u8 = 1;
}

/// Largest data channel message body, bytes: one SCTP message (64 KiB, what every browser
/// accepts) minus the tag byte. Larger application messages travel as fragments.
pub const MAX_P2P_MESSAGE: usize = 64 * 1024 - 1;

/// Largest plaintext the relay carries in one frame, bytes: the server's default 64 KiB
/// frame limit after AES-GCM (+28), base64url (×4/3) and the envelope.
pub const MAX_RELAY_MESSAGE: usize = 44 * 1024;

/// Relayed fragments of one message sent back to back before pacing starts: the server
/// allows a burst of 200 messages per connection and 100/s sustained (`SKYPOD_RATE*`),
/// shared with signals, so half the burst is left for them.
pub const RELAY_BURST: usize = 100;

/// Pause between relayed fragments after [`RELAY_BURST`] (~80 per second, under the
/// server's 100/s).
pub const RELAY_PACE: Duration = Duration::from_millis(12);

/// The timing policy of a link, the same on both peers.
///
/// - Health: a ping every [`PING_INTERVAL`](timing::PING_INTERVAL); a ping left unanswered for
///   [`PONG_TIMEOUT`](timing::PONG_TIMEOUT) means the link is dead (then the relay carries
///   the traffic while the link is repaired). The web app did this; the native peer used to
///   wait for two missed pongs (up to 60 s). One rule with a 10 s deadline detects a dead
///   link within 40 s at most, and 10 s is far above any round trip plus a pong queued
///   behind a full 4 MiB send buffer on a link of ≥ 0.5 MB/s.
/// - ICE restart: an established link that fails is first repaired by an ICE restart on the
///   same connection; it gets [`ICE_RESTART_TIMEOUT`](timing::ICE_RESTART_TIMEOUT) before the
///   peers start over with a new connection. 8 s (the web's value; the native peer had 5 s):
///   gathering server-reflexive and TURN candidates plus connectivity checks after a network
///   change often take several seconds, and giving up early costs a full renegotiation and
///   DTLS handshake while the relay already carries the traffic.
/// - Offer wait: the member that was online first waits
///   [`WAIT_FOR_OFFER`](timing::WAIT_FOR_OFFER) for the newcomer's offer before offering
///   itself. 2.5 s (the web's value; the native peer had 2 s): a phone browser that just
///   woke up may take over 2 s to sign and create its first offer, and an early counter-offer
///   only produces glare; the wait matters only when the newcomer's offer was lost.
pub mod timing {
    use std::time::Duration;

    /// A ping over each open data channel this often.
    pub const PING_INTERVAL: Duration = Duration::from_secs(30);
    /// A ping unanswered this long: the link is dead.
    pub const PONG_TIMEOUT: Duration = Duration::from_secs(10);
    /// How long an ICE restart may take before the peers start over.
    pub const ICE_RESTART_TIMEOUT: Duration = Duration::from_secs(8);
    /// How long the earlier member waits for the newcomer's offer.
    pub const WAIT_FOR_OFFER: Duration = Duration::from_millis(2500);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_fit_their_transports() {
        // Tag + body is one 64 KiB SCTP message.
        assert_eq!(MAX_P2P_MESSAGE + 1, 64 * 1024);
        // A full relay message, sealed and base64url-encoded, leaves room for the envelope
        // inside the server's default 64 KiB frame.
        let sealed = 12 + MAX_RELAY_MESSAGE + 16;
        assert!(sealed.div_ceil(3) * 4 + 512 <= 64 * 1024);
    }

    #[test]
    fn every_token_lifetime_is_accepted_by_the_verifier() {
        use crate::{Purpose, TokenRules};
        let r = TokenRules::default();
        for p in Purpose::ALL {
            let max = r.max_lifetime_for(p);
            assert!(p.ttl() > 0 && p.ttl() <= max, "{p:?}");
        }
    }
}
