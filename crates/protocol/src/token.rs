//! Purpose-bound, short-lived JWTs.
//!
//! Every token names its signer (`iss`, an [`IdentId`]), its realm, and its purpose (`aud`,
//! one per message), and lives a short time (`iat`/`exp`). A token captured for one use is
//! therefore useless for another: a `preauth.authn` token cannot register a realm, an
//! invitation cannot authenticate, a token for realm A means nothing in realm B.
//!
//! Verification is two steps because the key depends on who claims to have signed:
//! [`peek`] reads the unverified claims (never trust them), the caller looks the key up, then
//! [`verify`] checks signature, algorithm, purpose and times against a `now` passed in.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::ids::{IdentId, RealmId};
use crate::jwk::PublicJwk;
use crate::keys::{IdentityKey, KeyError};

/// What a token is for. The audience string is what binds it to that use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Register,
    Authn,
    Exchange,
    Invitation,
    Signal,
    /// The feed proxy's bearer token (HTTP `Authorization: Bearer`).
    Proxy,
    /// A stream URL's token for `/proxy/media?url=U&token=…` ([`MediaClaims`]: bound to the one
    /// enclosure `U`): a media element cannot send headers, and it makes Range requests for as
    /// long as an episode plays, so it lives hours, not a minute.
    Media,
    /// A member removes a device from the realm (revocation).
    Revoke,
    /// A device announces its key-agreement key and the realm key it holds
    /// ([`AnnounceClaims`]); peer to peer, see [`crate::messages::KEY_CONNECTION_ID`].
    KeyAnnounce,
    /// A member hands the realm key to one device, encrypted to its announced agreement key
    /// ([`GrantClaims`]).
    KeyGrant,
}

impl Purpose {
    pub const fn audience(self) -> &'static str {
        match self {
            Purpose::Register => "skypod:preauth.register",
            Purpose::Authn => "skypod:preauth.authn",
            Purpose::Exchange => "skypod:preauth.exchange",
            Purpose::Invitation => "skypod:invitation",
            Purpose::Signal => "skypod:rtc.signal",
            Purpose::Proxy => "skypod:proxy",
            Purpose::Media => "skypod:proxy.media",
            Purpose::Revoke => "skypod:realm.member.remove",
            Purpose::KeyAnnounce => "skypod:peer.key-announce",
            Purpose::KeyGrant => "skypod:peer.key-grant",
        }
    }

    /// Lifetime (`exp - iat`, seconds) of the tokens both peers sign for this purpose. A
    /// token is checked once, on arrival, so single-request tokens live just long enough for
    /// a slow round trip; key tokens may travel through the relay and wait for a grant; an
    /// invitation waits for a person ([`crate::invitation::DEFAULT_TTL`], the inviter may
    /// pick another up to [`TokenRules::max_invitation_lifetime`]).
    pub const fn ttl(self) -> i64 {
        match self {
            Purpose::Register
            | Purpose::Authn
            | Purpose::Exchange
            | Purpose::Signal
            | Purpose::Proxy
            | Purpose::Revoke => 60,
            Purpose::Invitation => crate::invitation::DEFAULT_TTL,
            Purpose::Media => MEDIA_TOKEN_TTL,
            Purpose::KeyAnnounce | Purpose::KeyGrant => KEY_TOKEN_TTL,
        }
    }

    /// The purpose's short name: its key in the generated TypeScript (`AUDIENCE`,
    /// `TOKEN_TTL`) and in the golden vectors.
    pub const fn name(self) -> &'static str {
        match self {
            Purpose::Register => "register",
            Purpose::Authn => "authn",
            Purpose::Exchange => "exchange",
            Purpose::Invitation => "invitation",
            Purpose::Signal => "signal",
            Purpose::Proxy => "proxy",
            Purpose::Media => "media",
            Purpose::Revoke => "revoke",
            Purpose::KeyAnnounce => "keyAnnounce",
            Purpose::KeyGrant => "keyGrant",
        }
    }

    /// Every purpose, in a stable order (generated TypeScript, tests).
    pub const ALL: [Purpose; 10] = [
        Purpose::Register,
        Purpose::Authn,
        Purpose::Exchange,
        Purpose::Invitation,
        Purpose::Signal,
        Purpose::Proxy,
        Purpose::Media,
        Purpose::Revoke,
        Purpose::KeyAnnounce,
        Purpose::KeyGrant,
    ];
}

