/**
 * Notifications for new episodes of the podcasts that have them switched on (a synced
 * per-podcast setting), while the app is open or installed and the browser allows them.
 * Each episode is announced once per device (the keys announced are remembered, bounded).
 */
import { isNewEpisode, notifyOn, type Doc } from "../library/doc";
import { viewsOf } from "./episodes";
import type { FeedJson } from "./feed";

const KEY = "skypod.notified";
const KEEP = 1000;

export function notificationsSupported(): boolean {
  return typeof Notification !== "undefined";
}

function announced(): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) ?? "[]") as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
  } catch {
    return [];
  }
}

/** Episodes of `feed` to announce now (new, switched on, not announced before). */
export function toAnnounce(doc: Doc, url: string, feed: FeedJson, already: ReadonlySet<string>): Array<{ key: string; title: string }> {
  if (!notifyOn(doc, url)) return [];
  return viewsOf(url, "", feed)
    .filter((v) => !already.has(v.key) && isNewEpisode(doc, url, v.published, v.key))
    .map((v) => ({ key: v.key, title: v.ep.title ?? "New episode" }));
}

/** Called after every refresh of a feed. */
export async function notifyNew(doc: Doc, url: string, feed: FeedJson): Promise<void> {
  if (!notificationsSupported() || Notification.permission !== "granted") return;
  const seen = announced();
  const todo = toAnnounce(doc, url, feed, new Set(seen));
  if (todo.length === 0) return;
  localStorage.setItem(KEY, JSON.stringify([...seen, ...todo.map((t) => t.key)].slice(-KEEP)));
  const podcast = String(doc.subscriptions[url]?.title ?? "") || feed.channel.title || "A podcast";
  const body = todo.length === 1 ? (todo[0]?.title ?? "") : `${todo.length} new episodes`;
  const opts: NotificationOptions = { body, tag: `skypod-new:${url}`, icon: "icons/icon-192.png", data: { feed: url } };
  const reg = await navigator.serviceWorker?.getRegistration().catch(() => undefined);
  if (reg) await reg.showNotification(podcast, opts);
  else new Notification(podcast, opts);
}
