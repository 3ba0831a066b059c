//! `realm.rtc.signal`: a signed WebRTC signal (or realm-key token) to one online member.

use skypod_protocol::envelope::RawEnvelope;
use skypod_protocol::messages::{BroadcastResult, SIGNAL, SignalDelivery, SignalRequest};
use skypod_protocol::{Envelope, IdentId, Typ};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::{Ctx, Reject, Step, bad_dat};

/// Longest `connectionid`, characters.
pub const MAX_CONNECTION_ID: usize = 128;

/// A checked signal.
pub struct Signal(pub SignalRequest);

/// Decode and check a signal from `me`.
pub fn parse(env: &RawEnvelope<'_>, me: &IdentId) -> Result<Signal, Reject> {
    let s: SignalRequest = env
        .dat()
        .map_err(|e| bad_dat(SIGNAL, "{remoteid, connectionid, payload, localid?}", &e))?;
    if s.localid.as_ref().is_some_and(|l| l != me) {
        return Err(Reject::new(
            403,
            "spoofed_sender",
            "localid must be your own identity",
        ));
    }
    if &s.remoteid == me {
        return Err(Reject::new(400, "malformed", "cannot signal yourself"));
    }
    if s.connectionid.is_empty() || s.connectionid.chars().count() > MAX_CONNECTION_ID {
        return Err(Reject::new(
            400,
            "malformed",
            "connectionid must be 1..=128 characters",
        ));
    }
    Ok(Signal(s))
}

impl Signal {
    /// Deliver to the named member (with the authenticated sender as `localid`); a `req` is
    /// answered with `delivered: 1`.
    pub fn apply(self, ctx: &Ctx<'_>, typ: Typ, seq: Option<u64>) -> Result<Step, Reject> {
        let s = self.0;
        let delivery = SignalDelivery {
            localid: ctx.conn.identid.clone(),
            remoteid: s.remoteid,
            connectionid: s.connectionid,
            payload: s.payload,
        };
        let frame: Utf8Bytes = Envelope::evt(SIGNAL, &delivery).to_json().into();
        if !ctx.realm.send_to(&delivery.remoteid, &frame) {
            return Err(Reject::new(
                404,
                "peer_offline",
                format!("{} is not online in this realm", delivery.remoteid),
            ));
        }
        ctx.state.metrics.routed("signal", 1);
        Ok(match typ {
            Typ::Req => Step::Reply(
                Envelope::res(SIGNAL, seq, BroadcastResult { delivered: 1 })
                    .to_json()
                    .into(),
            ),
            _ => Step::Continue,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skypod_protocol::IdentityKey;

    fn frame(dat: serde_json::Value) -> String {
        serde_json::json!({"typ":"req","msg":SIGNAL,"seq":4,"dat":dat}).to_string()
    }

    #[test]
    fn signals_name_another_member_and_never_a_false_sender() {
        let me = IdentityKey::generate_ed25519().identid().clone();
        let you = IdentityKey::generate_ed25519().identid().clone();
        let check = |dat: serde_json::Value| {
            let text = frame(dat);
            let env = RawEnvelope::parse(&text).unwrap();
            parse(&env, &me).map(|s| s.0.remoteid)
        };
        let ok = serde_json::json!({"remoteid": you, "connectionid": "c1", "payload": "jwt"});
        assert_eq!(check(ok).unwrap(), you);
        let mine = serde_json::json!({"localid": me, "remoteid": you, "connectionid": "c", "payload": "p"});
        assert!(check(mine).is_ok());
        let cases = [
            (
                serde_json::json!({"localid": you, "remoteid": you, "connectionid": "c", "payload": "p"}),
                "spoofed_sender",
            ),
            (
                serde_json::json!({"remoteid": me, "connectionid": "c", "payload": "p"}),
                "malformed",
            ),
            (
                serde_json::json!({"remoteid": you, "connectionid": "", "payload": "p"}),
                "malformed",
            ),
            (
                serde_json::json!({"remoteid": you, "connectionid": "x".repeat(129), "payload": "p"}),
                "malformed",
            ),
            (
                serde_json::json!({"remoteid": you, "connectionid": "c"}),
                "malformed",
            ),
            (
                serde_json::json!({"remoteid": "short", "connectionid": "c", "payload": "p"}),
                "malformed",
            ),
        ];
        for (dat, code) in cases {
            let r = check(dat.clone()).unwrap_err();
            assert_eq!(r.code, code, "{dat}");
            assert!(!r.message.contains('`'), "{}", r.message);
        }
    }
}
