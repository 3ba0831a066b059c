import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { parseEnvelope } from "../src/realm/envelope";

const vectors = JSON.parse(
  readFileSync(new URL("../../crates/protocol/testdata/vectors.json", import.meta.url), "utf8"),
) as { envelopes: { json: string; valid: boolean }[] };

describe("envelope golden vectors", () => {
  for (const e of vectors.envelopes) {
    it(`${e.json} is ${e.valid ? "valid" : "invalid"}`, () => {
      expect(parseEnvelope(e.json) !== null).toBe(e.valid);
    });
  }
});
