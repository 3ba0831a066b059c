//! `realm.member.remove`: remove a device. The request is a token (purpose `Revoke`) signed by
//! the authenticated caller naming the device; the store forgets its key, its socket is
//! closed, the other members are told (`realm.member.removed`).

use skypod_protocol::envelope::RawEnvelope;
use skypod_protocol::messages::{MEMBER_REMOVE, MEMBER_REMOVED, MemberRemoved, TokenRequest};
use skypod_protocol::token::{Purpose, RevokeClaims};
use skypod_protocol::{Envelope, Typ, unix_now};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::{Ctx, Reject, bad_dat, err};

/// A checked `realm.member.remove` request (its token is verified in [`apply`]).
pub struct MemberRemove {
    pub seq: Option<u64>,
    pub token: String,
}

pub fn parse(env: &RawEnvelope<'_>) -> Result<MemberRemove, Reject> {
    if env.typ != Typ::Req {
        return Err(Reject::new(
            400,
            "malformed",
            "realm.member.remove must be a req",
        ));
    }
    let t: TokenRequest = env
        .dat()
        .map_err(|e| bad_dat(MEMBER_REMOVE, "{token}", &e))?;
    Ok(MemberRemove {
        seq: env.seq,
        token: t.token,
    })
}

/// Verify, store, close, announce. Returns the frame answering the request.
pub async fn apply(ctx: &Ctx<'_>, req: MemberRemove) -> Utf8Bytes {
    let seq = req.seq;
    match revoke(ctx, &req.token).await {
        Ok(removed) => Envelope::res(MEMBER_REMOVE, seq, removed).to_json().into(),
        Err(r) => err(ctx.state, MEMBER_REMOVE, seq, &r),
    }
}

async fn revoke(ctx: &Ctx<'_>, token: &str) -> Result<MemberRemoved, Reject> {
    let (state, realm, conn) = (ctx.state, ctx.realm, ctx.conn);
    let rules = state.cfg.token_rules();
    let key = realm.member_key(&conn.identid).ok_or_else(|| {
        Reject::new(
            403,
            "not_member",
            "you are no longer a member of this realm",
        )
    })?;
    let claims = skypod_protocol::token::verify::<RevokeClaims>(
        token,
        &key,
        Purpose::Revoke,
        &realm.id,
        unix_now(),
        &rules,
    )
    .map_err(Reject::token)?;
    let target = claims.ext.sub;
    if !realm.is_member(&target) {
        return Err(Reject::new(
            404,
            "no_such_member",
            format!("{target} is not a member of this realm"),
        ));
    }
    state.hub.revoke(realm, &target).await.map_err(|e| {
        tracing::error!(error = %e, "store failure during revocation");
        let (status, code, message) =
            e.failure()
                .unwrap_or((500, "store", "the server could not record this; try again"));
        Reject::new(status, code, message)
    })?;
    tracing::info!(realm = %realm.id, removed = %target, by = %conn.identid, "device removed");
    let removed = MemberRemoved {
        identid: target,
        by: conn.identid.clone(),
    };
    let evt: Utf8Bytes = Envelope::evt(MEMBER_REMOVED, &removed).to_json().into();
    let n = realm.route(&conn.identid, &evt, None);
    state.metrics.routed("presence", n as u64);
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_is_a_req_with_a_token() {
        let env = RawEnvelope::parse(
            r#"{"typ":"req","msg":"realm.member.remove","seq":2,"dat":{"token":"a.b.c"}}"#,
        )
        .unwrap();
        let r = parse(&env).unwrap();
        assert_eq!((r.seq, r.token.as_str()), (Some(2), "a.b.c"));
        for bad in [
            r#"{"typ":"evt","msg":"realm.member.remove","dat":{"token":"a.b.c"}}"#,
            r#"{"typ":"req","msg":"realm.member.remove","seq":2}"#,
            r#"{"typ":"req","msg":"realm.member.remove","seq":2,"dat":{"token":1}}"#,
        ] {
            let env = RawEnvelope::parse(bad).unwrap();
            assert_eq!(
                parse(&env).err().map(|r| r.code),
                Some("malformed"),
                "{bad}"
            );
        }
    }
}
