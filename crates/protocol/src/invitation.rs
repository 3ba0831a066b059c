//! Invitations into a realm.
//!
//! An invitation is a JWT (purpose [`Purpose::Invitation`]) signed by a current member. Its
//! `jti` is a random nonce the server accepts once; `sub`, when set, binds it to the invitee's
//! identity (the seed's two-way QR flow: the invitee shows its id, the inviter signs for it).
//! Shared as a link: `<server>/#join=<realm>.<token>`... see [`InviteLink`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use crate::ids::{IdentId, RealmId};
use crate::keys::{IdentityKey, KeyError};
use crate::token::{self, Claims, InvitationClaims, Purpose};

/// Default lifetime of an invitation: one day.
pub const DEFAULT_TTL: i64 = 24 * 3600;

/// Create an invitation signed by `inviter`.
pub fn create(
    inviter: &IdentityKey,
    realm: &RealmId,
    now: i64,
    ttl: i64,
    bound_to: Option<IdentId>,
) -> Result<String, KeyError> {
    let nonce: [u8; 18] = rand::random();
    token::sign(
        inviter,
        Purpose::Invitation,
        realm,
        now,
        ttl,
        InvitationClaims {
            jti: B64.encode(nonce),
            sub: bound_to,
        },
    )
}

/// Why an invitation was refused beyond its token checks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvitationError {
    #[error("invitation: {0}")]
    Token(#[from] token::TokenError),
    #[error("invitation is bound to another identity")]
    WrongInvitee,
    #[error("invitation nonce must be 16..=64 characters")]
    BadNonce,
    #[error("invitation was signed by someone who is not a member of this realm")]
    UnknownInviter,
    #[error("invitation has already been used")]
    AlreadyUsed,
}

impl InvitationError {
    pub fn reason(&self) -> &'static str {
        match self {
            InvitationError::Token(t) => t.reason(),
            InvitationError::WrongInvitee => "wrong_invitee",
            InvitationError::BadNonce => "bad_nonce",
            InvitationError::UnknownInviter => "unknown_inviter",
            InvitationError::AlreadyUsed => "replayed_invitation",
        }
    }
}

/// Check an already signature-verified invitation against its invitee.
pub fn check_invitee(
    claims: &Claims<InvitationClaims>,
    invitee: &IdentId,
) -> Result<(), InvitationError> {
    let n = claims.ext.jti.len();
    if !(16..=64).contains(&n) {
        return Err(InvitationError::BadNonce);
    }
    match &claims.ext.sub {
        Some(sub) if sub != invitee => Err(InvitationError::WrongInvitee),
        _ => Ok(()),
    }
}

/// What a user copies or scans to join: the server's base URL, the realm and the invitation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteLink {
    pub server: String,
    pub realm: RealmId,
    pub token: String,
}

impl InviteLink {
    /// `http(s)://host[:port]/#join=<realm>.<token>` — a fragment, so the token never reaches
    /// a web server's logs when the link is opened in a browser.
    pub fn to_url(&self) -> String {
        format!(
            "{}/#join={}.{}",
            self.server.trim_end_matches('/'),
            self.realm,
            self.token
        )
    }

    pub fn parse(url: &str) -> Option<Self> {
        let (server, frag) = url.split_once("/#join=")?;
        let (realm, token) = frag.split_once('.')?;
        Some(Self {
            server: server.to_owned(),
            realm: RealmId::new(realm).ok()?,
            token: token.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{TokenRules, verify};

    #[test]
    fn bound_invitation_admits_only_its_invitee() {
        let realm = RealmId::random();
        let inviter = IdentityKey::generate_es256();
        let invitee = IdentityKey::generate_es256();
        let stranger = IdentityKey::generate_es256();
        let now = 1_800_000_000;
        let t = create(&inviter, &realm, now, 600, Some(invitee.identid().clone())).unwrap();
        let c = verify::<InvitationClaims>(
            &t,
            inviter.public_jwk(),
            Purpose::Invitation,
            &realm,
            now,
            &TokenRules::default(),
        )
        .unwrap();
        assert!(check_invitee(&c, invitee.identid()).is_ok());
        assert_eq!(
            check_invitee(&c, stranger.identid()),
            Err(InvitationError::WrongInvitee)
        );
    }

    #[test]
    fn link_round_trip() {
        let l = InviteLink {
            server: "http://127.0.0.1:8080".into(),
            realm: RealmId::random(),
            token: "a.b.c".into(),
        };
        assert_eq!(InviteLink::parse(&l.to_url()), Some(l));
        assert_eq!(InviteLink::parse("http://x/#nope"), None);
    }
}
