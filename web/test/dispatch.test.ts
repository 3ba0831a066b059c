import { describe, expect, it, vi } from "vitest";
import { readFileSync } from "node:fs";
import type { Envelope, IdentId } from "../src/protocol/generated";
import { MSG } from "../src/protocol/generated";
import { utf8 } from "../src/lib/b64";
import { generateIdentity } from "../src/lib/identity";
import { verify } from "../src/lib/jwt";
import { generateRealmKey, sealRelay, type RealmKey } from "../src/lib/realmkey";
import { LIBRARY_SYNC_PREFIX } from "../src/library/store";
import { MessageConsole } from "../src/realm/console";
import { Dispatcher, TEXT, type MessageHandler, type Via } from "../src/realm/dispatch";
import { FRAGMENT_PREFIX, MAX_RELAY_MESSAGE, split } from "../src/realm/fragment";
import { authnStep, Mesh } from "../src/realm/mesh";

type Got = [IdentId, string, Via];

function recorder(): { got: Got[]; handler: MessageHandler } {
  const got: Got[] = [];
  return { got, handler: (from, msg, via) => got.push([from, [...msg].map((b) => b.toString(16).padStart(2, "0")).join(""), via]) };
}

describe("dispatch by prefix", () => {
  it("hands each message to the handler of its prefix, whole", () => {
    const lines: string[] = [];
    const d = new Dispatcher((l) => lines.push(l));
    const lib = recorder();
    const text = recorder();
    const other = recorder();
    d.handle(LIBRARY_SYNC_PREFIX, lib.handler);
    d.handle(TEXT, text.handler);
    d.handle(new Uint8Array([0, 0x51]), other.handler);
    expect(d.dispatch("peerA", new Uint8Array([0, 0x4c, 1, 2]), "p2p")).toBe(true);
    expect(d.dispatch("peerB", utf8.encode("hi"), "relay")).toBe(true);
    expect(d.dispatch("peerB", new Uint8Array([0, 0x51]), "relay")).toBe(true);
    // Empty is not tagged: it is (empty) console text, as before.
    expect(d.dispatch("peerA", new Uint8Array(0), "p2p")).toBe(true);
    expect(lib.got).toEqual([["peerA", "004c0102", "p2p"]]);
    expect(text.got).toEqual([["peerB", "6869", "relay"], ["peerA", "", "p2p"]]);
    expect(other.got).toEqual([["peerB", "0051", "relay"]]);
    expect(lines).toEqual([]);
  });

  it("drops a tagged message nobody handles with a log line; it never reaches the console", () => {
    const lines: string[] = [];
    const d = new Dispatcher((l) => lines.push(l));
    const text = recorder();
    d.handle(TEXT, text.handler);
    expect(d.dispatch("abcdefghijkl", new Uint8Array([0, 0x5a, 0x68, 0x69]), "p2p")).toBe(false);
    // A reassembled message that happens to start with the fragment prefix is not text either.
    expect(d.dispatch("abcdefghijkl", new Uint8Array([...FRAGMENT_PREFIX, 0x68]), "relay")).toBe(false);
    // Library messages before the library is attached: dropped, not shown.
    expect(d.dispatch("abcdefghijkl", new Uint8Array([0, 0x4c, 9]), "relay")).toBe(false);
    expect(text.got).toEqual([]);
    expect(lines).toEqual([
      "message from abcdefgh via p2p dropped: unknown prefix 005a",
      "message from abcdefgh via relay dropped: unknown prefix 0046",
      "message from abcdefgh via relay dropped: unknown prefix 004c",
    ]);
  });

  it("text without a console is dropped with a log line", () => {
    const lines: string[] = [];
    const d = new Dispatcher((l) => lines.push(l));
    expect(d.dispatch("abcdefghijkl", utf8.encode("hi"), "p2p")).toBe(false);
    expect(lines).toEqual(["text from abcdefgh dropped: no console"]);
  });

  it("refuses prefixes that are taken, overlap, are not NUL and a tag, or are reserved; removal frees them", () => {
    const d = new Dispatcher(() => {});
    const off = d.handle(LIBRARY_SYNC_PREFIX, () => {});
    expect(() => d.handle(new Uint8Array([0, 0x4c]), () => {})).toThrow(/already has a handler/);
    expect(() => d.handle(new Uint8Array([0, 0x4c, 1]), () => {})).toThrow(/already has a handler/);
    expect(() => d.handle(utf8.encode("L"), () => {})).toThrow(/NUL and a tag byte/);
    expect(() => d.handle(new Uint8Array([0]), () => {})).toThrow(/NUL and a tag byte/);
    expect(() => d.handle(FRAGMENT_PREFIX, () => {})).toThrow(/reserved/);
    const offText = d.handle(TEXT, () => {});
    expect(() => d.handle(TEXT, () => {})).toThrow(/console text already/);
    off();
    offText();
    const lib = recorder();
    d.handle(LIBRARY_SYNC_PREFIX, lib.handler);
    d.handle(TEXT, () => {});
    d.dispatch("p", new Uint8Array([0, 0x4c]), "p2p");
    expect(lib.got).toHaveLength(1);
  });

  it("keeps the library prefix of crates/protocol", () => {
    const rust = readFileSync(new URL("../../crates/protocol/src/messages.rs", import.meta.url), "utf8");
    expect(rust).toContain('pub const LIBRARY_SYNC_PREFIX: &[u8] = b"\\0L";');
    expect([...LIBRARY_SYNC_PREFIX]).toEqual([0, "L".charCodeAt(0)]);
  });
});