/// Limits applied to every token.
#[derive(Clone, Debug)]
pub struct TokenRules {
    /// Clock difference tolerated between signer and verifier, seconds.
    pub skew: i64,
    /// Longest `exp - iat` for auth and signal tokens, seconds.
    pub max_lifetime: i64,
    /// Longest `exp - iat` for invitations, seconds.
    pub max_invitation_lifetime: i64,
    /// Longest `exp - iat` for media stream tokens ([`Purpose::Media`]), seconds.
    pub max_media_lifetime: i64,
    /// Longest token accepted, bytes (checked before any decoding).
    pub max_len: usize,
}

impl TokenRules {
    /// The longest `exp - iat` accepted for `purpose`, seconds.
    pub fn max_lifetime_for(&self, purpose: Purpose) -> i64 {
        match purpose {
            Purpose::Invitation => self.max_invitation_lifetime,
            Purpose::Media => self.max_media_lifetime,
            _ => self.max_lifetime,
        }
    }
}

impl Default for TokenRules {
    fn default() -> Self {
        Self {
            skew: 30,
            max_lifetime: 300,
            max_invitation_lifetime: 7 * 24 * 3600,
            max_media_lifetime: 12 * 3600,
            max_len: 8 * 1024,
        }
    }
}

/// Claims every token carries; `ext` holds the purpose's own claims.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claims<X> {
    #[serde(flatten)]
    pub base: BaseClaims,
    #[serde(flatten)]
    pub ext: X,
}

impl<X> std::ops::Deref for Claims<X> {
    type Target = BaseClaims;
    fn deref(&self) -> &BaseClaims {
        &self.base
    }
}

/// The claims common to every token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct BaseClaims {
    pub iss: IdentId,
    pub aud: String,
    pub realm: RealmId,
    #[ts(type = "number")]
    pub iat: i64,
    #[ts(type = "number")]
    pub exp: i64,
}

/// No claims beyond the common ones (`preauth.authn`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS, Default)]
pub struct NoClaims {}

/// `preauth.register`: the new realm's first member presents its public key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RegisterClaims {
    pub pubkey: PublicJwk,
}

/// `preauth.exchange`: a newcomer presents its public key and an invitation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ExchangeClaims {
    pub pubkey: PublicJwk,
    pub invitation: String,
}

/// An invitation: signed by a member; `jti` is the single-use nonce; `sub`, when present,
/// binds the invitation to one invitee identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct InvitationClaims {
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub sub: Option<IdentId>,
}

/// `realm.member.remove`: which device to remove.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RevokeClaims {
    pub sub: IdentId,
}

/// `/proxy/media` stream tokens: the one enclosure URL the token opens (exactly the `url`
/// query parameter), so a leaked stream URL streams that public file and nothing else.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct MediaClaims {
    pub url: String,
}

/// Lifetime of `/proxy/media` stream tokens, seconds: an episode's whole listening session
/// (pauses included) without re-signing the element's URL.
pub const MEDIA_TOKEN_TTL: i64 = 6 * 3600;

/// Lifetime of `peer.key-announce` and `peer.key-grant` tokens, seconds: long enough for a
/// relayed round trip, short enough that a captured token is soon useless.
pub const KEY_TOKEN_TTL: i64 = 120;

/// `peer.key-announce`: "here is my agreement key, and the realm key I hold".
///
/// The agreement key is P-256, fresh per process (a stolen old one opens no future grant).
/// Members compare `have` with their own key's rank; one holding a higher rank answers with a
/// grant, one holding a lower rank announces back so that it is granted in turn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct AnnounceClaims {
    /// Agreement public key, SEC1 uncompressed, base64url.
    pub apk: String,
    /// Rank of the realm key held, `[epoch, kid]` (`kid`: hex of the first 8 bytes of
    /// SHA-256 of the key), or null if none. Ranks order by epoch, then kid.
    #[serde(default)]
    #[ts(type = "[number, string] | null")]
    pub have: Option<(u64, String)>,
}

