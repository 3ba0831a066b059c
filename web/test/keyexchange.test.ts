import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { b64urlDecode } from "../src/lib/b64";
import { generateIdentity } from "../src/lib/identity";
import { peek } from "../src/lib/jwt";
import {
  announce, AUD_ANNOUNCE, AUD_GRANT, compareRank, generateAgreementKey, generateRealmKey, grant, importRealmKey, openGrant,
  openRelay, rank, relayAad, sealRelay, verifyKeyToken, type AnnounceClaims, type GrantClaims,
} from "../src/lib/realmkey";

const REALM = "realm-under-test-0001";
const now = () => Math.floor(Date.now() / 1000);

describe("realm key delivery (same protocol as crates/peer/src/crypto.rs)", () => {
  it("kid is the hex of the first 8 bytes of SHA-256(key)", async () => {
    const k = await importRealmKey(new Uint8Array(32), 1);
    // SHA-256 of 32 zero bytes starts 66687aadf862bd77
    expect(k.kid).toBe("66687aadf862bd77");
  });

  it("ranks order like Rust's Option<(u64, String)>", () => {
    expect(compareRank(null, null)).toBe(0);
    expect(compareRank(null, [1, "a"])).toBeLessThan(0);
    expect(compareRank([2, "a"], [1, "z"])).toBeGreaterThan(0);
    expect(compareRank([1, "b"], [1, "a"])).toBeGreaterThan(0);
    expect(compareRank([1, "a"], [1, "a"])).toBe(0);
  });

  it("announce → grant → open hands the realm key over, bound to recipient, granter and realm", async () => {
    const alice = await generateIdentity(); // holds the key
    const bob = await generateIdentity(); // newcomer
    const key = await generateRealmKey(3);
    const bobAgreement = await generateAgreementKey();
    const ann = await announce(bob, bobAgreement, null, REALM, now());
    const a = await verifyKeyToken<AnnounceClaims>(ann, bob.publicJwk, AUD_ANNOUNCE, REALM, now());
    expect(a.have).toBeNull();
    expect(a.apk).toBe(bobAgreement.publicB64);
    expect(b64len(a.apk)).toBe(65); // SEC1 uncompressed
    expect(compareRank(rank(key), a.have)).toBeGreaterThan(0);

    const g = await grant(alice, key, bob.identid, a.apk, REALM, now());
    expect(peek(g).exp - peek(g).iat).toBe(120);
    const gc = await verifyKeyToken<GrantClaims>(g, alice.publicJwk, AUD_GRANT, REALM, now());
    const got = await openGrant(gc, bob.identid, bobAgreement, REALM);
    expect(got.epoch).toBe(3);
    expect(got.kid).toBe(key.kid);
    expect([...got.raw]).toEqual([...key.raw]);
    // relay interop: what alice seals, bob opens with the granted key
    const sealed = await sealRelay(key, REALM, alice.identid, new TextEncoder().encode("hi"));
    expect(new TextDecoder().decode(await openRelay([got], REALM, alice.identid, sealed))).toBe("hi");

    // a grant for someone else, or opened with another agreement key, fails
    await expect(openGrant(gc, alice.identid, bobAgreement, REALM)).rejects.toThrow(/another device/);
    await expect(openGrant(gc, bob.identid, await generateAgreementKey(), REALM)).rejects.toThrow(/another device/);
    // a grant re-attributed to another granter (info mismatch) does not decrypt
    await expect(openGrant({ ...gc, iss: bob.identid }, bob.identid, bobAgreement, REALM)).rejects.toThrow();
    // nor under another realm (HKDF salt)
    await expect(openGrant(gc, bob.identid, bobAgreement, "another-realm-00001")).rejects.toThrow();
    // the announcement is not a grant
    await expect(verifyKeyToken(ann, bob.publicJwk, AUD_GRANT, REALM, now())).rejects.toMatchObject({ reason: "wrong_purpose" });
    await expect(verifyKeyToken(ann, alice.publicJwk, AUD_ANNOUNCE, REALM, now())).rejects.toMatchObject({ reason: "bad_signature" });
  });

  it("relay payloads open with an older key after a rotation", async () => {
    const k1 = await generateRealmKey(1);
    const k2 = await generateRealmKey(2);
    const sealed = await sealRelay(k1, REALM, "alice", new TextEncoder().encode("old"));
    expect(new TextDecoder().decode(await openRelay([k2, k1], REALM, "alice", sealed))).toBe("old");
    await expect(openRelay([k2], REALM, "alice", sealed)).rejects.toThrow(/no realm key/);
  });
});

