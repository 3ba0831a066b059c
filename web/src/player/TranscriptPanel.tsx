/**
 * The transcript beside the player: the current cue highlighted and followed while playing
 * (unless the listener scrolled away in the last few seconds), tap a cue to seek, search.
 * Virtualised: only the rows in view (plus a margin) exist, so thousands of cues stay smooth.
 * For the keyboard it is one listbox (one Tab stop): arrows move, Enter or Space seeks.
 */
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { cueAt, searchCues, visibleRows, type Cue } from "./chapters";
import { player } from "./player";
import { formatTime } from "./time";

/** Fixed row height (px): text is clamped to two lines so rows can be positioned by index. */
const ROW = 56;
const VIEW = 288;
/** After the listener scrolls by hand, following waits this long (ms). */
const HANDS_OFF_MS = 4000;

export function TranscriptPanel({ cues, position }: { cues: Cue[]; position: number }) {
  const box = useRef<HTMLDivElement>(null);
  const [top, setTop] = useState(0);
  const [query, setQuery] = useState("");
  const [hit, setHit] = useState(0);
  /** The keyboard's option (null: the current cue). */
  const [active, setActive] = useState<number | null>(null);
  const manual = useRef({ at: 0, programmatic: false });
  const cur = cueAt(cues, position);
  const hits = useMemo(() => searchCues(cues, query), [cues, query]);

  const scrollToRow = (i: number) => {
    const el = box.current;
    if (!el || i < 0) return;
    const want = Math.max(0, i * ROW - VIEW / 2 + ROW / 2);
    if (Math.abs(el.scrollTop - want) < 1) return;
    manual.current.programmatic = true;
    el.scrollTop = want;
    setTop(want);
  };

  // Follow the current cue while the listener is not reading elsewhere.
  useEffect(() => {
    if (Date.now() - manual.current.at > HANDS_OFF_MS && query === "") scrollToRow(cur);
  }, [cur]);

  useEffect(() => {
    if (!hits.length) return;
    const i = hits[Math.min(hit, hits.length - 1)]!;
    setActive(i);
    scrollToRow(i);
  }, [hits, hit]);

  const act = Math.max(0, Math.min(cues.length - 1, active ?? cur));
  const [first, last] = visibleRows(top, VIEW, ROW, cues.length);
  const onKey = (e: KeyboardEvent) => {
    const step: Record<string, number> = { ArrowDown: 1, ArrowUp: -1, PageDown: 5, PageUp: -5 };
    let to: number | null = null;
    if (e.key in step) to = act + step[e.key]!;
    else if (e.key === "Home") to = 0;
    else if (e.key === "End") to = cues.length - 1;
    else if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      const c = cues[act];
      if (c) player.seekTo(c.start);
      return;
    }
    if (to === null) return;
    e.preventDefault();
    const i = Math.max(0, Math.min(cues.length - 1, to));
    setActive(i);
    manual.current.at = Date.now();
    scrollToRow(i);
  };
  const rows = [];
  for (let i = first; i < last; i++) {
    const c = cues[i]!;
    const isHit = hits.length > 0 && hits[Math.min(hit, hits.length - 1)] === i;
    rows.push(
      <li
        key={i}
        id={`cue-${i}`}
        role="option"
        aria-selected={i === act}
        style={{ top: `${i * ROW}px`, height: `${ROW}px` }}
        class={`cue${isHit ? " hit" : ""}`}
        data-cue={i}
        aria-current={i === cur ? "true" : undefined}
        onClick={() => {
          manual.current.at = 0;
          setActive(i);
          player.seekTo(c.start);
        }}
      >
        <span class="t">{formatTime(c.start)}</span>
        {c.speaker && <span class="speaker">{c.speaker}: </span>}
        {c.text}
      </li>,
    );
  }

  return (
    <section id="np-transcript" class="panel transcript" aria-label="Transcript">
      <div class="row search">
        <label class="inline" for="np-tsearch">
          Search transcript
        </label>
        <input
          id="np-tsearch"
          type="search"
          value={query}
          onInput={(e) => {
            setQuery(e.currentTarget.value);
            setHit(0);
          }}
        />
        {query && (
          <>
            <span class="hint" aria-live="polite" data-hits={hits.length}>
              {hits.length === 0 ? "No match" : `${Math.min(hit, hits.length - 1) + 1} of ${hits.length}`}
            </span>
            <button type="button" disabled={hits.length < 2} onClick={() => setHit((h) => (h + 1) % hits.length)} aria-label="Next match">
              ↓
            </button>
          </>
        )}
      </div>
      <div
        ref={box}
        class="cues"
        style={{ height: `${VIEW}px` }}
        data-count={cues.length}
        role="listbox"
        tabIndex={0}
        aria-label={`Transcript, ${cues.length} lines`}
        aria-activedescendant={act >= first && act < last ? `cue-${act}` : undefined}
        onKeyDown={onKey}
        onScroll={(e) => {
          const el = e.currentTarget;
          if (manual.current.programmatic) manual.current.programmatic = false;
          else manual.current.at = Date.now();
          setTop(el.scrollTop);
        }}
      >
        <ul class="plain" role="presentation" style={{ height: `${cues.length * ROW}px` }}>
          {rows}
        </ul>
      </div>
    </section>
  );
}
