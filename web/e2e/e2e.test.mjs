// End-to-end: two browser devices pair through the paste-a-link flow, talk over P2P and over
// the relay; bad invitations are explained; the app shell opens offline.
// Run through scripts/e2e.sh (builds the app and the server first).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { device, diagnostics, goView, invite, p2pLinked, reloadAlone, saveMetrics, setup, shot, teardown } from "./harness.mjs";

const T = { timeout: 15_000 };
const metrics = {};
let web, realm, browser, A, B, appUrl, inviteLink;

async function send(page, via, text) {
  await diagnostics(page);
  await page.getByRole("radio", { name: via === "p2p" ? "P2P" : "Server relay" }).check();
  await page.getByLabel("Message", { exact: true }).fill(text);
  await page.getByRole("button", { name: "Send" }).click();
  // It went out (a P2P message is listed only when a data channel took it), or the app said why not.
  const sent = `ol.messages li.out[data-via=${via}]:has-text("${text}")`;
  await page.waitForSelector(`${sent}, p.error[role=alert]`, T);
  if (!(await page.locator(sent).count())) {
    throw new Error(`not sent via ${via}: ${await page.locator("p.error[role=alert]").textContent()}${await connectionLogs()}`);
  }
}

/** Both devices' connection logs, for a failure message: what the links and sockets did. */
async function connectionLogs() {
  let out = "";
  for (const [name, d] of [["A", A], ["B", B]]) {
    try {
      await diagnostics(d.page);
      out += `\n--- ${name}'s connection log:\n${await d.page.locator("pre.log").textContent({ timeout: 2_000 })}`;
    } catch (e) {
      out += `\n--- ${name}'s connection log unavailable: ${e.message}`;
    }
  }
  return out;
}

async function expectIn(page, via, text) {
  await diagnostics(page);
  try {
    return await page.waitForSelector(`ol.messages li.in[data-via=${via}]:has-text("${text}")`, T);
  } catch (e) {
    e.message += await connectionLogs();
    throw e;
  }
}

async function open(page) {
  await page.goto(appUrl);
  // time to interactive: the first-run or home screen is rendered with enabled controls
  await page.waitForSelector("main.first-run button:not([disabled]), main.view", T);
  return page.evaluate(() => Math.round(performance.now()));
}

before(async () => {
  ({ realm, web, appUrl, browser, devices: [A, B] } = await setup({ devices: 2 }));
});

after(async () => {
  await teardown({ browser, web, realm });
  saveMetrics(metrics);
});

