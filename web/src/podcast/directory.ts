/**
 * Podcast directory search through the server (`/proxy/directory?q=`, members only): the
 * operator chose the directory (iTunes Search by default, Podcast Index, or none).
 */
import type { ProxyContext } from "../lib/proxy";
import { proxyGet } from "./proxyGet";

export interface DirectoryHit {
  title: string;
  author: string | null;
  feed_url: string;
  image: string | null;
  description: string | null;
}

export interface DirectoryAnswer {
  directory: string;
  results: DirectoryHit[];
}

/** Longest wait for the directory before telling the listener (the app is never blocked). */
const TIMEOUT_MS = 12_000;

export async function searchDirectory(ctx: ProxyContext, q: string, signal?: AbortSignal): Promise<DirectoryAnswer> {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), TIMEOUT_MS);
  signal?.addEventListener("abort", () => ac.abort());
  try {
    const res = await proxyGet(ctx, "directory", { q }, ac.signal);
    const j = (await res.json()) as DirectoryAnswer;
    if (!j || !Array.isArray(j.results)) throw new Error("The directory's answer could not be read.");
    return j;
  } catch (e) {
    if (ac.signal.aborted && !signal?.aborted) throw new Error("The podcast directory did not answer in time. Try again later.", { cause: e });
    throw e;
  } finally {
    clearTimeout(t);
  }
}
