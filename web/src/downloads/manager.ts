/**
 * Downloads for offline listening, per device: episodes stream through the realm server's
 * `/proxy/media` into the Origin Private File System (one file per episode), with progress,
 * pause/resume by HTTP Range (also after a network drop), cancel, and a sentence when storage
 * runs out (the partial file is removed, never counted). The player plays a download from a
 * blob URL of the OPFS file, which seeks without any server. State lives in IndexedDB; the
 * library records which device holds which episode (through `onChange` of the binding).
 */
import { kv } from "../lib/idb";
import { proxyToken, proxyUrl, proxyErrorText, parseProxyError, ProxyError, type ProxyContext } from "../lib/proxy";
import { serverBase } from "../config";

export type DownloadState = "queued" | "downloading" | "paused" | "done" | "error";

export interface DownloadMeta {
  key: string;
  /** OPFS file name. */
  file: string;
  audioUrl: string;
  title: string;
  feedUrl: string;
  feedTitle: string;
  chaptersUrl?: string | null;
  transcriptUrl?: string | null;
  state: DownloadState;
  bytes: number;
  /** Total size when the server said (Content-Range / Content-Length). */
  total: number | null;
  error?: string;
  mime?: string;
  added: number;
  done?: number;
}

export type NewDownload = Pick<DownloadMeta, "key" | "audioUrl" | "title" | "feedUrl" | "feedTitle" | "chaptersUrl" | "transcriptUrl">;

const INDEX = "dl:index";
const metaKey = (k: string) => `dl:${k}`;
const DIR = "downloads";
/** Progress is published at most this often (ms). */
const PROGRESS_MS = 200;

