import { describe, expect, it } from "vitest";
import { generateIdentity } from "../src/lib/identity";
import { peek } from "../src/lib/jwt";
import {
  announce, AUD_ANNOUNCE, AUD_GRANT, compareRank, generateAgreementKey, generateRealmKey, grant, importRealmKey, openGrant,
  openRelay, rank, sealRelay, verifyKeyToken, type AnnounceClaims, type GrantClaims,
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

function b64len(s: string): number {
  return Math.floor((s.length * 3) / 4);
}
