import { beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import * as A from "@automerge/automerge/slim";
import {
  bridgedDevices, continueFrom, episodeKey, feeds, genesisBytes, GENESIS_HASH, LibraryInputError, markPlayed, normalizeFeedUrl, queueAdd,
  queueMove, queueOf, queueRemove, resumeOffer, resumeOffers, setDeviceName, setPosition, subscribe, unsubscribe,
  type LibraryDoc,
} from "../src/library/doc";
import { isLibraryMessage, LibraryStore, type KV } from "../src/library/store";

beforeAll(async () => {
  await A.initializeWasm(readFileSync(new URL("../node_modules/@automerge/automerge/dist/automerge.wasm", import.meta.url)));
});

const memKV = (): KV & { m: Map<string, unknown> } => {
  const m = new Map<string, unknown>();
  return { m, get: async <T,>(k: string) => m.get(k) as T | undefined, set: async (k: string, v: unknown) => m.set(k, v) };
};

describe("library document", () => {
  it("starts from the genesis change of crates/library", () => {
    const rust = readFileSync(new URL("../../crates/library/src/library.rs", import.meta.url), "utf8");
    expect(rust).toContain(`GENESIS_HASH: &str = "${GENESIS_HASH}"`);
    const d = A.load<LibraryDoc>(genesisBytes());
    expect(A.getHeads(d)).toEqual([GENESIS_HASH]);
    expect(d.schema).toBe(1);
  });

  it("normalizes feed URLs like the Rust side and refuses bad ones with a clear message", () => {
    expect(normalizeFeedUrl("  HTTPS://Example.COM/feed.xml#top ")).toBe("https://example.com/feed.xml");
    expect(episodeKey("https://example.com/f", "g-1")).toBe("https://example.com/f g-1");
    expect(() => normalizeFeedUrl("not a url")).toThrow(/not a valid web address/);
    expect(() => normalizeFeedUrl("ftp://example.com/f")).toThrow(/only http and https/);
    expect(() => normalizeFeedUrl("")).toThrow(LibraryInputError);
  });

  it("subscribes, keeps positions per device and offers to continue from the newest other device", () => {
    let d = A.load<LibraryDoc>(genesisBytes());
    const r = subscribe(d, [{ url: "https://example.com/f", title: "F" }, { url: "https://example.com/f#x" }]);
    d = r[0];
    expect(r[1]).toEqual(["https://example.com/f"]);
    expect(feeds(d).map((f) => [f.url, f.title])).toEqual([["https://example.com/f", "F"]]);
    const ep = episodeKey("https://example.com/f", "e1");
    d = setDeviceName(d, "phone", "Phone");
    d = setPosition(d, "laptop", ep, 10, 600);
    expect(resumeOffer(d, "laptop", ep)).toBeNull();
    d = setPosition(d, "phone", ep, 60, 600);
    // Same millisecond is possible: make the phone's record strictly newer for the check.
    d = A.change(d, (x) => {
      const p = x.plays.phone?.[ep];
      if (p) p.updated = (x.plays.laptop?.[ep]?.updated ?? 0) + 1;
    });
    const offer = resumeOffer(d, "laptop", ep);
    expect(offer?.device).toBe("phone");
    expect(offer?.deviceName).toBe("Phone");
    expect(offer?.record.position).toBe(60);
    expect(resumeOffers(d, "laptop").map((o) => o.episode)).toEqual([ep]);
    expect(continueFrom(d, ep).map((r) => r.device)).toEqual(["phone", "laptop"]);
    d = markPlayed(d, "phone", ep, true);
    expect(resumeOffers(d, "laptop")).toEqual([]);
    expect(() => setPosition(d, "phone", ep, -1)).toThrow(LibraryInputError);
    d = unsubscribe(d, "https://example.com/f");
    expect(feeds(d)).toEqual([]);
  });

  it("keeps a per-device queue: add, remove, reorder", () => {
    let d = A.load<LibraryDoc>(genesisBytes());
    for (const e of ["a", "b", "c"]) d = queueAdd(d, "me", e);
    expect(queueAdd(d, "me", "a")).toBe(d);
    d = queueMove(d, "me", "c", 0);
    expect(queueOf(d, "me")).toEqual(["c", "a", "b"]);
    d = queueMove(d, "me", "c", 2);
    expect(queueOf(d, "me")).toEqual(["a", "b", "c"]);
    d = queueRemove(d, "me", "b");
    expect(queueOf(d, "me")).toEqual(["a", "c"]);
    expect(queueOf(d, "other")).toEqual([]);
  });
});

/** Two stores wired back to back, delivering messages in order until both are quiet. */
async function pair(a: LibraryStore, b: LibraryStore) {
  const queue: Array<[LibraryStore, string, Uint8Array]> = [];
  a.send = async (_p, m) => { queue.push([b, a.device, m]); return true; };
  b.send = async (_p, m) => { queue.push([a, b.device, m]); return true; };
  const drain = async () => {
    for (let i = 0; i < 1000; i++) {
      await new Promise((r) => setTimeout(r, 0));
      const next = queue.shift();
      if (!next) return;
      expect(isLibraryMessage(next[2])).toBe(true);
      await next[0].receive(next[1], next[2]);
    }
    throw new Error("sync did not settle");
  };
  return { queue, drain };
}

describe("bridged devices", () => {
  it("lists the devices a member bridges (as crates/library writes them), with the bridging member's name and their last activity", () => {
    let d = A.load<LibraryDoc>(genesisBytes());
    const ep1 = episodeKey("https://example.com/f", "e1");
    const ep2 = episodeKey("https://example.com/f", "e2");
    const phone = "NODE/gpodder/alice/antennapod-phone";
    d = setDeviceName(d, "NODE", "Kitchen node");
    d = setDeviceName(d, "laptop", "Laptop");
    // What `register_bridged` and `as_bridged` write: scalar strings, records under the bridged id.
    d = A.change(d, (x) => {
      x.devices[phone] = { name: new A.ImmutableString("AntennaPod (mobile) via Kitchen node"), bridged_by: new A.ImmutableString("NODE"), kind: new A.ImmutableString("gpodder") };
      x.devices["NODE/gpodder/alice/idle"] = { name: new A.ImmutableString("gPodder (desktop) via node"), bridged_by: new A.ImmutableString("GONE"), kind: new A.ImmutableString("gpodder") };
    });
    d = setPosition(d, phone, ep1, 754, 900);
    d = setPosition(d, phone, ep2, 10);
    d = setPosition(d, "laptop", ep1, 5);
    d = A.change(d, (x) => {
      const p = x.plays[phone];
      if (p?.[ep1] && p[ep2]) {
        p[ep1].updated = 1_700_000_000_000;
        p[ep2].updated = 1_700_000_060_000;
      }
    });
    const b = bridgedDevices(d);
    expect(b).toEqual([
      { id: "NODE/gpodder/alice/antennapod-phone", name: "AntennaPod (mobile) via Kitchen node", app: "AntennaPod (mobile)", bridgedBy: "NODE", bridgedByName: "Kitchen node", kind: "gpodder", lastActivity: 1_700_000_060_000, episodes: 2 },
      { id: "NODE/gpodder/alice/idle", name: "gPodder (desktop) via node", app: "gPodder (desktop)", bridgedBy: "GONE", bridgedByName: "node", kind: "gpodder", lastActivity: null, episodes: 0 },
    ]);
    // Without the suffix, nothing to fall back on.
    d = A.change(d, (x) => {
      x.devices["NODE/gpodder/alice/idle"] = { name: new A.ImmutableString("Plain"), bridged_by: new A.ImmutableString("GONE"), kind: new A.ImmutableString("gpodder") };
    });
    expect(bridgedDevices(d)[1]).toMatchObject({ app: "Plain", bridgedByName: null });
    // Realm members (named or not, with records or not) are not bridged devices.
    expect(b.map((x) => x.id)).not.toContain("laptop");
    expect(b.map((x) => x.id)).not.toContain("NODE");
    // And the phone is a device "continue from" names, like any other.
    expect(continueFrom(d, ep1).find((r) => r.device === phone)?.deviceName).toBe("AntennaPod (mobile) via Kitchen node");
  });
});

describe("library sync between stores", () => {
  it("syncs both ways, persists, and resumes from the shared heads after a reconnect", async () => {
    const kvA = memKV();
    const kvB = memKV();
    const a = await LibraryStore.open(kvA, "realm", "devA");
    const b = await LibraryStore.open(kvB, "realm", "devB");
    const { drain } = await pair(a, b);
    a.change((d) => subscribe(d, [{ url: "https://example.com/a", title: "A" }])[0]);
    await a.connect("devB");
    await b.connect("devA");
    await drain();
    expect(feeds(b.doc).map((f) => f.url)).toEqual(["https://example.com/a"]);
    b.change((d) => setPosition(d, "devB", "https://example.com/a e1", 60, 300));
    await drain();
    expect(a.doc.plays.devB?.["https://example.com/a e1"]?.position).toBe(60);
    expect(a.inSync("devB")).toBe(true);
    await a.save();
    await a.disconnect("devB");
    await b.disconnect("devA");
    expect(kvA.m.has("libsync:devB")).toBe(true);

    // Reopen A from its saved bytes; reconnect; a change made meanwhile on B arrives alone.
    const a2 = await LibraryStore.open(kvA, "realm", "devA");
    expect(feeds(a2.doc).length).toBe(1);
    b.change((d) => setDeviceName(d, "devB", "Bee"));
    const { drain: drain2 } = await pair(a2, b);
    let bytesToA = 0;
    const sendB = b.send;
    b.send = async (p, m) => { bytesToA += m.length; return sendB(p, m); };
    await a2.connect("devB");
    await b.connect("devA");
    await drain2();
    expect(String(a2.doc.devices.devB?.name)).toBe("Bee");
    // Far less than the whole document: only the new change travelled.
    expect(bytesToA).toBeLessThan(A.save(b.doc).length * 2);
  });

  it("a message that could not go out is sent again on the next connect", async () => {
    const a = await LibraryStore.open(memKV(), "realm", "devA");
    const b = await LibraryStore.open(memKV(), "realm", "devB");
    a.change((d) => subscribe(d, [{ url: "https://example.com/lost" }])[0]);
    let up = false;
    const delivered: Uint8Array[] = [];
    a.send = async (_p, m) => {
      if (up) delivered.push(m);
      return up;
    };
    await a.connect("devB");
    await new Promise((r) => setTimeout(r, 0));
    expect(a.sent).toBe(0);
    up = true;
    await a.connect("devB");
    await new Promise((r) => setTimeout(r, 0));
    expect(delivered.length).toBe(1);
    // Let B answer and A follow up until B has the change.
    b.send = async (_p, m) => {
      await a.receive("devB", m);
      return true;
    };
    a.send = async (_p, m) => {
      await b.receive("devA", m);
      return true;
    };
    await b.receive("devA", delivered[0] as Uint8Array);
    for (let i = 0; i < 50 && !b.doc.subscriptions["https://example.com/lost"]; i++) await new Promise((r) => setTimeout(r, 0));
    expect(feeds(b.doc).map((f) => f.url)).toEqual(["https://example.com/lost"]);
  });

  it("refuses garbage without changing the document", async () => {
    const s = await LibraryStore.open(memKV(), "realm", "dev");
    const lines: string[] = [];
    s.log = (l) => lines.push(l);
    const before = A.getHeads(s.doc);
    await s.receive("peer", new Uint8Array([0, 0x4c, 1, 2, 3, 4]));
    expect(A.getHeads(s.doc)).toEqual(before);
    expect(lines.join()).toMatch(/refused/);
  });
});

describe("a library written by the Rust side", () => {
  // test/fixtures/rust-library.log: the `library.log` of crates/library's Store after, on a
  // fresh home, `skypod subscribe --offline https://rust.example/feed.xml`, `skypod position
  // "https://rust.example/feed.xml ep-1" 12:34 --offline`, `skypod queue add ... --offline`.
  // Records: "SKLR" | u32 LE length | 8-byte SHA-256 prefix | Automerge incremental save.
  const RUST_DEVICE = "-UoZQt1s9FZElAsEut89_rMsskAilB-2hw2AClf-tn4";
  it("loads onto the shared genesis and reads with the same schema", async () => {
    const log = new Uint8Array(readFileSync(new URL("./fixtures/rust-library.log", import.meta.url)));
    let d = A.load<LibraryDoc>(genesisBytes());
    let at = 0;
    let records = 0;
    while (at < log.length) {
      expect(new TextDecoder().decode(log.subarray(at, at + 4))).toBe("SKLR");
      const len = new DataView(log.buffer, log.byteOffset + at + 4, 4).getUint32(0, true);
      const payload = log.subarray(at + 16, at + 16 + len);
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", payload)).subarray(0, 8);
      expect(digest).toEqual(log.subarray(at + 8, at + 16));
      d = A.loadIncremental(d, payload);
      at += 16 + len;
      records++;
    }
    expect(records).toBeGreaterThan(0);
    const ep = episodeKey("https://rust.example/feed.xml", "ep-1");
    expect(feeds(d).map((f) => f.url)).toEqual(["https://rust.example/feed.xml"]);
    expect(continueFrom(d, ep).map((r) => [r.device, r.record.position])).toEqual([[RUST_DEVICE, 754]]);
    expect(queueOf(d, RUST_DEVICE)).toEqual([ep]);
    // The browser's edits go on top and sync back as ordinary changes.
    expect(resumeOffer(d, "browser", ep)?.record.position).toBe(754);
    d = setPosition(d, "browser", ep, 800);
    expect(resumeOffer(d, "browser", ep)).toBeNull();
  });
});