async function fileName(key: string): Promise<string> {
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
  return [...h.slice(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function dir(): Promise<FileSystemDirectoryHandle> {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(DIR, { create: true });
}

const mb = (n: number) => `${(n / 1_048_576).toFixed(n < 10_485_760 ? 1 : 0)} MB`;

function isQuota(e: unknown): boolean {
  return e instanceof DOMException && (e.name === "QuotaExceededError" || e.code === 22);
}

/** A dropped connection or a passing upstream failure: worth resuming by itself. */
function retryable(e: unknown): boolean {
  if (e instanceof TypeError) return true;
  if (e instanceof ProxyError) return [0, 429, 502, 503, 504].includes(e.status);
  return e instanceof Error && e.cause instanceof TypeError;
}

type Listener = (all: DownloadMeta[]) => void;

export class Downloads {
  private metas = new Map<string, DownloadMeta>();
  private running = new Map<string, AbortController>();
  private listeners = new Set<Listener>();
  private loaded: Promise<void> | null = null;
  private urls = new Map<string, string>();
  private lastPublish = 0;
  /** Set by the binding: where proxy requests go, and what the library should record. */
  ctx: ProxyContext | null = null;
  onDone: (m: DownloadMeta) => void = () => undefined;
  onRemoved: (key: string) => void = () => undefined;
  /** Fetch the silence map, chapters and transcript for offline use. */
  prefetch: (m: DownloadMeta) => Promise<void> = async () => undefined;
  /** Test and benchmark hook: where the bytes come from (default: the proxy). */
  sourceUrl: ((m: DownloadMeta) => string) | null = null;

  load(): Promise<void> {
    return (this.loaded ??= (async () => {
      const keys = (await kv.get<string[]>(INDEX).catch(() => undefined)) ?? [];
      for (const k of keys) {
        const m = await kv.get<DownloadMeta>(metaKey(k)).catch(() => undefined);
        // A download cut short by closing the page resumes as "paused".
        if (m) this.metas.set(k, m.state === "downloading" || m.state === "queued" ? { ...m, state: "paused" } : m);
      }
      this.publish(true);
    })());
  }

  subscribe(f: Listener): () => void {
    this.listeners.add(f);
    f(this.list());
    return () => this.listeners.delete(f);
  }

  list(): DownloadMeta[] {
    return [...this.metas.values()].sort((a, b) => b.added - a.added);
  }

  get(key: string): DownloadMeta | undefined {
    return this.metas.get(key);
  }

  private publish(force = false): void {
    const now = Date.now();
    if (!force && now - this.lastPublish < PROGRESS_MS) return;
    this.lastPublish = now;
    const all = this.list();
    for (const l of this.listeners) l(all);
  }

  private async save(m: DownloadMeta, force = true): Promise<void> {
    this.metas.set(m.key, m);
    this.publish(force);
    await kv.set(metaKey(m.key), m);
    await kv.set(INDEX, [...this.metas.keys()]);
  }

  /** Start (or resume) downloading an episode. */
  async start(n: NewDownload): Promise<void> {
    await this.load();
    const old = this.metas.get(n.key);
    if (old?.state === "done" || this.running.has(n.key)) return;
    const m: DownloadMeta = old ?? { ...n, file: await fileName(n.key), state: "queued", bytes: 0, total: null, added: Date.now() };
    await this.save({ ...m, state: "queued", error: undefined });
    void this.run(n.key);
  }

  resume(key: string): Promise<void> {
    const m = this.metas.get(key);
    return m ? this.start(m) : Promise.resolve();
  }

  /** Stop transferring; the bytes so far are kept and a resume continues from them. */
  pause(key: string): void {
    this.running.get(key)?.abort("pause");
  }

  /** Stop and forget: the partial file is removed. */
  async cancel(key: string): Promise<void> {
    const c = this.running.get(key);
    if (c) {
      c.abort("cancel");
      // run() removes the file once its writer is closed.
      return;
    }
    await this.remove(key);
  }

  /** Remove a download (done or not) from this device. */
  async remove(key: string): Promise<void> {
    await this.load();
    const m = this.metas.get(key);
    this.running.get(key)?.abort("cancel");
    const u = this.urls.get(key);
    if (u) URL.revokeObjectURL(u);
    this.urls.delete(key);
    if (m) await (await dir()).removeEntry(m.file).catch(() => undefined);
    this.metas.delete(key);
    await kv.del(metaKey(key)).catch(() => undefined);
    await kv.set(INDEX, [...this.metas.keys()]).catch(() => undefined);
    this.publish(true);
    if (m?.state === "done") this.onRemoved(key);
  }

  private url(m: DownloadMeta): string {
    if (this.sourceUrl) return this.sourceUrl(m);
    return proxyUrl(this.ctx?.server ?? serverBase(), "media", m.audioUrl);
  }

  private async run(key: string): Promise<void> {
    const ctl = new AbortController();
    this.running.set(key, ctl);
    let m = this.metas.get(key)!;
    let w: FileSystemWritableFileStream | null = null;
    let handle: FileSystemFileHandle | null = null;
    try {
      handle = await (await dir()).getFileHandle(m.file, { create: true });
      const have = (await handle.getFile()).size;
      m = { ...m, state: "downloading", bytes: have };
      await this.save(m);
      const headers: Record<string, string> = {};
      if (!this.sourceUrl && this.ctx) headers.authorization = `Bearer ${await proxyToken(this.ctx)}`;
      if (have > 0) headers.range = `bytes=${have}-`;
      let res: Response;
      try {
        // Always through the proxy: the episode's host never learns the device's address.
        res = await fetch(this.url(m), { headers, signal: ctl.signal, cache: "no-store" });
      } catch (e) {
        if (ctl.signal.aborted) throw e;
        throw new Error(proxyErrorText(0, "", "media"), { cause: e });
      }
      if (res.status === 416 && m.total !== null && have >= m.total) {
        // Everything was already here.
      } else if (!res.ok) {
        throw parseProxyError(res.status, await res.text().catch(() => ""), "media");
      }
      // An HTML page is never an episode (a misrouted request, a captive portal's login page).
      if (/^text\/html\b/i.test(res.headers.get("content-type") ?? "")) {
        throw new Error("The server answered with a web page instead of the episode's audio.");
      }
      let offset = have;
      if (res.status === 200 && have > 0) offset = 0; // the server ignored the Range: start over
      const cr = /\/(\d+)$/.exec(res.headers.get("content-range") ?? "");
      const len = Number(res.headers.get("content-length") ?? NaN);
      const total = cr ? Number(cr[1]) : Number.isFinite(len) ? offset + len : m.total;
      m = { ...m, total, bytes: offset, mime: res.headers.get("content-type") ?? m.mime };
      if (res.status !== 416) {
        w = await handle.createWritable({ keepExistingData: offset > 0 });
        if (offset > 0) await w.seek(offset);
        else await w.truncate(0);
        const reader = res.body!.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          await w.write(value);
          m = { ...m, bytes: m.bytes + value.byteLength };
          this.metas.set(key, m);
          this.publish();
        }
        await w.close();
        w = null;
      }
      const size = (await handle.getFile()).size;
      if (m.total !== null && size < m.total) throw new TypeError(`The download stopped at ${mb(size)} of ${mb(m.total)}.`);
      m = { ...m, state: "done", bytes: size, total: size, done: Date.now(), error: undefined };
      await this.save(m);
      this.onDone(m);
      await this.prefetch(m).catch(() => undefined);
    } catch (e) {
      const reason = ctl.signal.aborted ? String(ctl.signal.reason) : "";
      if (isQuota(e)) {
        // Nothing half-written stays behind or counts as downloaded.
        await w?.abort().catch(() => undefined);
        await (await dir()).removeEntry(m.file).catch(() => undefined);
        const est = await navigator.storage.estimate().catch(() => null);
        const free = est?.quota !== undefined && est.usage !== undefined ? ` (${mb(Math.max(0, est.quota - est.usage))} free)` : "";
        m = { ...m, state: "error", bytes: 0, error: `There is not enough storage on this device for this episode${m.total ? ` (${mb(m.total)})` : ""}${free}. Remove some downloads and try again.` };
        await this.save(m);
        return;
      }
      // Keep what was written: close (not abort) commits it, so a resume continues from there.
      await w?.close().catch(() => undefined);
      const size = handle ? (await handle.getFile().catch(() => null))?.size ?? m.bytes : m.bytes;
      if (reason === "cancel") {
        this.running.delete(key);
        await this.remove(key);
        return;
      }
      if (reason === "pause") {
        await this.save({ ...m, state: "paused", bytes: size, error: undefined });
      } else if (retryable(e)) {
        const why = e instanceof Error ? e.message : String(e);
        await this.save({ ...m, state: "paused", bytes: size, error: `${why} The download resumes from ${mb(size)} when the connection is back.` });
        this.retryWhenOnline(key);
      } else {
        await this.save({ ...m, state: "error", bytes: size, error: e instanceof Error ? e.message : String(e) });
      }
    } finally {
      if (this.running.get(key) === ctl) this.running.delete(key);
    }
  }

  private retryWhenOnline(key: string): void {
    const again = () => {
      removeEventListener("online", again);
      clearTimeout(t);
      const m = this.metas.get(key);
      if (m && m.state === "paused" && m.error) void this.start(m);
    };
    addEventListener("online", again);
    // The browser may never say it was offline (the server went away): try again later too.
    const t = setTimeout(again, 15_000);
  }

  /** A blob URL of the downloaded file, or null. */
  async localUrl(key: string): Promise<string | null> {
    await this.load();
    const m = this.metas.get(key);
    if (m?.state !== "done") return null;
    const old = this.urls.get(key);
    if (old) return old;
    try {
      const f = await (await (await dir()).getFileHandle(m.file)).getFile();
      // A File from OPFS is backed by disk: the media element reads (and seeks) without loading it.
      const typed = m.mime && f.type !== m.mime ? new File([f], f.name, { type: m.mime }) : f;
      const u = URL.createObjectURL(typed);
      this.urls.set(key, u);
      return u;
    } catch {
      return null;
    }
  }
}

export const downloads = new Downloads();
export const localUrl = (key: string) => downloads.localUrl(key).catch(() => null);

export interface StorageInfo {
  usage: number | null;
  quota: number | null;
  persisted: boolean | null;
}

export async function storageInfo(): Promise<StorageInfo> {
  const est = await navigator.storage?.estimate?.().catch(() => null);
  const persisted = await navigator.storage?.persisted?.().catch(() => null);
  return { usage: est?.usage ?? null, quota: est?.quota ?? null, persisted: persisted ?? null };
}

export { mb };
