import type { ComponentChildren } from "preact";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { rowRange } from "./rows";

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
  /**
   * A grid: how many items per row fit the list's width (px). Each row is as tall as its
   * tallest item; the list sets `--cols` for its CSS grid.
   */
  columns?(width: number): number;
  /** More attributes for an item's `<li>` (a class, data-*). */
  itemAttrs?(item: T): Record<string, string>;
}

/**
 * A list that renders only the rows near the viewport (the page scrolls, not the list), so a
 * 3,000-episode feed paints as fast as a 20-episode one, and 300 subscriptions' tiles as fast
 * as 20 (`columns`: rows of tiles). Rows may have any height: each rendered row is measured
 * (ResizeObserver, e.g. when its notes open) and the spacer above the first rendered row is
 * the sum of the heights before it. Screen readers get the full size and position of every
 * item (`aria-setsize`, `aria-posinset`).
 */
export function VirtualList<T>({ items, keyOf, render, estimate, label, class: cls = "", overscan = 6, columns, itemAttrs }: Props<T>) {
  const outer = useRef<HTMLDivElement>(null);
  const heights = useRef(new Map<string, number>());
  const [version, setVersion] = useState(0);
  const [cols, setCols] = useState(1);
  const rows = Math.ceil(items.length / cols);
  // Before the first scroll position is known: the rows that fit a screen, and the overscan.
  const [range, setRange] = useState<[number, number]>(() => [0, Math.min(rows, Math.ceil(innerHeight / estimate) + overscan)]);
  /** A row's key: its first item's (and the column count, which changes what the row holds). */
  const rowKey = (r: number) => (cols === 1 ? keyOf(items[r] as T) : `${keyOf(items[r * cols] as T)}/${cols}`);

  const offsets = useMemo(() => {
    const o = new Float64Array(rows + 1);
    for (let r = 0; r < rows; r++) o[r + 1] = (o[r] as number) + (heights.current.get(rowKey(r)) ?? estimate);
    return o;
  }, [items, version, estimate, cols]);

  const update = () => {
    const el = outer.current;
    if (!el) return;
    if (columns) {
      const c = columns(el.clientWidth);
      if (c !== cols) return setCols(c);
    }
    const [start, end] = rowRange(offsets, -el.getBoundingClientRect().top, innerHeight, overscan);
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

  // Measure what was rendered (a row: its first item, stretched to the row's height); a
  // changed height moves the rows after it. A grid's columns come from its width, before paint.
  const ro = useRef<ResizeObserver | null>(null);
  useLayoutEffect(() => {
    if (columns && outer.current) {
      const c = columns(outer.current.clientWidth);
      if (c !== cols) return setCols(c);
    }
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

  const [start, end] = [Math.min(range[0], rows), Math.min(range[1], rows)];
  const total = offsets[rows] as number;
  const shown = items.slice(start * cols, end * cols);
  return (
    <div ref={outer} class="vlist" style={{ height: `${total}px` }}>
      <ol class={`plain ${cls}`} aria-label={label} style={{ transform: `translateY(${offsets[start]}px)`, "--cols": String(cols) }}>
        {shown.map((it, j) => {
          const i = start * cols + j;
          const k = keyOf(it);
          const extra = itemAttrs?.(it);
          return (
            <li
              key={k}
              {...extra}
              data-vkey={i % cols === 0 ? rowKey(i / cols) : undefined}
              aria-setsize={items.length}
              aria-posinset={i + 1}
              class={extra?.class ? `vrow ${extra.class}` : "vrow"}
            >
              {render(it, i)}
            </li>
          );
        })}
      </ol>
    </div>
  );
}
