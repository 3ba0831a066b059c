/**
 * Auto-download planning, pure: "keep the newest N unplayed episodes downloaded on this
 * device" per podcast (else the global N), and played downloads removed once the grace period
 * after they were played has passed. Downloads the listener started by hand are never removed
 * for being old, only for being played.
 */
export interface PlanEpisode {
  key: string;
  /** Publication time (ms), for "newest". */
  published: number;
  played: boolean;
  /** When it was marked played (ms), if it was. */
  playedAt?: number;
}

export interface PlanInput {
  /** Episodes per subscribed feed (any order). */
  feeds: Record<string, PlanEpisode[]>;
  /** Episode keys downloaded (or downloading) on this device. */
  downloaded: Set<string>;
  /** Per-podcast N (absent: the global N applies). */
  keepPerFeed: Record<string, number>;
  /** Global N (0: no auto-download). */
  keepGlobal: number;
  /** Hours a played download is kept. */
  graceHours: number;
  now: number;
}

export interface Plan {
  download: string[];
  remove: string[];
}

export function autoDownloadPlan(i: PlanInput): Plan {
  const download: string[] = [];
  const remove: string[] = [];
  const graceMs = Math.max(0, i.graceHours) * 3_600_000;
  for (const [feed, eps] of Object.entries(i.feeds)) {
    const n = Math.max(0, Math.floor(i.keepPerFeed[feed] ?? i.keepGlobal));
    const newestUnplayed = eps
      .filter((e) => !e.played)
      .sort((a, b) => b.published - a.published || (a.key < b.key ? -1 : 1))
      .slice(0, n);
    for (const e of newestUnplayed) if (!i.downloaded.has(e.key)) download.push(e.key);
    for (const e of eps) {
      if (e.played && i.downloaded.has(e.key) && i.now - (e.playedAt ?? 0) >= graceMs) remove.push(e.key);
    }
  }
  return { download, remove };
}
