import { describe, expect, it } from "vitest";
import { generateIdentity } from "../src/lib/identity";
import { createInvitation, formatInviteLink, parseInviteLink, precheckInvitation } from "../src/lib/invite";
import { verify } from "../src/lib/jwt";
import { b64urlDecode } from "../src/lib/b64";
import { generateRealmKey, importRealmKey, openRelay, sealRelay } from "../src/lib/realmkey";

describe("invitations", () => {
  it("round-trips a link in the protocol's format and verifies", async () => {
    const alice = await generateIdentity();
    await expect(crypto.subtle.exportKey("jwk", alice.privateKey)).rejects.toThrow();
    const realm = "realm-under-test-0001";
    const now = Math.floor(Date.now() / 1000);
    const token = await createInvitation(alice, realm, now, 600);
    const url = formatInviteLink({ server: "http://127.0.0.1:8080/", realm, token, params: {} });
    expect(url).toBe(`http://127.0.0.1:8080/#join=${realm}.${token}`);
    const l = parseInviteLink(`  ${url}\n`);
    expect(l).toMatchObject({ server: "http://127.0.0.1:8080", realm, token, params: {} });
    const c = await verify<{ jti: string }>(l.token, alice.publicJwk, "invitation", realm, now);
    expect(c.jti.length).toBeGreaterThanOrEqual(16);
    precheckInvitation(l, "someone", now);
    // unknown extra parameters are tolerated
    expect(parseInviteLink(`${url}&x=1`)).toMatchObject({ token, params: { x: "1" } });
  });

  it("explains garbage, expired and foreign-bound invitations", async () => {
    const alice = await generateIdentity();
    const realm = "realm-under-test-0001";
    expect(() => parseInviteLink("hello")).toThrow(/not a Skypod invitation/);
    expect(() => parseInviteLink("http://x/#join=short.a.b.c")).toThrow(/no valid realm/);
    expect(() => parseInviteLink(`http://x/#join=${realm}.garbage`)).toThrow(/damaged/);
    const old = await createInvitation(alice, realm, 1_000_000, 600);
    expect(() => precheckInvitation(parseInviteLink(`http://x/#join=${realm}.${old}`), "me", 2_000_000)).toThrow(/expired/);
    const bound = await createInvitation(alice, realm, 1_000_000, 600, "bob");
    expect(() => precheckInvitation(parseInviteLink(`http://x/#join=${realm}.${bound}`), "me", 1_000_000)).toThrow(/another device/);
    precheckInvitation(parseInviteLink(`http://x/#join=${realm}.${bound}`), "bob", 1_000_000);
  });
});

describe("realm key", () => {
  it("seals and opens relay payloads, bound to the realm and the sender", async () => {
    const k = await generateRealmKey();
    const R = "realm-a-0000000001";
    const sealed = await sealRelay(k, R, "alice", new TextEncoder().encode("hi"));
    expect(new TextDecoder().decode(await openRelay(k, R, "alice", sealed))).toBe("hi");
    await expect(openRelay(k, "realm-b-0000000001", "alice", sealed)).rejects.toThrow();
    await expect(openRelay(k, R, "mallory", sealed)).rejects.toThrow(); // re-attributed by the server
    const other = await importRealmKey(crypto.getRandomValues(new Uint8Array(32)));
    await expect(openRelay(other, R, "alice", sealed)).rejects.toThrow();
    await expect(importRealmKey(new Uint8Array(5))).rejects.toThrow();
  });

  it("uses the native peer's AAD and layout (nonce ‖ ciphertext ‖ tag)", async () => {
    const raw = new Uint8Array(32).fill(7);
    const k = await importRealmKey(raw);
    const sealed = b64urlDecode(await sealRelay(k, "golden-realm-000001", "alice", new TextEncoder().encode("abc")));
    expect(sealed.length).toBe(12 + 3 + 16);
    const node = await import("node:crypto");
    const d = node.createDecipheriv("aes-256-gcm", raw, sealed.subarray(0, 12));
    d.setAAD(Buffer.from("skypod relay v1|golden-realm-000001|alice"));
    d.setAuthTag(sealed.subarray(12 + 3));
    expect(Buffer.concat([d.update(sealed.subarray(12, 15)), d.final()]).toString()).toBe("abc");
  });
});
