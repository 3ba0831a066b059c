//! The envelope every frame travels in: `{typ, msg, seq?, dat?}`.
//!
//! `typ` says how to treat the frame: `evt` (one-way), `req` (expects a `res` or an `err`
//! with the same `seq`), `res`, `err`. `msg` names the message (see [`crate::messages`]);
//! `dat` is its payload. An `err` carries an [`ErrorBody`] with an HTTP-style status.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
use ts_rs::TS;

/// Largest `seq` a JavaScript number represents exactly.
pub const MAX_SEQ: u64 = (1 << 53) - 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Typ {
    Evt,
    Req,
    Res,
    Err,
}

/// A whole frame with a typed payload (what senders build).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct Envelope<D> {
    pub typ: Typ,
    pub msg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub dat: Option<D>,
}

/// The payload of every `err`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
pub struct ErrorBody {
    /// HTTP-style status: 400 malformed, 401 unauthenticated, 403 refused, 404 unknown,
    /// 409 conflict, 413 too large, 429 rate limited, 500 server fault.
    pub status: u16,
    /// Stable machine code (see [`crate::errors::ERROR_CODES`]).
    #[serde(default)]
    pub code: String,
    /// A sentence for humans (and logs); never contains secrets.
    pub message: String,
}

impl<D: Serialize> Envelope<D> {
    pub fn evt(msg: &str, dat: D) -> Self {
        Self {
            typ: Typ::Evt,
            msg: msg.to_owned(),
            seq: None,
            dat: Some(dat),
        }
    }

    pub fn req(msg: &str, seq: u64, dat: D) -> Self {
        Self {
            typ: Typ::Req,
            msg: msg.to_owned(),
            seq: Some(seq),
            dat: Some(dat),
        }
    }

    pub fn res(msg: &str, seq: Option<u64>, dat: D) -> Self {
        Self {
            typ: Typ::Res,
            msg: msg.to_owned(),
            seq,
            dat: Some(dat),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("protocol types always serialize")
    }
}

impl Envelope<ErrorBody> {
    /// An `err` answering the frame `msg`/`seq`; `code` is one of
    /// [`crate::errors::ERROR_CODES`].
    pub fn err(
        msg: &str,
        seq: Option<u64>,
        status: u16,
        code: &str,
        message: impl Into<String>,
    ) -> Self {
        debug_assert!(
            crate::errors::lookup(code).is_some(),
            "error code {code:?} is not in the catalog"
        );
        Self {
            typ: Typ::Err,
            msg: msg.to_owned(),
            seq,
            dat: Some(ErrorBody {
                status,
                code: code.to_owned(),
                message: message.into(),
            }),
        }
    }
}

/// A parsed frame whose payload is left as raw JSON until the receiver knows which message
/// it is: the server routes most payloads without ever building a tree for them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnvelope<'a> {
    pub typ: Typ,
    #[serde(borrow)]
    pub msg: Cow<'a, str>,
    #[serde(default)]
    pub seq: Option<u64>,
    #[serde(default, borrow)]
    pub dat: Option<&'a RawValue>,
}

/// Why a frame was refused before its message was looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("frame is not a valid envelope {{typ, msg, seq?, dat?}}: {0}")]
    Malformed(String),
    #[error("msg must be 1..=64 characters")]
    BadMsg,
    #[error("seq must be an integer in 0..=2^53-1")]
    BadSeq,
    #[error("a {0:?} frame needs a seq")]
    MissingSeq(Typ),
}

impl ProtocolError {
    pub fn status(&self) -> u16 {
        400
    }
}

impl<'a> RawEnvelope<'a> {
    /// Parse and check a frame's envelope. The payload is checked later, per message.
    pub fn parse(text: &'a str) -> Result<Self, ProtocolError> {
        let env: RawEnvelope<'a> = serde_json::from_str(text)
            .map_err(|e| ProtocolError::Malformed(crate::errors::describe_json_error(&e)))?;
        if env.msg.is_empty() || env.msg.len() > 64 {
            return Err(ProtocolError::BadMsg);
        }
        if env.seq.is_some_and(|s| s > MAX_SEQ) {
            return Err(ProtocolError::BadSeq);
        }
        if env.seq.is_none() && matches!(env.typ, Typ::Req | Typ::Res) {
            return Err(ProtocolError::MissingSeq(env.typ));
        }
        Ok(env)
    }

