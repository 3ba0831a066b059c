// node readability.mjs REPEAT FILE... — Mozilla Readability + jsdom baseline.
// Prints one JSON line per file: text and median milliseconds per run (jsdom parse + Readability).
import { readFileSync } from "node:fs";
import { JSDOM, VirtualConsole } from "jsdom";
import { Readability } from "@mozilla/readability";

const [repeatArg, ...files] = process.argv.slice(2);
const repeat = Math.max(1, parseInt(repeatArg || "5", 10));
const vc = new VirtualConsole();
for (const file of files) {
  const html = readFileSync(file, "utf8");
  let article = null;
  const times = [];
  for (let i = 0; i < repeat; i++) {
    const t0 = process.hrtime.bigint();
    const dom = new JSDOM(html, { url: "https://bench.example/article", virtualConsole: vc });
    article = new Readability(dom.window.document).parse();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    dom.window.close();
  }
  times.sort((a, b) => a - b);
  const ms = times[Math.floor(times.length / 2)];
  console.log(JSON.stringify({ file, ms, title: article?.title ?? null, text: article?.textContent ?? "" }));
}
