import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import {
  DEFAULT_LIMITS, FRAGMENT_OVERHEAD, FragmentError, HEADER_LEN, isFragment, MAX_MESSAGE, MessageFraming, MIN_CHUNK,
  Reassembler, REMEMBERED, split,
} from "../src/realm/fragment";

interface Limits { max_message: number; max_partials: number; max_buffered: number; timeout_ms: number }
type Expect = "pending" | { deliver: string } | { error: string };
const vectors = JSON.parse(
  readFileSync(new URL("../../crates/protocol/testdata/fragments.json", import.meta.url), "utf8"),
) as {
  constants: { header_len: number; min_chunk: number; max_message: number; fragment_overhead: number; remembered: number; default_limits: Limits };
  split: { name: string; message: string; max: number; id: number; frames?: string[]; error?: string }[];
  reassembly: { name: string; limits: Limits; steps: { at_ms: number; frame: string; expect: Expect }[] }[];
};

const unhex = (s: string) => new Uint8Array((s.match(/../g) ?? []).map((b) => parseInt(b, 16)));
const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
const limits = (l: Limits) => ({ maxMessage: l.max_message, maxPartials: l.max_partials, maxBuffered: l.max_buffered, timeoutMs: l.timeout_ms });

describe("fragment golden vectors", () => {
  it("constants match the Rust codec", () => {
    const c = vectors.constants;
    expect([HEADER_LEN, MIN_CHUNK, MAX_MESSAGE, FRAGMENT_OVERHEAD, REMEMBERED]).toEqual([
      c.header_len, c.min_chunk, c.max_message, c.fragment_overhead, c.remembered,
    ]);
    expect(DEFAULT_LIMITS).toEqual(limits(c.default_limits));
  });

  for (const s of vectors.split) {
    it(`split: ${s.name}`, () => {
      const run = () => split(unhex(s.message), s.max, s.id).map(hex);
      if (s.error) {
        expect(run).toThrowError(FragmentError);
        try {
          run();
        } catch (e) {
          expect((e as FragmentError).code).toBe(s.error);
        }
      } else {
        expect(run()).toEqual(s.frames);
      }
    });
  }

  for (const s of vectors.reassembly) {
    it(`reassembly: ${s.name}`, () => {
      const r = new Reassembler(limits(s.limits));
      for (const step of s.steps) {
        let got: Expect;
        try {
          const m = r.push(step.at_ms, unhex(step.frame));
          got = m === null ? "pending" : { deliver: hex(m) };
        } catch (e) {
          if (!(e instanceof FragmentError)) throw e;
          got = { error: e.code };
        }
        expect(got, `${s.name} at ${step.at_ms}`).toEqual(step.expect);
      }
    });
  }
});

describe("MessageFraming", () => {
  it("round-trips a large message and passes small ones through", () => {
    const a = new MessageFraming();
    const b = new MessageFraming();
    const big = new Uint8Array(200_000).map((_, i) => (i * 13) & 0xff);
    const frames = a.outgoing(big, 44 * 1024);
    expect(frames.length).toBe(5);
    expect(frames.every((f) => f.length <= 44 * 1024 && isFragment(f))).toBe(true);
    const got = frames.map((f) => b.incoming("alice", f, 0)).filter((m) => m !== null);
    expect(got).toHaveLength(1);
    expect(hex(got[0] ?? new Uint8Array())).toBe(hex(big));
    const small = new TextEncoder().encode("hi");
    expect(a.outgoing(small, 100)).toEqual([small]);
    expect(b.incoming("alice", small, 0)).toBe(small);
  });

  it("keeps senders apart: the same id from two senders are two messages", () => {
    const r = new MessageFraming();
    const m1 = new Uint8Array(100).fill(1);
    const m2 = new Uint8Array(100).fill(2);
    const f1 = split(m1, 64, 7);
    const f2 = split(m2, 64, 7);
    expect(r.incoming("a", f1[0]!, 0)).toBeNull();
    expect(r.incoming("b", f2[0]!, 0)).toBeNull();
    expect(r.incoming("b", f2[1]!, 0)).toBeNull();
    expect(r.incoming("a", f1[1]!, 0)).toBeNull();
    expect(hex(r.incoming("a", f1[2]!, 0)!)).toBe(hex(m1));
    expect(hex(r.incoming("b", f2[2]!, 0)!)).toBe(hex(m2));
  });
});
