/**
 * Purpose-bound, short-lived compact JWS tokens — the TypeScript twin of
 * crates/protocol/src/token.rs. Same checks, same order, same stable error reasons.
 */
import type { BaseClaims, IdentId, PublicJwk, RealmId } from "../protocol/generated";
import { AUDIENCE, TOKEN_RULES } from "../protocol/generated";
import { b64urlDecode, b64urlEncode, utf8 } from "./b64";
import { algorithmOf, importVerifyKey, thumbprint } from "./jwk";

export type Purpose = keyof typeof AUDIENCE;

export interface TokenRules {
  skew: number;
  maxLifetime: number;
  maxInvitationLifetime: number;
  maxMediaLifetime: number;
  maxLen: number;
}

/** The protocol's rules (crates/protocol `TokenRules::default`, generated). */
export const DEFAULT_RULES: TokenRules = { ...TOKEN_RULES };

export type TokenErrorReason =
  | "too_large"
  | "malformed"
  | "algorithm"
  | "bad_signature"
  | "wrong_purpose"
  | "wrong_realm"
  | "issuer_mismatch"
  | "expired"
  | "not_yet_valid"
  | "lifetime";

export class TokenError extends Error {
  constructor(
    readonly reason: TokenErrorReason,
    message: string,
  ) {
    super(message);
    this.name = "TokenError";
  }
}

export type Claims<X> = BaseClaims & X;

/** A signer: an identity's private key and its id. */
export interface Signer {
  identid: IdentId;
  privateKey: CryptoKey;
  alg: "ES256";
}

export function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}

/** Sign `ext` claims for `purpose` in `realm`, valid for `ttl` seconds from `now`. */
export function sign<X extends object>(
  signer: Signer,
  purpose: Purpose,
  realm: RealmId,
  now: number,
  ttl: number,
  ext: X,
): Promise<string> {
  return signAud(signer, AUDIENCE[purpose], realm, now, ttl, ext);
}

/** Sign for an audience outside the protocol's purposes (the peers' own, e.g. key exchange). */
export async function signAud<X extends object>(
  signer: Signer,
  aud: string,
  realm: RealmId,
  now: number,
  ttl: number,
  ext: X,
): Promise<string> {
  const header = { typ: "JWT", alg: signer.alg, kid: signer.identid };
  const claims = { iss: signer.identid, aud, realm, iat: now, exp: now + ttl, ...ext };
  const input = `${b64urlEncode(utf8.encode(JSON.stringify(header)))}.${b64urlEncode(utf8.encode(JSON.stringify(claims)))}`;
  // WebCrypto ECDSA signatures are already raw r||s (64 bytes), exactly what JWS wants.
  const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, signer.privateKey, utf8.encode(input));
  return `${input}.${b64urlEncode(sig)}`;
}

function parts(token: string, rules: TokenRules): [string, string, string] {
  if (token.length > rules.maxLen) throw new TokenError("too_large", `token is larger than ${rules.maxLen} bytes`);
  const p = token.split(".");
  if (p.length !== 3) throw new TokenError("malformed", "expected three dot-separated parts");
  return p as [string, string, string];
}

function decodeJson(part: string, what: string): unknown {
  try {
    return JSON.parse(utf8.decode(b64urlDecode(part)));
  } catch {
    throw new TokenError("malformed", `${what} is not base64url JSON`);
  }
}

/** Read claims WITHOUT verifying (only to find out which key to verify with). */
export function peek<X = object>(token: string, rules: TokenRules = DEFAULT_RULES): Claims<X> {
  const [, payload] = parts(token, rules);
  const c = decodeJson(payload, "payload");
  if (typeof c !== "object" || c === null) throw new TokenError("malformed", "payload is not an object");
  return c as Claims<X>;
}

/** Verify a token signed by `key` for `purpose` in `realm` at `now` (seconds). */
export function verify<X = object>(
  token: string,
  key: PublicJwk,
  purpose: Purpose,
  realm: RealmId,
  now: number,
  rules: TokenRules = DEFAULT_RULES,
): Promise<Claims<X>> {
  return verifyAud<X>(token, key, AUDIENCE[purpose], realm, now, rules, maxLifetimeFor(purpose, rules));
}

/** The longest lifetime verifiers accept for `purpose` (`check_times` in crates/protocol). */
export function maxLifetimeFor(purpose: Purpose, rules: TokenRules = DEFAULT_RULES): number {
  if (purpose === "invitation") return rules.maxInvitationLifetime;
  if (purpose === "media") return rules.maxMediaLifetime;
  return rules.maxLifetime;
}

/** Verify for any audience, with the same checks (lifetime at most `maxLifetime`). */
export async function verifyAud<X = object>(
  token: string,
  key: PublicJwk,
  aud: string,
  realm: RealmId,
  now: number,
  rules: TokenRules = DEFAULT_RULES,
  maxLifetime: number = rules.maxLifetime,
): Promise<Claims<X>> {
  const [h, p, s] = parts(token, rules);
  const header = decodeJson(h, "header") as { alg?: unknown } | null;
  const expected = algorithmOf(key);
  if (!header || typeof header !== "object" || typeof header.alg !== "string") {
    throw new TokenError("malformed", "header has no alg");
  }
  if (header.alg !== expected) {
    throw new TokenError("algorithm", `token algorithm ${header.alg} does not match the signer's key (${expected})`);
  }
  let sig: Uint8Array<ArrayBuffer>;
  try {
    sig = b64urlDecode(s);
  } catch {
    throw new TokenError("malformed", "signature is not base64url");
  }
  const cryptoKey = await importVerifyKey(key).catch(() => {
    throw new TokenError("malformed", "signer key cannot be imported");
  });
  const algo = expected === "ES256" ? { name: "ECDSA", hash: "SHA-256" } : { name: "Ed25519" };
  const ok = await crypto.subtle.verify(algo, cryptoKey, sig, utf8.encode(`${h}.${p}`));
  if (!ok) throw new TokenError("bad_signature", "token signature does not verify");
  const c = peek<X>(token, rules);
  if (typeof c.iss !== "string" || typeof c.aud !== "string" || typeof c.realm !== "string" ||
      typeof c.iat !== "number" || typeof c.exp !== "number") {
    throw new TokenError("malformed", "missing or mistyped base claims");
  }
  if (c.aud !== aud) {
    throw new TokenError("wrong_purpose", `token is for ${c.aud}, not ${aud}`);
  }
  if (c.realm !== realm) throw new TokenError("wrong_realm", "token is for another realm");
  if (c.iss !== (await thumbprint(key))) throw new TokenError("issuer_mismatch", "token issuer does not match the signing key");
  checkLifetime(c.iat, c.exp, maxLifetime, now, rules);
  return c;
}

export function checkTimes(iat: number, exp: number, purpose: Purpose, now: number, rules: TokenRules): void {
  checkLifetime(iat, exp, maxLifetimeFor(purpose, rules), now, rules);
}

function checkLifetime(iat: number, exp: number, max: number, now: number, rules: TokenRules): void {
  if (iat > now + rules.skew) throw new TokenError("not_yet_valid", "token is issued in the future (check the device clock)");
  if (exp <= now - rules.skew) throw new TokenError("expired", "token expired");
  if (exp <= iat || exp - iat > max) throw new TokenError("lifetime", `token lifetime exceeds ${max} s`);
}
