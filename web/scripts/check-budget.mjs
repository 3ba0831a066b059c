// Fails the build when the main bundle exceeds its gzip budget (250 KiB); prints the sizes.
// The main bundle is every .js and .css file the build emits; .wasm files (the CRDT's, when
// there is one) are listed but not counted, as the budget says.
import { readdirSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";

export const BUDGET = 250 * 1024;
const DIR = new URL("../dist/assets/", import.meta.url);

/** Sizes of the built assets: [{file, raw, gz, counted}], and the counted gzip total. */
export function measure(dir = DIR) {
  const files = [];
  let total = 0;
  for (const f of readdirSync(dir).sort()) {
    const counted = /\.(js|css)$/.test(f);
    if (!counted && !f.endsWith(".wasm")) continue;
    const buf = readFileSync(new URL(f, dir));
    const gz = gzipSync(buf, { level: 9 }).length;
    if (counted) total += gz;
    files.push({ file: f, raw: buf.length, gz, counted });
  }
  return { files, total };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { files, total } = measure();
  for (const { file, raw, gz, counted } of files) {
    console.log(`${file.padEnd(32)} ${(raw / 1024).toFixed(1).padStart(7)} KiB raw ${(gz / 1024).toFixed(1).padStart(6)} KiB gzip${counted ? "" : " (not counted)"}`);
  }
  console.log(`main bundle (js+css) gzip: ${(total / 1024).toFixed(1)} KiB (budget ${BUDGET / 1024} KiB)`);
  if (total > BUDGET) {
    console.error("over budget");
    process.exit(1);
  }
}