/// `peer.key-grant`: the realm key, encrypted to the recipient's announced agreement key.
///
/// `ct` = base64url(nonce ‖ AES-256-GCM(realm key)), under the key
/// HKDF-SHA256(salt = realm id, ikm = ECDH(`epk`, `apk`), info) with
/// info = [`grant_info`] (also the GCM associated data). Both public keys are signed by
/// identity keys (this token and the announcement), so a relaying server cannot sit in the
/// middle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct GrantClaims {
    /// The recipient.
    pub sub: IdentId,
    /// The granter's ephemeral public key, SEC1 uncompressed, base64url.
    pub epk: String,
    /// The recipient's announced agreement key this is encrypted to.
    pub apk: String,
    /// The realm key's epoch.
    #[ts(type = "number")]
    pub epoch: u64,
    /// base64url(nonce ‖ ciphertext ‖ tag) of the 32-byte realm key.
    pub ct: String,
}

/// HKDF info and GCM associated data of a grant:
/// `skypod realm-key grant v1|<recipient>|<granter>|<epoch>`.
pub fn grant_info(recipient: &IdentId, granter: &IdentId, epoch: u64) -> Vec<u8> {
    format!("{GRANT_INFO_PREFIX}|{recipient}|{granter}|{epoch}").into_bytes()
}

/// The fixed start of [`grant_info`].
pub const GRANT_INFO_PREFIX: &str = "skypod realm-key grant v1";

/// A WebRTC signal (SDP or ICE candidate), signed by the sender for one receiver and one
/// connection attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct SignalClaims {
    /// The receiver.
    pub sub: IdentId,
    /// The connection attempt this belongs to.
    pub cid: String,
    pub signal: RtcSignal,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum RtcSignal {
    /// An SDP offer or answer.
    Description {
        #[serde(rename = "type")]
        sdp_type: String,
        sdp: String,
    },
    /// A trickled ICE candidate.
    Candidate {
        candidate: String,
        #[serde(rename = "sdpMid", default)]
        #[ts(optional)]
        sdp_mid: Option<String>,
        #[serde(rename = "sdpMLineIndex", default)]
        #[ts(optional)]
        sdp_mline_index: Option<u16>,
    },
}

/// Why a token was refused. [`TokenError::reason`] is a stable label for metrics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is larger than {0} bytes")]
    TooLarge(usize),
    #[error("token is not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("token algorithm {found} does not match the signer's key ({expected})")]
    Algorithm { found: String, expected: String },
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token is for {found:?}, not {expected:?}")]
    WrongPurpose { found: String, expected: String },
    #[error("token is for another realm")]
    WrongRealm,
    #[error("token issuer does not match the signing key")]
    IssuerMismatch,
    #[error("token expired")]
    Expired,
    #[error("token is issued in the future (check the device clock)")]
    NotYetValid,
    #[error("token lifetime exceeds {0} s")]
    LifetimeTooLong(i64),
    #[error("a public key in the token carries private members (d): never send a private key")]
    PrivateKey,
}

impl TokenError {
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::TooLarge(_) => "too_large",
            TokenError::Malformed(_) => "bad_token",
            TokenError::PrivateKey => "private_key",
            TokenError::Algorithm { .. } => "algorithm",
            TokenError::BadSignature => "bad_signature",
            TokenError::WrongPurpose { .. } => "wrong_purpose",
            TokenError::WrongRealm => "wrong_realm",
            TokenError::IssuerMismatch => "issuer_mismatch",
            TokenError::Expired => "expired",
            TokenError::NotYetValid => "not_yet_valid",
            TokenError::LifetimeTooLong(_) => "lifetime",
        }
    }
}

/// Build claims for `purpose` valid from `now` for `ttl` seconds.
pub fn claims<X>(
    key: &IdentityKey,
    purpose: Purpose,
    realm: &RealmId,
    now: i64,
    ttl: i64,
    ext: X,
) -> Claims<X> {
    Claims {
        base: BaseClaims {
            iss: key.identid().clone(),
            aud: purpose.audience().to_owned(),
            realm: realm.clone(),
            iat: now,
            exp: now + ttl,
        },
        ext,
    }
}

/// Sign a token for `purpose` (convenience over [`claims`] + [`IdentityKey::sign`]).
pub fn sign<X: Serialize>(
    key: &IdentityKey,
    purpose: Purpose,
    realm: &RealmId,
    now: i64,
    ttl: i64,
    ext: X,
) -> Result<String, KeyError> {
    key.sign(&claims(key, purpose, realm, now, ttl, ext))
}

