import type { ComponentChildren } from "preact";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";

interface Props<T> {
  items: T[];
  keyOf(item: T): string;
  render(item: T, index: number): ComponentChildren;
  /** Height (px) assumed for a row not measured yet. */
  estimate: number;
  label: string;
  class?: string;
  /** Extra rows rendered above and below the viewport (keyboard users tab into them). */
  overscan?: number;
}

/**
 * A list that renders only the rows near the viewport (the page scrolls, not the list), so a
 * 3,000-episode feed paints as fast as a 20-episode one. Rows may have any height: each
 * rendered row is measured (ResizeObserver, e.g. when its notes open) and the spacer above
 * the first rendered row is the sum of the heights before it. Screen readers get the full
 * size and position of every row (`aria-setsize`, `aria-posinset`).
 */
export function VirtualList<T>({ items, keyOf, render, estimate, label, class: cls = "", overscan = 6 }: Props<T>) {
  const outer = useRef<HTMLDivElement>(null);
  const heights = useRef(new Map<string, number>());
  const [version, setVersion] = useState(0);
  const [range, setRange] = useState<[number, number]>([0, Math.min(items.length, 30)]);

  const offsets = useMemo(() => {
    const o = new Float64Array(items.length + 1);
    for (let i = 0; i < items.length; i++) o[i + 1] = (o[i] as number) + (heights.current.get(keyOf(items[i] as T)) ?? estimate);
    return o;
  }, [items, version, estimate]);

  const update = () => {
    const el = outer.current;
    if (!el) return;
    const top = -el.getBoundingClientRect().top;
    const vh = innerHeight;
    // First row whose bottom is below the viewport's top; last whose top is above its bottom.
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((offsets[mid + 1] as number) <= top) lo = mid + 1;
      else hi = mid;
    }
    const first = lo;
    let last = first;
    while (last < items.length && (offsets[last] as number) < top + vh) last++;
    const start = Math.max(0, first - overscan);
    const end = Math.min(items.length, last + overscan);
    setRange((r) => (r[0] === start && r[1] === end ? r : [start, end]));
  };

  useEffect(() => {
    let frame = 0;
    const on = () => {
      if (!frame)
        frame = requestAnimationFrame(() => {
          frame = 0;
          update();
        });
    };
    addEventListener("scroll", on, { passive: true });
    addEventListener("resize", on);
    update();
    return () => {
      removeEventListener("scroll", on);
      removeEventListener("resize", on);
      cancelAnimationFrame(frame);
    };
  }, [offsets]);

  // Measure what was rendered; a changed height moves the rows after it.
  const ro = useRef<ResizeObserver | null>(null);
  useLayoutEffect(() => {
    const measure = (els: Iterable<Element>) => {
      let changed = false;
      for (const el of els) {
        const k = (el as HTMLElement).dataset.vkey;
        if (!k) continue;
        const h = (el as HTMLElement).offsetHeight;
        if (h > 0 && heights.current.get(k) !== h) {
          heights.current.set(k, h);
          changed = true;
        }
      }
      if (changed) setVersion((v) => v + 1);
    };
    ro.current ??= new ResizeObserver((es) => measure(es.map((e) => e.target)));
    const list = outer.current?.querySelectorAll(":scope > ol > [data-vkey]") ?? [];
    for (const el of list) ro.current.observe(el);
    measure(list);
  });
  useEffect(() => () => ro.current?.disconnect(), []);

  const [start, end] = [Math.min(range[0], items.length), Math.min(range[1], items.length)];
  const total = offsets[items.length] as number;
  const shown = items.slice(start, end);
  return (
    <div ref={outer} class="vlist" style={{ height: `${total}px` }}>
      <ol class={`plain ${cls}`} aria-label={label} style={{ transform: `translateY(${offsets[start]}px)` }}>
        {shown.map((it, j) => {
          const i = start + j;
          const k = keyOf(it);
          return (
            <li key={k} data-vkey={k} aria-setsize={items.length} aria-posinset={i + 1} class="vrow">
              {render(it, i)}
            </li>
          );
        })}
      </ol>
    </div>
  );
}