describe("skypod web", () => {
  it("A creates a realm, B pairs by pasting the invitation link, P2P and relay messages flow both ways", async () => {
    metrics.ttiMsA = await open(A.page);
    await shot(A.page, "01-first-run");
    await A.page.getByRole("button", { name: "Start a new realm" }).click();
    await A.page.waitForSelector("[data-socket=online]", T);
    inviteLink = await invite(A.page);
    assert.match(inviteLink, new RegExp(`^${realm.base}/#join=[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$`));
    await shot(A.page, "02-invitation", { at: "section:has(#invite-link)" });

    metrics.ttiMsB = await open(B.page);
    await B.page.getByRole("button", { name: "Sync to an existing install" }).click();
    await B.page.getByLabel("Invitation link").fill(inviteLink);
    await shot(B.page, "03-join");
    const t0 = Date.now();
    await B.page.getByRole("button", { name: "Join" }).click();
    await p2pLinked(B.page, T);
    metrics.pasteToP2pMs = Date.now() - t0;
    await A.page.waitForSelector("li.peer[data-link=p2p]", T);
    // RTT measured by the health ping
    await B.page.waitForFunction(() => /\d+ ms/.test(document.querySelector("li.peer[data-link=p2p] .rtt")?.textContent ?? ""), null, T);

    // the realm key reaches B end to end (announce → grant over the data channel)
    const keyA = await A.page.locator("[data-realm-key]").getAttribute("data-realm-key");
    assert.match(keyA, /^1:[0-9a-f]{16}$/);
    await B.page.waitForSelector(`[data-realm-key="${keyA}"]`, T);
    metrics.pasteToRealmKeyMs = Date.now() - t0;
    // The library open too: Automerge's WASM fetched (cold context) and compiled, genesis loaded.
    await B.page.locator("main.view").waitFor(T);
    metrics.pasteToLibraryMs = Date.now() - t0;
    await send(A.page, "p2p", "hello B over p2p");
    await expectIn(B.page, "p2p", "hello B over p2p");
    await send(B.page, "p2p", "hello A over p2p");
    await expectIn(A.page, "p2p", "hello A over p2p");
    await send(A.page, "relay", "hello B via relay");
    await expectIn(B.page, "relay", "hello B via relay");
    await send(B.page, "relay", "hello A via relay");
    await expectIn(A.page, "relay", "hello A via relay");
    await shot(A.page, "04-home-a");
    await shot(B.page, "05-home-b", { at: "#peers-h" });
  });

  it("two-way pairing: the inviter binds the invitation to the invitee's device id", async () => {
    const C = await device(browser);
    await open(C.page);
    await C.page.getByRole("button", { name: "Sync to an existing install" }).click();
    const cid = (await C.page.locator("code.id").innerText()).trim();
    assert.match(cid, /^[A-Za-z0-9_-]{43}$/);
    // an invitation bound to someone else is refused before it reaches the server
    await A.page.getByLabel(/Bind to the new device/).fill("x".repeat(43));
    await A.page.getByRole("button", { name: "Create invitation" }).click();
    const wrong = await A.page.getByLabel(/Invitation link/).inputValue();
    await C.page.getByLabel("Invitation link").fill(wrong);
    await C.page.getByRole("button", { name: "Join" }).click();
    assert.match(await C.page.getByRole("alert").innerText(), /made for another device/);
    // the one bound to C (what scanning C's QR code fills in) admits C
    await A.page.getByLabel(/Bind to the new device/).fill(`skypod:device:${cid}`);
    await A.page.getByRole("button", { name: "Create invitation" }).click();
    await A.page.waitForFunction((w) => document.querySelector("#invite-link")?.value !== w, wrong, T);
    const bound = await A.page.getByLabel(/Invitation link/).inputValue();
    await C.page.getByLabel("Invitation link").fill(bound);
    await C.page.getByRole("button", { name: "Join" }).click();
    await goView(C.page, "devices");
    await C.page.waitForFunction(() => document.querySelectorAll("li.peer[data-link=p2p]").length === 2, null, T);
    await A.page.waitForFunction(() => document.querySelectorAll("li.peer[data-link=p2p]").length === 2, null, T);
    await C.ctx.close();
  });

  it("a garbage, an expired or a used invitation shows a clear error", async () => {
    const C = await device(browser);
    await open(C.page);
    // keyboard only: Tab to the second choice, Enter
    await C.page.keyboard.press("Tab");
    assert.equal(await C.page.evaluate(() => document.activeElement?.textContent), "Start a new realm");
    await C.page.keyboard.press("Tab");
    await C.page.keyboard.press("Enter");
    await C.page.getByLabel("Invitation link").waitFor(T);
    const tryLink = async (link, re) => {
      await C.page.getByLabel("Invitation link").fill(link);
      await C.page.getByRole("button", { name: "Join" }).click();
      const alert = C.page.getByRole("alert");
      await alert.waitFor(T);
      assert.match(await alert.innerText(), re);
    };
    await tryLink("this is not a link", /not a Skypod invitation/);
    // expired: same link with the token's times moved into the past
    const [head, frag] = inviteLink.split("#join=");
    const dot = frag.indexOf(".");
    const [h, p, s] = frag.slice(dot + 1).split(".");
    const claims = JSON.parse(Buffer.from(p, "base64url").toString());
    claims.iat -= 3 * 86400;
    claims.exp = claims.iat + 3600;
    const expired = `${head}#join=${frag.slice(0, dot)}.${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${s}`;
    await tryLink(expired, /expired/);
    await shot(C.page, "06-expired-invitation");
    // replayed: B already used this one; the server refuses it
    await tryLink(inviteLink, /already been used/);
    await C.ctx.close();
  });

  it("a broken P2P link reconnects by itself with a fresh connection id", async () => {
    const cidsBefore = await B.page.evaluate(() => globalThis.skypodDebug.connectionIds());
    const t0 = Date.now();
    await A.page.evaluate(() => globalThis.skypodDebug.dropLinks());
    await A.page.waitForSelector("li.peer[data-link=relay]", T);
    await A.page.waitForSelector("li.peer[data-link=p2p]", T);
    await B.page.waitForSelector("li.peer[data-link=p2p]", T);
    metrics.linkFailureToP2pMs = Date.now() - t0;
    const cidsAfter = await B.page.evaluate(() => globalThis.skypodDebug.connectionIds());
    const aId = await A.page.locator("li.peer.self").getAttribute("data-identid");
    assert.ok(cidsBefore[aId] && cidsAfter[aId]);
    assert.notEqual(cidsAfter[aId], cidsBefore[aId]);
    await send(B.page, "p2p", "p2p after the link came back");
    await expectIn(A.page, "p2p", "p2p after the link came back");
  });

  it("a server restart: P2P keeps working meanwhile, both devices reconnect and the relay resumes", async () => {
    const before = Date.now();
    await realm.stop();
    await A.page.waitForSelector("[data-socket=waiting], [data-socket=connecting]", T);
    await B.page.waitForSelector("[data-socket=waiting], [data-socket=connecting]", T);
    await send(A.page, "p2p", "p2p while the server is down");
    await expectIn(B.page, "p2p", "p2p while the server is down");
    realm = await realm.restart();
    await A.page.waitForSelector("[data-socket=online]", { timeout: 40_000 });
    await B.page.waitForSelector("[data-socket=online]", { timeout: 40_000 });
    metrics.serverRestartToReconnectedMs = Date.now() - before;
    await B.page.waitForSelector("li.peer[data-link=p2p]", T);
    await send(B.page, "relay", "relay after the restart");
    await expectIn(A.page, "relay", "relay after the restart");
  });

  it("with the servers stopped, a reload still opens the app shell from the service worker", async () => {
    await reloadAlone(A.page, { web, realm, others: [B] });
    await A.page.waitForSelector("main.view[data-view=devices] h2#peers-h", T);
    await A.page.waitForSelector("[data-socket=waiting], [data-socket=connecting]", T);
    // members are remembered: B is listed, offline
    await A.page.waitForSelector("li.peer[data-link=offline]", T);
    await shot(A.page, "07-offline");
  });
});
