//! TypeScript declarations for the web app, generated from the Rust types above.
//!
//! `web/src/protocol/generated.ts` is this module's output; a test fails when it is stale
//! (`SKYPOD_BLESS=1 cargo test -p skypod-protocol` rewrites it).

use ts_rs::{Config, TS};

use crate::envelope::{Envelope, ErrorBody, Typ};
use crate::jwk::{EcCurve, OkpCurve, PublicJwk};
use crate::messages::*;
use crate::token::{
    AnnounceClaims, BaseClaims, ExchangeClaims, GRANT_INFO_PREFIX, GrantClaims, InvitationClaims,
    KEY_TOKEN_TTL, NoClaims, RegisterClaims, RevokeClaims, RtcSignal, SignalClaims,
};

/// Every exported declaration, in a stable order, as one TypeScript module.
pub fn render() -> String {
    let cfg = Config::new().with_large_int("number");
    let decls = [
        crate::ids::IdentId::decl(&cfg),
        crate::ids::RealmId::decl(&cfg),
        Typ::decl(&cfg),
        Envelope::<()>::decl(&cfg),
        ErrorBody::decl(&cfg),
        EcCurve::decl(&cfg),
        OkpCurve::decl(&cfg),
        PublicJwk::decl(&cfg),
        TokenRequest::decl(&cfg),
        AuthnResponse::decl(&cfg),
        RealmStatus::decl(&cfg),
        PeerJoined::decl(&cfg),
        PeerLeft::decl(&cfg),
        SignalRequest::decl(&cfg),
        SignalDelivery::decl(&cfg),
        BroadcastRequest::decl(&cfg),
        BroadcastDelivery::decl(&cfg),
        BroadcastResult::decl(&cfg),
        Ping::decl(&cfg),
        MemberRemoved::decl(&cfg),
        BaseClaims::decl(&cfg),
        NoClaims::decl(&cfg),
        RegisterClaims::decl(&cfg),
        ExchangeClaims::decl(&cfg),
        InvitationClaims::decl(&cfg),
        RevokeClaims::decl(&cfg),
        SignalClaims::decl(&cfg),
        RtcSignal::decl(&cfg),
        AnnounceClaims::decl(&cfg),
        GrantClaims::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from crates/protocol by `SKYPOD_BLESS=1 cargo test -p skypod-protocol`.\n\
         // Do not edit: change the Rust types instead.\n\n",
    );
    for d in decls {
        out.push_str("export ");
        out.push_str(&d);
        out.push_str("\n\n");
    }
    let msgs = [
        ("PREAUTH_REGISTER", PREAUTH_REGISTER),
        ("PREAUTH_AUTHN", PREAUTH_AUTHN),
        ("PREAUTH_EXCHANGE", PREAUTH_EXCHANGE),
        ("REALM_STATUS", REALM_STATUS),
        ("PEER_JOINED", PEER_JOINED),
        ("PEER_LEFT", PEER_LEFT),
        ("SIGNAL", SIGNAL),
        ("BROADCAST", BROADCAST),
        ("PING", PING),
        ("MEMBER_REMOVE", MEMBER_REMOVE),
        ("MEMBER_REMOVED", MEMBER_REMOVED),
    ];
    out.push_str("export const MSG = {\n");
    for (k, v) in msgs {
        out.push_str(&format!("  {k}: \"{v}\",\n"));
    }
    out.push_str("} as const;\n\nexport const AUDIENCE = {\n");
    for (k, p) in [
        ("register", crate::Purpose::Register),
        ("authn", crate::Purpose::Authn),
        ("exchange", crate::Purpose::Exchange),
        ("invitation", crate::Purpose::Invitation),
        ("signal", crate::Purpose::Signal),
        ("proxy", crate::Purpose::Proxy),
        ("revoke", crate::Purpose::Revoke),
        ("keyAnnounce", crate::Purpose::KeyAnnounce),
        ("keyGrant", crate::Purpose::KeyGrant),
    ] {
        out.push_str(&format!("  {k}: \"{}\",\n", p.audience()));
    }
    out.push_str("} as const;\n\n");
    out.push_str(&format!(
        "/** `connectionid` of a `realm.rtc.signal` carrying a realm-key token. */\n\
         export const KEY_CONNECTION_ID = \"{KEY_CONNECTION_ID}\";\n\
         /** Lifetime of key-announce and key-grant tokens, seconds. */\n\
         export const KEY_TOKEN_TTL = {KEY_TOKEN_TTL};\n\
         /** Relay AAD is `${{RELAY_AAD_PREFIX}}|${{realm}}|${{from}}`. */\n\
         export const RELAY_AAD_PREFIX = \"{RELAY_AAD_PREFIX}\";\n\
         /** Grant HKDF info and AAD is `${{GRANT_INFO_PREFIX}}|${{recipient}}|${{granter}}|${{epoch}}`. */\n\
         export const GRANT_INFO_PREFIX = \"{GRANT_INFO_PREFIX}\";\n"
    ));
    out
}
