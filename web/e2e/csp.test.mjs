// The web app's own headers (issue #16): `/` and its assets carry a strict
// Content-Security-Policy, frame-ancestors 'none' and Referrer-Policy: no-referrer, and an
// inline script that got into the page (as if a sanitizer had missed one in show notes) does
// not run. Everything on 127.0.0.1; the app is served by `skypod serve` itself.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { device, launch, skypodServer, staticServer } from "./harness.mjs";

let realm, browser, framer;

before(async () => {
  realm = await skypodServer();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await framer?.close();
  await realm?.stop();
});

function csp(res) {
  const v = res.headers.get("content-security-policy") ?? "";
  return Object.fromEntries(v.split(";").map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v]));
}

describe("skypod web: security headers", () => {
  it("/ and every asset are served with the policy", async () => {
    const index = await fetch(`${realm.base}/`);
    const html = await index.text();
    const assets = [...html.matchAll(/(?:src|href)="\.?\/?(assets\/[^"]+)"/g)].map((m) => m[1]);
    assert.ok(assets.length > 0, "index.html links its assets");
    for (const path of ["", ...assets, "sw.js", "no/such/route"]) {
      const res = await fetch(`${realm.base}/${path}`);
      const p = csp(res);
      assert.deepEqual(p["script-src"], ["'self'", "'wasm-unsafe-eval'"], path);
      assert.deepEqual(p["connect-src"], ["'self'"], path);
      // Images and audio only from us (the proxy) or blobs: no podcast host learns a listener's address.
      assert.deepEqual(p["img-src"], ["'self'", "data:", "blob:"], path);
      assert.deepEqual(p["media-src"], ["'self'", "blob:"], path);
      assert.deepEqual(p["frame-ancestors"], ["'none'"], path);
      assert.deepEqual(p["object-src"], ["'none'"], path);
      assert.equal(res.headers.get("referrer-policy"), "no-referrer", path);
    }
  });

  it("an injected inline script or handler does not run; the app does", async () => {
    const { page } = await device(browser);
    await page.goto(`${realm.base}/`);
    // the app itself (module scripts and WASM from our origin) runs under the policy
    await page.waitForSelector("header", { timeout: 20_000 });
    const result = await page.evaluate(async () => {
      const seen = [];
      document.addEventListener("securitypolicyviolation", (e) => seen.push(e.violatedDirective));
      const notes = document.createElement("div");
      notes.className = "notes";
      document.body.append(notes);
      // what a sanitizer miss in show notes would put in the page
      notes.innerHTML = `<img src="data:," onerror="window.pwned = 'handler'"><a href="javascript:window.pwned='link'">x</a>`;
      const s = document.createElement("script");
      s.textContent = "window.pwned = 'inline'";
      notes.append(s);
      notes.querySelector("a").click();
      await new Promise((r) => setTimeout(r, 500));
      return { pwned: window.pwned ?? null, seen };
    });
    assert.equal(result.pwned, null);
    assert.ok(result.seen.some((d) => d.startsWith("script-src")), JSON.stringify(result.seen));
    await page.context().close();
  });

  it("no other site may frame the app", async () => {
    framer = await staticServer();
    const { page } = await device(browser);
    await page.route(`http://127.0.0.1:${framer.port}/frame.html`, (route) =>
      route.fulfill({ contentType: "text/html", body: `<iframe id="f" src="${realm.base}/"></iframe>` }),
    );
    await page.goto(`http://127.0.0.1:${framer.port}/frame.html`);
    await page.waitForTimeout(1_000);
    const framed = page.frames().find((f) => f.url().startsWith(realm.base));
    const loaded = framed ? await framed.evaluate(() => !!document.querySelector("#app")).catch(() => false) : false;
    assert.equal(loaded, false, "the app rendered inside a foreign frame");
    await page.context().close();
  });
});
