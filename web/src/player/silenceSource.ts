/** `PlayRequest.silences` for an enclosure: the silence map from the realm server's proxy. */
import { proxyJson, type ProxyContext, type SilenceMap } from "../lib/proxy";
import { normalizeSilences, type Span } from "./silence";

/** A loader for `PlayRequest.silences`; the first call starts the (possibly long) analysis. */
export function proxySilences(ctx: ProxyContext, audioUrl: string): () => Promise<Span[]> {
  let p: Promise<Span[]> | null = null;
  return () =>
    (p ??= proxyJson<SilenceMap>(ctx, "silence", audioUrl).then(
      (m) => normalizeSilences(m.silences),
      (e: unknown) => {
        p = null; // a later play may try again (rate limit, server back)
        throw e;
      },
    ));
}
