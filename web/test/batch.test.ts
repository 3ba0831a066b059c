import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { BatchError, batchItems, LEN_PREFIX } from "../src/realm/batch";
import { LINK } from "../src/protocol/generated";

const vectors = JSON.parse(
  readFileSync(new URL("../../crates/protocol/testdata/batches.json", import.meta.url), "utf8"),
) as {
  constants: { tag: number; len_prefix: number; max_message: number };
  packed: { name: string; items: string[]; message: string }[];
  refused: { name: string; message: string; error: string }[];
};

const unhex = (s: string) => new Uint8Array((s.match(/../g) ?? []).map((b) => parseInt(b, 16)));
const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

describe("batch golden vectors", () => {
  it("constants match the Rust codec", () => {
    expect([LINK.tag.batch, LEN_PREFIX, LINK.maxP2pMessage + 1]).toEqual([
      vectors.constants.tag, vectors.constants.len_prefix, vectors.constants.max_message,
    ]);
  });

  for (const p of vectors.packed) {
    it(`reads: ${p.name}`, () => {
      const m = unhex(p.message);
      expect(m[0]).toBe(LINK.tag.batch);
      expect(batchItems(m.subarray(1)).map(hex)).toEqual(p.items);
    });
  }

  for (const r of vectors.refused) {
    it(`refuses: ${r.name}`, () => {
      const body = unhex(r.message).subarray(1);
      expect(() => batchItems(body)).toThrowError(BatchError);
      try {
        batchItems(body);
      } catch (e) {
        expect((e as BatchError).code).toBe(r.error);
      }
    });
  }

  it("reads items from a view into a larger buffer", () => {
    const buf = new Uint8Array([9, 9, 0, 2, 7, 8, 0, 0, 9]);
    expect(batchItems(buf.subarray(2, 8)).map(hex)).toEqual(["0708", ""]);
  });
});
