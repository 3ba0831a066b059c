// proxyJson against a real HTTP server on 127.0.0.1 that checks the bearer token like the
// realm server does (signature, purpose skypod:proxy, realm, lifetime).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { publicOnly, thumbprint } from "../src/lib/jwk";
import { unixNow, verify, type Signer } from "../src/lib/jwt";
import { parseProxyError, ProxyError, proxyErrorText, proxyJson, proxyText, proxyUrl, type ProxyContext } from "../src/lib/proxy";
import type { PublicJwk } from "../src/protocol/generated";
import { proxySilences } from "../src/player/silenceSource";

const REALM = "realm-proxy-test";
let server: Server;
let base = "";
let me: Signer;
let ctx: ProxyContext;
let pub: PublicJwk;
const seen: string[] = [];

beforeAll(async () => {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
  pub = publicOnly(await crypto.subtle.exportKey("jwk", pair.publicKey));
  me = { identid: await thumbprint(pub), privateKey: pair.privateKey, alg: "ES256" };
  server = createServer((req, res) => {
    void (async () => {
      const u = new URL(req.url ?? "/", "http://x");
      seen.push(u.pathname + u.search);
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(typeof body === "string" ? body : JSON.stringify(body));
      };
      const auth = req.headers.authorization ?? "";
      try {
        await verify(auth.replace(/^Bearer /, ""), pub, "proxy", REALM, unixNow());
      } catch (e) {
        return send(401, { status: 401, message: `bad token: ${String(e)}` });
      }
      const target = u.searchParams.get("url") ?? "";
      if (u.pathname === "/proxy/silence" && target.endsWith("/ok.mp3")) {
        return send(200, { duration: 30, silences: [[12, 14], [3, 5], "junk"], cache: "miss" });
      }
      if (target.includes("10.0.0.1")) return send(403, { status: 403, message: "address 10.0.0.1 is private" });
      if (target.endsWith("/garbage")) return send(200, "<html>not json");
      return send(422, { status: 422, message: "undecodable audio" });
    })();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  ctx = { me, realm: REALM, server: base };
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("proxyJson", () => {
  it("signs a skypod:proxy token the server accepts and returns the JSON body", async () => {
    const body = await proxyJson<{ duration: number }>(ctx, "silence", "https://example.org/ok.mp3");
    expect(body.duration).toBe(30);
    expect(seen.at(-1)).toBe(`/proxy/silence?url=${encodeURIComponent("https://example.org/ok.mp3")}`);
  });
  it("maps the proxy's {status, message} to a ProxyError with a clear sentence", async () => {
    const e = await proxyJson(ctx, "feed", "http://10.0.0.1/feed").catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProxyError);
    expect((e as ProxyError).status).toBe(403);
    expect((e as ProxyError).detail).toBe("address 10.0.0.1 is private");
    expect((e as ProxyError).message).toMatch(/private or local network/);
  });
  it("a token for another realm is refused by the server → 401 explained", async () => {
    const e = (await proxyJson({ ...ctx, realm: "other-realm" }, "feed", "https://example.org/ok.mp3").catch((x: unknown) => x)) as ProxyError;
    expect(e.status).toBe(401);
    expect(e.message).toMatch(/did not accept this device/);
    expect(e.detail).toMatch(/another realm/);
  });
  it("raw files come back as text; errors name what was asked for", async () => {
    expect(await proxyText(ctx, "raw", "https://example.org/garbage")).toBe("<html>not json");
    const e = (await proxyText(ctx, "raw", "https://example.org/x").catch((x: unknown) => x)) as ProxyError;
    expect(e.message).toBe("That file cannot be read (undecodable audio).");
    expect(proxyErrorText(422, "", "silence")).toMatch(/audio cannot be analysed/);
    expect(proxyErrorText(413, "", "feed")).toBe("That feed is too large to fetch.");
  });
  it("a non-JSON success and an unreachable server are errors, not crashes", async () => {
    const e1 = (await proxyJson(ctx, "title", "https://example.org/garbage").catch((x: unknown) => x)) as ProxyError;
    expect(e1.message).toMatch(/unreadable answer/);
    const e2 = (await proxyJson({ ...ctx, server: "http://127.0.0.1:1" }, "title", "https://example.org/x").catch((x: unknown) => x)) as ProxyError;
    expect(e2.status).toBe(0);
    expect(e2.message).toMatch(/cannot be reached/);
  });
  it("silence loader: normalized spans, fetched once, with the parameters every trim level needs", async () => {
    const before = seen.length;
    const load = proxySilences(ctx, "https://example.org/ok.mp3");
    expect(seen.length).toBe(before); // nothing fetched until the player asks
    expect(await load()).toEqual({ spans: [[3, 5], [12, 14]], loudness: null });
    expect(await load()).toEqual({ spans: [[3, 5], [12, 14]], loudness: null });
    expect(seen.length).toBe(before + 1);
    expect(seen[before]).toMatch(/threshold_db=-42&min_silence=0\.083&loudness=true$/);
  });
});

describe("proxy helpers", () => {
  it("builds URLs with extra parameters", () => {
    expect(proxyUrl("http://h:1/", "silence", "https://a/b?c=d", { threshold_db: "-40" })).toBe(
      "http://h:1/proxy/silence?url=https%3A%2F%2Fa%2Fb%3Fc%3Dd&threshold_db=-40",
    );
  });
  it("keeps a non-JSON error body as the detail", () => {
    const e = parseProxyError(502, "Bad Gateway\n");
    expect(e.detail).toBe("Bad Gateway");
    expect(e.message).toMatch(/could not be reached/);
    expect(parseProxyError(422, '{"status":422,"message":"not xml"}', "feed").message).toBe("That address does not serve a podcast feed (not xml).");
    expect(parseProxyError(429, "{}").message).toMatch(/Too many requests/);
  });
});
