/**
 * The realm key and its delivery — the TypeScript twin of crates/peer/src/crypto.rs.
 *
 * - The realm key is 256 random bits with an `epoch` that grows on every rotation; `kid` is the
 *   hex of the first 8 bytes of its SHA-256 (a public fingerprint).
 * - Relayed payloads (`realm.broadcast`) are base64url(nonce ‖ AES-256-GCM(plaintext) ‖ tag)
 *   with associated data `skypod relay v1|<realm>|<sender>`: the server can neither read nor
 *   re-attribute them.
 * - Delivery: each device announces a fresh P-256 agreement key in a JWT signed by its identity
 *   (`skypod:peer.key-announce`, with the rank of the realm key it holds); a member holding a
 *   newer key answers with a grant JWT (`skypod:peer.key-grant`) carrying the realm key
 *   encrypted to that agreement key: ECDH(ephemeral, announced) → HKDF-SHA256(salt = realm id,
 *   info) → AES-256-GCM(aad = info). Both public keys are signed by identity keys, so the server
 *   that relays these tokens cannot sit in the middle. Tokens travel as CTRL frames on the data
 *   channel, or as `realm.rtc.signal` with connection id `realm-key` when there is no link.
 */
import {
  AUDIENCE, GRANT_INFO_PREFIX, KEY_CONNECTION_ID, KEY_TOKEN_TTL, RELAY_AAD_PREFIX,
  type AnnounceClaims, type GrantClaims, type IdentId, type PublicJwk, type RealmId,
} from "../protocol/generated";
import { b64urlDecode, b64urlEncode, utf8 } from "./b64";
import { DEFAULT_RULES, signAud, verifyAud, type Claims, type Signer } from "./jwt";

// The wire constants and claim types come from crates/protocol (generated.ts).
export { KEY_CONNECTION_ID, KEY_TOKEN_TTL, type AnnounceClaims, type GrantClaims };
export const AUD_ANNOUNCE = AUDIENCE.keyAnnounce;
export const AUD_GRANT = AUDIENCE.keyGrant;

export interface RealmKey {
  epoch: number;
  kid: string;
  key: CryptoKey;
  raw: Uint8Array<ArrayBuffer>;
}

export type Rank = [number, string];

export async function importRealmKey(raw: Uint8Array<ArrayBuffer>, epoch = 1): Promise<RealmKey> {
  if (raw.length !== 32) throw new Error("realm key must be 32 bytes");
  const key = await crypto.subtle.importKey("raw", raw, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", raw)).subarray(0, 8);
  const kid = [...h].map((b) => b.toString(16).padStart(2, "0")).join("");
  return { epoch, kid, key, raw };
}

export function generateRealmKey(epoch = 1): Promise<RealmKey> {
  return importRealmKey(crypto.getRandomValues(new Uint8Array(32)), epoch);
}

export function rank(k: RealmKey | null): Rank | null {
  return k ? [k.epoch, k.kid] : null;
}

/** Order of ranks as Rust orders `Option<(u64, String)>`: None first, then epoch, then kid. */
export function compareRank(a: Rank | null, b: Rank | null): number {
  if (!a || !b) return (a ? 1 : 0) - (b ? 1 : 0);
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  return a[1] === b[1] ? 0 : a[1] < b[1] ? -1 : 1;
}

// ---- relay ----

export function relayAad(realm: string, from: string): Uint8Array<ArrayBuffer> {
  return utf8.encode(`${RELAY_AAD_PREFIX}|${realm}|${from}`);
}

export async function sealRelay(k: RealmKey, realm: string, from: string, plaintext: Uint8Array<ArrayBuffer>): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: relayAad(realm, from) }, k.key, plaintext));
  const out = new Uint8Array(12 + ct.length);
  out.set(iv);
  out.set(ct, 12);
  return b64urlEncode(out);
}

