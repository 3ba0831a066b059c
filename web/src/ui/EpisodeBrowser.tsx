import { useMemo, useState } from "preact/hooks";
import type { Doc } from "../library/doc";
import { applyQuery, FILTERS, SearchIndex, type EpisodeView, type Filter, type Order } from "../podcast/episodes";
import { useApp } from "../app/context";
import { EpisodeRow } from "./EpisodeRow";
import { VirtualList } from "./VirtualList";

/**
 * Episodes with filters (unplayed, in progress, downloaded, played), date order either way
 * and a search over titles and notes, in a virtualised list. `id` keeps form labels unique.
 */
export function EpisodeBrowser({ list, doc, label, id, showFeed = false }: { list: EpisodeView[]; doc: Doc; label: string; id: string; showFeed?: boolean }) {
  const app = useApp();
  const [filter, setFilter] = useState<Filter>("all");
  const [order, setOrder] = useState<Order>("newest");
  const [text, setText] = useState("");
  // Built when the first search is typed, and again only when the episodes change.
  const index = useMemo(() => (text.trim() ? new SearchIndex(list) : null), [list, text.trim() !== ""]);
  const shown = useMemo(() => applyQuery(doc, list, { filter, order, text }, index, app.downloaded), [doc, list, filter, order, text, index]);

  return (
    <section class="episodes-box" aria-label={label}>
      <div class="filters" role="search">
        <label for={`${id}-q`} class="sr-only">
          Search episodes
        </label>
        <input id={`${id}-q`} type="search" placeholder="Search episodes" value={text} onInput={(e) => setText(e.currentTarget.value)} />
        <label for={`${id}-order`} class="inline">
          Sort
          <select id={`${id}-order`} value={order} onChange={(e) => setOrder(e.currentTarget.value as Order)}>
            <option value="newest">Newest first</option>
            <option value="oldest">Oldest first</option>
          </select>
        </label>
        <fieldset class="chips">
          <legend class="sr-only">Show</legend>
          {FILTERS.map(([f, name]) => (
            <label key={f} class={`chip ${filter === f ? "on" : ""}`}>
              <input type="radio" name={`${id}-filter`} value={f} checked={filter === f} onChange={() => setFilter(f)} />
              {name}
            </label>
          ))}
        </fieldset>
      </div>
      <p class="hint" role="status" data-count={shown.length}>
        {shown.length === list.length ? `${list.length} episode${list.length === 1 ? "" : "s"}` : `${shown.length} of ${list.length} episodes`}
      </p>
      <VirtualList items={shown} keyOf={(v) => v.key} estimate={150} label={label} class="episodes" render={(v) => <EpisodeRow v={v} doc={doc} showFeed={showFeed} />} />
    </section>
  );
}
