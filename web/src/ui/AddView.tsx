import { useEffect, useState } from "preact/hooks";
import { feeds as listFeeds, LibraryInputError, normalizeFeedUrl, subscribe } from "../library/doc";
import { proxyText, ProxyError } from "../lib/proxy";
import { fetchFeed } from "../podcast/feed";
import { parseOpml } from "../podcast/opml";
import { exportOpml } from "../podcast/opmlExport";
import { searchDirectory, type DirectoryHit } from "../podcast/directory";
import { href, navigate } from "../app/router";
import { useApp, useDoc } from "../app/context";
import { Artwork } from "./Artwork";
import { Outcome } from "./Outcome";

const message = (e: unknown) => (e instanceof LibraryInputError || e instanceof ProxyError || e instanceof Error ? e.message : String(e));

/** Add podcasts: directory search, a feed address, an OPML list; and the OPML export. */
export function AddView({ q }: { q?: string }) {
  return (
    <>
      <h1 id="view-h">Add a podcast</h1>
      <DirectorySearch initial={q ?? ""} />
      <Subscribe />
      <OpmlExport />
    </>
  );
}

/** Subscribe to a feed (fetched through the proxy first, so a bad address changes nothing). */
function useSubscribe() {
  const app = useApp();
  return async (raw: string): Promise<string> => {
    const u = normalizeFeedUrl(raw);
    if (app.lib.doc.subscriptions[u]) return "You are already subscribed to this feed.";
    const j = await fetchFeed(app.proxy, u);
    const title = j.channel.title?.trim() || u;
    app.lib.change((d) => subscribe(d, [{ url: u, title, htmlUrl: j.channel.link ?? undefined }])[0]);
    app.feeds.put(u, j);
    return `Subscribed to ${title}.`;
  };
}

