// The protocol's AsyncAPI 3.0 document (docs/asyncapi.json, generated from crates/protocol)
// must be valid for the AsyncAPI project's own parser, and cover the message catalog the web
// client uses.
import { beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";
import { MSG } from "../src/protocol/generated";

const text = readFileSync(new URL("../../docs/asyncapi.json", import.meta.url), "utf8");

let parsed: Awaited<ReturnType<Parser["parse"]>>;

// The parser loads its rule sets on first use: slow on a busy machine.
beforeAll(async () => {
  parsed = await new Parser().parse(text);
}, 120_000);

describe("docs/asyncapi.json", () => {
  it("parses and validates with @asyncapi/parser, without errors", () => {
    const { document, diagnostics } = parsed;
    const errors = diagnostics.filter((d) => d.severity === 0);
    expect(errors.map((d) => `${d.path.join(".")}: ${d.message}`)).toEqual([]);
    expect(document).toBeDefined();
    expect(document!.version()).toBe("3.0.0");
    const names = new Set(document!.allMessages().all().map((m) => m.name()));
    for (const msg of Object.values(MSG)) expect(names).toContain(msg);
    expect(names).toContain("err");
  });

  it("every example is valid for its own message's payload schema", () => {
    const { document } = parsed;
    for (const m of document!.allMessages().all()) {
      const examples = m.examples().all();
      expect(examples.length, m.id()).toBeGreaterThan(0);
      const schema = m.payload()!;
      for (const ex of examples) {
        const payload = ex.payload() as Record<string, unknown>;
        const required = schema.required() ?? [];
        for (const key of required) expect(payload, `${m.id()} lacks ${key}`).toHaveProperty(key);
        const allowed = Object.keys(schema.properties() ?? {});
        for (const key of Object.keys(payload)) expect(allowed, `${m.id()}: ${key}`).toContain(key);
      }
    }
  });
});
