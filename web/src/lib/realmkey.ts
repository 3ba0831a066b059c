/**
 * The realm key: AES-256-GCM, encrypting everything the server relays (realm.broadcast).
 *
 * INTERIM key distribution: the realm's first device generates the key; an inviter puts it in
 * the invitation link's fragment (`&k=`), which browsers never send to a server. The
 * designed exchange (ECDH P-256 + HKDF + AES-GCM to the newcomer's signed agreement key, over
 * the data channel or the relay) replaces `RealmKeyTransport` without touching callers.
 */
import { b64urlDecode, b64urlEncode } from "./b64";

export interface RealmKey {
  /** Key id (first bytes of the SHA-256 of the raw key), to tell rotated keys apart. */
  kid: string;
  key: CryptoKey;
  raw: Uint8Array<ArrayBuffer>;
}

export async function importRealmKey(raw: Uint8Array<ArrayBuffer>): Promise<RealmKey> {
  if (raw.length !== 32) throw new Error("realm key must be 32 bytes");
  const key = await crypto.subtle.importKey("raw", raw, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
  const kid = b64urlEncode(new Uint8Array(await crypto.subtle.digest("SHA-256", raw)).subarray(0, 6));
  return { kid, key, raw };
}

export function generateRealmKey(): Promise<RealmKey> {
  return importRealmKey(crypto.getRandomValues(new Uint8Array(32)));
}

/**
 * Additional data binding a relayed ciphertext to its realm and its sender, so the server can
 * neither read nor re-attribute it (same bytes as crates/peer/src/crypto.rs `relay_aad`).
 */
export function relayAad(realm: string, from: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`skypod relay v1|${realm}|${from}`);
}

/** base64url(nonce(12) ‖ AES-256-GCM(ciphertext ‖ tag)), the `realm.broadcast` payload. */
export async function sealRelay(k: RealmKey, realm: string, from: string, plaintext: Uint8Array<ArrayBuffer>): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: relayAad(realm, from) }, k.key, plaintext),
  );
  const out = new Uint8Array(12 + ct.length);
  out.set(iv);
  out.set(ct, 12);
  return b64urlEncode(out);
}

export async function openRelay(k: RealmKey, realm: string, from: string, payload: string): Promise<Uint8Array> {
  const bytes = b64urlDecode(payload);
  if (bytes.length < 12 + 16) throw new Error("relay payload too short");
  const pt = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: bytes.subarray(0, 12), additionalData: relayAad(realm, from) },
    k.key,
    bytes.subarray(12),
  );
  return new Uint8Array(pt);
}

/** How a newcomer obtains the realm key. Swap this for the ECDH exchange later. */
export interface RealmKeyTransport {
  /** Extra fragment parameters an invitation link carries for the invitee. */
  forInvitation(k: RealmKey): Record<string, string>;
  /** The key from a parsed invitation's extra parameters, if this transport carries it. */
  fromInvitation(params: Record<string, string>): Promise<RealmKey | null>;
}

export const interimLinkTransport: RealmKeyTransport = {
  forInvitation: (k) => ({ k: b64urlEncode(k.raw) }),
  fromInvitation: async (p) => (p.k ? importRealmKey(b64urlDecode(p.k)) : null),
};
