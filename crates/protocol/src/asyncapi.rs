//! The message catalog, machine-readable: an AsyncAPI 3.0 document generated from the types in
//! [`crate::messages`] and [`crate::envelope`] (JSON Schemas by `schemars`).
//!
//! `docs/asyncapi.json` is [`render`]'s output; a test fails when it is stale
//! (`SKYPOD_BLESS=1 cargo test -p skypod-protocol` rewrites it), another when a message of
//! [`catalog`] is missing from `docs/protocol.md`, and the web tests validate the file with
//! the AsyncAPI project's own parser. Every example below is checked to decode as its type.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::envelope::{ErrorBody, MAX_SEQ};
use crate::messages::*;

/// Who sends a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    ClientToServer,
    ServerToClient,
}

/// One entry of the catalog: a `msg` with the `typ`s it travels as, one way.
pub struct CatalogMessage {
    /// Component id in the AsyncAPI document.
    pub id: &'static str,
    pub msg: &'static str,
    /// Allowed `typ` values.
    pub typ: &'static [&'static str],
    pub direction: Direction,
    pub summary: &'static str,
    /// The `dat` schema (None: no `dat`).
    schema: Option<fn(&mut SchemaGenerator) -> schemars::Schema>,
    /// Decodes a `dat` as the Rust type.
    decode: fn(&Value) -> Result<(), String>,
    /// A whole frame.
    pub example: Value,
    /// Ids of the messages answering it (for `req`).
    pub replies: &'static [&'static str],
}

fn schema_of<D: JsonSchema>(g: &mut SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<D>()
}

fn decodes_as<D: DeserializeOwned>(v: &Value) -> Result<(), String> {
    serde_json::from_value::<D>(v.clone())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn entry<D: JsonSchema + DeserializeOwned>(
    id: &'static str,
    msg: &'static str,
    typ: &'static [&'static str],
    direction: Direction,
    summary: &'static str,
    example: Value,
    replies: &'static [&'static str],
) -> CatalogMessage {
    CatalogMessage {
        id,
        msg,
        typ,
        direction,
        summary,
        schema: Some(schema_of::<D>),
        decode: decodes_as::<D>,
        example,
        replies,
    }
}

const ALICE: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
const BOB: &str = "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U";
const REALM: &str = "q3F2lN0r0k4bZ8s1Xy7mPQa9c2Vd5Wt6";
const TOKEN: &str = "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJpc3MiOiIuLi4ifQ.c2lnbmF0dXJl";

fn alice_key() -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})
}

