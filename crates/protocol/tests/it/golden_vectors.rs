//! Golden test vectors shared with the web app: fixed keys, tokens and envelopes, with the
//! verdict every implementation must reach. `testdata/vectors.json` is regenerated with
//! `SKYPOD_BLESS=1 cargo test -p skypod-protocol` (signatures are deterministic: RFC 6979
//! for ES256, Ed25519 by construction), and this test checks both that the file is current
//! and that the Rust verifier reaches each recorded verdict.

use crate::fresh::fresh_vectors;
use serde_json::{Value, json};
use skypod_protocol::envelope::RawEnvelope;
use skypod_protocol::messages::relay_aad;
use skypod_protocol::token::{
    self, AnnounceClaims, ExchangeClaims, GrantClaims, InvitationClaims, KEY_TOKEN_TTL, NoClaims,
    Purpose, RegisterClaims, TokenRules,
};
use skypod_protocol::{IdentityKey, PublicJwk, RealmId};

const NOW: i64 = 1_800_000_000;

fn keys() -> Vec<(&'static str, IdentityKey)> {
    vec![
        ("alice", IdentityKey::es256_from_secret(&[1u8; 32]).unwrap()),
        ("bob", IdentityKey::es256_from_secret(&[2u8; 32]).unwrap()),
        ("carol", IdentityKey::ed25519_from_secret(&[3u8; 32])),
    ]
}

fn purpose_name(p: Purpose) -> &'static str {
    p.name()
}