describe("Mesh dispatch", () => {
  /** A relayed broadcast as the server delivers it (the socket is never opened here). */
  async function deliver(m: Mesh, key: RealmKey, realm: string, from: IdentId, msg: Uint8Array) {
    for (const f of split(msg, MAX_RELAY_MESSAGE, 7)) {
      const payload = await sealRelay(key, realm, from, new Uint8Array(f));
      const env = { typ: "evt", msg: MSG.BROADCAST, dat: { from, payload } } as Envelope<unknown>;
      (m as unknown as { event(e: Envelope<unknown>): void }).event(env);
    }
  }

  it("routes relayed messages (reassembled) by prefix; unknown tags are logged, not shown", async () => {
    const me = await generateIdentity();
    const key = await generateRealmKey(1);
    const m = new Mesh(me, "realm1", "ws://127.0.0.1:9/never", null, key);
    const con = new MessageConsole(m);
    const lib = recorder();
    m.handle(LIBRARY_SYNC_PREFIX, lib.handler);
    // Larger than one relay message: fragmented, then reassembled before dispatch.
    const big = new Uint8Array(MAX_RELAY_MESSAGE * 2 + 5);
    big.set(LIBRARY_SYNC_PREFIX);
    big[big.length - 1] = 0x7f;
    await deliver(m, key, "realm1", "peerAAAAAAAA", big);
    await deliver(m, key, "realm1", "peerAAAAAAAA", utf8.encode("hello from relay"));
    await deliver(m, key, "realm1", "peerAAAAAAAA", new Uint8Array([0, 0x3f, 0x68, 0x69]));
    await vi.waitFor(() => {
      expect(con.messages.map((x) => [x.from, x.body, x.via, x.outgoing])).toEqual([["peerAAAAAAAA", "hello from relay", "relay", false]]);
      expect(lib.got).toHaveLength(1);
      expect(m.snapshot().log.some((l) => l.endsWith("message from peerAAAA via relay dropped: unknown prefix 003f"))).toBe(true);
    });
    expect(lib.got[0]?.[1].length).toBe(big.length * 2);
    expect(lib.got[0]?.[1].endsWith("7f")).toBe(true);
    expect(lib.got[0]?.[2]).toBe("relay");
    expect("messages" in m.snapshot()).toBe(false);
    m.stop();
  });
});

describe("authn step", () => {
  it("signs a fresh authn token for this realm on every call (first auth of a member and reconnections)", async () => {
    const me = await generateIdentity();
    const step = authnStep(me, "realm1");
    const a = await step();
    const b = await step();
    expect([a.msg, b.msg]).toEqual([MSG.PREAUTH_AUTHN, MSG.PREAUTH_AUTHN]);
    expect(a.token).not.toBe(b.token);
    const c = await verify(a.token, me.publicJwk, "authn", "realm1", Math.floor(Date.now() / 1000));
    expect(c.iss).toBe(me.identid);
    await expect(verify(a.token, me.publicJwk, "authn", "realm2", Math.floor(Date.now() / 1000))).rejects.toMatchObject({ reason: expect.any(String) });
  });
});
