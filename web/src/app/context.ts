/** What every view needs, provided once by the app shell. */
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Identity } from "../lib/identity";
import { useObserved } from "../lib/observable";
import type { ProxyContext } from "../lib/proxy";
import type { Doc } from "../library/doc";
import type { LibraryStore } from "../library/store";
import type { EpisodeView } from "../podcast/episodes";
import type { FeedStore } from "../podcast/refresh";

export interface AppContext {
  lib: LibraryStore;
  me: Identity;
  proxy: ProxyContext;
  feeds: FeedStore;
  /** Every episode of every subscribed feed's last copy, by library key. */
  episodes: ReadonlyMap<string, EpisodeView>;
  /** Short label for a device without a name in the library. */
  fallbackName(id: string): string;
  /** Whether this device holds the episode offline (the downloads module answers). */
  downloaded(key: string): boolean;
}

export const AppCtx = createContext<AppContext | null>(null);

export function useApp(): AppContext {
  const a = useContext(AppCtx);
  if (!a) throw new Error("useApp outside the app shell");
  return a;
}

/** The library document, re-rendering on every change (local or synced). */
export function useDoc(lib: LibraryStore): Doc {
  return useObserved(lib, () => lib.doc);
}

/** Run a library edit; bad input from a device API (NaN position…) is logged, not thrown. */
export function safe(f: () => void): void {
  try {
    f();
  } catch (e) {
    console.warn("library:", e);
  }
}
