//! `realm.broadcast`: realm-key ciphertext to some or all other online members.

use serde::Deserialize;
use serde_json::value::RawValue;
use skypod_protocol::envelope::RawEnvelope;
use skypod_protocol::messages::{BROADCAST, BroadcastResult};
use skypod_protocol::{Envelope, IdentId, Typ};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::{Ctx, Reject, Step, bad_dat};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Broadcast<'a> {
    /// A JSON string literal, spliced into deliveries without re-encoding.
    #[serde(borrow)]
    payload: &'a RawValue,
    #[serde(default)]
    recipients: Option<Vec<IdentId>>,
}

pub fn parse<'a>(env: &RawEnvelope<'a>) -> Result<Broadcast<'a>, Reject> {
    let b: Broadcast = env
        .dat()
        .map_err(|e| bad_dat(BROADCAST, "{payload, recipients?}", &e))?;
    if !b.payload.get().starts_with('"') {
        return Err(Reject::new(
            400,
            "malformed",
            "realm.broadcast payload must be a string (realm-key ciphertext)",
        ));
    }
    Ok(b)
}

impl Broadcast<'_> {
    /// Route to the realm; a `req` is answered with how many members it was handed to.
    pub fn apply(self, ctx: &Ctx<'_>, typ: Typ, seq: Option<u64>) -> Step {
        let frame: Utf8Bytes = format!(
            r#"{{"typ":"evt","msg":"realm.broadcast","dat":{{"from":"{}","payload":{}}}}}"#,
            ctx.conn.identid,
            self.payload.get()
        )
        .into();
        let n = ctx
            .realm
            .route(&ctx.conn.identid, &frame, self.recipients.as_deref());
        ctx.state.metrics.routed("broadcast", n as u64);
        match typ {
            Typ::Req => Step::Reply(
                Envelope::res(BROADCAST, seq, BroadcastResult { delivered: n })
                    .to_json()
                    .into(),
            ),
            _ => Step::Continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(frame: &str) -> Result<(String, Option<usize>), Reject> {
        let env = RawEnvelope::parse(frame).unwrap();
        parse(&env).map(|b| (b.payload.get().to_owned(), b.recipients.map(|r| r.len())))
    }

    #[test]
    fn payload_is_a_string_and_recipients_are_identities() {
        let id = skypod_protocol::IdentityKey::generate_ed25519()
            .identid()
            .clone();
        assert_eq!(
            parsed(r#"{"typ":"evt","msg":"realm.broadcast","dat":{"payload":"aGk"}}"#).unwrap(),
            (r#""aGk""#.into(), None)
        );
        let with = format!(
            r#"{{"typ":"req","msg":"realm.broadcast","seq":1,"dat":{{"payload":"x","recipients":["{id}"]}}}}"#
        );
        assert_eq!(parsed(&with).unwrap().1, Some(1));
        for bad in [
            r#"{"typ":"evt","msg":"realm.broadcast"}"#,
            r#"{"typ":"evt","msg":"realm.broadcast","dat":{"payload":1}}"#,
            r#"{"typ":"evt","msg":"realm.broadcast","dat":{"payload":{"a":1}}}"#,
            r#"{"typ":"evt","msg":"realm.broadcast","dat":{"payload":"x","recipients":["nope"]}}"#,
            r#"{"typ":"evt","msg":"realm.broadcast","dat":{"payload":"x","from":"me"}}"#,
        ] {
            let r = parsed(bad).unwrap_err();
            assert_eq!((r.status, r.code), (400, "malformed"), "{bad}");
            assert!(r.message.starts_with("realm.broadcast"), "{}", r.message);
            assert!(!r.message.contains('`'), "{}", r.message);
        }
    }
}
