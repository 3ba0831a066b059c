//! The authentication phase as pure functions: frame text and time in, a decision out.
//!
//! The connection task ([`crate::conn`]) does the I/O: it waits (at most the auth timeout)
//! for the first frame, calls [`read_first`], looks keys up in the [`crate::hub::Hub`], then
//! calls [`verify_authn`] or [`verify_invitation`]. Every refusal is a [`Refusal`] carrying
//! the `err` to send, a close code, and a metrics label.

use skypod_protocol::envelope::RawEnvelope;
use skypod_protocol::invitation::{self, InvitationError};
use skypod_protocol::messages::{PREAUTH_AUTHN, PREAUTH_EXCHANGE, PREAUTH_REGISTER, TokenRequest};
use skypod_protocol::token::{
    self, Claims, ExchangeClaims, InvitationClaims, NoClaims, Purpose, RegisterClaims, TokenError,
};
use skypod_protocol::{IdentId, PublicJwk, RealmId, TokenRules, Typ};

use crate::store::StoredMember;

/// What the first frame asks for, with everything checkable without the store checked.
#[derive(Debug)]
pub enum Request {
    /// Create `realm` with `member` (token already verified against its own key).
    Register {
        realm: RealmId,
        member: StoredMember,
    },
    /// Authenticate as `identid`; the token still needs the stored key ([`verify_authn`]).
    Authn {
        realm: RealmId,
        identid: IdentId,
        token: String,
    },
    /// Join with an invitation; the newcomer's token is verified, the invitation is not yet.
    Exchange {
        realm: RealmId,
        member: StoredMember,
        invitation: String,
    },
}

#[derive(Debug)]
pub struct First {
    pub msg: &'static str,
    pub seq: Option<u64>,
    pub request: Request,
}

/// A refused request: what the `err` says (HTTP-style status, machine code, sentence). The
/// code is also the metrics label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    /// One of `skypod_protocol::errors::ERROR_CODES`.
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn token(e: TokenError) -> Self {
        let status = match e {
            TokenError::WrongRealm => 403,
            TokenError::PrivateKey => 400,
            _ => 401,
        };
        Self::new(status, e.reason(), e.to_string())
    }

    /// The refusal every unknown realm or identity gets: the same answer for both, so the
    /// server does not reveal which realm ids exist.
    pub fn not_a_member() -> Self {
        Self::new(
            401,
            "not_a_member",
            "unknown realm or identity: not a member of this realm",
        )
    }
}

impl From<InvitationError> for Refusal {
    fn from(e: InvitationError) -> Self {
        let status = match &e {
            InvitationError::Token(TokenError::WrongRealm) => 403,
            InvitationError::Token(TokenError::PrivateKey) => 400,
            InvitationError::Token(_) => 401,
            InvitationError::AlreadyUsed => 409,
            InvitationError::WrongInvitee | InvitationError::UnknownInviter => 403,
            InvitationError::BadNonce => 400,
        };
        Self::new(status, e.reason(), e.to_string())
    }
}

/// A refused first frame, with the `msg` and `seq` the `err` names.
#[derive(Debug)]
pub struct Refused {
    pub msg: String,
    pub seq: Option<u64>,
    pub refusal: Refusal,
}

/// Read the first frame of a connection.
pub fn read_first(text: &str, now: i64, rules: &TokenRules) -> Result<First, Refused> {
    let env = RawEnvelope::parse(text).map_err(|e| {
        let (msg, seq) = RawEnvelope::salvage(text);
        Refused {
            msg,
            seq,
            refusal: Refusal::new(400, "malformed", e.to_string()),
        }
    })?;
    let seq = env.seq;
    let named = env.msg.clone().into_owned();
    let fail = |refusal: Refusal| Refused {
        msg: named.clone(),
        seq,
        refusal,
    };
    let msg = match env.msg.as_ref() {
        PREAUTH_REGISTER => PREAUTH_REGISTER,
        PREAUTH_AUTHN => PREAUTH_AUTHN,
        PREAUTH_EXCHANGE => PREAUTH_EXCHANGE,
        other => {
            return Err(fail(Refusal::new(
                401,
                "unauthenticated",
                format!(
                    "authenticate first: {other:?} is not allowed before preauth.register, preauth.authn or preauth.exchange"
                ),
            )));
        }
    };
    if env.typ != Typ::Req {
        return Err(fail(Refusal::new(
            400,
            "malformed",
            format!("{msg} must be sent as a req"),
        )));
    }
    let TokenRequest { token } = env.dat().map_err(|e| {
        fail(Refusal::new(
            400,
            "malformed",
            format!(
                "{msg} needs dat {{token}}: {}",
                skypod_protocol::errors::describe_json_error(&e)
            ),
        ))
    })?;
    let request = match msg {
        PREAUTH_REGISTER => {
            let (realm, member, _) =
                self_signed::<RegisterClaims>(&token, now, rules).map_err(fail)?;
            Request::Register { realm, member }
        }
        PREAUTH_AUTHN => {
            let claims: Claims<NoClaims> =
                token::peek(&token, rules).map_err(|e| fail(Refusal::token(e)))?;
            Request::Authn {
                realm: claims.base.realm,
                identid: claims.base.iss,
                token,
            }
        }
        _ => {
            let (realm, member, claims) =
                self_signed::<ExchangeClaims>(&token, now, rules).map_err(fail)?;
            Request::Exchange {
                realm,
                member,
                invitation: claims.invitation,
            }
        }
    };
    Ok(First { msg, seq, request })
}