/// Read a token's claims WITHOUT verifying anything but its shape. Use only to find out which
/// key to verify with.
pub fn peek<X: DeserializeOwned>(token: &str, rules: &TokenRules) -> Result<Claims<X>, TokenError> {
    if token.len() > rules.max_len {
        return Err(TokenError::TooLarge(rules.max_len));
    }
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed(
            "expected three dot-separated parts".into(),
        ));
    };
    let bytes = B64
        .decode(payload)
        .map_err(|_| TokenError::Malformed("payload is not base64url".into()))?;
    serde_json::from_slice(&bytes).map_err(|e| claims_error(&e))
}

/// A claims set that did not decode: a private key gets its own error, anything else is
/// described without the parser's internals.
fn claims_error(e: &serde_json::Error) -> TokenError {
    if e.to_string().starts_with(crate::jwk::PRIVATE_MEMBER) {
        return TokenError::PrivateKey;
    }
    TokenError::Malformed(format!("claims: {}", crate::errors::describe_json_error(e)))
}

/// Verify a token signed by `key` for `purpose` in `realm`, at time `now` (seconds).
pub fn verify<X: DeserializeOwned>(
    token: &str,
    key: &PublicJwk,
    purpose: Purpose,
    realm: &RealmId,
    now: i64,
    rules: &TokenRules,
) -> Result<Claims<X>, TokenError> {
    if token.len() > rules.max_len {
        return Err(TokenError::TooLarge(rules.max_len));
    }
    let expected = key.algorithm();
    let header = jsonwebtoken::decode_header(token).map_err(|_| {
        TokenError::Malformed("header is not base64url JSON with a known alg".into())
    })?;
    if header.alg != expected {
        return Err(TokenError::Algorithm {
            found: format!("{:?}", header.alg),
            expected: format!("{expected:?}"),
        });
    }
    let decoding = key
        .decoding_key()
        .map_err(|_| TokenError::Malformed("the signer's key is not usable".into()))?;
    let mut validation = Validation::new(expected);
    // Times, audience and issuer are checked below, against `now`, with precise errors.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<Claims<X>>(token, &decoding, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::Json(j) => claims_error(j.as_ref()),
            _ => TokenError::Malformed("not a well-formed JWT".into()),
        }
    })?;
    let c = data.claims;
    if c.aud != purpose.audience() {
        return Err(TokenError::WrongPurpose {
            found: c.base.aud,
            expected: purpose.audience().into(),
        });
    }
    if &c.realm != realm {
        return Err(TokenError::WrongRealm);
    }
    if c.iss != key.thumbprint() {
        return Err(TokenError::IssuerMismatch);
    }
    check_times(c.iat, c.exp, purpose, now, rules)?;
    Ok(c)
}

fn check_times(
    iat: i64,
    exp: i64,
    purpose: Purpose,
    now: i64,
    rules: &TokenRules,
) -> Result<(), TokenError> {
    let max = rules.max_lifetime_for(purpose);
    if iat > now.saturating_add(rules.skew) {
        return Err(TokenError::NotYetValid);
    }
    if exp <= now.saturating_sub(rules.skew) {
        return Err(TokenError::Expired);
    }
    if exp <= iat || exp.saturating_sub(iat) > max {
        return Err(TokenError::LifetimeTooLong(max));
    }
    Ok(())
}

