import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import type { PublicJwk, SignalClaims } from "../src/protocol/generated";
import { sign, type Signer } from "../src/lib/jwt";
import { checkSignal } from "../src/realm/mesh";

const v = JSON.parse(readFileSync(new URL("../../crates/protocol/testdata/vectors.json", import.meta.url), "utf8")) as {
  keys: Record<string, { identid: string; private_jwk: JsonWebKey; public_jwk: PublicJwk }>;
};
const REALM = "golden-realm-000001";
const NOW = 1_800_000_000;

async function signer(name: string): Promise<Signer> {
  const k = v.keys[name]!;
  const privateKey = await crypto.subtle.importKey("jwk", k.private_jwk, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  return { identid: k.identid, privateKey, alg: "ES256" };
}

describe("signal verification", async () => {
  const alice = await signer("alice");
  const bob = await signer("bob");
  const keys = new Map<string, PublicJwk>([
    [alice.identid, v.keys.alice!.public_jwk],
    [bob.identid, v.keys.bob!.public_jwk],
  ]);
  const offer: SignalClaims = { sub: bob.identid, cid: "cid-1", signal: { kind: "description", type: "offer", sdp: "v=0" } };
  const deliver = (payload: string, over: Partial<{ localid: string; connectionid: string }> = {}) => ({
    localid: alice.identid, remoteid: bob.identid, connectionid: "cid-1", payload, ...over,
  });

  it("accepts a signal signed by its sender for us and this connection", async () => {
    const t = await sign(alice, "signal", REALM, NOW, 60, offer);
    const r = await checkSignal(deliver(t), keys, bob.identid, REALM, NOW);
    expect(r).toMatchObject({ ok: true, claims: { cid: "cid-1", signal: { kind: "description", type: "offer" } } });
    const cand = await sign(alice, "signal", REALM, NOW, 60, {
      sub: bob.identid, cid: "cid-1", signal: { kind: "candidate", candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host", sdpMid: "0", sdpMLineIndex: 0 },
    });
    expect((await checkSignal(deliver(cand), keys, bob.identid, REALM, NOW)).ok).toBe(true);
  });

  it("refuses forged, misaddressed, replayed-elsewhere and stale signals", async () => {
    const t = await sign(alice, "signal", REALM, NOW, 60, offer);
    const why = async (payload: string, over = {}, me = bob.identid, now = NOW) => {
      const r = await checkSignal(deliver(payload, over), keys, me, REALM, now);
      return r.ok ? "ok" : r.why;
    };
    // the server claims bob sent alice's signal → verified with bob's key → bad signature
    expect(await why(t, { localid: bob.identid })).toBe("bad_signature");
    // signed by bob but claiming to come from alice
    expect(await why(await sign(bob, "signal", REALM, NOW, 60, offer))).toBe("bad_signature");
    expect(await why(t, {}, alice.identid)).toBe("addressed to another member");
    expect(await why(t, { connectionid: "cid-2" })).toBe("connection id mismatch");
    expect(await why(t, {}, bob.identid, NOW + 200)).toBe("expired");
    expect(await why(await sign(alice, "authn", REALM, NOW, 60, offer))).toBe("wrong_purpose");
    expect(await why(await sign(alice, "signal", "another-realm-0001", NOW, 60, offer))).toBe("wrong_realm");
    expect(await why(t, { localid: "x".repeat(43) })).toBe("unknown member");
    expect(await why(await sign(alice, "signal", REALM, NOW, 60, { sub: bob.identid, cid: "cid-1", signal: { kind: "nope" } }))).toBe("malformed signal");
  });
});
