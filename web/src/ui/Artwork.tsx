import { useEffect, useRef, useState } from "preact/hooks";
import { artworkUrl, readyArtwork, type ArtSize } from "../podcast/artwork";
import { useApp } from "../app/context";

/** A stable hue per title, so placeholders tell podcasts apart. */
function hue(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
  return h % 360;
}

/** One IntersectionObserver for every cover (300 tiles need not set up 300 observers). */
let io: IntersectionObserver | null = null;
const waiting = new Map<Element, () => void>();

/** Call `f` once when `el` comes within 300 px of the viewport; returns the cancel. */
function whenNear(el: Element, f: () => void): () => void {
  io ??= new IntersectionObserver(
    (es) => {
      for (const e of es) {
        if (!e.isIntersecting) continue;
        const cb = waiting.get(e.target);
        waiting.delete(e.target);
        io?.unobserve(e.target);
        cb?.();
      }
    },
    { rootMargin: "300px" },
  );
  waiting.set(el, f);
  io.observe(el);
  return () => {
    waiting.delete(el);
    io?.unobserve(el);
  };
}

/**
 * Cover art through `/proxy/image` at `size` px, fetched only when it scrolls near the
 * viewport; until then (and when there is none, or it cannot be loaded) a placeholder with
 * the title's first letter. Decorative: the title is always next to it.
 */
export function Artwork({ url, size, title, class: cls = "" }: { url: string | null | undefined; size: ArtSize; title: string; class?: string }) {
  const app = useApp();
  const box = useRef<HTMLSpanElement>(null);
  // Already loaded (a tile shown again, e.g. back on the Podcasts view): at once, no placeholder flash.
  const [src, setSrc] = useState<string | null>(() => (url && readyArtwork(url, size)) || null);
  const [near, setNear] = useState(src !== null);

  useEffect(() => {
    const el = box.current;
    if (!el || !url || near) return;
    return whenNear(el, () => setNear(true));
  }, [url]);

  useEffect(() => {
    setSrc((url && readyArtwork(url, size)) || null);
    if (!near || !url) return;
    let live = true;
    artworkUrl(app.proxy, url, size).then(
      (u) => live && setSrc(u),
      () => live && setSrc(null),
    );
    return () => {
      live = false;
    };
  }, [near, url, size]);

  const letter = (title.trim()[0] ?? "?").toUpperCase();
  return (
    <span ref={box} class={`art ${cls}`} aria-hidden="true" style={{ "--h": String(hue(title)) }} data-art={url ? "1" : "0"} data-loaded={src ? "1" : "0"}>
      {src ? <img src={src} alt="" decoding="async" onError={() => setSrc(null)} /> : <span class="art-ph">{letter}</span>}
    </span>
  );
}