/// Which algorithms the protocol accepts at all.
pub const ALGORITHMS: [Algorithm; 2] = [Algorithm::ES256, Algorithm::EdDSA];

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn realm() -> RealmId {
        RealmId::new("realm-under-test-0001").unwrap()
    }

    #[test]
    fn both_algorithms_round_trip() {
        for key in [
            IdentityKey::generate_es256(),
            IdentityKey::generate_ed25519(),
        ] {
            let t = sign(&key, Purpose::Authn, &realm(), NOW, 60, NoClaims {}).unwrap();
            let c: Claims<NoClaims> = verify(
                &t,
                key.public_jwk(),
                Purpose::Authn,
                &realm(),
                NOW,
                &TokenRules::default(),
            )
            .unwrap();
            assert_eq!(&c.iss, key.identid());
        }
    }

    #[test]
    fn refusals_are_precise() {
        let rules = TokenRules::default();
        let key = IdentityKey::generate_es256();
        let other = IdentityKey::generate_es256();
        let ed = IdentityKey::generate_ed25519();
        let t = sign(&key, Purpose::Authn, &realm(), NOW, 60, NoClaims {}).unwrap();
        let v = |tok: &str, k: &PublicJwk, p: Purpose, r: &RealmId, now: i64| {
            verify::<NoClaims>(tok, k, p, r, now, &rules).unwrap_err()
        };
        assert_eq!(
            v(&t, other.public_jwk(), Purpose::Authn, &realm(), NOW),
            TokenError::BadSignature
        );
        assert!(matches!(
            v(&t, ed.public_jwk(), Purpose::Authn, &realm(), NOW),
            TokenError::Algorithm { .. }
        ));
        assert!(matches!(
            v(&t, key.public_jwk(), Purpose::Register, &realm(), NOW),
            TokenError::WrongPurpose { .. }
        ));
        let other_realm = RealmId::new("another-realm-0002").unwrap();
        assert_eq!(
            v(&t, key.public_jwk(), Purpose::Authn, &other_realm, NOW),
            TokenError::WrongRealm
        );
        assert_eq!(
            v(&t, key.public_jwk(), Purpose::Authn, &realm(), NOW + 91),
            TokenError::Expired
        );
        assert_eq!(
            v(&t, key.public_jwk(), Purpose::Authn, &realm(), NOW - 31),
            TokenError::NotYetValid
        );
        // within the skew both ways
        assert!(
            verify::<NoClaims>(
                &t,
                key.public_jwk(),
                Purpose::Authn,
                &realm(),
                NOW + 89,
                &rules
            )
            .is_ok()
        );
        assert!(
            verify::<NoClaims>(
                &t,
                key.public_jwk(),
                Purpose::Authn,
                &realm(),
                NOW - 29,
                &rules
            )
            .is_ok()
        );
        let long = sign(&key, Purpose::Authn, &realm(), NOW, 3600, NoClaims {}).unwrap();
        assert_eq!(
            v(&long, key.public_jwk(), Purpose::Authn, &realm(), NOW),
            TokenError::LifetimeTooLong(300)
        );
        // a token whose iss names someone else's key
        let mut c = claims(&key, Purpose::Authn, &realm(), NOW, 60, NoClaims {});
        c.base.iss = other.identid().clone();
        let forged = key.sign(&c).unwrap();
        assert_eq!(
            v(&forged, key.public_jwk(), Purpose::Authn, &realm(), NOW),
            TokenError::IssuerMismatch
        );
        // tampered payload
        let mut parts: Vec<&str> = t.split('.').collect();
        let evil = B64.encode(br#"{"iss":"x","aud":"skypod:preauth.authn"}"#);
        parts[1] = &evil;
        let tampered = parts.join(".");
        assert!(matches!(
            v(&tampered, key.public_jwk(), Purpose::Authn, &realm(), NOW),
            TokenError::BadSignature | TokenError::Malformed(_)
        ));
        // alg=none
        let none = format!(
            "{}.{}.",
            B64.encode(br#"{"alg":"none"}"#),
            t.split('.').nth(1).unwrap()
        );
        assert!(matches!(
            v(&none, key.public_jwk(), Purpose::Authn, &realm(), NOW),
            TokenError::Malformed(_) | TokenError::Algorithm { .. }
        ));
        assert_eq!(
            v(
                &"a".repeat(9000),
                key.public_jwk(),
                Purpose::Authn,
                &realm(),
                NOW
            ),
            TokenError::TooLarge(8192)
        );
    }

    #[test]
    fn peek_reads_without_trusting() {
        let key = IdentityKey::generate_ed25519();
        let t = sign(
            &key,
            Purpose::Register,
            &realm(),
            NOW,
            60,
            RegisterClaims {
                pubkey: key.public_jwk().clone(),
            },
        )
        .unwrap();
        let c: Claims<RegisterClaims> = peek(&t, &TokenRules::default()).unwrap();
        assert_eq!(&c.ext.pubkey, key.public_jwk());
        assert!(peek::<NoClaims>("a.b", &TokenRules::default()).is_err());
        assert!(peek::<NoClaims>("a.!!.c", &TokenRules::default()).is_err());
    }
}
