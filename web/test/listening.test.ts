// The listening rules of doc.ts against the vectors crates/library tests too
// (crates/library/testdata/listening-rules.json, run by crates/library/tests/it/listening.rs).
import { beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import * as A from "@automerge/automerge/slim";
import {
  addTimeSaved, downloadHolders, downloadsOf, effectiveSettings, episodeEnded, genesisBytes, nextInQueue, playOf,
  podcastSettings, queueAdd, queueOf, removeDownload, setDownload, setPodcastSettings, setPosition, subscribe, timeSaved,
  timeSavedTotal, type Doc, type LibraryDoc, type PodcastSettingsPatch,
} from "../src/library/doc";

beforeAll(async () => {
  await A.initializeWasm(readFileSync(new URL("../node_modules/@automerge/automerge/dist/automerge.wasm", import.meta.url)));
});

type Json = Record<string, unknown>;
interface Step extends Json {
  device: string;
  op: string;
  expect?: Json;
  error?: boolean;
}
const vectors = JSON.parse(readFileSync(new URL("../../crates/library/testdata/listening-rules.json", import.meta.url), "utf8")) as {
  cases: Array<{ name: string; steps: Step[] }>;
};

const close = (a: number, b: number) => Math.abs(a - b) < 1e-9;

function run(libs: Map<string, Doc>, step: Step): unknown {
  const dev = step.device;
  if (step.op === "sync") {
    const all = [...libs.values()];
    for (const [k, d] of libs) libs.set(k, all.reduce((acc, o) => A.merge(acc, A.clone(o)), d));
    return null;
  }
  if (!libs.has(dev)) libs.set(dev, A.load<LibraryDoc>(genesisBytes()));
  const d = libs.get(dev)!;
  const s = (k: string) => step[k] as string;
  let out: unknown = null;
  let next: Doc = d;
  switch (step.op) {
    case "subscribe":
      next = subscribe(d, [{ url: s("feed") }])[0];
      break;
    case "queue_add":
      next = queueAdd(d, dev, s("episode"));
      break;
    case "set_position":
      next = setPosition(d, dev, s("episode"), step.position as number);
      break;
    case "set_setting":
      next = A.change(d, (x) => {
        x.settings[s("key")] = typeof step.value === "string" ? new A.ImmutableString(step.value) : step.value;
      });
      break;
    case "episode_ended": {
      const [n, nx] = episodeEnded(d, dev, s("episode"), step.duration as number | undefined);
      next = n;
      out = { next: nx };
      break;
    }
    case "set_download":
      next = setDownload(d, dev, s("episode"), step.bytes as number);
      break;
    case "remove_download": {
      const [n, removed] = removeDownload(d, dev, s("episode"));
      next = n;
      out = { removed };
      break;
    }
    case "set_podcast_settings":
      next = setPodcastSettings(d, s("feed"), step.settings as PodcastSettingsPatch);
      break;
    case "add_time_saved":
      next = addTimeSaved(d, dev, s("feed"), step.seconds as number);
      break;
    case "check":
      check(d, dev, step.expect ?? {});
      break;
    default:
      throw new Error(`unknown op ${step.op}`);
  }
  libs.set(dev, next);
  return out;
}

/** Expectations that compare what a lookup in the document gives with the fixture's `value`. */
const LOOKUPS = new Map<string, (d: Doc, w: Json) => unknown>([
  ["downloads", (d, w) => downloadsOf(d, w.device as string)],
  ["holders", (d, w) => downloadHolders(d, w.episode as string)],
  ["podcast_settings", (d, w) => podcastSettings(d, w.feed as string)],
  ["effective_settings", (d, w) => effectiveSettings(d, w.feed as string)],
]);

function check(d: Doc, dev: string, want: Json): void {
  for (const [k, w] of Object.entries(want) as Array<[string, Json & unknown]>) {
    const lookup = LOOKUPS.get(k);
    if (lookup) {
      expect(lookup(d, w)).toEqual(w.value);
      continue;
    }
    switch (k) {
      case "queue":
        expect(queueOf(d, dev)).toEqual(w);
        break;
      case "play": {
        const rec = playOf(d, dev, w.episode as string);
        if (w.absent) expect(rec).toBeNull();
        else {
          expect(rec?.completed).toBe(w.completed);
          expect(close(rec!.position, w.position as number)).toBe(true);
        }
        break;
      }
      case "next_after":
        expect(nextInQueue(queueOf(d, dev), w.current as string | null)).toBe(w.next);
        break;
      case "time_saved": {
        const got = timeSaved(d);
        expect(Object.keys(got).sort()).toEqual(Object.keys(w).sort());
        for (const [f, v] of Object.entries(w)) expect(close(got[f]!, v as number), `${f}: ${got[f]}`).toBe(true);
        break;
      }
      case "time_saved_total":
        expect(close(timeSavedTotal(d), w as unknown as number)).toBe(true);
        break;
      default:
        throw new Error(`unknown expectation ${k}`);
    }
  }
}

describe("listening rules (shared vectors with crates/library)", () => {
  it("has the vectors", () => expect(vectors.cases.length).toBeGreaterThanOrEqual(10));
  for (const c of vectors.cases) {
    it(c.name, () => {
      // Every device of the case exists from the start, so "sync" reaches it.
      const libs = new Map<string, Doc>(c.steps.map((s) => [s.device, A.load<LibraryDoc>(genesisBytes())]));
      for (const [i, step] of c.steps.entries()) {
        if (!libs.has(step.device)) libs.set(step.device, A.load<LibraryDoc>(genesisBytes()));
        const before = A.getHeads(libs.get(step.device)!);
        if (step.error) {
          expect(() => run(libs, step), `step ${i} must be refused`).toThrow();
          expect(A.getHeads(libs.get(step.device)!)).toEqual(before);
          continue;
        }
        const out = run(libs, step) as Json | null;
        if (step.expect && step.op !== "check") for (const [k, v] of Object.entries(step.expect)) expect(out?.[k], `step ${i} ${k}`).toEqual(v);
      }
    });
  }
});
