//! Public keys as JWKs (RFC 7517) and their thumbprints (RFC 7638).
//!
//! Only the two key types the protocol signs with are accepted: EC P-256 (what WebCrypto
//! makes in browsers) and OKP Ed25519. Private members (`d`) are refused so that a client
//! can never hand its secret to the server by mistake.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ts_rs::TS;

use crate::ids::IdentId;

/// The start of the error a JWK with private members gets (so callers can tell it apart).
pub const PRIVATE_MEMBER: &str = "a JWK with private members (d) must never be sent";

/// A public signing key. Deserializing refuses private members (`d`, and RSA's/octet keys'
/// `p`, `q`, `dp`, `dq`, `qi`, `k`) wherever a key appears, so a private key handed over by
/// mistake is an error, never silently stripped.
#[derive(Clone, PartialEq, Eq, Serialize, TS, Debug, schemars::JsonSchema)]
#[serde(tag = "kty")]
pub enum PublicJwk {
    /// ECDSA P-256, used with ES256.
    #[serde(rename = "EC")]
    Ec { crv: EcCurve, x: String, y: String },
    /// Ed25519, used with EdDSA.
    #[serde(rename = "OKP")]
    Okp { crv: OkpCurve, x: String },
}

#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, Debug, schemars::JsonSchema)]
pub enum EcCurve {
    #[serde(rename = "P-256")]
    P256,
}

#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, Debug, schemars::JsonSchema)]
pub enum OkpCurve {
    Ed25519,
}

/// Why a JWK was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwkError {
    #[error("public key is not a valid JWK: {0}")]
    Malformed(String),
    #[error("public key coordinates are not a point on the curve")]
    NotOnCurve,
    #[error("{}", PRIVATE_MEMBER)]
    PrivateMember,
}

impl<'de> Deserialize<'de> for PublicJwk {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{Error, IgnoredAny};
        #[derive(Deserialize)]
        struct Wire {
            kty: String,
            #[serde(default)]
            crv: Option<String>,
            #[serde(default)]
            x: Option<String>,
            #[serde(default)]
            y: Option<String>,
            #[serde(default)]
            d: Option<IgnoredAny>,
            #[serde(default)]
            p: Option<IgnoredAny>,
            #[serde(default)]
            q: Option<IgnoredAny>,
            #[serde(default)]
            dp: Option<IgnoredAny>,
            #[serde(default)]
            dq: Option<IgnoredAny>,
            #[serde(default)]
            qi: Option<IgnoredAny>,
            #[serde(default)]
            k: Option<IgnoredAny>,
        }
        let w = Wire::deserialize(d)?;
        let private = [&w.d, &w.p, &w.q, &w.dp, &w.dq, &w.qi, &w.k];
        if private.iter().any(|m| m.is_some()) {
            return Err(D::Error::custom(PRIVATE_MEMBER));
        }
        match (w.kty.as_str(), w.crv.as_deref(), w.x, w.y) {
            ("EC", Some("P-256"), Some(x), Some(y)) => Ok(PublicJwk::Ec {
                crv: EcCurve::P256,
                x,
                y,
            }),
            ("OKP", Some("Ed25519"), Some(x), None) => Ok(PublicJwk::Okp {
                crv: OkpCurve::Ed25519,
                x,
            }),
            _ => Err(D::Error::custom(
                "public key must be an EC P-256 key {kty, crv, x, y} or an OKP Ed25519 key {kty, crv, x}",
            )),
        }
    }
}

impl PublicJwk {
    /// Parse a JWK from JSON, refusing private keys, extra curves and invalid points.
    pub fn from_value(v: &serde_json::Value) -> Result<Self, JwkError> {
        if v.get("d").is_some() {
            return Err(JwkError::PrivateMember);
        }
        let jwk: PublicJwk =
            serde_json::from_value(v.clone()).map_err(|e| JwkError::Malformed(e.to_string()))?;
        jwk.validate()?;
        Ok(jwk)
    }

