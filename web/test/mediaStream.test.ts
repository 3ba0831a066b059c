import { describe, expect, it } from "vitest";
import { generateIdentity } from "../src/lib/identity";
import { peek, verify } from "../src/lib/jwt";
import { mediaStreamUrl } from "../src/lib/proxy";
import { TOKEN_RULES, TOKEN_TTL } from "../src/protocol/generated";
import { shownArtwork, type PlayerState } from "../src/player/player";

describe("streaming an episode through the proxy", () => {
  it("gives the <audio> element a /proxy/media URL with a token bound to that enclosure", async () => {
    const me = await generateIdentity();
    const ctx = { me, realm: "realm-under-test-0001", server: "http://127.0.0.1:9" };
    const enclosure = "https://cdn.example/show/ep1.mp3?x=1&y=2";
    const src = await mediaStreamUrl(ctx, enclosure);
    const u = new URL(src);
    expect(u.origin + u.pathname).toBe("http://127.0.0.1:9/proxy/media");
    expect(u.searchParams.get("url")).toBe(enclosure);
    const token = u.searchParams.get("token") ?? "";
    const claims = peek<{ url: string }>(token);
    expect(claims.aud).toBe("skypod:proxy.media");
    expect(claims.url).toBe(enclosure);
    expect(claims.exp - claims.iat).toBe(TOKEN_TTL.media);
    expect(TOKEN_TTL.media).toBeLessThanOrEqual(TOKEN_RULES.maxMediaLifetime);
    // What the server checks: signed by this device for this realm, a media token.
    const ok = await verify<{ url: string }>(token, me.publicJwk, "media", ctx.realm, claims.iat);
    expect(ok.url).toBe(enclosure);
    await expect(verify(token, me.publicJwk, "proxy", ctx.realm, claims.iat)).rejects.toThrow();
    // Reused while fresh (the element's later Range requests keep one URL), one per enclosure.
    expect(await mediaStreamUrl(ctx, enclosure)).toBe(src);
    expect(await mediaStreamUrl(ctx, "https://cdn.example/show/ep2.mp3")).not.toBe(src);
  });
});

describe("the player's artwork", () => {
  const base = {
    req: { artworkUrl: "blob:episode" },
    chapters: { kind: "ready", value: [{ start: 0, title: "One", image: "https://img.example/1.jpg" }, { start: 60, title: "Two" }] },
    chapter: 0,
    chapterArt: {},
  } as unknown as PlayerState;

  it("never shows a chapter image from its host: the episode's artwork until the proxy gives it", () => {
    expect(shownArtwork(base)).toBe("blob:episode");
    expect(shownArtwork({ ...base, chapterArt: { "https://img.example/1.jpg": "blob:chapter-1" } })).toBe("blob:chapter-1");
    expect(shownArtwork({ ...base, chapter: 1, chapterArt: { "https://img.example/1.jpg": "blob:chapter-1" } })).toBe("blob:episode");
  });
});