/// The claims of a token signed by the key it carries: a newcomer's.
trait SelfSigned: serde::de::DeserializeOwned {
    const PURPOSE: Purpose;
    /// The key that signed the token.
    fn pubkey(&self) -> &PublicJwk;
}

impl SelfSigned for RegisterClaims {
    const PURPOSE: Purpose = Purpose::Register;
    fn pubkey(&self) -> &PublicJwk {
        &self.pubkey
    }
}

impl SelfSigned for ExchangeClaims {
    const PURPOSE: Purpose = Purpose::Exchange;
    fn pubkey(&self) -> &PublicJwk {
        &self.pubkey
    }
}

/// A self-signed token (register, exchange): its realm, the member it introduces and its own
/// claims. The key must be valid, and `verify` checks that `iss` is that key's thumbprint.
fn self_signed<X: SelfSigned>(
    token: &str,
    now: i64,
    rules: &TokenRules,
) -> Result<(RealmId, StoredMember, X), Refusal> {
    let claims: Claims<X> = token::peek(token, rules).map_err(Refusal::token)?;
    let pubkey = claims.ext.pubkey().clone();
    pubkey
        .validate()
        .map_err(|e| Refusal::new(400, "bad_pubkey", e.to_string()))?;
    token::verify::<X>(token, &pubkey, X::PURPOSE, &claims.realm, now, rules)
        .map_err(Refusal::token)?;
    let member = StoredMember {
        identid: pubkey.thumbprint(),
        pubkey,
    };
    Ok((claims.base.realm, member, claims.ext))
}

/// Finish `preauth.authn` with the member's stored key.
pub fn verify_authn(
    token: &str,
    key: &PublicJwk,
    realm: &RealmId,
    now: i64,
    rules: &TokenRules,
) -> Result<(), Refusal> {
    token::verify::<NoClaims>(token, key, Purpose::Authn, realm, now, rules)
        .map(|_| ())
        .map_err(Refusal::token)
}

