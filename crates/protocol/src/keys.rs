//! A device's identity key: generation, persistence (PKCS#8 PEM) and JWT signing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use serde::Serialize;

use crate::ids::IdentId;
use crate::jwk::{EcCurve, OkpCurve, PublicJwk};

/// The private half of an identity. ES256 is what browsers use (WebCrypto P-256); native
/// peers may use either.
#[derive(Clone)]
pub struct IdentityKey {
    kind: KeyKind,
    /// PKCS#8 DER, what `jsonwebtoken` signs with.
    pkcs8: Vec<u8>,
    public: PublicJwk,
    identid: IdentId,
}

#[derive(Clone)]
enum KeyKind {
    Es256,
    EdDsa,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not a PKCS#8 P-256 or Ed25519 private key")]
    Unsupported,
    #[error("could not sign: {0}")]
    Sign(String),
}

impl IdentityKey {
    /// A new random P-256 key (ES256), as a browser would make.
    pub fn generate_es256() -> Self {
        let sk = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        Self::from_p256(&sk)
    }

    /// A new random Ed25519 key (EdDSA).
    pub fn generate_ed25519() -> Self {
        let sk = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        Self::from_ed25519(&sk)
    }

    /// A P-256 key from its 32-byte secret scalar (test vectors; real keys come from
    /// [`Self::generate_es256`]).
    pub fn es256_from_secret(secret: &[u8; 32]) -> Result<Self, KeyError> {
        let sk = p256::ecdsa::SigningKey::from_bytes(secret.into())
            .map_err(|_| KeyError::Unsupported)?;
        Ok(Self::from_p256(&sk))
    }

    /// An Ed25519 key from its 32-byte seed (test vectors).
    pub fn ed25519_from_secret(secret: &[u8; 32]) -> Self {
        Self::from_ed25519(&ed25519_dalek::SigningKey::from_bytes(secret))
    }

    fn from_p256(sk: &p256::ecdsa::SigningKey) -> Self {
        let pkcs8 = sk
            .to_pkcs8_der()
            .expect("a P-256 key always encodes")
            .as_bytes()
            .to_vec();
        let point = sk.verifying_key().to_encoded_point(false);
        let public = PublicJwk::Ec {
            crv: EcCurve::P256,
            x: B64.encode(point.x().expect("uncompressed point has x")),
            y: B64.encode(point.y().expect("uncompressed point has y")),
        };
        Self::assemble(KeyKind::Es256, pkcs8, public)
    }

    fn from_ed25519(sk: &ed25519_dalek::SigningKey) -> Self {
        let pkcs8 = sk
            .to_pkcs8_der()
            .expect("an Ed25519 key always encodes")
            .as_bytes()
            .to_vec();
        let public = PublicJwk::Okp {
            crv: OkpCurve::Ed25519,
            x: B64.encode(sk.verifying_key().as_bytes()),
        };
        Self::assemble(KeyKind::EdDsa, pkcs8, public)
    }

    fn assemble(kind: KeyKind, pkcs8: Vec<u8>, public: PublicJwk) -> Self {
        let identid = public.thumbprint();
        Self {
            kind,
            pkcs8,
            public,
            identid,
        }
    }

    /// Load from PKCS#8 DER (either key type).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        if let Ok(sk) = p256::ecdsa::SigningKey::from_pkcs8_der(der) {
            return Ok(Self::from_p256(&sk));
        }
        if let Ok(sk) = ed25519_dalek::SigningKey::from_pkcs8_der(der) {
            return Ok(Self::from_ed25519(&sk));
        }
        Err(KeyError::Unsupported)
    }

    /// Load from a PKCS#8 PEM file's contents.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        let (label, doc) =
            p256::pkcs8::SecretDocument::from_pem(pem).map_err(|_| KeyError::Unsupported)?;
        if label != "PRIVATE KEY" {
            return Err(KeyError::Unsupported);
        }
        Self::from_pkcs8_der(doc.as_bytes())
    }

    /// PKCS#8 PEM, for the key file (the caller keeps it readable only by the user).
    pub fn to_pkcs8_pem(&self) -> String {
        let doc = p256::pkcs8::SecretDocument::try_from(self.pkcs8.as_slice())
            .expect("our own DER parses");
        doc.to_pem("PRIVATE KEY", LineEnding::LF)
            .expect("PEM encoding cannot fail")
            .to_string()
    }

    /// The private key as a JWK, only for test vectors that WebCrypto must import.
    pub fn to_private_jwk(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(&self.public).expect("JWK serializes");
        let d = match self.kind {
            KeyKind::Es256 => {
                let sk = p256::ecdsa::SigningKey::from_pkcs8_der(&self.pkcs8).expect("own key");
                B64.encode(sk.to_bytes())
            }
            KeyKind::EdDsa => {
                let sk = ed25519_dalek::SigningKey::from_pkcs8_der(&self.pkcs8).expect("own key");
                B64.encode(sk.to_bytes())
            }
        };
        v["d"] = serde_json::Value::String(d);
        v
    }

    pub fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }

    pub fn identid(&self) -> &IdentId {
        &self.identid
    }

    pub fn algorithm(&self) -> Algorithm {
        match self.kind {
            KeyKind::Es256 => Algorithm::ES256,
            KeyKind::EdDsa => Algorithm::EdDSA,
        }
    }

    /// Sign claims as a compact JWS. The header names the signer in `kid`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, KeyError> {
        let mut header = Header::new(self.algorithm());
        header.kid = Some(self.identid.to_string());
        let key = match self.kind {
            KeyKind::Es256 => EncodingKey::from_ec_der(&self.pkcs8),
            KeyKind::EdDsa => EncodingKey::from_ed_der(&self.pkcs8),
        };
        jsonwebtoken::encode(&header, claims, &key).map_err(|e| KeyError::Sign(e.to_string()))
    }
}

impl std::fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("IdentityKey")
            .field("identid", &self.identid)
            .field("alg", &self.algorithm())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_keeps_identity() {
        for key in [
            IdentityKey::generate_es256(),
            IdentityKey::generate_ed25519(),
        ] {
            let pem = key.to_pkcs8_pem();
            let back = IdentityKey::from_pkcs8_pem(&pem).unwrap();
            assert_eq!(back.identid(), key.identid());
            assert_eq!(back.public_jwk(), key.public_jwk());
        }
        assert!(
            IdentityKey::from_pkcs8_pem(
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
            )
            .is_err()
        );
    }

    #[test]
    fn debug_hides_key_material() {
        let key = IdentityKey::generate_es256();
        let dbg = format!("{key:?}");
        assert!(!dbg.contains("pkcs8"));
    }
}
