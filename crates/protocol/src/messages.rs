//! The message catalog: each `msg` name and the shape of its `dat`.
//!
//! | msg | typ | direction | dat |
//! |---|---|---|---|
//! | `preauth.register` | req → res | client → server | [`TokenRequest`] → [`AuthnResponse`] |
//! | `preauth.authn` | req → res | client → server | [`TokenRequest`] → [`AuthnResponse`] |
//! | `preauth.exchange` | req → res | client → server | [`TokenRequest`] → [`AuthnResponse`] |
//! | `realm.status` | evt | server → client | [`RealmStatus`] |
//! | `realm.rtc.peer-joined` | evt | server → members | [`PeerJoined`] |
//! | `realm.rtc.peer-left` | evt | server → members | [`PeerLeft`] |
//! | `realm.rtc.signal` | evt or req | client → server → one member | [`SignalRequest`] → [`SignalDelivery`] |
//! | `realm.broadcast` | evt or req | client → server → members | [`BroadcastRequest`] → [`BroadcastDelivery`]; res [`BroadcastResult`] |
//! | `realm.member.remove` | req → res | client → server | [`TokenRequest`] (purpose `Revoke`) → [`MemberRemoved`] |
//! | `realm.member.removed` | evt | server → members | [`MemberRemoved`] |
//! | `ping` | req → res | either way | [`Ping`] echoed |
//!
//! ## Realm key (peer to peer)
//!
//! Realm-key tokens ([`crate::token::AnnounceClaims`], purpose `peer.key-announce`, and
//! [`crate::token::GrantClaims`], purpose `peer.key-grant`) travel between members, never to
//! the server as such: as control frames on the data channel when there is a direct link,
//! otherwise as `realm.rtc.signal` whose `connectionid` is [`KEY_CONNECTION_ID`]
//! (`"realm-key"`, never a WebRTC connection attempt) and whose `payload` is the token.
//!
//! ## Relayed payloads
//!
//! `realm.broadcast` payloads are `base64url(nonce(12) ‖ AES-256-GCM(plaintext) ‖ tag(16))`
//! under the realm key, with associated data [`relay_aad`] =
//! `skypod relay v1|<realm id>|<sender identid>`: the server can neither read a payload nor
//! re-attribute it to another sender or realm.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use ts_rs::TS;

use crate::ids::{IdentId, RealmId};
use crate::jwk::PublicJwk;

pub const PREAUTH_REGISTER: &str = "preauth.register";
pub const PREAUTH_AUTHN: &str = "preauth.authn";
pub const PREAUTH_EXCHANGE: &str = "preauth.exchange";
pub const REALM_STATUS: &str = "realm.status";
pub const PEER_JOINED: &str = "realm.rtc.peer-joined";
pub const PEER_LEFT: &str = "realm.rtc.peer-left";
pub const SIGNAL: &str = "realm.rtc.signal";
pub const BROADCAST: &str = "realm.broadcast";
pub const PING: &str = "ping";
pub const MEMBER_REMOVE: &str = "realm.member.remove";
pub const MEMBER_REMOVED: &str = "realm.member.removed";

/// `connectionid` of a `realm.rtc.signal` that carries a realm-key token instead of a WebRTC
/// signal (see the module docs).
pub const KEY_CONNECTION_ID: &str = "realm-key";

/// The fixed start of [`relay_aad`].
pub const RELAY_AAD_PREFIX: &str = "skypod relay v1";

/// Associated data of a relayed payload from `from` in `realm`:
/// `skypod relay v1|<realm>|<from>`.
pub fn relay_aad(realm: &RealmId, from: &IdentId) -> Vec<u8> {
    format!("{RELAY_AAD_PREFIX}|{realm}|{from}").into_bytes()
}

/// The `dat` of the three `preauth.*` requests: one JWT, signed by the connecting identity,
/// whose claims say what is asked (see [`crate::token`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub token: String,
}

/// The response to a successful `preauth.*`: who you are, who is online, and every member's
/// public key (to verify their signals).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
pub struct AuthnResponse {
    pub realmid: RealmId,
    pub identid: IdentId,
    /// Members online now, not counting the caller.
    pub peers: Vec<IdentId>,
    /// Every member of the realm (online or not) and its public key.
    pub identities: BTreeMap<IdentId, PublicJwk>,
}

/// Sent by the server right after authentication.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
pub struct RealmStatus {
    pub realmid: RealmId,
    pub identid: IdentId,
    /// Members online now, not counting the caller.
    pub peers: Vec<IdentId>,
    /// How many members the realm has.
    pub members: u32,
}

/// A member came online (sent to every online member, the newcomer included).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
pub struct PeerJoined {
    pub identid: IdentId,
    pub pubkey: PublicJwk,
}

/// A member went offline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
pub struct PeerLeft {
    pub identid: IdentId,
}

/// A WebRTC signal for one member. `payload` is a JWT signed by the sender (purpose
/// `rtc.signal`), which the receiver verifies with the key it learned at join; the server
/// only routes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalRequest {
    /// The sender; optional, and if present it must be the authenticated identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub localid: Option<IdentId>,
    pub remoteid: IdentId,
    pub connectionid: String,
    pub payload: String,
}

/// A relayed signal, as the named member receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
pub struct SignalDelivery {
    pub localid: IdentId,
    pub remoteid: IdentId,
    pub connectionid: String,
    pub payload: String,
}

/// A broadcast: `payload` is realm-key ciphertext (base64url of nonce ‖ AES-256-GCM output),
/// routed to `recipients` or, when absent, to every other online member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BroadcastRequest {
    pub payload: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub recipients: Option<Vec<IdentId>>,
}

/// A broadcast as a member receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
pub struct BroadcastDelivery {
    pub from: IdentId,
    pub payload: String,
}

/// The response to a broadcast sent as `req`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
pub struct BroadcastResult {
    /// How many online members it was handed to.
    pub delivered: u32,
}

/// `ping`: the response echoes `dat`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS, JsonSchema)]
pub struct Ping {
    /// Sender's clock (ms), for round-trip time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub t: Option<f64>,
}

/// A device was removed from the realm (sent to the remaining online members, and as the
/// response to `realm.member.remove`). Members rotate the realm key when they see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
pub struct MemberRemoved {
    pub identid: IdentId,
    pub by: IdentId,
}

/// Application payloads on a data channel (or in a relayed broadcast) that start with this
/// prefix are library sync messages (Automerge sync protocol bytes follow). Other payloads
/// that start with NUL carry other (reserved) tags; one whose first byte is not NUL is a
/// console message in UTF-8: a NUL byte never starts console text. `\0F` is reserved for
/// fragments of larger messages ([`crate::fragment::FRAGMENT_PREFIX`]); they are reassembled
/// before this prefix is looked at.
pub const LIBRARY_SYNC_PREFIX: &[u8] = b"\0L";

/// True for console text: a message whose first byte is not NUL. A tagged message (NUL first)
/// that no handler claims is dropped, never shown as text.
pub fn is_console_text(message: &[u8]) -> bool {
    message.first() != Some(&0)
}
