//! Error codes: every `err` carries an HTTP-style `status`, a stable machine `code` from
//! [`ERROR_CODES`] and a sentence for humans. Codes never change meaning; new ones may be
//! added, so clients must treat an unknown code by its status.

/// One machine code, the status it comes with, and what it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorCode {
    pub code: &'static str,
    pub status: u16,
    pub meaning: &'static str,
}

const fn c(code: &'static str, status: u16, meaning: &'static str) -> ErrorCode {
    ErrorCode {
        code,
        status,
        meaning,
    }
}

/// Every code the server sends.
pub const ERROR_CODES: &[ErrorCode] = &[
    c(
        "malformed",
        400,
        "the frame or its `dat` does not have the documented shape",
    ),
    c(
        "binary_frame",
        400,
        "a binary WebSocket message; the protocol is JSON text",
    ),
    c("unexpected_res", 400, "a `res` the server never asked for"),
    c(
        "bad_pubkey",
        400,
        "the public key in a register/exchange token is not a valid P-256 or Ed25519 key",
    ),
    c(
        "private_key",
        400,
        "a JWK in a token carries private members (`d`); never send a private key",
    ),
    c(
        "bad_nonce",
        400,
        "the invitation's `jti` is not 16..=64 characters",
    ),
    c(
        "unauthenticated",
        401,
        "a message other than `preauth.*` before authentication",
    ),
    c(
        "auth_timeout",
        401,
        "no `preauth.*` request within the authentication timeout",
    ),
    c(
        "not_a_member",
        401,
        "unknown realm, or not a member of it (the same answer for both)",
    ),
    c("too_large", 401, "a token larger than 8 KiB"),
    c(
        "bad_token",
        401,
        "a token that is not a well-formed JWT with the documented claims",
    ),
    c(
        "algorithm",
        401,
        "the token's `alg` is not the one the key implies (ES256 for EC P-256, EdDSA for Ed25519)",
    ),
    c(
        "bad_signature",
        401,
        "the token's signature does not verify",
    ),
    c(
        "wrong_purpose",
        401,
        "the token's `aud` is for another purpose",
    ),
    c(
        "issuer_mismatch",
        401,
        "the token's `iss` is not the signing key's thumbprint",
    ),
    c(
        "expired",
        401,
        "the token's `exp` is past (beyond the allowed clock skew)",
    ),
    c(
        "not_yet_valid",
        401,
        "the token's `iat` is in the future (beyond the allowed clock skew)",
    ),
    c(
        "lifetime",
        401,
        "the token's `exp - iat` is longer than allowed",
    ),
    c("wrong_realm", 403, "the token is for another realm"),
    c(
        "wrong_invitee",
        403,
        "the invitation is bound to another identity",
    ),
    c(
        "unknown_inviter",
        403,
        "the invitation was signed by someone who is not a member",
    ),
    c(
        "spoofed_sender",
        403,
        "`localid` is not the authenticated identity",
    ),
    c(
        "not_member",
        403,
        "the caller is no longer a member of the realm",
    ),
    c(
        "peer_offline",
        404,
        "the named member is not online in this realm",
    ),
    c(
        "no_such_member",
        404,
        "the device to remove is not a member of the realm",
    ),
    c("unknown_msg", 404, "a `msg` the server does not know"),
    c(
        "realm_exists",
        409,
        "`preauth.register` for a realm id that already exists",
    ),
    c(
        "replayed_invitation",
        409,
        "the invitation has already been used",
    ),
    c(
        "already_authenticated",
        409,
        "a `preauth.*` on an authenticated connection",
    ),
    c(
        "rate_limited",
        429,
        "too many messages: this frame was dropped",
    ),
    c(
        "store",
        500,
        "the server could not record a change; try again",
    ),
    c(
        "store_unavailable",
        503,
        "the server's database cannot be reached: nothing was changed; try again shortly",
    ),
    // HTTP responses (`{status, code, message}` bodies), not WebSocket frames
    c(
        "bad_request",
        400,
        "HTTP: a request the route does not accept (e.g. /realm without a WebSocket upgrade)",
    ),
    c(
        "unauthorized",
        401,
        "HTTP: missing or refused bearer token (feed proxy)",
    ),
    c(
        "unavailable",
        503,
        "HTTP: the server is at its connection limit",
    ),
    c("internal", 500, "HTTP: the server failed"),
];

/// The entry for `code`, if it is one of ours.
pub fn lookup(code: &str) -> Option<&'static ErrorCode> {
    ERROR_CODES.iter().find(|c| c.code == code)
}

/// Describe why JSON did not decode as the expected type, in words that do not leak the
/// parser's internals (type names, variant lists, line/column of a one-line frame).
pub fn describe_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => "it is not valid JSON".into(),
        Category::Data => {
            let full = e.to_string();
            let text = match full.rfind(" at line ") {
                Some(i) => &full[..i],
                None => full.as_str(),
            };
            let quoted = |prefix: &str| {
                text.strip_prefix(prefix)
                    .and_then(|rest| rest.strip_prefix('`'))
                    .and_then(|rest| rest.split('`').next())
                    .map(str::to_owned)
            };
            if let Some(f) = quoted("unknown field ") {
                format!("field {f:?} is not part of it")
            } else if let Some(f) = quoted("missing field ") {
                format!("field {f:?} is missing")
            } else if let Some(v) = quoted("unknown variant ") {
                format!("value {v:?} is not one of the allowed values")
            } else if text.starts_with("invalid type") || text.starts_with("invalid value") {
                "a field has a value of the wrong type".into()
            } else if text.starts_with("duplicate field") {
                "a field appears twice".into()
            } else if !text.contains('`') && !text.is_empty() {
                // our own validation messages (ids, keys) are written for humans
                text.to_owned()
            } else {
                "a field has the wrong type or value".into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_statuses_plausible() {
        for (i, a) in ERROR_CODES.iter().enumerate() {
            assert!(
                ERROR_CODES[i + 1..].iter().all(|b| b.code != a.code),
                "{a:?}"
            );
            assert!(matches!(a.status, 400..=599));
            assert!(a.code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
    }

    #[test]
    fn json_errors_are_described_without_internals() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct T {
            typ: crate::Typ,
            n: u32,
        }
        let d = |s: &str| describe_json_error(&serde_json::from_str::<T>(s).unwrap_err());
        assert_eq!(d("{"), "it is not valid JSON");
        assert_eq!(
            d(r#"{"typ":"evt","n":1,"x":2}"#),
            r#"field "x" is not part of it"#
        );
        assert_eq!(d(r#"{"typ":"evt"}"#), r#"field "n" is missing"#);
        assert_eq!(
            d(r#"{"typ":"none","n":1}"#),
            r#"value "none" is not one of the allowed values"#
        );
        assert_eq!(
            d(r#"{"typ":"evt","n":"1"}"#),
            "a field has a value of the wrong type"
        );
        for s in [r#"{"typ":"none","n":1}"#, r#"{"typ":"evt","n":-1}"#] {
            assert!(
                !d(s).contains('`') && !d(s).contains("expected"),
                "{}",
                d(s)
            );
        }
    }
}