    /// The `msg` and `seq` of a frame that is not a valid envelope, as far as they can be
    /// read, so the `err` can still name them: `("invalid", None)` when there is no usable
    /// `msg`.
    pub fn salvage(text: &str) -> (String, Option<u64>) {
        #[derive(Deserialize)]
        struct Loose<'a> {
            #[serde(borrow, default)]
            msg: Option<&'a RawValue>,
            #[serde(borrow, default)]
            seq: Option<&'a RawValue>,
        }
        let Ok(l) = serde_json::from_str::<Loose>(text) else {
            return ("invalid".into(), None);
        };
        let msg = l
            .msg
            .and_then(|m| serde_json::from_str::<String>(m.get()).ok())
            .filter(|m| (1..=64).contains(&m.len()))
            .unwrap_or_else(|| "invalid".into());
        let seq = l
            .seq
            .and_then(|s| serde_json::from_str::<u64>(s.get()).ok())
            .filter(|s| *s <= MAX_SEQ);
        (msg, seq)
    }

    /// Decode the payload as `D`; a missing `dat` decodes as JSON `null`.
    pub fn dat<D: Deserialize<'a>>(&self) -> Result<D, serde_json::Error> {
        match self.dat {
            Some(raw) => serde_json::from_str(raw.get()),
            None => serde_json::from_str("null"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_seed_examples() {
        let e = RawEnvelope::parse(r#"{"typ":"req","msg":"preauth.authn","seq":1234}"#).unwrap();
        assert_eq!(e.typ, Typ::Req);
        assert_eq!(e.msg, "preauth.authn");
        assert_eq!(e.seq, Some(1234));
        assert!(e.dat.is_none());
    }

    #[test]
    fn refuses_bad_envelopes() {
        for bad in [
            "",
            "not json",
            "[]",
            r#"{"typ":"shout","msg":"x"}"#,
            r#"{"typ":"evt"}"#,
            r#"{"typ":"evt","msg":""}"#,
            r#"{"typ":"req","msg":"ping"}"#,
            r#"{"typ":"req","msg":"ping","seq":-1}"#,
            r#"{"typ":"req","msg":"ping","seq":9007199254740992}"#,
            r#"{"typ":"evt","msg":"x","extra":1}"#,
            r#"{"typ":"evt","msg":1}"#,
        ] {
            assert!(RawEnvelope::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn escaped_msg_is_still_read() {
        let e = RawEnvelope::parse(r#"{"typ":"evt","msg":"pi\u006eg"}"#).unwrap();
        assert_eq!(e.msg, "ping");
    }

    #[test]
    fn err_frames_carry_status() {
        let json =
            Envelope::err("preauth.authn", Some(3), 401, "expired", "token expired").to_json();
        assert_eq!(
            json,
            r#"{"typ":"err","msg":"preauth.authn","seq":3,"dat":{"status":401,"code":"expired","message":"token expired"}}"#
        );
    }

    #[test]
    fn bad_frames_still_name_their_msg_and_seq() {
        assert_eq!(
            RawEnvelope::salvage(r#"{"typ":"none","msg":"ping","seq":7}"#),
            ("ping".into(), Some(7))
        );
        assert_eq!(
            RawEnvelope::salvage(r#"{"typ":"req","msg":"x","seq":-1,"more":[1]}"#),
            ("x".into(), None)
        );
        assert_eq!(RawEnvelope::salvage("nope"), ("invalid".into(), None));
        assert_eq!(
            RawEnvelope::salvage(r#"{"msg":3,"seq":1}"#),
            ("invalid".into(), Some(1))
        );
        let e = RawEnvelope::parse(r#"{"typ":"none","msg":"ping"}"#).unwrap_err();
        assert!(!e.to_string().contains('`'), "{e}");
    }
}
