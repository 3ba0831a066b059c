/** The chapter list: the current chapter marked, tap (or Enter) to jump. */
import type { Chapter } from "./chapters";
import { player } from "./player";
import { formatTime } from "./time";

export function ChaptersPanel({ chapters, current }: { chapters: Chapter[]; current: number }) {
  return (
    <section id="np-chapters" class="panel chapters" aria-label="Chapters">
      <div class="row">
        <button type="button" onClick={() => player.prevChapter()} aria-label="Previous chapter">
          <span aria-hidden="true">◀</span> Previous
        </button>
        <button type="button" onClick={() => player.nextChapter()} aria-label="Next chapter" disabled={current >= chapters.length - 1}>
          Next <span aria-hidden="true">▶</span>
        </button>
      </div>
      <ol class="plain">
        {chapters.map((c, i) => (
          <li key={i}>
            <button
              type="button"
              class="row-button"
              aria-current={i === current ? "true" : undefined}
              data-chapter={i}
              onClick={() => player.jumpToChapter(i)}
            >
              <span class="t">{formatTime(c.start)}</span> {c.title}
            </button>
          </li>
        ))}
      </ol>
    </section>
  );
}