/** Open with the first of `keys` that works (current first, then older epochs). */
export async function openRelay(keys: RealmKey | RealmKey[], realm: string, from: string, payload: string): Promise<Uint8Array> {
  const bytes = b64urlDecode(payload);
  if (bytes.length < 12 + 16) throw new Error("relay payload too short");
  for (const k of Array.isArray(keys) ? keys : [keys]) {
    try {
      const pt = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: bytes.subarray(0, 12), additionalData: relayAad(realm, from) },
        k.key,
        bytes.subarray(12),
      );
      return new Uint8Array(pt);
    } catch {
      /* try the next key */
    }
  }
  throw new Error("no realm key decrypts this payload");
}

// ---- delivery ----

export interface AgreementKey {
  privateKey: CryptoKey;
  /** SEC1 uncompressed public key, base64url. */
  publicB64: string;
}

/** A fresh agreement key (per app start; the private half is not extractable). */
export async function generateAgreementKey(): Promise<AgreementKey> {
  const pair = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
  return { privateKey: pair.privateKey, publicB64: b64urlEncode(await crypto.subtle.exportKey("raw", pair.publicKey)) };
}

function grantInfo(recipient: string, granter: string, epoch: number): Uint8Array<ArrayBuffer> {
  return utf8.encode(`${GRANT_INFO_PREFIX}|${recipient}|${granter}|${epoch}`);
}

async function wrapKey(privateKey: CryptoKey, publicB64: string, realm: string, info: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  let pub: CryptoKey;
  try {
    pub = await crypto.subtle.importKey("raw", b64urlDecode(publicB64), { name: "ECDH", namedCurve: "P-256" }, false, []);
  } catch {
    throw new Error("bad public key");
  }
  const shared = await crypto.subtle.deriveBits({ name: "ECDH", public: pub }, privateKey, 256);
  const ikm = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveBits"]);
  const okm = await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: utf8.encode(realm), info }, ikm, 256);
  return crypto.subtle.importKey("raw", okm, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
}

export function announce(me: Signer, agreement: AgreementKey, have: RealmKey | null, realm: RealmId, now: number): Promise<string> {
  const ext: AnnounceClaims = { apk: agreement.publicB64, have: rank(have) };
  return signAud(me, AUD_ANNOUNCE, realm, now, KEY_TOKEN_TTL, ext);
}

export async function grant(me: Signer, key: RealmKey, recipient: IdentId, recipientApk: string, realm: RealmId, now: number): Promise<string> {
  const eph = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]);
  const info = grantInfo(recipient, me.identid, key.epoch);
  const aes = await wrapKey(eph.privateKey, recipientApk, realm, info);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: info }, aes, key.raw));
  const blob = new Uint8Array(12 + ct.length);
  blob.set(iv);
  blob.set(ct, 12);
  const ext: GrantClaims = {
    sub: recipient,
    epk: b64urlEncode(await crypto.subtle.exportKey("raw", eph.publicKey)),
    apk: recipientApk,
    epoch: key.epoch,
    ct: b64urlEncode(blob),
  };
  return signAud(me, AUD_GRANT, realm, now, KEY_TOKEN_TTL, ext);
}

/** Open a verified grant addressed to `me` (signed by `claims.iss`). */
export async function openGrant(claims: Claims<GrantClaims>, me: IdentId, agreement: AgreementKey, realm: RealmId): Promise<RealmKey> {
  if (claims.sub !== me || claims.apk !== agreement.publicB64) throw new Error("grant is for another device");
  const info = grantInfo(me, claims.iss, claims.epoch);
  const aes = await wrapKey(agreement.privateKey, claims.epk, realm, info);
  const blob = b64urlDecode(claims.ct);
  if (blob.length < 12 + 16) throw new Error("grant ciphertext too short");
  const raw = new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: blob.subarray(0, 12), additionalData: info }, aes, blob.subarray(12)));
  return importRealmKey(raw, claims.epoch);
}

export function verifyKeyToken<X>(token: string, key: PublicJwk, aud: string, realm: RealmId, now: number): Promise<Claims<X>> {
  return verifyAud<X>(token, key, aud, realm, now, DEFAULT_RULES);
}
