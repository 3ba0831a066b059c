//! TypeScript declarations for the web app, generated from the Rust types above.
//!
//! `web/src/protocol/generated.ts` is this module's output; a test fails when it is stale
//! (`SKYPOD_BLESS=1 cargo test -p skypod-protocol` rewrites it).

use ts_rs::{Config, TS};

use crate::envelope::{Envelope, ErrorBody, Typ};
use crate::jwk::{EcCurve, OkpCurve, PublicJwk};
use crate::link::{self, timing};
use crate::messages::*;
use crate::token::Purpose;
use crate::token::{
    AnnounceClaims, BaseClaims, ExchangeClaims, GRANT_INFO_PREFIX, GrantClaims, InvitationClaims,
    KEY_TOKEN_TTL, MediaClaims, NoClaims, RegisterClaims, RevokeClaims, RtcSignal, SignalClaims,
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
        MediaClaims::decl(&cfg),
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
    let quoted = |v: &str| format!("\"{v}\"");
    let msgs: Vec<_> = msgs.iter().map(|(k, v)| (*k, quoted(v))).collect();
    out.push_str(&ts_object(
        "The message catalog (`msg` of an envelope).",
        "MSG",
        &msgs,
    ));
    let auds: Vec<_> = Purpose::ALL
        .iter()
        .map(|p| (p.name(), quoted(p.audience())))
        .collect();
    out.push_str(&ts_object(
        "The audience (`aud`) of each purpose's tokens.",
        "AUDIENCE",
        &auds,
    ));
    let ttls: Vec<_> = Purpose::ALL
        .iter()
        .map(|p| (p.name(), p.ttl().to_string()))
        .collect();
    out.push_str(&ts_object(
        "Lifetime of the tokens signed for each purpose, seconds (`Purpose::ttl`).",
        "TOKEN_TTL",
        &ttls,
    ));
    out.push_str(&link_constants());
    out.push_str(&message_prefixes());
    out.push_str(&close_codes());
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

/// `export const NAME = { key: value, … } as const;` with a doc comment.
fn ts_object(doc: &str, name: &str, fields: &[(&str, String)]) -> String {
    let mut out = format!("/** {doc} */\nexport const {name} = {{\n");
    for (k, v) in fields {
        out.push_str(&format!("  {k}: {v},\n"));
    }
    out.push_str("} as const;\n\n");
    out
}

/// [`crate::link`], the token rules and the fragment limits as TypeScript constants.
fn link_constants() -> String {
    let ms = |d: std::time::Duration| d.as_millis().to_string();
    let n = |v: usize| v.to_string();
    let r = crate::TokenRules::default();
    let f = crate::fragment::ReassemblyLimits::default();
    let tags = format!(
        "{{ data: {}, ping: {}, pong: {}, ctrl: {}, batch: {}, features: {} }}",
        link::tag::DATA,
        link::tag::PING,
        link::tag::PONG,
        link::tag::CTRL,
        link::tag::BATCH,
        link::tag::FEATURES
    );
    let mut out = ts_object(
        "Limits every verifier applies (`TokenRules::default`).",
        "TOKEN_RULES",
        &[
            ("skew", r.skew.to_string()),
            ("maxLifetime", r.max_lifetime.to_string()),
            (
                "maxInvitationLifetime",
                r.max_invitation_lifetime.to_string(),
            ),
            ("maxMediaLifetime", r.max_media_lifetime.to_string()),
            ("maxLen", n(r.max_len)),
        ],
    );
    out += &ts_object(
        "Data channel facts shared by both peers (crates/protocol/src/link.rs); `tag`: the first byte of every data channel message.",
        "LINK",
        &[
            ("label", format!("\"{}\"", link::DATA_CHANNEL_LABEL)),
            ("tag", tags),
            ("feature", format!("{{ batch: {} }}", link::feature::BATCH)),
            ("batchLenPrefix", n(crate::batch::LEN_PREFIX)),
            ("maxP2pMessage", n(link::MAX_P2P_MESSAGE)),
            ("maxRelayMessage", n(link::MAX_RELAY_MESSAGE)),
            ("relayBurst", n(link::RELAY_BURST)),
            ("relayPaceMs", ms(link::RELAY_PACE)),
        ],
    );
    let policy = [
        ("pingIntervalMs", timing::PING_INTERVAL),
        ("pongTimeoutMs", timing::PONG_TIMEOUT),
        ("iceRestartMs", timing::ICE_RESTART_TIMEOUT),
        ("waitForOfferMs", timing::WAIT_FOR_OFFER),
    ];
    let policy: Vec<_> = policy.iter().map(|(k, d)| (*k, ms(*d))).collect();
    out += &ts_object(
        "The timing policy of a link, the same on both peers (link.rs explains the choice).",
        "TIMING",
        &policy,
    );
    out += &ts_object(
        "Fragmentation (crates/protocol/src/fragment.rs).",
        "FRAGMENT",
        &[
            ("headerLen", n(crate::fragment::HEADER_LEN)),
            ("minChunk", n(crate::fragment::MIN_CHUNK)),
            ("maxMessage", n(crate::fragment::MAX_MESSAGE)),
            ("overhead", n(crate::fragment::FRAGMENT_OVERHEAD)),
            ("remembered", n(crate::fragment::REMEMBERED)),
            ("maxPartials", n(f.max_partials)),
            ("maxBuffered", n(f.max_buffered)),
            ("timeoutMs", ms(f.timeout)),
        ],
    );
    out
}

/// The tags of application messages ([`LIBRARY_SYNC_PREFIX`],
/// [`crate::fragment::FRAGMENT_PREFIX`]) as byte lists.
fn message_prefixes() -> String {
    let bytes = |b: &[u8]| {
        let hex: Vec<_> = b.iter().map(|x| format!("0x{x:02x}")).collect();
        format!("[{}]", hex.join(", "))
    };
    ts_object(
        "First bytes of tagged application messages (NUL and a tag byte); a message whose first byte is not NUL is console text (messages.rs).",
        "PREFIX",
        &[
            ("librarySync", bytes(LIBRARY_SYNC_PREFIX)),
            ("fragment", bytes(crate::fragment::FRAGMENT_PREFIX)),
        ],
    )
}

/// The WebSocket close codes of [`crate::close`].
fn close_codes() -> String {
    use crate::close;
    let codes = [
        ("goingAway", close::GOING_AWAY),
        ("protocolError", close::PROTOCOL_ERROR),
        ("invalidData", close::INVALID_DATA),
        ("policy", close::POLICY),
        ("tooBig", close::TOO_BIG),
        ("slowConsumer", close::SLOW_CONSUMER),
        ("replaced", close::REPLACED),
        ("authTimeout", close::AUTH_TIMEOUT),
        ("idle", close::IDLE),
        ("unauthenticated", close::UNAUTHENTICATED),
        ("forbidden", close::FORBIDDEN),
        ("conflict", close::CONFLICT),
        ("rateLimited", close::RATE_LIMITED),
        ("serverError", close::SERVER_ERROR),
    ];
    let codes: Vec<_> = codes.iter().map(|(k, c)| (*k, c.to_string())).collect();
    ts_object(
        "WebSocket close codes of the realm server (crates/protocol/src/close.rs).",
        "CLOSE",
        &codes,
    )
}
