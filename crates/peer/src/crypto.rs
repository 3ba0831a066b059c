//! Realm encryption.
//!
//! - The **realm key** is 256 random bits with an `epoch` that grows on every rotation.
//! - **Relayed payloads** (`realm.broadcast`) are `base64url(nonce ‖ AES-256-GCM(ct ‖ tag))`
//!   under the realm key, with associated data binding the ciphertext to the realm and the
//!   sender, so the server can neither read nor re-attribute a payload.
//! - **Key delivery**: a device announces an agreement key (P-256, fresh per process) in a
//!   JWT signed by its identity key; a member that holds a newer realm key answers with a
//!   grant JWT (signed by the granter) carrying the realm key encrypted to that agreement key:
//!   ECDH(granter's ephemeral, announced key) → HKDF-SHA256 → AES-256-GCM. Both public keys
//!   are signed by identity keys the server cannot forge, so the server cannot sit in the
//!   middle of the exchange even though it may relay it.
//!
//! The wire format (token purposes and claims, AAD and HKDF info strings, the `realm-key`
//! connection id) is defined in `skypod_protocol` (`token::AnnounceClaims`,
//! `token::GrantClaims`, `messages::relay_aad`) and shared with the web app through the
//! generated TypeScript; this module holds the cryptography.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hkdf::Hkdf;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use skypod_protocol::messages::relay_aad;
use skypod_protocol::token::{self, Claims, Purpose, TokenError, grant_info};
use skypod_protocol::{IdentId, IdentityKey, RealmId};

pub use skypod_protocol::token::{AnnounceClaims, GrantClaims, KEY_TOKEN_TTL as TTL};

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("payload is not valid base64url")]
    Encoding,
    #[error("payload too short")]
    Short,
    #[error("no realm key decrypts this payload")]
    NoKey,
    #[error("bad public key")]
    BadKey,
    #[error("token: {0}")]
    Token(#[from] TokenError),
    #[error("signing: {0}")]
    Sign(String),
    #[error("grant is for another device")]
    WrongRecipient,
}

/// A realm key and its generation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealmKey {
    pub epoch: u64,
    #[serde(with = "b64_32")]
    pub key: [u8; 32],
}

impl std::fmt::Debug for RealmKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        write!(f, "RealmKey(epoch {}, kid {})", self.epoch, self.kid())
    }
}

mod b64_32 {
    use super::B64;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let v = B64.decode(s).map_err(serde::de::Error::custom)?;
        v.try_into()
            .map_err(|_| serde::de::Error::custom("realm key must be 32 bytes"))
    }
}

impl RealmKey {
    /// A new random key (the realm's first device, or a rotation).
    pub fn generate(epoch: u64) -> Self {
        Self {
            epoch,
            key: rand::random(),
        }
    }