/**
 * A grant computed by RustCrypto (p256 0.13 ecdh, hkdf 0.12, aes-gcm 0.10 — the crates
 * crates/peer uses) with the same steps as crypto.rs `grant`, fixed secrets (recipient
 * agreement key 0x07×32, ephemeral 0x09×32, nonce 0x01×12, realm key 0x05×32, recipient "bob",
 * granter "alice", epoch 3, realm "golden-realm-000001"): WebCrypto must open it.
 */
const RUST_GRANT = {
  "d": "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc",
  "x": "HhhTL9R1TALzBB2cdc6zO4P_2BrHzk_ogsyxyYvFiW4",
  "y": "pGwxHE4v9A3ZajZT5uRURdMt_khuztdcepDGoYiBwKM",
  "apk": "BB4YUy_UdUwC8wQdnHXOszuD_9gax85P6ILMscmLxYlupGwxHE4v9A3ZajZT5uRURdMt_khuztdcepDGoYiBwKM",
  "epk": "BHE1-k_ZOgnc6Yu_aBtL_PUOfA1jVOYq-wv_KjQpYXhl7UwfAt25Aj7lalV-UV1qncZsEfIglg3llDNN9Yh3ZyQ",
  "ct": "AQEBAQEBAQEBAQEBJyhHmaJRdwWXdPvs4GsB7raemvg-Z14cYCi1VRc1jBSVu8o2ogvnsHSiSUmhABCx"
};

describe("cross-implementation grant vector", () => {
  it("a grant sealed by RustCrypto opens with WebCrypto", async () => {
    const privateKey = await crypto.subtle.importKey(
      "jwk",
      { kty: "EC", crv: "P-256", d: RUST_GRANT.d, x: RUST_GRANT.x, y: RUST_GRANT.y },
      { name: "ECDH", namedCurve: "P-256" },
      false,
      ["deriveBits"],
    );
    const claims = {
      iss: "alice", aud: AUD_GRANT, realm: "golden-realm-000001", iat: 0, exp: 120,
      sub: "bob", epk: RUST_GRANT.epk, apk: RUST_GRANT.apk, epoch: 3, ct: RUST_GRANT.ct,
    };
    const k = await openGrant(claims, "bob", { privateKey, publicB64: RUST_GRANT.apk }, "golden-realm-000001");
    expect([...k.raw]).toEqual(new Array(32).fill(5));
    expect(k.epoch).toBe(3);
  });
});

describe("relay golden vector (crates/protocol/testdata/vectors.json)", () => {
  it("a payload sealed by RustCrypto under the documented AAD opens with WebCrypto", async () => {
    const vectors = JSON.parse(
      readFileSync(new URL("../../crates/protocol/testdata/vectors.json", import.meta.url), "utf8"),
    ) as { relay: { realm: string; from: string; key: string; aad: string; plaintext: string; payload: string } };
    const r = vectors.relay;
    expect(new TextDecoder().decode(relayAad(r.realm, r.from))).toBe(r.aad);
    const k = await importRealmKey(b64urlDecode(r.key), 1);
    expect(new TextDecoder().decode(await openRelay([k], r.realm, r.from, r.payload))).toBe(r.plaintext);
    // attributed to another sender, it does not open
    await expect(openRelay([k], r.realm, "someone-else", r.payload)).rejects.toThrow(/no realm key/);
  });
});

function b64len(s: string): number {
  return Math.floor((s.length * 3) / 4);
}
