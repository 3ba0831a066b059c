//! The Skypod wire protocol: one source of truth for the server, the native peer and (through
//! generated TypeScript) the web app.
//!
//! - [`envelope`]: the frame every message travels in, `{typ, msg, seq?, dat?}`.
//! - [`messages`]: the message catalog and the payload (`dat`) of each message, plus the
//!   realm-key transport (`realm-key` connection id) and the relay's associated data.
//! - [`ids`], [`jwk`], [`keys`]: identities (an id derived from a public key) and their keys.
//! - [`token`]: purpose-bound, short-lived JWTs (ES256 as WebCrypto makes them, and EdDSA),
//!   including the peers' realm-key announce/grant tokens.
//! - [`errors`]: the machine codes every `err` carries.
//! - [`invitation`]: single-use invitations into a realm.
//! - [`fragment`]: splitting app messages to fit a transport's size limit, and reassembly.
//! - [`batch`]: several small data channel frames packed into one message.
//! - [`link`]: data channel label and frame tags, size limits, relay pacing, and the timing
//!   policy both peers share.
//!
//! - [`asyncapi`]: the catalog as an AsyncAPI 3.0 document (`docs/asyncapi.json`).
//!
//! Nothing here does I/O; time is passed in, so every rule is testable without clocks.

pub mod asyncapi;
pub mod batch;
pub mod close;
pub mod envelope;
pub mod errors;
pub mod fragment;
pub mod ids;
pub mod invitation;
pub mod jwk;
pub mod keys;
pub mod link;
pub mod messages;
pub mod token;
pub mod typescript;

pub use envelope::{Envelope, ErrorBody, ProtocolError, Typ};
pub use ids::{IdentId, RealmId};
pub use jwk::PublicJwk;
pub use keys::IdentityKey;
pub use token::{Purpose, TokenError, TokenRules};

/// Seconds since the Unix epoch, the unit of every `iat`/`exp` in the protocol.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
