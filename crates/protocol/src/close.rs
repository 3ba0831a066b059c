//! WebSocket close codes the server uses, so clients can tell why a socket ended
//! (4000 + an HTTP status where one fits).

/// Normal shutdown of the server.
pub const GOING_AWAY: u16 = 1001;
/// A frame that breaks RFC 6455 (reserved bits or opcodes, an unmasked client frame, bad
/// fragmentation, an oversized control frame).
pub const PROTOCOL_ERROR: u16 = 1002;
/// A text message that is not valid UTF-8.
pub const INVALID_DATA: u16 = 1007;
/// A large message that did not arrive in time (the server's read budget is shared).
pub const POLICY: u16 = 1008;
/// A frame larger than the server's limit.
pub const TOO_BIG: u16 = 1009;
/// The client did not read fast enough; its outbound queue overflowed.
pub const SLOW_CONSUMER: u16 = 1013;
/// Another connection of the same identity replaced this one.
pub const REPLACED: u16 = 4001;
/// No authentication request within the auth timeout.
pub const AUTH_TIMEOUT: u16 = 4008;
/// Nothing received within the idle timeout.
pub const IDLE: u16 = 4010;
/// Authentication refused: bad or expired token.
pub const UNAUTHENTICATED: u16 = 4401;
/// Authentication refused: not allowed (foreign realm, unknown inviter, revoked).
pub const FORBIDDEN: u16 = 4403;
/// Authentication refused: conflict (realm exists, invitation already used).
pub const CONFLICT: u16 = 4409;
/// Too many messages, for too long.
pub const RATE_LIMITED: u16 = 4429;
/// The server failed (storage); try again later.
pub const SERVER_ERROR: u16 = 4500;

/// The close code for an authentication refusal with HTTP-style `status`.
pub fn for_status(status: u16) -> u16 {
    match status {
        401 => UNAUTHENTICATED,
        403 | 404 => FORBIDDEN,
        409 => CONFLICT,
        429 => RATE_LIMITED,
        500..=599 => SERVER_ERROR,
        _ => UNAUTHENTICATED,
    }
}
