import { beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import * as A from "@automerge/automerge/slim";
import type { IdentId } from "../src/protocol/generated";
import { utf8 } from "../src/lib/b64";
import { feeds, subscribe } from "../src/library/doc";
import { LIBRARY_SYNC_PREFIX, LibraryStore, type KV } from "../src/library/store";
import { HISTORY, MessageConsole, type ConsoleTransport } from "../src/realm/console";
import { Dispatcher, type Via } from "../src/realm/dispatch";

beforeAll(async () => {
  await A.initializeWasm(readFileSync(new URL("../node_modules/@automerge/automerge/dist/automerge.wasm", import.meta.url)));
});

const memKV = (): KV => {
  const m = new Map<string, unknown>();
  return { get: async <T,>(k: string) => m.get(k) as T | undefined, set: async (k: string, v: unknown) => m.set(k, v) };
};

/**
 * Devices on a loopback network: each has a dispatcher, as a Mesh does; a broadcast reaches
 * every other device whose "data channel" is open, the relay every other device.
 */
class Net {
  nodes = new Map<IdentId, { d: Dispatcher; open: boolean; lines: string[] }>();
  wire: [IdentId, Uint8Array, Via][] = [];

  add(id: IdentId, open = true): ConsoleTransport & { d: Dispatcher; lines: string[] } {
    const lines: string[] = [];
    const d = new Dispatcher((l) => lines.push(l));
    this.nodes.set(id, { d, open, lines });
    const send = (msg: Uint8Array, via: Via) => {
      let n = 0;
      for (const [to, node] of this.nodes) {
        if (to === id || (via === "p2p" && !node.open)) continue;
        this.wire.push([to, msg, via]);
        node.d.dispatch(id, msg, via);
        n++;
      }
      return n;
    };
    return {
      me: { identid: id },
      d,
      lines,
      handle: (p, h) => d.handle(p, h),
      broadcastP2P: (msg) => send(msg, "p2p"),
      broadcastRelay: async (msg) => send(msg, "relay"),
    };
  }
}

describe("message console", () => {
  it("sends the text itself (the bytes `skypod realm listen` prints) and keeps both sides' history", async () => {
    const net = new Net();
    const a = new MessageConsole(net.add("devA"));
    const b = new MessageConsole(net.add("devB"));
    const seen: number[] = [];
    const stop = b.subscribe((m) => seen.push(m.length));
    expect(await a.send("hello ☀", "p2p")).toBe(1);
    expect(await b.send("back", "relay")).toBe(1);
    expect(net.wire.map(([to, m, via]) => [to, utf8.decode(m), via])).toEqual([["devB", "hello ☀", "p2p"], ["devA", "back", "relay"]]);
    expect(net.wire[0]?.[1]).toEqual(new TextEncoder().encode("hello ☀"));
    const view = (c: MessageConsole) => c.messages.map((m) => [m.from, m.body, m.via, m.outgoing]);
    expect(view(a)).toEqual([["devA", "hello ☀", "p2p", true], ["devB", "back", "relay", false]]);
    expect(view(b)).toEqual([["devA", "hello ☀", "p2p", false], ["devB", "back", "relay", true]]);
    expect(new Set(a.messages.map((m) => m.id)).size).toBe(2);
    stop();
    await a.send("after", "p2p");
    expect(seen).toEqual([0, 1, 2]);
    expect(b.messages).toHaveLength(3);
  });

  it("records a P2P message only when it went out, refuses text that would read as tagged", async () => {
    const net = new Net();
    const a = new MessageConsole(net.add("devA"));
    const b = new MessageConsole(net.add("devB", false));
    expect(await a.send("nobody hears", "p2p")).toBe(0);
    expect(a.messages).toEqual([]);
    expect(await a.send("via the server", "relay")).toBe(1);
    expect(b.messages.map((m) => m.body)).toEqual(["via the server"]);
    await expect(a.send("\0Lnot library", "relay")).rejects.toThrow(/NUL/);
    expect(net.wire).toHaveLength(1);
  });

  it("keeps the last HISTORY messages, and stops receiving once detached", async () => {
    const net = new Net();
    const a = new MessageConsole(net.add("devA"));
    const bt = net.add("devB");
    const b = new MessageConsole(bt);
    for (let i = 0; i < HISTORY + 5; i++) await a.send(`m${i}`, "p2p");
    expect(b.messages).toHaveLength(HISTORY);
    expect(b.messages[0]?.body).toBe("m5");
    expect(b.messages.at(-1)?.body).toBe(`m${HISTORY + 4}`);
    b.detach();
    await a.send("late", "p2p");
    expect(b.messages.at(-1)?.body).toBe(`m${HISTORY + 4}`);
    expect(bt.lines).toEqual(["text from devA dropped: no console"]);
  });

  it("shares the mesh with the library: sync messages reach the store, never the console", async () => {
    const net = new Net();
    const at = net.add("devA");
    const bt = net.add("devB");
    const ca = new MessageConsole(at);
    const cb = new MessageConsole(bt);
    const la = await LibraryStore.open(memKV(), "realm", "devA");
    const lb = await LibraryStore.open(memKV(), "realm", "devB");
    // Delivered later, in order, like a data channel (the store sends while it receives).
    const queue: [Dispatcher, IdentId, Uint8Array][] = [];
    la.send = async (_p, m) => (queue.push([bt.d, "devA", m]), true);
    lb.send = async (_p, m) => (queue.push([at.d, "devB", m]), true);
    at.handle(LIBRARY_SYNC_PREFIX, (from, m) => void la.receive(from, m));
    bt.handle(LIBRARY_SYNC_PREFIX, (from, m) => void lb.receive(from, m));
    la.change((d) => subscribe(d, [{ url: "https://example.com/a", title: "A" }])[0]);
    await la.connect("devB");
    await lb.connect("devA");
    await ca.send("text between syncs", "p2p");
    for (let i = 0; i < 1000 && (queue.length > 0 || feeds(lb.doc).length === 0); i++) {
      const next = queue.shift();
      if (next) expect(next[0].dispatch(next[1], next[2], "p2p")).toBe(true);
      await new Promise((r) => setTimeout(r, 0));
    }
    expect(feeds(lb.doc).map((f) => f.url)).toEqual(["https://example.com/a"]);
    expect(lb.received).toBeGreaterThan(0);
    expect(cb.messages.map((m) => m.body)).toEqual(["text between syncs"]);
    expect(ca.messages.map((m) => m.body)).toEqual(["text between syncs"]);
    expect([...at.lines, ...bt.lines]).toEqual([]);
  });
});
