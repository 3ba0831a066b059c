// End-to-end, issue 6 test 1 with a real camera path: B scans A's invitation QR through
// chromium's fake camera (a Y4M file showing the QR) and ends up connected to A over P2P.
// The camera file is fixed when chromium starts, so A's invitation exists first and B's
// browser is launched afterwards with the fake-capture flags.
// Run through scripts/e2e.sh (builds the app and the server first).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import QRCode from "qrcode";
import { device, invite, launch, p2pLinked, saveMetrics, setup, startRealm, teardown } from "./harness.mjs";

const T = { timeout: 30_000 };
const metrics = {};
let web, realm, browserA, browserB, A, B, appUrl, videoDir;

/**
 * A YUV4MPEG2 (4:2:0) video of `frames` identical frames showing `text` as a QR code: black
 * modules on white, a 4-module quiet zone, centred in a width×height picture.
 */
export function qrY4m(text, { width = 640, height = 480, frames = 10 } = {}) {
  const qr = QRCode.create(text, { errorCorrectionLevel: "M" });
  const n = qr.modules.size;
  const quiet = 4;
  const scale = Math.floor(Math.min(width, height) / (n + 2 * quiet));
  assert.ok(scale >= 3, `QR too dense for ${width}×${height}: ${n} modules`);
  const x0 = Math.floor((width - n * scale) / 2);
  const y0 = Math.floor((height - n * scale) / 2);
  const luma = Buffer.alloc(width * height, 235); // white (video range)
  for (let y = 0; y < n * scale; y++) {
    for (let x = 0; x < n * scale; x++) {
      if (qr.modules.get(Math.floor(y / scale), Math.floor(x / scale))) luma[(y0 + y) * width + x0 + x] = 16;
    }
  }
  const chroma = Buffer.alloc((width / 2) * (height / 2) * 2, 128); // U and V: no colour
  const frame = Buffer.concat([Buffer.from("FRAME\n"), luma, chroma]);
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F15:1 Ip A1:1 C420jpeg\n`);
  return Buffer.concat([header, ...Array(frames).fill(frame)]);
}

before(async () => {
  ({ realm, web, appUrl, browser: browserA, devices: [A] } = await setup());
});

after(async () => {
  await browserB?.close();
  await teardown({ browser: browserA, web, realm });
  if (videoDir) rmSync(videoDir, { recursive: true, force: true }); // 4.6 MB of raw video
  saveMetrics(metrics);
});

describe("camera scanning", () => {
  it("B scans A's invitation QR with the (fake) camera and connects to A over P2P", async () => {
    await startRealm(A.page, appUrl, T);
    const link = await invite(A.page);
    assert.match(link, /#join=/);

    videoDir = mkdtempSync(join(tmpdir(), "skypod-scan-"));
    const video = join(videoDir, "invitation.y4m");
    writeFileSync(video, qrY4m(link));
    browserB = await launch([
      "--use-fake-ui-for-media-stream",
      "--use-fake-device-for-media-stream",
      `--use-file-for-fake-video-capture=${video}`,
    ]);
    B = await device(browserB);
    const requests = [];
    B.page.on("request", (r) => requests.push(r.url()));
    let wasmAt = 0;
    B.page.on("requestfinished", (r) => { if (/zxing_reader-[\w-]+\.wasm$/.test(r.url())) wasmAt = Date.now(); });

    await B.page.goto(appUrl);
    await B.page.getByRole("button", { name: "Sync to an existing install" }).click();
    const nativeQr = await B.page.evaluate(async () =>
      "BarcodeDetector" in globalThis && (await globalThis.BarcodeDetector.getSupportedFormats()).includes("qr_code"),
    );
    const t0 = Date.now();
    await B.page.getByRole("button", { name: "Scan QR code" }).click();
    await p2pLinked(B.page, T);
    metrics.scanToP2pMs = Date.now() - t0;
    await A.page.waitForSelector("li.peer[data-link=p2p]", T);

    // Without a native QR detector the ZXing polyfill did the reading, its WASM from our origin;
    // nothing was fetched from anywhere but loopback (no CDN).
    const origin = new URL(appUrl).origin;
    if (!nativeQr) assert.ok(requests.some((u) => u.startsWith(origin) && /zxing_reader-[\w-]+\.wasm$/.test(u)), requests.join("\n"));
    for (const u of requests) assert.match(u, /^(http:\/\/127\.0\.0\.1:\d+\/|data:|blob:)/);
    metrics.scanDetector = nativeQr ? "native" : "zxing-wasm";
    if (wasmAt) metrics.scanWasmFetchedMs = wasmAt - t0;
  });
});