fn build() -> Value {
    let ks = keys();
    let key = |n: &str| &ks.iter().find(|(k, _)| *k == n).unwrap().1;
    let (alice, bob, carol) = (key("alice"), key("bob"), key("carol"));
    let realm = RealmId::new("golden-realm-000001").unwrap();
    let other = RealmId::new("golden-realm-000002").unwrap();
    let mut tokens = vec![];
    let mut add = |name: &str,
                   tok: String,
                   signer: &str,
                   purpose: Purpose,
                   realm: &RealmId,
                   now: i64,
                   error: Option<&str>| {
        tokens.push(json!({
            "name": name, "token": tok, "signer": signer, "purpose": purpose_name(purpose),
            "audience": purpose.audience(), "realm": realm, "now": now,
            "valid": error.is_none(), "error": error,
        }));
    };
    let sign = |k: &IdentityKey, p: Purpose, r: &RealmId, ttl: i64, ext: Value| {
        token::sign(k, p, r, NOW, ttl, ext).unwrap()
    };
    let reg = json!({"pubkey": alice.public_jwk()});
    add(
        "register ES256",
        sign(alice, Purpose::Register, &realm, 60, reg.clone()),
        "alice",
        Purpose::Register,
        &realm,
        NOW,
        None,
    );
    add(
        "authn EdDSA",
        sign(carol, Purpose::Authn, &realm, 60, json!({})),
        "carol",
        Purpose::Authn,
        &realm,
        NOW,
        None,
    );
    add(
        "authn expired",
        sign(alice, Purpose::Authn, &realm, 60, json!({})),
        "alice",
        Purpose::Authn,
        &realm,
        NOW + 120,
        Some("expired"),
    );
    add(
        "authn from the future",
        sign(alice, Purpose::Authn, &realm, 60, json!({})),
        "alice",
        Purpose::Authn,
        &realm,
        NOW - 120,
        Some("not_yet_valid"),
    );
    add(
        "register token used to authn",
        sign(alice, Purpose::Register, &realm, 60, reg),
        "alice",
        Purpose::Authn,
        &realm,
        NOW,
        Some("wrong_purpose"),
    );
    add(
        "authn for another realm",
        sign(alice, Purpose::Authn, &other, 60, json!({})),
        "alice",
        Purpose::Authn,
        &realm,
        NOW,
        Some("wrong_realm"),
    );
    add(
        "authn signed by bob, claimed by alice",
        sign(bob, Purpose::Authn, &realm, 60, json!({})),
        "alice",
        Purpose::Authn,
        &realm,
        NOW,
        Some("bad_signature"),
    );
    add(
        "authn lives too long",
        sign(alice, Purpose::Authn, &realm, 3600, json!({})),
        "alice",
        Purpose::Authn,
        &realm,
        NOW,
        Some("lifetime"),
    );
    add(
        "EdDSA token checked against a P-256 key",
        sign(carol, Purpose::Authn, &realm, 60, json!({})),
        "alice",
        Purpose::Authn,
        &realm,
        NOW,
        Some("algorithm"),
    );
    let inv = sign(
        alice,
        Purpose::Invitation,
        &realm,
        86400,
        json!({"jti": "golden-nonce-0000000001", "sub": bob.identid()}),
    );
    add(
        "invitation bound to bob",
        inv.clone(),
        "alice",
        Purpose::Invitation,
        &realm,
        NOW,
        None,
    );
    add(
        "exchange by bob",
        sign(
            bob,
            Purpose::Exchange,
            &realm,
            60,
            json!({"pubkey": bob.public_jwk(), "invitation": inv}),
        ),
        "bob",
        Purpose::Exchange,
        &realm,
        NOW,
        None,
    );
    // Realm-key delivery. The claim values are fixed strings of the right shape: these vectors
    // pin the token format (audience, claims, lifetime); the ECDH/AES round trip is tested in
    // crates/peer and web/test/keyexchange.test.ts.
    let point = |seed: u8| {
        use base64::Engine;
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let sk = p256::SecretKey::from_slice(&[seed; 32]).unwrap();
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sk.public_key().to_encoded_point(false).as_bytes())
    };
    let (apk, epk) = (point(4), point(5));
    // nonce(12) ‖ ciphertext(32) ‖ tag(16), here just a fixed pattern of that length
    let ct = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 60])
    };
    add(
        "key announce without a key",
        sign(
            bob,
            Purpose::KeyAnnounce,
            &realm,
            KEY_TOKEN_TTL,
            json!({"apk": apk, "have": null}),
        ),
        "bob",
        Purpose::KeyAnnounce,
        &realm,
        NOW,
        None,
    );
    add(
        "key announce holding epoch 2 (EdDSA)",
        sign(
            carol,
            Purpose::KeyAnnounce,
            &realm,
            KEY_TOKEN_TTL,
            json!({"apk": apk, "have": [2, "66687aadf862bd77"]}),
        ),
        "carol",
        Purpose::KeyAnnounce,
        &realm,
        NOW,
        None,
    );
    let grant = sign(
        alice,
        Purpose::KeyGrant,
        &realm,
        KEY_TOKEN_TTL,
        json!({"sub": bob.identid(), "epk": epk, "apk": apk, "epoch": 2, "ct": ct}),
    );
    add(
        "key grant to bob",
        grant.clone(),
        "alice",
        Purpose::KeyGrant,
        &realm,
        NOW,
        None,
    );
    add(
        "key grant taken for an announcement",
        grant.clone(),
        "alice",
        Purpose::KeyAnnounce,
        &realm,
        NOW,
        Some("wrong_purpose"),
    );
    add(
        "key grant after its lifetime",
        grant,
        "alice",
        Purpose::KeyGrant,
        &realm,
        NOW + KEY_TOKEN_TTL + 31,
        Some("expired"),
    );

    let envelopes = json!([
        {"json": r#"{"typ":"req","msg":"preauth.authn","seq":1,"dat":{"token":"x"}}"#, "valid": true},
        {"json": r#"{"typ":"evt","msg":"realm.broadcast","dat":{"payload":"AAAA"}}"#, "valid": true},
        {"json": r#"{"typ":"err","msg":"ping","seq":2,"dat":{"status":404,"message":"no"}}"#, "valid": true},
        {"json": r#"{"typ":"req","msg":"ping"}"#, "valid": false},
        {"json": r#"{"typ":"nope","msg":"ping"}"#, "valid": false},
        {"json": r#"{"typ":"evt","msg":"ping","extra":true}"#, "valid": false},
        {"json": r#"{"typ":"req","msg":"ping","seq":9007199254740992}"#, "valid": false},
        {"json": "not json", "valid": false},
    ]);
    // A relayed payload: fixed realm key and nonce (never reuse a nonce in real use).
    let relay = {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (key, nonce, plaintext) = ([9u8; 32], [1u8; 12], "hello through the relay");
        let aad = relay_aad(&realm, alice.identid());
        let ct = aes_gcm::Aes256Gcm::new((&key).into())
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .unwrap();
        json!({
            "realm": realm, "from": alice.identid(), "key": b64.encode(key),
            "aad": String::from_utf8(aad).unwrap(), "plaintext": plaintext,
            "payload": b64.encode([nonce.as_slice(), &ct].concat()),
        })
    };
    json!({
        "comment": "Generated by crates/protocol/tests/it/golden_vectors.rs; private keys are for tests only.",
        "relay": relay,
        "keys": ks.iter().map(|(n, k)| (n.to_string(), json!({
            "identid": k.identid(), "public_jwk": k.public_jwk(), "private_jwk": k.to_private_jwk(),
        }))).collect::<serde_json::Map<_, _>>(),
        "tokens": tokens,
        "envelopes": envelopes,
    })
}

#[test]
fn vectors_are_current_and_verify() {
    let v = fresh_vectors("vectors.json", &build());
    let rules = TokenRules::default();
    for t in v["tokens"].as_array().unwrap() {
        let signer = &v["keys"][t["signer"].as_str().unwrap()];
        let jwk = PublicJwk::from_value(&signer["public_jwk"]).unwrap();
        let realm = RealmId::new(t["realm"].as_str().unwrap()).unwrap();
        let purpose = match t["purpose"].as_str().unwrap() {
            "register" => Purpose::Register,
            "authn" => Purpose::Authn,
            "exchange" => Purpose::Exchange,
            "invitation" => Purpose::Invitation,
            "keyAnnounce" => Purpose::KeyAnnounce,
            "keyGrant" => Purpose::KeyGrant,
            _ => Purpose::Signal,
        };
        let tok = t["token"].as_str().unwrap();
        let now = t["now"].as_i64().unwrap();
        let got = match purpose {
            Purpose::Register => {
                token::verify::<RegisterClaims>(tok, &jwk, purpose, &realm, now, &rules).map(|_| ())
            }
            Purpose::Exchange => {
                token::verify::<ExchangeClaims>(tok, &jwk, purpose, &realm, now, &rules).map(|_| ())
            }
            Purpose::Invitation => {
                token::verify::<InvitationClaims>(tok, &jwk, purpose, &realm, now, &rules)
                    .map(|_| ())
            }
            Purpose::KeyAnnounce => {
                token::verify::<AnnounceClaims>(tok, &jwk, purpose, &realm, now, &rules).map(|_| ())
            }
            Purpose::KeyGrant => {
                token::verify::<GrantClaims>(tok, &jwk, purpose, &realm, now, &rules).map(|_| ())
            }
            _ => token::verify::<NoClaims>(tok, &jwk, purpose, &realm, now, &rules).map(|_| ()),
        };
        match (t["error"].as_str(), got) {
            (None, Ok(())) => {}
            (Some(reason), Err(e)) => assert_eq!(e.reason(), reason, "{}", t["name"]),
            (want, got) => panic!("{}: wanted {want:?}, got {got:?}", t["name"]),
        }
    }
    // the relay vector opens with the recorded key under the documented AAD
    {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let r = &v["relay"];
        let realm = RealmId::new(r["realm"].as_str().unwrap()).unwrap();
        let from = skypod_protocol::IdentId::new(r["from"].as_str().unwrap()).unwrap();
        let aad = format!("skypod relay v1|{realm}|{from}");
        assert_eq!(r["aad"].as_str().unwrap(), aad);
        assert_eq!(relay_aad(&realm, &from), aad.as_bytes());
        let key: [u8; 32] = b64
            .decode(r["key"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let raw = b64.decode(r["payload"].as_str().unwrap()).unwrap();
        let (nonce, ct) = raw.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().unwrap();
        let pt = aes_gcm::Aes256Gcm::new((&key).into())
            .decrypt(
                (&nonce).into(),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .unwrap();
        assert_eq!(pt, r["plaintext"].as_str().unwrap().as_bytes());
    }
    for e in v["envelopes"].as_array().unwrap() {
        let ok = RawEnvelope::parse(e["json"].as_str().unwrap()).is_ok();
        assert_eq!(ok, e["valid"].as_bool().unwrap(), "{}", e["json"]);
    }
}
