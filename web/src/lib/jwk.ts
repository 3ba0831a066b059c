import type { IdentId, PublicJwk } from "../protocol/generated";
import { b64urlEncode, utf8 } from "./b64";

/** RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order. */
export async function thumbprint(jwk: PublicJwk): Promise<IdentId> {
  const canonical =
    jwk.kty === "EC"
      ? `{"crv":"P-256","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}`
      : `{"crv":"Ed25519","kty":"OKP","x":"${jwk.x}"}`;
  const digest = await crypto.subtle.digest("SHA-256", utf8.encode(canonical));
  return b64urlEncode(digest);
}

export type Alg = "ES256" | "EdDSA";

export function algorithmOf(jwk: PublicJwk): Alg {
  return jwk.kty === "EC" ? "ES256" : "EdDSA";
}

/** Keep only the public members (never let `d` travel). */
export function publicOnly(jwk: JsonWebKey): PublicJwk {
  if (jwk.kty === "EC" && jwk.crv === "P-256" && jwk.x && jwk.y) {
    return { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y };
  }
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519" && jwk.x) {
    return { kty: "OKP", crv: "Ed25519", x: jwk.x };
  }
  throw new Error("unsupported key type");
}

const verifyKeys = new Map<string, Promise<CryptoKey>>();

/** Import a public JWK for verification (memoized per key). */
export function importVerifyKey(jwk: PublicJwk): Promise<CryptoKey> {
  const id = JSON.stringify(jwk);
  let k = verifyKeys.get(id);
  if (!k) {
    k =
      jwk.kty === "EC"
        ? crypto.subtle.importKey("jwk", { ...jwk, ext: true }, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"])
        : crypto.subtle.importKey("jwk", { ...jwk, ext: true }, { name: "Ed25519" }, false, ["verify"]);
    k.catch(() => verifyKeys.delete(id));
    verifyKeys.set(id, k);
  }
  return k;
}
