/**
 * GETs of the proxy endpoints `lib/proxy.ts` does not cover (`/proxy/image`, `/proxy/directory`),
 * with the same short-lived `skypod:proxy` bearer token. One token is reused for a minute, so a
 * grid of 300 covers does not sign 300 tokens.
 */
import { serverBase } from "../config";
import { sign, unixNow } from "../lib/jwt";
import { parseProxyError, ProxyError, proxyErrorText, type ProxyContext } from "../lib/proxy";

const TOKEN_TTL = 120;
let cached: { key: string; token: Promise<string>; until: number } | null = null;

function token(ctx: ProxyContext): Promise<string> {
  const key = `${ctx.realm}|${ctx.me.identid}`;
  const now = unixNow();
  if (cached && cached.key === key && cached.until > now) return cached.token;
  const t = sign(ctx.me, "proxy", ctx.realm, now, TOKEN_TTL, {});
  cached = { key, token: t, until: now + 60 };
  t.catch(() => {
    cached = null;
  });
  return t;
}

/** The URL of a proxy endpoint with its query. */
export function endpointUrl(ctx: ProxyContext, endpoint: string, params: Record<string, string>): string {
  return `${(ctx.server ?? serverBase()).replace(/\/+$/, "")}/proxy/${endpoint}?${new URLSearchParams(params)}`;
}

/** GET a proxy endpoint as this member; a failure is a `ProxyError` with a sentence. */
export async function proxyGet(ctx: ProxyContext, endpoint: string, params: Record<string, string>, signal?: AbortSignal): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(endpointUrl(ctx, endpoint, params), { headers: { authorization: `Bearer ${await token(ctx)}` }, signal });
  } catch (e) {
    if (signal?.aborted) throw e;
    throw new ProxyError(0, String(e), proxyErrorText(0, ""));
  }
  if (!res.ok) throw parseProxyError(res.status, await res.text().catch(() => ""));
  return res;
}
