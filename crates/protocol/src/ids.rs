//! Identifiers. Both are opaque, URL-safe strings with a bounded length so that they can be
//! used as keys, in logs and in URLs without escaping.

use serde::{Deserialize, Serialize};
use std::fmt;
use ts_rs::TS;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} must be {min}..={max} characters of [A-Za-z0-9_-], got {len}")]
    Invalid {
        kind: &'static str,
        min: usize,
        max: usize,
        len: usize,
    },
}

fn check(kind: &'static str, s: &str, min: usize, max: usize) -> Result<(), IdError> {
    let ok = (min..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(IdError::Invalid {
            kind,
            min,
            max,
            len: s.len(),
        })
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, TS)]
        #[ts(type = "string")]
        pub struct $name(String);

        // Validated on the way in, so an invalid id never exists in memory.
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }

        impl $name {
            pub const MIN_LEN: usize = $min;
            pub const MAX_LEN: usize = $max;

            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check($kind, &s, $min, $max)?;
                Ok(Self(s))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "minLength": $min,
                    "maxLength": $max,
                    "pattern": "^[A-Za-z0-9_-]+$",
                })
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A device identity: the RFC 7638 JWK thumbprint (SHA-256, base64url, 43 characters) of
    /// its public signing key. Deriving the id from the key means nobody can claim an id
    /// without holding the matching private key.
    IdentId,
    "identid",
    43,
    43
);

id_type!(
    /// A realm: a random id chosen by the device that creates it (at least 128 bits of
    /// randomness, base64url).
    RealmId,
    "realmid",
    16,
    64
);

impl RealmId {
    /// A fresh random realm id (192 bits, base64url).
    pub fn random() -> Self {
        use base64::Engine;
        let bytes: [u8; 24] = rand::random();
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realm_ids_are_validated() {
        assert!(RealmId::new("short").is_err());
        assert!(RealmId::new("a".repeat(65)).is_err());
        assert!(RealmId::new("has space in it!!").is_err());
        assert!(RealmId::new("abcdefghijklmnop").is_ok());
        let r = RealmId::random();
        assert_eq!(r.as_str().len(), 32);
        let parsed: Result<RealmId, _> = serde_json::from_str("\"../../etc/passwd\"");
        assert!(parsed.is_err());
    }

    #[test]
    fn ident_ids_have_thumbprint_length() {
        assert!(IdentId::new("x".repeat(42)).is_err());
        assert!(IdentId::new("x".repeat(43)).is_ok());
    }
}
