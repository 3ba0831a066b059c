// Fails the build when the main bundle exceeds its gzip budget (250 KiB); prints the sizes.
import { readdirSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const BUDGET = 250 * 1024;
const dir = new URL("../dist/assets/", import.meta.url);
let total = 0;
for (const f of readdirSync(dir)) {
  if (!/\.(js|css)$/.test(f)) continue;
  const buf = readFileSync(new URL(f, dir));
  const gz = gzipSync(buf, { level: 9 }).length;
  total += gz;
  console.log(`${f.padEnd(32)} ${(buf.length / 1024).toFixed(1).padStart(7)} KiB raw ${(gz / 1024).toFixed(1).padStart(6)} KiB gzip`);
}
console.log(`main bundle (js+css) gzip: ${(total / 1024).toFixed(1)} KiB (budget ${BUDGET / 1024} KiB)`);
if (total > BUDGET) {
  console.error("over budget");
  process.exit(1);
}
