import type { IdentId, PublicJwk } from "../protocol/generated";
import { kv } from "./idb";
import { publicOnly, thumbprint } from "./jwk";
import type { Signer } from "./jwt";

/** This device's identity. The private key is a NON-extractable CryptoKey. */
export interface Identity extends Signer {
  publicJwk: PublicJwk;
  createdAt: number;
}

const KEY = "identity";

/** Generate an ES256 identity: only the public half is ever exported. */
export async function generateIdentity(): Promise<Identity> {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
  // The public key of a pair is always extractable, even when the private key is not.
  const publicJwk = publicOnly(await crypto.subtle.exportKey("jwk", pair.publicKey));
  const identid: IdentId = await thumbprint(publicJwk);
  return { identid, privateKey: pair.privateKey, publicJwk, alg: "ES256", createdAt: Date.now() };
}

/** Load the stored identity, or create and store one. */
export async function loadOrCreateIdentity(): Promise<Identity> {
  const stored = await kv.get<Identity>(KEY);
  if (stored?.privateKey) return stored;
  const id = await generateIdentity();
  await kv.set(KEY, id);
  return id;
}
