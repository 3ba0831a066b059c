/**
 * The web peer's defaults are the protocol's (crates/protocol, generated into
 * src/protocol/generated.ts, which `cargo test -p skypod-protocol` keeps fresh): a literal
 * creeping back into one side fails here.
 */
import { describe, expect, it } from "vitest";
import { FRAGMENT, LINK, PREFIX, TIMING, TOKEN_RULES, TOKEN_TTL } from "../src/protocol/generated";
import { DEFAULT_HEALTH } from "../src/realm/health";
import { DEFAULT_PEER_OPTIONS, T_CTRL, T_DATA, T_PING, T_PONG } from "../src/realm/peer";
import { DEFAULT_LIMITS, FRAGMENT_PREFIX, MAX_P2P_MESSAGE, MAX_RELAY_MESSAGE } from "../src/realm/fragment";
import { LIBRARY_SYNC_PREFIX } from "../src/library/store";
import { DEFAULT_RULES, maxLifetimeFor, type Purpose } from "../src/lib/jwt";
import { DEFAULT_INVITE_TTL } from "../src/lib/invite";

describe("one owner for every wire fact", () => {
  it("uses the shared timing policy", () => {
    expect(DEFAULT_HEALTH).toEqual({ intervalMs: TIMING.pingIntervalMs, timeoutMs: TIMING.pongTimeoutMs });
    expect(DEFAULT_PEER_OPTIONS.iceRestartMs).toBe(TIMING.iceRestartMs);
  });

  it("uses the protocol's frame tags, limits and token rules", () => {
    expect([T_DATA, T_PING, T_PONG, T_CTRL]).toEqual([LINK.tag.data, LINK.tag.ping, LINK.tag.pong, LINK.tag.ctrl]);
    expect([MAX_P2P_MESSAGE, MAX_RELAY_MESSAGE]).toEqual([LINK.maxP2pMessage, LINK.maxRelayMessage]);
    expect(DEFAULT_LIMITS).toEqual({
      maxMessage: FRAGMENT.maxMessage,
      maxPartials: FRAGMENT.maxPartials,
      maxBuffered: FRAGMENT.maxBuffered,
      timeoutMs: FRAGMENT.timeoutMs,
    });
    expect(DEFAULT_RULES).toEqual(TOKEN_RULES);
    expect(DEFAULT_INVITE_TTL).toBe(TOKEN_TTL.invitation);
  });

  it("uses the protocol's message prefixes", () => {
    expect([...LIBRARY_SYNC_PREFIX]).toEqual(PREFIX.librarySync);
    expect([...FRAGMENT_PREFIX]).toEqual(PREFIX.fragment);
  });

  it("signs every token well inside what verifiers accept", () => {
    for (const [purpose, ttl] of Object.entries(TOKEN_TTL)) {
      const max = maxLifetimeFor(purpose as Purpose);
      expect(ttl, purpose).toBeGreaterThan(0);
      expect(ttl, purpose).toBeLessThanOrEqual(max);
    }
  });
});
