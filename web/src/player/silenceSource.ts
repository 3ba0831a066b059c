/** `PlayRequest.silences` for an enclosure: the silence map from the realm server's proxy. */
import type { RealmId } from "../protocol/generated";
import type { Signer } from "../lib/jwt";
import { proxyJson, type SilenceMap } from "../lib/proxy";
import { normalizeSilences, type Span } from "./silence";

/** A loader for `PlayRequest.silences`; the first call starts the (possibly long) analysis. */
export function proxySilences(identity: Signer, realm: RealmId, audioUrl: string, base?: string): () => Promise<Span[]> {
  let p: Promise<Span[]> | null = null;
  return () =>
    (p ??= proxyJson<SilenceMap>(identity, realm, "silence", audioUrl, { base }).then(
      (m) => normalizeSilences(m.silences),
      (e: unknown) => {
        p = null; // a later play may try again (rate limit, server back)
        throw e;
      },
    ));
}