/// Check an invitation for `invitee` into `realm`; `inviter_key` looks a member's key up.
/// Does not spend the nonce: that is the store's job, atomically with the admission.
pub fn verify_invitation(
    invitation_token: &str,
    realm: &RealmId,
    invitee: &IdentId,
    inviter_key: impl Fn(&IdentId) -> Option<PublicJwk>,
    now: i64,
    rules: &TokenRules,
) -> Result<Claims<InvitationClaims>, Refusal> {
    let peeked: Claims<InvitationClaims> = token::peek(invitation_token, rules)
        .map_err(|e| Refusal::from(InvitationError::Token(e)))?;
    if &peeked.realm != realm {
        return Err(InvitationError::Token(TokenError::WrongRealm).into());
    }
    let key = inviter_key(&peeked.iss).ok_or(InvitationError::UnknownInviter)?;
    let claims = token::verify::<InvitationClaims>(
        invitation_token,
        &key,
        Purpose::Invitation,
        realm,
        now,
        rules,
    )
    .map_err(InvitationError::Token)?;
    invitation::check_invitee(&claims, invitee)?;
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use skypod_protocol::IdentityKey;

    const NOW: i64 = 1_800_000_000;

    /// A token for `purpose` signed by `k`, valid for a minute from `NOW`.
    fn signed(
        k: &IdentityKey,
        purpose: Purpose,
        realm: &RealmId,
        ext: impl serde::Serialize,
    ) -> String {
        token::sign(k, purpose, realm, NOW, 60, ext).unwrap()
    }

    /// How the first frame `text` is refused.
    fn refusal_of(text: &str) -> Refusal {
        read_first(text, NOW, &TokenRules::default())
            .unwrap_err()
            .refusal
    }

    fn frame(msg: &str, token: &str) -> String {
        json!({"typ": "req", "msg": msg, "seq": 1, "dat": {"token": token}}).to_string()
    }

    /// A `preauth.register` frame signed by `signer`, presenting `pubkey` as the newcomer's.
    fn register_frame(signer: &IdentityKey, pubkey: &PublicJwk, realm: &RealmId) -> String {
        let claims = RegisterClaims {
            pubkey: pubkey.clone(),
        };
        frame(
            PREAUTH_REGISTER,
            &signed(signer, Purpose::Register, realm, claims),
        )
    }

    #[test]
    fn register_is_self_verified() {
        let k = IdentityKey::generate_es256();
        let realm = RealmId::random();
        let frame = register_frame(&k, k.public_jwk(), &realm);
        let first = read_first(&frame, NOW, &TokenRules::default()).unwrap();
        match first.request {
            Request::Register { realm: r, member } => {
                assert_eq!(r, realm);
                assert_eq!(&member.identid, k.identid());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn register_with_someone_elses_key_is_refused() {
        let k = IdentityKey::generate_es256();
        let victim = IdentityKey::generate_es256();
        let realm = RealmId::random();
        // signed by k, but claims the victim's public key
        let r = refusal_of(&register_frame(&k, victim.public_jwk(), &realm));
        assert_eq!(r.status, 401);
    }

    #[test]
    fn a_token_for_one_purpose_cannot_serve_another() {
        let k = IdentityKey::generate_es256();
        let realm = RealmId::random();
        let authn = signed(
            &k,
            Purpose::Authn,
            &realm,
            json!({"pubkey": k.public_jwk()}),
        );
        let r = refusal_of(&frame(PREAUTH_REGISTER, &authn));
        assert_eq!(r.code, "wrong_purpose");
    }

    #[test]
    fn a_private_key_in_a_register_or_exchange_token_is_refused() {
        let k = IdentityKey::generate_ed25519();
        let realm = RealmId::random();
        let mut jwk = serde_json::to_value(k.public_jwk()).unwrap();
        jwk["d"] = json!("bm90IHJlYWxseSBhIGtleSBidXQgc2hhcGVkIGxpa2Ugb25l");
        let register = signed(&k, Purpose::Register, &realm, json!({"pubkey": jwk}));
        let inv = invitation::create(&k, &realm, NOW, 600, None).unwrap();
        let exchange = signed(
            &k,
            Purpose::Exchange,
            &realm,
            json!({"pubkey": jwk, "invitation": inv}),
        );
        for (msg, t) in [(PREAUTH_REGISTER, register), (PREAUTH_EXCHANGE, exchange)] {
            let e = read_first(&frame(msg, &t), NOW, &TokenRules::default()).unwrap_err();
            assert_eq!((e.msg.as_str(), e.seq), (msg, Some(1)));
            assert_eq!(
                (e.refusal.status, e.refusal.code),
                (400, "private_key"),
                "{msg}"
            );
        }
    }

    #[test]
    fn refusals_name_the_frame_and_leak_no_parser_internals() {
        let e = read_first(
            r#"{"typ":"none","msg":"preauth.authn","seq":5}"#,
            NOW,
            &TokenRules::default(),
        )
        .unwrap_err();
        assert_eq!((e.msg.as_str(), e.seq), ("preauth.authn", Some(5)));
        assert!(!e.refusal.message.contains('`'), "{}", e.refusal.message);
        let e = read_first(
            r#"{"typ":"req","msg":"preauth.authn","seq":6,"dat":{"token":7}}"#,
            NOW,
            &TokenRules::default(),
        )
        .unwrap_err();
        assert_eq!(e.seq, Some(6));
        assert!(!e.refusal.message.contains('`'), "{}", e.refusal.message);
    }

    #[test]
    fn anything_but_preauth_first_is_refused() {
        for text in [
            "garbage",
            r#"{"typ":"evt","msg":"realm.broadcast","dat":{"payload":"x"}}"#,
            r#"{"typ":"evt","msg":"preauth.authn","dat":{"token":"x"}}"#,
            r#"{"typ":"req","msg":"preauth.authn","seq":1}"#,
            r#"{"typ":"req","msg":"preauth.authn","seq":1,"dat":{"token":"a.b.c"}}"#,
        ] {
            let r = refusal_of(text);
            assert!(matches!(r.status, 400 | 401), "{text}: {r:?}");
        }
    }

    #[test]
    fn invitations_are_checked_against_realm_inviter_and_invitee() {
        let rules = TokenRules::default();
        let inviter = IdentityKey::generate_es256();
        let invitee = IdentityKey::generate_es256();
        let realm = RealmId::random();
        let other = RealmId::random();
        let lookup = |id: &IdentId| (id == inviter.identid()).then(|| inviter.public_jwk().clone());
        let inv = invitation::create(&inviter, &realm, NOW, 600, Some(invitee.identid().clone()))
            .unwrap();
        assert!(verify_invitation(&inv, &realm, invitee.identid(), lookup, NOW, &rules).is_ok());
        assert_eq!(
            verify_invitation(&inv, &other, invitee.identid(), lookup, NOW, &rules)
                .unwrap_err()
                .status,
            403
        );
        let stranger = IdentityKey::generate_es256();
        assert_eq!(
            verify_invitation(&inv, &realm, stranger.identid(), lookup, NOW, &rules)
                .unwrap_err()
                .code,
            "wrong_invitee"
        );
        assert_eq!(
            verify_invitation(&inv, &realm, invitee.identid(), lookup, NOW + 700, &rules)
                .unwrap_err()
                .code,
            "expired"
        );
        let by_stranger = invitation::create(&stranger, &realm, NOW, 600, None).unwrap();
        assert_eq!(
            verify_invitation(&by_stranger, &realm, invitee.identid(), lookup, NOW, &rules)
                .unwrap_err()
                .code,
            "unknown_inviter"
        );
    }
}
