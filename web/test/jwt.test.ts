import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import type { PublicJwk } from "../src/protocol/generated";
import { DEFAULT_RULES, peek, sign, TokenError, verify, type Purpose } from "../src/lib/jwt";
import { publicOnly, thumbprint } from "../src/lib/jwk";

interface Vectors {
  keys: Record<string, { identid: string; private_jwk: JsonWebKey; public_jwk: PublicJwk }>;
  tokens: {
    name: string; signer: string; purpose: Purpose; realm: string; now: number;
    token: string; valid: boolean; error: string | null;
  }[];
  envelopes: { json: string; valid: boolean }[];
}
const vectors = JSON.parse(
  readFileSync(new URL("../../crates/protocol/testdata/vectors.json", import.meta.url), "utf8"),
) as Vectors;

async function ed25519Available(): Promise<boolean> {
  try {
    await crypto.subtle.importKey("jwk", vectors.keys.carol!.public_jwk as JsonWebKey, { name: "Ed25519" }, false, ["verify"]);
    return true;
  } catch {
    return false;
  }
}
const hasEd = await ed25519Available();

describe("golden vectors", () => {
  it("identids are the RFC 7638 thumbprints", async () => {
    for (const [name, k] of Object.entries(vectors.keys)) {
      expect(await thumbprint(k.public_jwk), name).toBe(k.identid);
    }
  });

  for (const v of vectors.tokens) {
    const usesEd = v.signer === "carol" || v.name.includes("EdDSA token checked");
    // The "EdDSA token checked against a P-256 key" vector only needs the header: it runs everywhere.
    const skip = v.signer === "carol" && !hasEd;
    it.skipIf(skip)(`${v.name} → ${v.valid ? "valid" : v.error}${usesEd ? " (EdDSA)" : ""}`, async () => {
      const key = vectors.keys[v.signer]!.public_jwk;
      const result = await verify(v.token, key, v.purpose, v.realm, v.now, DEFAULT_RULES).then(
        () => null,
        (e: unknown) => (e instanceof TokenError ? e.reason : String(e)),
      );
      expect(result).toBe(v.valid ? null : v.error);
    });
  }
});

describe("signing", () => {
  it("an ES256 token signed in TS verifies and carries kid = identid", async () => {
    const alice = vectors.keys.alice!;
    const privateKey = await crypto.subtle.importKey("jwk", alice.private_jwk, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
    const now = 1_800_000_000;
    const t = await sign({ identid: alice.identid, privateKey, alg: "ES256" }, "authn", "golden-realm-000001", now, 60, {});
    const header = JSON.parse(atob(t.split(".")[0]!.replace(/-/g, "+").replace(/_/g, "/")));
    expect(header).toEqual({ typ: "JWT", alg: "ES256", kid: alice.identid });
    expect(t.split(".")[2]!.length).toBe(86); // 64 raw bytes r||s
    const c = await verify(t, alice.public_jwk, "authn", "golden-realm-000001", now);
    expect(c.iss).toBe(alice.identid);
    await expect(verify(t, alice.public_jwk, "register", "golden-realm-000001", now)).rejects.toMatchObject({ reason: "wrong_purpose" });
    await expect(verify(t, vectors.keys.bob!.public_jwk, "authn", "golden-realm-000001", now)).rejects.toMatchObject({ reason: "bad_signature" });
    await expect(verify(t, alice.public_jwk, "authn", "golden-realm-000001", now + 91)).rejects.toMatchObject({ reason: "expired" });
    await expect(verify(t, alice.public_jwk, "authn", "golden-realm-000001", now - 31)).rejects.toMatchObject({ reason: "not_yet_valid" });
  });

  it("refuses garbage, alg=none and oversized tokens", async () => {
    const k = vectors.keys.alice!.public_jwk;
    await expect(verify("a.b", k, "authn", "r", 0)).rejects.toMatchObject({ reason: "malformed" });
    await expect(verify("a".repeat(9000), k, "authn", "r", 0)).rejects.toMatchObject({ reason: "too_large" });
    const good = vectors.tokens[0]!.token.split(".");
    const none = `${btoa('{"alg":"none"}').replace(/=+$/, "")}.${good[1]}.`;
    await expect(verify(none, k, "register", "golden-realm-000001", 1_800_000_000)).rejects.toMatchObject({ reason: "algorithm" });
    expect(() => peek("a.!!.c")).toThrow(TokenError);
  });

  it("publicOnly strips private members", () => {
    const pub = publicOnly(vectors.keys.alice!.private_jwk);
    expect(pub).toEqual(vectors.keys.alice!.public_jwk);
    expect("d" in pub).toBe(false);
  });
});

export { vectors };