    /// Check the coordinates decode to a valid point (so a verifier never chokes later).
    pub fn validate(&self) -> Result<(), JwkError> {
        match self {
            PublicJwk::Ec { x, y, .. } => {
                let x = decode32(x)?;
                let y = decode32(y)?;
                let point =
                    p256::EncodedPoint::from_affine_coordinates(&x.into(), &y.into(), false);
                let key: Option<p256::PublicKey> =
                    p256::PublicKey::from_sec1_bytes(point.as_bytes()).ok();
                key.map(|_| ()).ok_or(JwkError::NotOnCurve)
            }
            PublicJwk::Okp { x, .. } => {
                let x = decode32(x)?;
                ed25519_dalek::VerifyingKey::from_bytes(&x)
                    .map(|_| ())
                    .map_err(|_| JwkError::NotOnCurve)
            }
        }
    }

    /// RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order.
    pub fn thumbprint(&self) -> IdentId {
        let canonical = match self {
            PublicJwk::Ec { x, y, .. } => {
                format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#)
            }
            PublicJwk::Okp { x, .. } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#),
        };
        let digest = Sha256::digest(canonical.as_bytes());
        IdentId::new(B64.encode(digest)).expect("a SHA-256 thumbprint is 43 base64url characters")
    }

    /// The JWS algorithm this key signs with.
    pub fn algorithm(&self) -> jsonwebtoken::Algorithm {
        match self {
            PublicJwk::Ec { .. } => jsonwebtoken::Algorithm::ES256,
            PublicJwk::Okp { .. } => jsonwebtoken::Algorithm::EdDSA,
        }
    }

    /// A verification key for `jsonwebtoken`.
    pub fn decoding_key(&self) -> Result<jsonwebtoken::DecodingKey, JwkError> {
        match self {
            PublicJwk::Ec { x, y, .. } => jsonwebtoken::DecodingKey::from_ec_components(x, y),
            PublicJwk::Okp { x, .. } => jsonwebtoken::DecodingKey::from_ed_components(x),
        }
        .map_err(|e| JwkError::Malformed(e.to_string()))
    }
}

fn decode32(s: &str) -> Result<[u8; 32], JwkError> {
    let bytes = B64
        .decode(s)
        .map_err(|e| JwkError::Malformed(format!("coordinate is not base64url: {e}")))?;
    bytes
        .try_into()
        .map_err(|_| JwkError::Malformed("coordinate must be 32 bytes".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc7638_thumbprint_shape_for_ed25519() {
        // RFC 8037 appendix A.3: the thumbprint of this Ed25519 key.
        let jwk = PublicJwk::from_value(&json!({
            "kty": "OKP", "crv": "Ed25519",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        }))
        .unwrap();
        assert_eq!(
            jwk.thumbprint().as_str(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn refuses_private_and_foreign_keys() {
        assert_eq!(
            PublicJwk::from_value(
                &json!({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"x"})
            ),
            Err(JwkError::PrivateMember)
        );
        assert!(PublicJwk::from_value(&json!({"kty":"RSA","n":"x","e":"AQAB"})).is_err());
        assert!(PublicJwk::from_value(&json!({"kty":"EC","crv":"P-384","x":"a","y":"b"})).is_err());
        // private members are refused by plain deserialization too (tokens' claims)
        let err = serde_json::from_value::<PublicJwk>(
            json!({"kty":"EC","crv":"P-256","x":"a","y":"b","d":"secret"}),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with(PRIVATE_MEMBER), "{err}");
        // WebCrypto's export members are fine
        let k = crate::IdentityKey::generate_es256();
        let mut v = serde_json::to_value(k.public_jwk()).unwrap();
        v["ext"] = json!(true);
        v["key_ops"] = json!(["verify"]);
        assert_eq!(
            &serde_json::from_value::<PublicJwk>(v).unwrap(),
            k.public_jwk()
        );
        // right lengths, not on the curve
        let zero = B64.encode([0u8; 32]);
        assert_eq!(
            PublicJwk::from_value(&json!({"kty":"EC","crv":"P-256","x":zero,"y":zero})),
            Err(JwkError::NotOnCurve)
        );
    }
}