function DirectorySearch({ initial }: { initial: string }) {
  const app = useApp();
  const doc = useDoc(app.lib);
  const add = useSubscribe();
  const [q, setQ] = useState(initial);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [hits, setHits] = useState<DirectoryHit[] | null>(null);
  const [from, setFrom] = useState("");
  const [status, setStatus] = useState("");

  const run = async (text: string) => {
    const t = text.trim();
    if (!t) {
      setError("Type a podcast name to search for.");
      return;
    }
    setBusy(true);
    setError("");
    setStatus("");
    try {
      const a = await searchDirectory(app.proxy, t);
      setHits(a.results);
      setFrom(a.directory);
    } catch (e) {
      setHits(null);
      setError(e instanceof ProxyError && e.status === 503 ? `Directory search is not available: ${e.detail}` : message(e));
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    if (initial) void run(initial);
  }, [initial]);

  return (
    <section class="card" aria-labelledby="dir-h">
      <h2 id="dir-h">Search a directory</h2>
      <form
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          // The query goes in the URL: back and reload come back to the results.
          navigate({ view: "add", q: q.trim() }, true);
          void run(q);
        }}
        aria-busy={busy}
      >
        <label for="dir-q">Podcast name</label>
        <div class="row">
          <input id="dir-q" type="search" autocomplete="off" value={q} onInput={(e) => setQ(e.currentTarget.value)} />
          <button type="submit" disabled={busy}>
            Search
          </button>
        </div>
      </form>
      <Outcome error={error} status={busy ? "Searching…" : status || (hits ? `${hits.length} result${hits.length === 1 ? "" : "s"}${from ? ` from ${from}` : ""}` : "")} />
      {hits && hits.length > 0 && (
        <ul class="plain results" aria-label="Directory results">
          {hits.map((h) => {
            let u = "";
            try {
              u = normalizeFeedUrl(h.feed_url);
            } catch {
              /* a result without a usable feed address: shown, not subscribable */
            }
            const subscribed = !!u && !!doc.subscriptions[u];
            return (
              <li key={h.feed_url} class="result" data-feed={h.feed_url}>
                <Artwork url={h.image} size={96} title={h.title} class="thumb" />
                <div>
                  <strong>{h.title}</strong>
                  {h.author && <div class="hint">{h.author}</div>}
                </div>
                {subscribed ? (
                  <a class="button" href={href({ view: "podcast", feed: u })}>
                    Open
                  </a>
                ) : (
                  <button
                    type="button"
                    disabled={!u || busy}
                    aria-label={`Subscribe to ${h.title}`}
                    onClick={async () => {
                      setBusy(true);
                      setError("");
                      try {
                        setStatus(await add(u));
                      } catch (e) {
                        setError(message(e));
                      } finally {
                        setBusy(false);
                      }
                    }}
                  >
                    Subscribe
                  </button>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

function Subscribe() {
  const app = useApp();
  const add = useSubscribe();
  const [url, setUrl] = useState("");
  const [opmlUrl, setOpmlUrl] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [status, setStatus] = useState("");

  const run = async (f: () => Promise<string>) => {
    setBusy(true);
    setError("");
    setStatus("");
    try {
      setStatus(await f());
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
    }
  };

  const importText = (text: string) => {
    const list = parseOpml(text);
    if (list.length === 0) throw new Error("That OPML file lists no feeds.");
    const ok = list.filter((f) => {
      try {
        normalizeFeedUrl(f.url);
        return true;
      } catch {
        return false;
      }
    });
    let added: string[] = [];
    app.lib.change((d) => {
      const [next, a] = subscribe(d, ok);
      added = a;
      return next;
    });
    // Their episodes arrive in the background.
    void app.feeds.refreshAll(added);
    const skipped = list.length - ok.length;
    return `Imported ${added.length} new feed${added.length === 1 ? "" : "s"}${skipped ? `; skipped ${skipped} with an invalid address` : ""}.`;
  };

  return (
    <section class="card" aria-labelledby="sub-h">
      <h2 id="sub-h">Subscribe by address</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            const r = await add(url);
            setUrl("");
            return r;
          });
        }}
        aria-busy={busy}
      >
        <label for="feed-url">Feed address</label>
        <div class="row">
          <input id="feed-url" name="feed-url" inputMode="url" autocomplete="off" placeholder="https://example.com/feed.xml" value={url} onInput={(e) => setUrl(e.currentTarget.value)} />
          <button type="submit" disabled={busy}>
            Subscribe
          </button>
        </div>
      </form>
      <details>
        <summary>Import an OPML subscription list</summary>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void run(async () => {
              const u = normalizeFeedUrl(opmlUrl);
              const r = importText(await proxyText(app.proxy, "raw", u));
              setOpmlUrl("");
              return r;
            });
          }}
        >
          <label for="opml-url">OPML address</label>
          <div class="row">
            <input id="opml-url" inputMode="url" autocomplete="off" placeholder="https://example.com/subscriptions.opml" value={opmlUrl} onInput={(e) => setOpmlUrl(e.currentTarget.value)} />
            <button type="submit" disabled={busy}>
              Import
            </button>
          </div>
        </form>
        <label for="opml-file">Or an OPML file from this device</label>
        <input
          id="opml-file"
          type="file"
          accept=".opml,.xml,text/xml,text/x-opml,application/xml"
          disabled={busy}
          onChange={(e) => {
            const input = e.currentTarget;
            const file = input.files?.[0];
            if (!file) return;
            void run(async () => {
              const r = importText(await file.text());
              input.value = "";
              return r;
            });
          }}
        />
      </details>
      <Outcome error={error} status={busy ? "Working…" : status} />
    </section>
  );
}

/** Download the subscriptions as an OPML file (another app can import it). */
export function OpmlExport() {
  const app = useApp();
  const doc = useDoc(app.lib);
  const n = Object.keys(doc.subscriptions).length;
  const save = () => {
    const blob = new Blob([exportOpml(listFeeds(app.lib.doc))], { type: "text/x-opml" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "skypod-subscriptions.opml";
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  };
  return (
    <section class="card" aria-labelledby="export-h">
      <h2 id="export-h">Export</h2>
      <p class="hint">Your {n} subscription{n === 1 ? "" : "s"} as an OPML file, for another podcast app or a backup.</p>
      <button type="button" disabled={n === 0} onClick={save}>
        Export OPML
      </button>
    </section>
  );
}
