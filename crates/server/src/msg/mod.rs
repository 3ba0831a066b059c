//! One module per client message (the model is mini-redis's `cmd/*`): each turns a frame's
//! `dat` into a typed, validated request — pure functions, unit-tested without a socket — and
//! applies it to the caller's realm. [`handle`] dispatches one authenticated text frame;
//! [`err`] is the one way an `err` frame is made.
//!
//! The authentication phase (`preauth.*`) is [`crate::preauth`]; the socket loop is
//! [`crate::conn`].

pub mod broadcast;
pub mod member_remove;
pub mod ping;
pub mod signal;

use skypod_protocol::envelope::RawEnvelope;
use skypod_protocol::messages::{
    BROADCAST, MEMBER_REMOVE, PING, PREAUTH_AUTHN, PREAUTH_EXCHANGE, PREAUTH_REGISTER, SIGNAL,
};
use skypod_protocol::{Envelope, Typ};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::hub::{ConnHandle, Realm};
pub use crate::preauth::Refusal as Reject;
use crate::state::AppState;

/// What handling one client frame asks the socket loop to do.
pub enum Step {
    Continue,
    /// Send this frame back.
    Reply(Utf8Bytes),
    /// `realm.member.remove`: needs the store, so the loop awaits [`member_remove::apply`].
    Revoke(member_remove::MemberRemove),
}

/// The authenticated caller and its realm.
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub realm: &'a Realm,
    pub conn: &'a ConnHandle,
}

/// The one error helper: an `err` answering `msg`/`seq`, counted in the metrics by its code.
pub fn err(state: &AppState, msg: &str, seq: Option<u64>, r: &Reject) -> Utf8Bytes {
    state.metrics.reject(r.code);
    Envelope::err(msg, seq, r.status, r.code, r.message.as_str())
        .to_json()
        .into()
}

/// The answer to a frame dropped by the rate limit: it still names the frame's `msg`/`seq`.
pub fn rate_limited(state: &AppState, text: &str) -> Utf8Bytes {
    let (msg, seq) = RawEnvelope::salvage(text);
    let r = Reject::new(
        429,
        "rate_limited",
        format!(
            "rate limit: at most {} messages/s (burst {}); this frame was dropped",
            state.cfg.rate_per_sec, state.cfg.rate_burst
        ),
    );
    err(state, &msg, seq, &r)
}

/// The answer to a binary message.
pub fn binary(state: &AppState) -> Utf8Bytes {
    let r = Reject::new(
        400,
        "binary_frame",
        "binary frames are not part of the protocol; send JSON text",
    );
    err(state, "invalid", None, &r)
}

/// Handle one text frame from an authenticated client.
pub fn handle(ctx: &Ctx<'_>, text: &str) -> Step {
    let env = match RawEnvelope::parse(text) {
        Ok(e) => e,
        Err(e) => {
            let (msg, seq) = RawEnvelope::salvage(text);
            let r = Reject::new(e.status(), "malformed", e.to_string());
            return Step::Reply(err(ctx.state, &msg, seq, &r));
        }
    };
    let (msg, seq, typ) = (env.msg.as_ref(), env.seq, env.typ);
    match dispatch(ctx, &env) {
        Ok(step) => step,
        Err(r) if typ == Typ::Err => {
            // Never answer an error with an error (two buggy peers would loop).
            ctx.state.metrics.reject(r.code);
            Step::Continue
        }
        Err(r) => Step::Reply(err(ctx.state, msg, seq, &r)),
    }
}

fn dispatch(ctx: &Ctx<'_>, env: &RawEnvelope<'_>) -> Result<Step, Reject> {
    let msg = env.msg.as_ref();
    match env.typ {
        Typ::Err => return Err(Reject::new(400, "unexpected_res", "")),
        Typ::Res => {
            return Err(Reject::new(
                400,
                "unexpected_res",
                format!("no request of the server is waiting for a res to {msg}"),
            ));
        }
        Typ::Evt | Typ::Req => {}
    }
    match msg {
        BROADCAST => Ok(broadcast::parse(env)?.apply(ctx, env.typ, env.seq)),
        SIGNAL => signal::parse(env, &ctx.conn.identid)?.apply(ctx, env.typ, env.seq),
        PING => Ok(ping::apply(env)),
        MEMBER_REMOVE => Ok(Step::Revoke(member_remove::parse(env)?)),
        PREAUTH_REGISTER | PREAUTH_AUTHN | PREAUTH_EXCHANGE => Err(Reject::new(
            409,
            "already_authenticated",
            "this connection is already authenticated",
        )),
        other => Err(Reject::new(
            404,
            "unknown_msg",
            format!("unknown message {other:?}"),
        )),
    }
}

/// A `dat` that did not decode: the sentence names the message and the expected shape.
pub(crate) fn bad_dat(msg: &str, shape: &str, e: &serde_json::Error) -> Reject {
    Reject::new(
        400,
        "malformed",
        format!(
            "{msg} needs dat {shape}: {}",
            skypod_protocol::errors::describe_json_error(e)
        ),
    )
}