    /// A short public fingerprint, to compare keys without revealing them.
    pub fn kid(&self) -> String {
        let h = Sha256::digest(self.key);
        h[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Total order used to converge concurrent rotations: higher epoch wins, then kid.
    pub fn rank(&self) -> (u64, String) {
        (self.epoch, self.kid())
    }
}

/// A GCM nonce from the 12 bytes it is made of (`split_at(12)` guarantees the length).
fn gcm_nonce(b: &[u8]) -> Nonce<aes_gcm::aead::consts::U12> {
    let mut n = [0u8; 12];
    n.copy_from_slice(&b[..12]);
    n.into()
}

/// Encrypt an application payload for the relay.
pub fn seal_relay(key: &RealmKey, realm: &RealmId, from: &IdentId, plaintext: &[u8]) -> String {
    let cipher = Aes256Gcm::new((&key.key).into());
    let nonce: [u8; 12] = rand::random();
    let aad = relay_aad(realm, from);
    let ct = cipher
        .encrypt(
            &gcm_nonce(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    let mut out = Vec::with_capacity(12 + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    B64.encode(out)
}

/// Decrypt a relayed payload from `from` with any of `keys` (current first: payloads sent
/// just before a rotation still open with the previous key).
pub fn open_relay<'a>(
    keys: impl IntoIterator<Item = &'a RealmKey>,
    realm: &RealmId,
    from: &IdentId,
    payload: &str,
) -> Result<Vec<u8>, CryptoError> {
    let raw = B64.decode(payload).map_err(|_| CryptoError::Encoding)?;
    if raw.len() < 12 + 16 {
        return Err(CryptoError::Short);
    }
    let (nonce, ct) = raw.split_at(12);
    let aad = relay_aad(realm, from);
    for k in keys {
        let cipher = Aes256Gcm::new((&k.key).into());
        if let Ok(pt) = cipher.decrypt(&gcm_nonce(nonce), Payload { msg: ct, aad: &aad }) {
            return Ok(pt);
        }
    }
    Err(CryptoError::NoKey)
}

/// This process's key-agreement key (P-256). Fresh per process: a stolen old one opens no
/// future grant.
pub struct AgreementKey {
    secret: p256::SecretKey,
}

impl AgreementKey {
    pub fn generate() -> Self {
        Self {
            secret: p256::SecretKey::random(&mut rand::rngs::OsRng),
        }
    }

    /// The public half, SEC1 uncompressed, base64url.
    pub fn public_b64(&self) -> String {
        B64.encode(self.secret.public_key().to_encoded_point(false).as_bytes())
    }
}

fn parse_point(b64: &str) -> Result<p256::PublicKey, CryptoError> {
    let bytes = B64.decode(b64).map_err(|_| CryptoError::BadKey)?;
    p256::PublicKey::from_sec1_bytes(&bytes).map_err(|_| CryptoError::BadKey)
}

fn wrap_key(
    shared: &p256::ecdh::SharedSecret,
    realm: &RealmId,
    info: &[u8],
) -> Result<Aes256Gcm, CryptoError> {
    let hk = Hkdf::<Sha256>::new(Some(realm.as_str().as_bytes()), shared.raw_secret_bytes());
    let mut okm = [0u8; 32];
    hk.expand(info, &mut okm).map_err(|_| CryptoError::BadKey)?;
    Ok(Aes256Gcm::new((&okm).into()))
}

fn sign_key_token<X: Serialize>(
    key: &IdentityKey,
    purpose: Purpose,
    realm: &RealmId,
    now: i64,
    ext: X,
) -> Result<String, CryptoError> {
    token::sign(key, purpose, realm, now, TTL, ext).map_err(|e| CryptoError::Sign(e.to_string()))
}

/// Sign an announcement of our agreement key.
pub fn announce(
    identity: &IdentityKey,
    agreement: &AgreementKey,
    have: Option<&RealmKey>,
    realm: &RealmId,
    now: i64,
) -> Result<String, CryptoError> {
    sign_key_token(
        identity,
        Purpose::KeyAnnounce,
        realm,
        now,
        AnnounceClaims {
            apk: agreement.public_b64(),
            have: have.map(RealmKey::rank),
        },
    )
}

/// Encrypt `key` to `recipient`'s announced agreement key and sign the grant.
pub fn grant(
    identity: &IdentityKey,
    key: &RealmKey,
    recipient: &IdentId,
    recipient_apk: &str,
    realm: &RealmId,
    now: i64,
) -> Result<String, CryptoError> {
    let their = parse_point(recipient_apk)?;
    let eph = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let shared = p256::ecdh::diffie_hellman(eph.to_nonzero_scalar(), their.as_affine());
    let info = grant_info(recipient, identity.identid(), key.epoch);
    let cipher = wrap_key(&shared, realm, &info)?;
    let nonce: [u8; 12] = rand::random();
    let ct = cipher
        .encrypt(
            &gcm_nonce(&nonce),
            Payload {
                msg: &key.key,
                aad: &info,
            },
        )
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    let mut blob = nonce.to_vec();
    blob.extend_from_slice(&ct);
    sign_key_token(
        identity,
        Purpose::KeyGrant,
        realm,
        now,
        GrantClaims {
            sub: recipient.clone(),
            epk: B64.encode(eph.public_key().to_encoded_point(false).as_bytes()),
            apk: recipient_apk.to_owned(),
            epoch: key.epoch,
            ct: B64.encode(blob),
        },
    )
}

/// Open a verified grant addressed to `me`.
pub fn open_grant(
    claims: &Claims<GrantClaims>,
    me: &IdentId,
    agreement: &AgreementKey,
    realm: &RealmId,
) -> Result<RealmKey, CryptoError> {
    let g = &claims.ext;
    if &g.sub != me || g.apk != agreement.public_b64() {
        return Err(CryptoError::WrongRecipient);
    }
    let eph = parse_point(&g.epk)?;
    let shared = p256::ecdh::diffie_hellman(agreement.secret.to_nonzero_scalar(), eph.as_affine());
    let info = grant_info(me, &claims.iss, g.epoch);
    let cipher = wrap_key(&shared, realm, &info)?;
    let blob = B64.decode(&g.ct).map_err(|_| CryptoError::Encoding)?;
    if blob.len() < 12 + 16 {
        return Err(CryptoError::Short);
    }
    let (nonce, ct) = blob.split_at(12);
    let pt = cipher
        .decrypt(
            &gcm_nonce(nonce),
            Payload {
                msg: ct,
                aad: &info,
            },
        )
        .map_err(|_| CryptoError::NoKey)?;
    let key: [u8; 32] = pt.try_into().map_err(|_| CryptoError::Short)?;
    Ok(RealmKey {
        epoch: g.epoch,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use skypod_protocol::token::TokenRules;
    use skypod_protocol::unix_now;

    #[test]
    fn relay_round_trip_and_binding() {
        let realm = RealmId::random();
        let a = IdentityKey::generate_es256();
        let b = IdentityKey::generate_es256();
        let k = RealmKey::generate(1);
        let p = seal_relay(&k, &realm, a.identid(), b"hello plaintext");
        assert!(!p.contains("hello"));
        assert_eq!(
            open_relay([&k], &realm, a.identid(), &p).unwrap(),
            b"hello plaintext"
        );
        // re-attributed to another sender: refused
        assert!(open_relay([&k], &realm, b.identid(), &p).is_err());
        // wrong key: refused; old + new keys: opens
        let k2 = RealmKey::generate(2);
        assert!(open_relay([&k2], &realm, a.identid(), &p).is_err());
        assert!(open_relay([&k2, &k], &realm, a.identid(), &p).is_ok());
        assert!(open_relay([&k], &realm, a.identid(), "!!").is_err());
        assert!(open_relay([&k], &realm, a.identid(), "AAAA").is_err());
    }

    #[test]
    fn grant_reaches_only_the_announced_key() {
        let realm = RealmId::random();
        let rules = TokenRules::default();
        let now = unix_now();
        let member = IdentityKey::generate_es256();
        let newcomer = IdentityKey::generate_ed25519();
        let agree = AgreementKey::generate();
        let ann = announce(&newcomer, &agree, None, &realm, now).unwrap();
        let a: Claims<AnnounceClaims> = token::verify(
            &ann,
            newcomer.public_jwk(),
            Purpose::KeyAnnounce,
            &realm,
            now,
            &rules,
        )
        .unwrap();
        assert_eq!(a.ext.have, None);
        // the announcement does not verify under another key or as a grant
        assert!(
            token::verify::<AnnounceClaims>(
                &ann,
                member.public_jwk(),
                Purpose::KeyAnnounce,
                &realm,
                now,
                &rules
            )
            .is_err()
        );
        assert!(
            token::verify::<AnnounceClaims>(
                &ann,
                newcomer.public_jwk(),
                Purpose::KeyGrant,
                &realm,
                now,
                &rules
            )
            .is_err()
        );
        let k = RealmKey::generate(3);
        let g = grant(&member, &k, newcomer.identid(), &a.ext.apk, &realm, now).unwrap();
        let gc: Claims<GrantClaims> = token::verify(
            &g,
            member.public_jwk(),
            Purpose::KeyGrant,
            &realm,
            now,
            &rules,
        )
        .unwrap();
        assert_eq!(
            open_grant(&gc, newcomer.identid(), &agree, &realm).unwrap(),
            k
        );
        // a different agreement key (another process, or an eavesdropper) cannot open it
        let other = AgreementKey::generate();
        assert!(open_grant(&gc, newcomer.identid(), &other, &realm).is_err());
        assert!(open_grant(&gc, member.identid(), &agree, &realm).is_err());
        assert!(!g.contains(&B64.encode(k.key)));
    }

    #[test]
    fn relay_golden_vector_opens() {
        // Shared with the web app (web/test/keyexchange.test.ts).
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../../protocol/testdata/vectors.json")).unwrap();
        let r = &v["relay"];
        let key = RealmKey {
            epoch: 1,
            key: B64
                .decode(r["key"].as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap(),
        };
        let realm = RealmId::new(r["realm"].as_str().unwrap()).unwrap();
        let from = IdentId::new(r["from"].as_str().unwrap()).unwrap();
        let payload = r["payload"].as_str().unwrap();
        assert_eq!(
            open_relay([&key], &realm, &from, payload).unwrap(),
            r["plaintext"].as_str().unwrap().as_bytes()
        );
        let other = IdentityKey::generate_es256();
        assert!(open_relay([&key], &realm, other.identid(), payload).is_err());
    }

    #[test]
    fn key_debug_hides_material() {
        let k = RealmKey::generate(1);
        assert!(!format!("{k:?}").contains(&B64.encode(k.key)));
        let json = serde_json::to_string(&k).unwrap();
        let back: RealmKey = serde_json::from_str(&json).unwrap();
        assert_eq!(back, k);
    }
}
