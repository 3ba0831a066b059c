// Generated from crates/protocol by `SKYPOD_BLESS=1 cargo test -p skypod-protocol`.
// Do not edit: change the Rust types instead.

export type IdentId = string;

export type RealmId = string;

export type Typ = "evt" | "req" | "res" | "err";

export type Envelope<D> = { typ: Typ, msg: string, seq?: number, dat?: D, };

export type ErrorBody = { 
/**
 * HTTP-style status: 400 malformed, 401 unauthenticated, 403 refused, 404 unknown,
 * 409 conflict, 413 too large, 429 rate limited, 500 server fault.
 */
status: number, 
/**
 * Stable machine code (see [`crate::errors::ERROR_CODES`]).
 */
code: string, 
/**
 * A sentence for humans (and logs); never contains secrets.
 */
message: string, };

export type EcCurve = "P-256";

export type OkpCurve = "Ed25519";

export type PublicJwk = { "kty": "EC", crv: EcCurve, x: string, y: string, } | { "kty": "OKP", crv: OkpCurve, x: string, };

export type TokenRequest = { token: string, };

export type AuthnResponse = { realmid: RealmId, identid: IdentId, 
/**
 * Members online now, not counting the caller.
 */
peers: Array<IdentId>, 
/**
 * Every member of the realm (online or not) and its public key.
 */
identities: { [key in IdentId]: PublicJwk }, };

export type RealmStatus = { realmid: RealmId, identid: IdentId, 
/**
 * Members online now, not counting the caller.
 */
peers: Array<IdentId>, 
/**
 * How many members the realm has.
 */
members: number, };

export type PeerJoined = { identid: IdentId, pubkey: PublicJwk, };

export type PeerLeft = { identid: IdentId, };

export type SignalRequest = { 
/**
 * The sender; optional, and if present it must be the authenticated identity.
 */
localid?: IdentId, remoteid: IdentId, connectionid: string, payload: string, };

export type SignalDelivery = { localid: IdentId, remoteid: IdentId, connectionid: string, payload: string, };

export type BroadcastRequest = { payload: string, recipients?: Array<IdentId>, };

export type BroadcastDelivery = { from: IdentId, payload: string, };

export type BroadcastResult = { 
/**
 * How many online members it was handed to.
 */
delivered: number, };

export type Ping = { 
/**
 * Sender's clock (ms), for round-trip time.
 */
t?: number, };

export type MemberRemoved = { identid: IdentId, by: IdentId, };

export type BaseClaims = { iss: IdentId, aud: string, realm: RealmId, iat: number, exp: number, };

export type NoClaims = Record<symbol, never>;

export type RegisterClaims = { pubkey: PublicJwk, };

export type ExchangeClaims = { pubkey: PublicJwk, invitation: string, };

export type InvitationClaims = { jti: string, sub?: IdentId, };

export type RevokeClaims = { sub: IdentId, };

export type MediaClaims = { url: string, };

export type SignalClaims = { 
/**
 * The receiver.
 */
sub: IdentId, 
/**
 * The connection attempt this belongs to.
 */
cid: string, signal: RtcSignal, };

export type RtcSignal = { "kind": "description", type: string, sdp: string, } | { "kind": "candidate", candidate: string, sdpMid?: string, sdpMLineIndex?: number, };

export type AnnounceClaims = { 
/**
 * Agreement public key, SEC1 uncompressed, base64url.
 */
apk: string, 
/**
 * Rank of the realm key held, `[epoch, kid]` (`kid`: hex of the first 8 bytes of
 * SHA-256 of the key), or null if none. Ranks order by epoch, then kid.
 */
have: [number, string] | null, };

export type GrantClaims = { 
/**
 * The recipient.
 */
sub: IdentId, 
/**
 * The granter's ephemeral public key, SEC1 uncompressed, base64url.
 */
epk: string, 
/**
 * The recipient's announced agreement key this is encrypted to.
 */
apk: string, 
/**
 * The realm key's epoch.
 */
epoch: number, 
/**
 * base64url(nonce ‖ ciphertext ‖ tag) of the 32-byte realm key.
 */
ct: string, };