fn bob_key() -> Value {
    json!({"kty": "EC", "crv": "P-256",
           "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
           "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})
}

fn authn_response() -> Value {
    json!({"realmid": REALM, "identid": ALICE, "peers": [BOB],
           "identities": {ALICE: alice_key(), BOB: bob_key()}})
}

/// Every message of the protocol, both ways.
pub fn catalog() -> Vec<CatalogMessage> {
    use Direction::*;
    let req = &["req"][..];
    let evt = &["evt"][..];
    let res = &["res"][..];
    let either = &["evt", "req"][..];
    vec![
        entry::<TokenRequest>(
            "preauthRegister",
            PREAUTH_REGISTER,
            req,
            ClientToServer,
            "First frame: create a realm with the caller as its first member (token purpose skypod:register).",
            json!({"typ": "req", "msg": PREAUTH_REGISTER, "seq": 1, "dat": {"token": TOKEN}}),
            &["preauthRegisterResult", "error"],
        ),
        entry::<TokenRequest>(
            "preauthAuthn",
            PREAUTH_AUTHN,
            req,
            ClientToServer,
            "First frame: authenticate as an existing member (token purpose skypod:authn).",
            json!({"typ": "req", "msg": PREAUTH_AUTHN, "seq": 1, "dat": {"token": TOKEN}}),
            &["preauthAuthnResult", "error"],
        ),
        entry::<TokenRequest>(
            "preauthExchange",
            PREAUTH_EXCHANGE,
            req,
            ClientToServer,
            "First frame: join a realm with an invitation (token purpose skypod:exchange).",
            json!({"typ": "req", "msg": PREAUTH_EXCHANGE, "seq": 1, "dat": {"token": TOKEN}}),
            &["preauthExchangeResult", "error"],
        ),
        entry::<AuthnResponse>(
            "preauthRegisterResult",
            PREAUTH_REGISTER,
            res,
            ServerToClient,
            "The realm was created; you are its only member.",
            json!({"typ": "res", "msg": PREAUTH_REGISTER, "seq": 1,
                   "dat": {"realmid": REALM, "identid": ALICE, "peers": [], "identities": {ALICE: alice_key()}}}),
            &[],
        ),
        entry::<AuthnResponse>(
            "preauthAuthnResult",
            PREAUTH_AUTHN,
            res,
            ServerToClient,
            "Authenticated: who you are, who is online, every member's public key.",
            json!({"typ": "res", "msg": PREAUTH_AUTHN, "seq": 1, "dat": authn_response()}),
            &[],
        ),
        entry::<AuthnResponse>(
            "preauthExchangeResult",
            PREAUTH_EXCHANGE,
            res,
            ServerToClient,
            "Admitted with the invitation: who you are, who is online, every member's public key.",
            json!({"typ": "res", "msg": PREAUTH_EXCHANGE, "seq": 1, "dat": authn_response()}),
            &[],
        ),
        entry::<RealmStatus>(
            "realmStatus",
            REALM_STATUS,
            evt,
            ServerToClient,
            "Sent right after the preauth res.",
            json!({"typ": "evt", "msg": REALM_STATUS,
                   "dat": {"realmid": REALM, "identid": ALICE, "peers": [BOB], "members": 2}}),
            &[],
        ),
        entry::<PeerJoined>(
            "peerJoined",
            PEER_JOINED,
            evt,
            ServerToClient,
            "A member came online (sent to every online member, the newcomer included).",
            json!({"typ": "evt", "msg": PEER_JOINED, "dat": {"identid": BOB, "pubkey": bob_key()}}),
            &[],
        ),
        entry::<PeerLeft>(
            "peerLeft",
            PEER_LEFT,
            evt,
            ServerToClient,
            "A member's session ended (it went offline, or a newer socket of it replaced this one).",
            json!({"typ": "evt", "msg": PEER_LEFT, "dat": {"identid": BOB}}),
            &[],
        ),
        entry::<SignalRequest>(
            "signalRequest",
            SIGNAL,
            either,
            ClientToServer,
            "A signed WebRTC signal (or realm-key token) for one online member.",
            json!({"typ": "req", "msg": SIGNAL, "seq": 7,
                   "dat": {"remoteid": BOB, "connectionid": "c-5f2a", "payload": TOKEN}}),
            &["signalResult", "error"],
        ),
        entry::<BroadcastResult>(
            "signalResult",
            SIGNAL,
            res,
            ServerToClient,
            "The signal was queued for the named member.",
            json!({"typ": "res", "msg": SIGNAL, "seq": 7, "dat": {"delivered": 1}}),
            &[],
        ),
        entry::<SignalDelivery>(
            "signalDelivery",
            SIGNAL,
            evt,
            ServerToClient,
            "A signal for you; localid is the authenticated sender.",
            json!({"typ": "evt", "msg": SIGNAL,
                   "dat": {"localid": ALICE, "remoteid": BOB, "connectionid": "c-5f2a", "payload": TOKEN}}),
            &[],
        ),
        entry::<BroadcastRequest>(
            "broadcastRequest",
            BROADCAST,
            either,
            ClientToServer,
            "Realm-key ciphertext for the listed members, or every other online member.",
            json!({"typ": "req", "msg": BROADCAST, "seq": 8,
                   "dat": {"payload": "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA", "recipients": [BOB]}}),
            &["broadcastResult", "error"],
        ),
        entry::<BroadcastResult>(
            "broadcastResult",
            BROADCAST,
            res,
            ServerToClient,
            "How many online members the broadcast was queued for.",
            json!({"typ": "res", "msg": BROADCAST, "seq": 8, "dat": {"delivered": 1}}),
            &[],
        ),
        entry::<BroadcastDelivery>(
            "broadcastDelivery",
            BROADCAST,
            evt,
            ServerToClient,
            "A broadcast for you; from is the authenticated sender.",
            json!({"typ": "evt", "msg": BROADCAST,
                   "dat": {"from": ALICE, "payload": "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA"}}),
            &[],
        ),
        entry::<TokenRequest>(
            "memberRemove",
            MEMBER_REMOVE,
            req,
            ClientToServer,
            "Remove a device (token purpose skypod:revoke, sub = the device).",
            json!({"typ": "req", "msg": MEMBER_REMOVE, "seq": 9, "dat": {"token": TOKEN}}),
            &["memberRemoveResult", "error"],
        ),
        entry::<MemberRemoved>(
            "memberRemoveResult",
            MEMBER_REMOVE,
            res,
            ServerToClient,
            "The device was removed.",
            json!({"typ": "res", "msg": MEMBER_REMOVE, "seq": 9, "dat": {"identid": BOB, "by": ALICE}}),
            &[],
        ),
        entry::<MemberRemoved>(
            "memberRemoved",
            MEMBER_REMOVED,
            evt,
            ServerToClient,
            "A device was removed (to the remaining online members); rotate the realm key.",
            json!({"typ": "evt", "msg": MEMBER_REMOVED, "dat": {"identid": BOB, "by": ALICE}}),
            &[],
        ),
        entry::<Ping>(
            "ping",
            PING,
            either,
            ClientToServer,
            "Application-level ping; a req is answered with its dat echoed.",
            json!({"typ": "req", "msg": PING, "seq": 10, "dat": {"t": 1_764_489_600_000.0}}),
            &["pingResult", "error"],
        ),
        entry::<Ping>(
            "pingResult",
            PING,
            res,
            ServerToClient,
            "The ping's dat, echoed.",
            json!({"typ": "res", "msg": PING, "seq": 10, "dat": {"t": 1_764_489_600_000.0}}),
            &[],
        ),
        entry::<ErrorBody>(
            "error",
            "*",
            &["err"],
            ServerToClient,
            "A refusal: msg and seq name the frame refused (msg \"invalid\" when the frame had no usable msg, \"preauth\" for the authentication timeout).",
            json!({"typ": "err", "msg": SIGNAL, "seq": 7,
                   "dat": {"status": 404, "code": "peer_offline", "message": "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U is not online in this realm"}}),
            &[],
        ),
    ]
}

impl CatalogMessage {
    /// Check that the example's `dat` decodes as the message's Rust type.
    pub fn check_example(&self) -> Result<(), String> {
        (self.decode)(&self.example["dat"])
    }
}

fn envelope_schema(m: &CatalogMessage, dat: Option<Value>) -> Value {
    let needs_seq = m.typ.iter().all(|t| matches!(*t, "req" | "res"));
    let mut required = vec!["typ", "msg"];
    if needs_seq {
        required.push("seq");
    }
    let typ = if m.typ.len() == 1 {
        json!({"type": "string", "const": m.typ[0]})
    } else {
        json!({"type": "string", "enum": m.typ})
    };
    let msg = if m.msg == "*" {
        json!({"type": "string", "minLength": 1, "maxLength": 64})
    } else {
        json!({"type": "string", "const": m.msg})
    };
    let mut props = Map::new();
    props.insert("typ".into(), typ);
    props.insert("msg".into(), msg);
    props.insert(
        "seq".into(),
        json!({"type": "integer", "minimum": 0, "maximum": MAX_SEQ,
               "description": "Chosen by the requester; the res or err carries it back."}),
    );
    if let Some(d) = dat {
        props.insert("dat".into(), d);
        required.push("dat");
    }
    json!({"type": "object", "required": required, "properties": props,
           "additionalProperties": false})
}

/// The AsyncAPI 3.0 document, as pretty JSON.
pub fn render() -> String {
    let mut generator = SchemaSettings::draft07()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    let catalog = catalog();
    let mut messages = Map::new();
    let mut channel_messages = Map::new();
    let mut operations = Map::new();
    for m in &catalog {
        let dat = m
            .schema
            .map(|f| serde_json::to_value(f(&mut generator)).expect("schemas serialize"));
        let name = if m.msg == "*" { "err" } else { m.msg };
        messages.insert(
            m.id.into(),
            json!({
                "name": name,
                "title": format!("{name} ({})", m.typ.join(" or ")),
                "summary": m.summary,
                "contentType": "application/json",
                "payload": envelope_schema(m, dat),
                "examples": [{"name": m.id, "payload": m.example}],
            }),
        );
        channel_messages.insert(
            m.id.into(),
            json!({"$ref": format!("#/components/messages/{}", m.id)}),
        );
        let action = match m.direction {
            Direction::ClientToServer => "receive",
            Direction::ServerToClient => "send",
        };
        let mut op = json!({
            "action": action,
            "channel": {"$ref": "#/channels/realm"},
            "summary": m.summary,
            "messages": [{"$ref": format!("#/channels/realm/messages/{}", m.id)}],
        });
        if !m.replies.is_empty() {
            op["reply"] = json!({
                "channel": {"$ref": "#/channels/realm"},
                "messages": m.replies.iter()
                    .map(|r| json!({"$ref": format!("#/channels/realm/messages/{r}")}))
                    .collect::<Vec<_>>(),
            });
        }
        let op_id = match m.direction {
            Direction::ClientToServer => format!("receive{}", upper_first(m.id)),
            Direction::ServerToClient => format!("send{}", upper_first(m.id)),
        };
        operations.insert(op_id, op);
    }
    let schemas: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    let doc = json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "Skypod realm protocol",
            "version": "1",
            "description": "The WebSocket protocol of a Skypod realm server (`/realm`). Generated from crates/protocol; the prose specification is docs/protocol.md. Operations are from the server's point of view: it receives what clients send and sends what clients receive.",
            "license": {"name": "AGPL-3.0-or-later"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:8080",
                "protocol": "ws",
                "pathname": "/realm",
                "description": "`skypod serve` on its default address; put TLS (wss) in front of a public one.",
            }
        },
        "channels": {
            "realm": {
                "address": "/realm",
                "title": "A realm connection",
                "description": "One WebSocket per device: the first frame authenticates it (preauth.*), then it exchanges signals, broadcasts and presence with its realm.",
                "messages": channel_messages,
            }
        },
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": schemas,
        },
    });
    let mut out = serde_json::to_string_pretty(&doc).expect("the document serializes");
    out.push('\n');
    out
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::RawEnvelope;

    #[test]
    fn every_example_is_a_valid_frame_of_its_type() {
        for m in catalog() {
            let text = m.example.to_string();
            let env = RawEnvelope::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", m.id));
            assert!(
                m.typ
                    .contains(&serde_json::to_value(env.typ).unwrap().as_str().unwrap())
            );
            if m.msg != "*" {
                assert_eq!(env.msg, m.msg, "{}", m.id);
            }
            m.check_example()
                .unwrap_or_else(|e| panic!("{}: {e}", m.id));
        }
    }

    #[test]
    fn every_message_constant_is_in_the_catalog_both_ways_where_it_goes_both_ways() {
        let c = catalog();
        for msg in [
            PREAUTH_REGISTER,
            PREAUTH_AUTHN,
            PREAUTH_EXCHANGE,
            REALM_STATUS,
            PEER_JOINED,
            PEER_LEFT,
            SIGNAL,
            BROADCAST,
            PING,
            MEMBER_REMOVE,
            MEMBER_REMOVED,
        ] {
            assert!(c.iter().any(|m| m.msg == msg), "{msg} missing");
        }
        for m in &c {
            for r in m.replies {
                assert!(
                    c.iter().any(|x| x.id == *r),
                    "{} replies with unknown {r}",
                    m.id
                );
            }
        }
    }

    #[test]
    fn the_example_identity_is_the_thumbprint_of_its_key() {
        let k: crate::PublicJwk = serde_json::from_value(alice_key()).unwrap();
        assert_eq!(k.thumbprint().as_str(), ALICE);
        let k: crate::PublicJwk = serde_json::from_value(bob_key()).unwrap();
        assert_eq!(k.thumbprint().as_str(), BOB);
    }
}
