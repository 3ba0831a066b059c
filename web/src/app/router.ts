/**
 * The app's views and their URLs. Routes live in the fragment (`#/podcast/<feed url>`), so
 * every static host, the service worker's cached shell and `skypod serve` open any of them on
 * reload or from a deep link, and the browser's back button walks them. `#join=` stays the
 * invitation link (handled before any route).
 */
import { useEffect, useState } from "preact/hooks";

export type Route =
  | { view: "podcasts" }
  | { view: "podcast"; feed: string }
  | { view: "episodes" }
  | { view: "new" }
  | { view: "queue" }
  | { view: "downloads" }
  | { view: "add"; q?: string }
  | { view: "devices" }
  | { view: "settings" };

export type View = Route["view"];

const SIMPLE: ReadonlySet<string> = new Set(["podcasts", "episodes", "new", "queue", "downloads", "add", "devices", "settings"]);

/** The route a fragment names; anything unknown is the podcasts grid. */
export function parseRoute(hash: string): Route {
  const h = hash.replace(/^#\/?/, "");
  const [pathPart = "", query = ""] = h.split("?", 2);
  const [head = "", ...rest] = pathPart.split("/");
  if (head === "podcast" && rest.length > 0) {
    try {
      const feed = decodeURIComponent(rest.join("/"));
      if (feed) return { view: "podcast", feed };
    } catch {
      /* a broken escape: fall through to the grid */
    }
    return { view: "podcasts" };
  }
  if (head === "add") {
    const q = new URLSearchParams(query).get("q") ?? undefined;
    return q ? { view: "add", q } : { view: "add" };
  }
  if (SIMPLE.has(head)) return { view: head } as Route;
  return { view: "podcasts" };
}

/** The fragment (with `#`) of a route. */
export function href(r: Route): string {
  switch (r.view) {
    case "podcast":
      return `#/podcast/${encodeURIComponent(r.feed)}`;
    case "add":
      return r.q ? `#/add?${new URLSearchParams({ q: r.q })}` : "#/add";
    default:
      return `#/${r.view}`;
  }
}

/** Go to a route (a new history entry); `replace` rewrites the current one instead. */
export function navigate(r: Route, replace = false): void {
  const url = location.pathname + location.search + href(r);
  if (replace) {
    history.replaceState(null, "", url);
    dispatchEvent(new HashChangeEvent("hashchange"));
  } else location.hash = href(r).slice(1);
}

/** The current route; re-renders on back/forward and links. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => {
      if (!location.hash.startsWith("#join=")) setRoute(parseRoute(location.hash));
    };
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}