/** The message catalog (`msg` of an envelope). */
export const MSG = {
  PREAUTH_REGISTER: "preauth.register",
  PREAUTH_AUTHN: "preauth.authn",
  PREAUTH_EXCHANGE: "preauth.exchange",
  REALM_STATUS: "realm.status",
  PEER_JOINED: "realm.rtc.peer-joined",
  PEER_LEFT: "realm.rtc.peer-left",
  SIGNAL: "realm.rtc.signal",
  BROADCAST: "realm.broadcast",
  PING: "ping",
  MEMBER_REMOVE: "realm.member.remove",
  MEMBER_REMOVED: "realm.member.removed",
} as const;

/** The audience (`aud`) of each purpose's tokens. */
export const AUDIENCE = {
  register: "skypod:preauth.register",
  authn: "skypod:preauth.authn",
  exchange: "skypod:preauth.exchange",
  invitation: "skypod:invitation",
  signal: "skypod:rtc.signal",
  proxy: "skypod:proxy",
  media: "skypod:proxy.media",
  revoke: "skypod:realm.member.remove",
  keyAnnounce: "skypod:peer.key-announce",
  keyGrant: "skypod:peer.key-grant",
} as const;

/** Lifetime of the tokens signed for each purpose, seconds (`Purpose::ttl`). */
export const TOKEN_TTL = {
  register: 60,
  authn: 60,
  exchange: 60,
  invitation: 86400,
  signal: 60,
  proxy: 60,
  media: 21600,
  revoke: 60,
  keyAnnounce: 120,
  keyGrant: 120,
} as const;

/** Limits every verifier applies (`TokenRules::default`). */
export const TOKEN_RULES = {
  skew: 30,
  maxLifetime: 300,
  maxInvitationLifetime: 604800,
  maxMediaLifetime: 43200,
  maxLen: 8192,
} as const;

/** Data channel facts shared by both peers (crates/protocol/src/link.rs); `tag`: the first byte of every data channel message. */
export const LINK = {
  label: "skypod",
  tag: { data: 0, ping: 1, pong: 2, ctrl: 3, batch: 4, features: 5 },
  feature: { batch: 1 },
  batchLenPrefix: 2,
  maxP2pMessage: 65535,
  maxRelayMessage: 45056,
  relayBurst: 100,
  relayPaceMs: 12,
} as const;

/** The timing policy of a link, the same on both peers (link.rs explains the choice). */
export const TIMING = {
  pingIntervalMs: 30000,
  pongTimeoutMs: 10000,
  iceRestartMs: 8000,
  waitForOfferMs: 2500,
} as const;

/** Fragmentation (crates/protocol/src/fragment.rs). */
export const FRAGMENT = {
  headerLen: 18,
  minChunk: 16,
  maxMessage: 268436480,
  overhead: 64,
  remembered: 256,
  maxPartials: 8,
  maxBuffered: 335545600,
  timeoutMs: 60000,
} as const;

/** First bytes of tagged application messages (NUL and a tag byte); a message whose first byte is not NUL is console text (messages.rs). */
export const PREFIX = {
  librarySync: [0x00, 0x4c],
  fragment: [0x00, 0x46],
} as const;

/** WebSocket close codes of the realm server (crates/protocol/src/close.rs). */
export const CLOSE = {
  goingAway: 1001,
  protocolError: 1002,
  invalidData: 1007,
  policy: 1008,
  tooBig: 1009,
  slowConsumer: 1013,
  replaced: 4001,
  authTimeout: 4008,
  idle: 4010,
  unauthenticated: 4401,
  forbidden: 4403,
  conflict: 4409,
  rateLimited: 4429,
  serverError: 4500,
} as const;

/** `connectionid` of a `realm.rtc.signal` carrying a realm-key token. */
export const KEY_CONNECTION_ID = "realm-key";
/** Lifetime of key-announce and key-grant tokens, seconds. */
export const KEY_TOKEN_TTL = 120;
/** Relay AAD is `${RELAY_AAD_PREFIX}|${realm}|${from}`. */
export const RELAY_AAD_PREFIX = "skypod relay v1";
/** Grant HKDF info and AAD is `${GRANT_INFO_PREFIX}|${recipient}|${granter}|${epoch}`. */
export const GRANT_INFO_PREFIX = "skypod realm-key grant v1";
