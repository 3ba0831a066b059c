import { Component, type ComponentChildren } from "preact";
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
}

interface CellProps<T> {
  item: T;
  index: number;
  render(item: T, index: number): ComponentChildren;
}

/**
 * One item's content, rendered again only when its item, its position or the render function
 * change: a scroll that only moves the window does not re-render the rows that stay.
 */
class Cell<T> extends Component<CellProps<T>> {
  override shouldComponentUpdate(next: CellProps<T>): boolean {
    return next.item !== this.props.item || next.index !== this.props.index || next.render !== this.props.render;
  }
  override render() {
    return this.props.render(this.props.item, this.props.index);
  }
}

/**
 * A list that renders only the rows near the viewport (the page scrolls, not the list), so a
 * 3,000-episode feed paints as fast as a 20-episode one. Rows may have any height: each
 * rendered row is measured (ResizeObserver, e.g. when its notes open) and the spacer above the
 * first rendered row is the sum of the heights before it. Screen readers get the full size and
 * position of every row (`aria-setsize`, `aria-posinset`).
 */
export function VirtualList<T>({ items, keyOf, render, estimate, label, class: cls = "", overscan = 6 }: Props<T>) {
  const outer = useRef<HTMLDivElement>(null);
  const heights = useRef(new Map<string, number>());
  const [version, setVersion] = useState(0);
  const rows = items.length;
  // Before the first scroll position is known: the rows that fit a screen, and the overscan.
  const [range, setRange] = useState<[number, number]>(() => [0, Math.min(rows, Math.ceil(innerHeight / estimate) + overscan)]);

  const offsets = useMemo(() => {
    const o = new Float64Array(rows + 1);
    for (let r = 0; r < rows; r++) o[r + 1] = (o[r] as number) + (heights.current.get(keyOf(items[r] as T)) ?? estimate);
    return o;
  }, [items, version, estimate]);

  const update = () => {
    const el = outer.current;
    if (!el) return;
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

  // Measure what was rendered; a changed height moves the rows after it. The ResizeObserver
  // reports new rows after layout and before paint, so measuring forces no extra layout in a
  // scroll frame.
  const ro = useRef<ResizeObserver | null>(null);
  /** Observed rows and the key each was observed under (a row whose key changes is observed anew, which reports its size). */
  const observed = useRef(new Map<HTMLElement, string>());
  useLayoutEffect(() => {
    ro.current ??= new ResizeObserver((es) => {
      let changed = false;
      for (const e of es) {
        const el = e.target as HTMLElement;
        const k = el.dataset.vkey;
        if (!k || !el.isConnected) continue;
        const h = el.offsetHeight;
        if (h > 0 && heights.current.get(k) !== h) {
          heights.current.set(k, h);
          changed = true;
        }
      }
      if (changed) setVersion((v) => v + 1);
    });
    for (const [el, k] of observed.current)
      if (!el.isConnected || el.dataset.vkey !== k) {
        ro.current.unobserve(el);
        observed.current.delete(el);
      }
    for (const el of outer.current?.querySelectorAll<HTMLElement>(":scope > ol > [data-vkey]") ?? [])
      if (!observed.current.has(el)) {
        ro.current.observe(el);
        observed.current.set(el, el.dataset.vkey ?? "");
      }
  });
  useEffect(() => () => ro.current?.disconnect(), []);

  const [start, end] = [Math.min(range[0], rows), Math.min(range[1], rows)];
  const total = offsets[rows] as number;
  const shown = items.slice(start, end);
  return (
    <div ref={outer} class="vlist" style={{ height: `${total}px` }}>
      <ol class={`plain ${cls}`} aria-label={label} style={{ transform: `translateY(${offsets[start]}px)` }}>
        {shown.map((it, j) => {
          const i = start + j;
          const k = keyOf(it);
          return (
            <li key={k} data-vkey={k} aria-setsize={items.length} aria-posinset={i + 1} class="vrow">
              <Cell item={it} index={i} render={render} />
            </li>
          );
        })}
      </ol>
    </div>
  );
}
