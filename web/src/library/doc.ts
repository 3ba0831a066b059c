/**
 * The library document: the same Automerge schema as crates/library (src/library.rs), read
 * and edited with `@automerge/automerge`. Pure functions over immutable documents; the
 * store (store.ts) persists and syncs them.
 *
 * Rules shared with the Rust side (see its module docs for the why):
 * - every replica starts from the same genesis change (GENESIS_BYTES), so top-level maps
 *   are one object everywhere;
 * - play records and queues live under the writing device's id, and only that device
 *   writes there; "continue from" is decided from `updated`;
 * - subscriptions are keyed by the normalized feed URL.
 */
import * as A from "@automerge/automerge/slim";
import { b64urlDecode } from "../lib/b64";

export const SCHEMA_VERSION = 1;
/** Hash of the genesis change; must equal crates/library's GENESIS_HASH (a test checks). */
export const GENESIS_HASH = "fe8b1a9a0c76d921e920905c8e22e9d0cb22290a95bf76ce37fc283b14b96d12";
/** `genesis_bytes()` of crates/library, base64url (a test checks it against GENESIS_HASH). */
const GENESIS_B64 =
  "hW9KgzWFhJwAxgEBEHNreXBvZC1saWJyYXJ5AAEB_osamgx22SHpIJBcjiLp0MsiKQqVv3bON_woOxS5bRIHAQIDAhMCIwI1GEACVgIIFTQhAiMHNAFCBlYGVwGAAQJ_AH8BfwZ_AH8Wc2t5cG9kIGxpYnJhcnkgZ2VuZXNpc38Afwd6B2RldmljZXMFcGxheXMGcXVldWVzBnNjaGVtYQhzZXR0aW5ncw1zdWJzY3JpcHRpb25zBgB6Bn0BfQR9BgMAfwECAAMAfxQCAAEGAAA";
export const genesisBytes = (): Uint8Array => b64urlDecode(GENESIS_B64);

/** Longest text accepted (bytes), as in crates/library. */
const MAX_TEXT = 4096;

/** A string as Automerge gives it back: plain (text) or an ImmutableString (Rust scalar). */
type Str = string | A.ImmutableString;

export interface PlayRec {
  position: number;
  duration?: number;
  completed: boolean;
  speed: number;
  updated?: number;
}

export interface SubRec {
  title: Str;
  html_url?: Str;
  folder: Str[];
  tags: Record<string, boolean>;
  added: number;
  settings: Record<string, unknown>;
}

export interface LibraryDoc {
  schema: number;
  subscriptions: Record<string, SubRec>;
  plays: Record<string, Record<string, PlayRec>>;
  queues: Record<string, Str[]>;
  settings: Record<string, unknown>;
  devices: Record<string, DeviceRec>;
}

/** `devices.<id>`: written only by that device (a bridged device: only by its bridging member). */
export interface DeviceRec {
  name?: Str;
  /** A bridged device (crates/library `bridged.rs`): the member that writes its records. */
  bridged_by?: Str;
  /** Which bridge made it, e.g. "gpodder". */
  kind?: Str;
  /** Listening rules (issue 11): episode key → bytes held on this device. */
  downloads?: Record<string, number>;
  /** Listening rules (issue 11): feed URL → seconds saved on this device. */
  time_saved?: Record<string, number>;
}

export type Doc = A.Doc<LibraryDoc>;

/** Bad input from the user or a peer: the message is meant for people. */
export class LibraryInputError extends Error {}

const str = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : String(v));
const bytes = (s: string) => new TextEncoder().encode(s).length;
// Scalar strings, like the Rust side writes: cheaper than collaborative text.
const imm = (s: string) => new A.ImmutableString(s);

function checkText(what: string, s: string): void {
  if (s.length === 0) throw new LibraryInputError(`The ${what} is empty.`);
  if (bytes(s) > MAX_TEXT) throw new LibraryInputError(`The ${what} is longer than ${MAX_TEXT} bytes.`);
}

/** Same rule as crates/library `normalize_feed_url` (both follow the WHATWG URL standard). */
export function normalizeFeedUrl(input: string): string {
  const t = input.trim();
  if (t === "") throw new LibraryInputError("Enter a feed address, like https://example.com/feed.xml.");
  if (bytes(t) > MAX_TEXT) throw new LibraryInputError("That feed address is too long.");
  let u: URL;
  try {
    u = new URL(t);
  } catch {
    throw new LibraryInputError(`"${t}" is not a valid web address. A feed address looks like https://example.com/feed.xml.`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new LibraryInputError(`"${t}" is not a web address: only http and https feeds are supported.`);
  }
  if (!u.hostname) throw new LibraryInputError(`"${t}" has no host name.`);
  u.hash = "";
  return u.href;
}

/** `episode_key(feed_url, guid)` of crates/library: feed URL, a space, the guid. */
export function episodeKey(feedUrl: string, guid: string): string {
  checkText("episode guid", guid);
  return `${normalizeFeedUrl(feedUrl)} ${guid}`;
}

export function splitEpisodeKey(key: string): [string, string] | null {
  const i = key.indexOf(" ");
  return i < 0 ? null : [key.slice(0, i), key.slice(i + 1)];
}

export function schemaOk(doc: Doc): boolean {
  return typeof doc.schema === "number" && doc.schema <= SCHEMA_VERSION && !!doc.subscriptions && !!doc.plays;
}

const now = () => Date.now();

// ----- subscriptions -----

export interface Feed {
  url: string;
  title: string;
  htmlUrl?: string;
  folder: string[];
  tags: string[];
  added: number;
}

export interface NewFeed {
  url: string;
  title?: string;
  htmlUrl?: string;
  folder?: string[];
}

/** Subscribe to feeds in one change; returns the new document and the normalized URLs added. */
export function subscribe(doc: Doc, feeds: NewFeed[]): [Doc, string[]] {
  const todo = feeds.map((f) => {
    const url = normalizeFeedUrl(f.url);
    for (const p of f.folder ?? []) checkText("folder name", p);
    if (f.title && bytes(f.title) > MAX_TEXT) throw new LibraryInputError("The title is too long.");
    return { ...f, url };
  });
  const added: string[] = [];
  const next = A.change(doc, (d) => {
    for (const f of todo) {
      if (d.subscriptions[f.url]) continue;
      const rec: SubRec = { title: imm(f.title ?? ""), folder: (f.folder ?? []).map(imm), tags: {}, added: now(), settings: {} };
      if (f.htmlUrl && bytes(f.htmlUrl) <= MAX_TEXT) rec.html_url = imm(f.htmlUrl);
      d.subscriptions[f.url] = rec;
      added.push(f.url);
    }
  });
  return [next, added];
}

export function unsubscribe(doc: Doc, url: string): Doc {
  const u = normalizeFeedUrl(url);
  if (!doc.subscriptions[u]) return doc;
  return A.change(doc, (d) => {
    delete d.subscriptions[u];
  });
}

export function setTitle(doc: Doc, url: string, title: string): Doc {
  const u = normalizeFeedUrl(url);
  checkText("title", title);
  const s = doc.subscriptions[u];
  if (!s || str(s.title) === title) return doc;
  return A.change(doc, (d) => {
    const sub = d.subscriptions[u];
    if (sub) sub.title = imm(title);
  });
}

export function feeds(doc: Doc): Feed[] {
  return Object.keys(doc.subscriptions)
    .sort()
    .map((url) => {
      const s = doc.subscriptions[url] as SubRec;
      return {
        url,
        title: str(s.title) ?? "",
        htmlUrl: str(s.html_url),
        folder: (s.folder ?? []).map((x) => String(x)),
        tags: Object.keys(s.tags ?? {}),
        added: typeof s.added === "number" ? s.added : 0,
      };
    });
}

// ----- play records -----

function checkSeconds(what: string, v: number): void {
  if (!Number.isFinite(v) || v < 0) throw new LibraryInputError(`The ${what} must be a non-negative number of seconds.`);
}

function withRecord(doc: Doc, device: string, episode: string, f: (r: PlayRec) => void): Doc {
  checkText("episode key", episode);
  return A.change(doc, (d) => {
    // Re-read after creating: inside a change, only values read from `d` are live proxies.
    d.plays[device] ??= {};
    const mine = d.plays[device] as Record<string, PlayRec>;
    mine[episode] ??= { position: 0, completed: false, speed: 1 };
    const rec = mine[episode] as PlayRec;
    f(rec);
    rec.updated = now();
  });
}

/** This device's position (and duration when known) in an episode. */
export function setPosition(doc: Doc, device: string, episode: string, position: number, duration?: number): Doc {
  checkSeconds("position", position);
  if (duration !== undefined) checkSeconds("duration", duration);
  return withRecord(doc, device, episode, (r) => {
    r.position = position;
    if (duration !== undefined && duration > 0 && r.duration !== duration) r.duration = duration;
  });
}

export function setSpeed(doc: Doc, device: string, episode: string, speed: number): Doc {
  if (!Number.isFinite(speed) || speed <= 0 || speed > 16) throw new LibraryInputError("The speed must be between 0 and 16.");
  return withRecord(doc, device, episode, (r) => {
    r.speed = speed;
  });
}

export function markPlayed(doc: Doc, device: string, episode: string, completed: boolean): Doc {
  return withRecord(doc, device, episode, (r) => {
    r.completed = completed;
    if (!completed) r.position = 0;
  });
}

function readRecord(r: PlayRec): Required<Omit<PlayRec, "duration">> & { duration: number | null } {
  const n = (v: unknown, d: number) => (typeof v === "number" && Number.isFinite(v) ? v : d);
  return {
    position: n(r.position, 0),
    duration: typeof r.duration === "number" ? r.duration : null,
    completed: r.completed === true,
    speed: n(r.speed, 1),
    updated: n(r.updated, 0),
  };
}

export type Record_ = ReturnType<typeof readRecord>;

export function playOf(doc: Doc, device: string, episode: string): Record_ | null {
  const r = doc.plays[device]?.[episode];
  return r ? readRecord(r) : null;
}

export interface Resume {
  device: string;
  deviceName: string | null;
  record: Record_;
}

/** Every device's record for an episode, newest first (ties by device id), like `continue_from`. */
export function continueFrom(doc: Doc, episode: string): Resume[] {
  const out: Resume[] = [];
  for (const device of Object.keys(doc.plays)) {
    const r = doc.plays[device]?.[episode];
    if (r) out.push({ device, deviceName: deviceName(doc, device), record: readRecord(r) });
  }
  return out.sort((a, b) => b.record.updated - a.record.updated || (a.device < b.device ? -1 : a.device > b.device ? 1 : 0));
}

/** The newest record on another device, if newer than ours: the "continue from" offer. */
export function resumeOffer(doc: Doc, device: string, episode: string): Resume | null {
  const mine = playOf(doc, device, episode)?.updated ?? -Infinity;
  return continueFrom(doc, episode).find((r) => r.device !== device && r.record.updated > mine) ?? null;
}

/** Every episode with a "continue from" offer for this device, newest first. */
export function resumeOffers(doc: Doc, device: string): Array<Resume & { episode: string }> {
  const eps = new Set<string>();
  for (const [dev, recs] of Object.entries(doc.plays)) if (dev !== device) for (const k of Object.keys(recs)) eps.add(k);
  const out: Array<Resume & { episode: string }> = [];
  for (const ep of eps) {
    const o = resumeOffer(doc, device, ep);
    if (o && !o.record.completed && o.record.position > 0) out.push({ ...o, episode: ep });
  }
  return out.sort((a, b) => b.record.updated - a.record.updated);
}

// ----- queue -----

export function queueOf(doc: Doc, device: string): string[] {
  return (doc.queues[device] ?? []).map((x) => String(x));
}

/** Append to this device's queue; no change when already queued. */
export function queueAdd(doc: Doc, device: string, episode: string): Doc {
  checkText("episode key", episode);
  if (queueOf(doc, device).includes(episode)) return doc;
  return A.change(doc, (d) => {
    d.queues[device] ??= [];
    (d.queues[device] as Str[]).push(imm(episode));
  });
}

export function queueRemove(doc: Doc, device: string, episode: string): Doc {
  const items = queueOf(doc, device);
  if (!items.includes(episode)) return doc;
  return A.change(doc, (d) => {
    const q = d.queues[device];
    if (!q) return;
    for (let i = items.length - 1; i >= 0; i--) if (items[i] === episode) q.splice(i, 1);
  });
}

/** Move (or insert) an episode to `index` in this device's queue, like `queue_insert`. */
export function queueMove(doc: Doc, device: string, episode: string, index: number): Doc {
  checkText("episode key", episode);
  const items = queueOf(doc, device);
  const from = items.indexOf(episode);
  const rest = items.filter((e) => e !== episode);
  const to = Math.max(0, Math.min(index, rest.length));
  if (from === to && items.length === rest.length + 1) return doc;
  return A.change(doc, (d) => {
    d.queues[device] ??= [];
    const q = d.queues[device] as Str[];
    for (let i = items.length - 1; i >= 0; i--) if (items[i] === episode) q.splice(i, 1);
    q.splice(to, 0, imm(episode));
  });
}

// ----- devices -----

export function deviceName(doc: Doc, device: string): string | null {
  return str(doc.devices[device]?.name) ?? null;
}

export function setDeviceName(doc: Doc, device: string, name: string): Doc {
  const n = name.trim();
  checkText("device name", n);
  if (deviceName(doc, device) === n) return doc;
  return A.change(doc, (d) => {
    d.devices[device] ??= {};
    (d.devices[device] as { name?: Str }).name = imm(n);
  });
}

// ----- bridged devices -----
// Same reading as crates/library `bridged_devices`: a device entry with `bridged_by` is a
// device that is not a realm member (a phone's AntennaPod syncing through a node's gpodder
// bridge). Only the bridging member writes its records (`as_bridged`), and the library has no
// operation to remove them, so the web app only shows these devices.

export interface BridgedDevice {
  /** Its key in `plays` / `queues` / `devices`: `<member>/<kind>/<account>/<device>`. */
  id: string;
  /** The name the bridge gave it, e.g. "AntennaPod (mobile) via node". */
  name: string;
  /** The name without the bridge's " via <node>" suffix, e.g. "AntennaPod (mobile)". */
  app: string;
  /** The member that bridges it. */
  bridgedBy: string;
  /** That member's name in the library, else the one the bridge put after " via ", else null. */
  bridgedByName: string | null;
  kind: string;
  /** Newest `updated` of its play records (ms since the epoch); null when it has none. */
  lastActivity: number | null;
  /** Episodes it has a play record for. */
  episodes: number;
}

/** Every bridged device of the realm, whichever member bridges it, sorted by id. */
export function bridgedDevices(doc: Doc): BridgedDevice[] {
  const out: BridgedDevice[] = [];
  for (const id of Object.keys(doc.devices).sort()) {
    const d = doc.devices[id];
    const by = str(d?.bridged_by);
    if (!d || by === undefined) continue;
    const name = str(d.name) ?? id;
    const via = name.lastIndexOf(" via ");
    let last: number | null = null;
    const plays = doc.plays[id] ?? {};
    for (const r of Object.values(plays)) {
      const u = readRecord(r).updated;
      if (u > 0 && (last === null || u > last)) last = u;
    }
    out.push({
      id,
      name,
      app: via > 0 ? name.slice(0, via) : name,
      bridgedBy: by,
      bridgedByName: deviceName(doc, by) ?? (via > 0 ? name.slice(via + 5) || null : null),
      kind: str(d.kind) ?? "",
      lastActivity: last,
      episodes: Object.keys(plays).length,
    });
  }
  return out;
}

// ===== "seen" marks, new episodes, per-podcast notifications (issue 12, the app views) =====
// Same rule as crates/library (`mark_seen`, `seen_watermark`, `is_new`):
// - devices[<device>].seen[<feed url>] is the publish time (ms since the epoch) of the newest
//   episode of that feed this device has shown the listener. Only the device writes its own
//   map, like its play records, so concurrent marks never conflict, and a mark only rises;
// - a feed's watermark is the largest mark over every device and the subscription's `added`
//   time (episodes published before subscribing are not news), so an episode seen on the
//   phone is not new again on the laptop;
// - an episode is new when it was published after the watermark and no device has played it.

/** The time from which a feed's episodes count as new (ms since the epoch). */
export function seenWatermark(doc: Doc, feedUrl: string): number {
  let mark = Number(doc.subscriptions[feedUrl]?.added ?? 0) || 0;
  for (const d of Object.values(doc.devices)) {
    const seen = (d as { seen?: Record<string, unknown> }).seen;
    const v = seen?.[feedUrl];
    if (typeof v === "number" && Number.isFinite(v) && v > mark) mark = v;
  }
  return mark;
}

/** Mark feeds seen by this device up to the given publish times (ms); marks never go down. */
export function markSeen(doc: Doc, device: string, upTo: Record<string, number>): Doc {
  const todo = Object.entries(upTo).filter(([url, t]) => {
    if (!Number.isFinite(t) || t <= 0) return false;
    const mine = (doc.devices[device] as { seen?: Record<string, unknown> } | undefined)?.seen?.[url];
    return !(typeof mine === "number" && mine >= t) && t > seenWatermark(doc, url);
  });
  if (todo.length === 0) return doc;
  for (const [url] of todo) checkText("feed address", url);
  return A.change(doc, (d) => {
    d.devices[device] ??= {};
    const me = d.devices[device] as { seen?: Record<string, number> };
    me.seen ??= {};
    const seen = me.seen as Record<string, number>;
    for (const [url, t] of todo) seen[url] = Math.round(t);
  });
}

/** Whether any device has played the episode to the end. */
export function playedAnywhere(doc: Doc, episode: string): boolean {
  for (const recs of Object.values(doc.plays)) if (recs[episode]?.completed === true) return true;
  return false;
}

/** Whether any device has a position in the episode without having finished it. */
export function inProgressAnywhere(doc: Doc, episode: string): boolean {
  let started = false;
  for (const recs of Object.values(doc.plays)) {
    const r = recs[episode];
    if (r?.completed === true) return false;
    if (r && typeof r.position === "number" && r.position > 0) started = true;
  }
  return started;
}

/** The rule above: published after the feed's watermark and played nowhere. */
export function isNewEpisode(doc: Doc, feedUrl: string, publishedMs: number | null, episode: string): boolean {
  if (publishedMs === null || !Number.isFinite(publishedMs)) return false;
  return publishedMs > seenWatermark(doc, feedUrl) && !playedAnywhere(doc, episode);
}

/** Per-podcast setting key: notify about new episodes (a boolean in the feed's settings). */
export const NOTIFY_SETTING = "notify_new";

export function notifyOn(doc: Doc, feedUrl: string): boolean {
  return doc.subscriptions[feedUrl]?.settings?.[NOTIFY_SETTING] === true;
}

export function setNotify(doc: Doc, feedUrl: string, on: boolean): Doc {
  const u = normalizeFeedUrl(feedUrl);
  if (!doc.subscriptions[u] || notifyOn(doc, u) === on) return doc;
  return A.change(doc, (d) => {
    const s = d.subscriptions[u];
    if (!s) return;
    s.settings ??= {};
    s.settings[NOTIFY_SETTING] = on;
  });
}
// ===== end of the app-views block =====
// ===== listening rules (issue 11) =====
// The same rules as crates/library/src/library/listening.rs, one function each, checked
// against crates/library/testdata/listening-rules.json (test/listening.test.ts).

/** Global setting: start the next queued episode when one ends (default on). */
export const CONTINUOUS_PLAYBACK = "continuous_playback";
export const SPEED_RANGE = [0.5, 3] as const;
/** Largest saving accepted in one report (s). */
export const MAX_SAVED_PER_REPORT = 86_400;

export type TrimLevel = "off" | "mild" | "medium" | "strong";
export const TRIM_LEVELS: readonly TrimLevel[] = ["off", "mild", "medium", "strong"];
const isTrim = (v: unknown): v is TrimLevel => typeof v === "string" && (TRIM_LEVELS as readonly string[]).includes(v);

/** A podcast's own playback settings; unset values inherit the global ones. */
export interface PodcastSettings {
  speed?: number;
  trim?: TrimLevel;
  boost?: boolean;
}
/** A change: an absent key keeps the value, `null` clears it (the global one applies). */
export type PodcastSettingsPatch = { [K in keyof PodcastSettings]?: PodcastSettings[K] | null };
export interface EffectiveSettings {
  speed: number;
  trim: TrimLevel;
  boost: boolean;
}

const speedOk = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= SPEED_RANGE[0] && v <= SPEED_RANGE[1];

/** What follows `current` in `queue`: the episode after it when queued (none after the last), else the head. */
export function nextInQueue(queue: string[], current: string | null): string | null {
  const i = current === null ? -1 : queue.indexOf(current);
  if (i >= 0) return queue[i + 1] ?? null;
  return queue.find((e) => e !== current) ?? null;
}

/**
 * An episode ended on this device: marked played (at its duration when known), out of this
 * device's queue, and the episode to start next (null when none follows or the global
 * `continuous_playback` is off). Refuses bad input before changing anything.
 */
export function episodeEnded(doc: Doc, device: string, episode: string, duration?: number): [Doc, string | null] {
  checkText("episode key", episode);
  if (duration !== undefined) checkSeconds("duration", duration);
  const queue = queueOf(doc, device);
  const next = nextInQueue(queue, episode);
  const d1 = withRecord(doc, device, episode, (r) => {
    r.completed = true;
    if (duration !== undefined) {
      r.position = duration;
      if (r.duration !== duration) r.duration = duration;
    }
  });
  const d2 = queueRemove(d1, device, episode);
  const continuous = d2.settings[CONTINUOUS_PLAYBACK] !== false;
  return [d2, continuous ? next : null];
}

function myDeviceMap(d: LibraryDoc, device: string, key: "downloads" | "time_saved"): Record<string, number> {
  d.devices[device] ??= {};
  const me = d.devices[device] as DeviceRec;
  me[key] ??= {};
  return me[key] as Record<string, number>;
}

/** Record that this device holds a downloaded copy of `episode` (`bytes` long). */
export function setDownload(doc: Doc, device: string, episode: string, bytes: number): Doc {
  checkText("episode key", episode);
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new LibraryInputError("A download size must be a whole number of bytes.");
  if (doc.devices[device]?.downloads?.[episode] === bytes) return doc;
  return A.change(doc, (d) => {
    myDeviceMap(d, device, "downloads")[episode] = bytes;
  });
}

/** This device no longer holds `episode`; returns whether it was recorded. */
export function removeDownload(doc: Doc, device: string, episode: string): [Doc, boolean] {
  if (doc.devices[device]?.downloads?.[episode] === undefined) return [doc, false];
  return [
    A.change(doc, (d) => {
      delete myDeviceMap(d, device, "downloads")[episode];
    }),
    true,
  ];
}

/** A device's downloads: episode key → bytes. */
export function downloadsOf(doc: Doc, device: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(doc.devices[device]?.downloads ?? {})) if (typeof v === "number") out[k] = v;
  return out;
}

/** The devices holding a downloaded copy of `episode`, sorted by id. */
export function downloadHolders(doc: Doc, episode: string): string[] {
  return Object.keys(doc.devices)
    .filter((d) => doc.devices[d]?.downloads?.[episode] !== undefined)
    .sort();
}

function readPlayback(m: Record<string, unknown> | undefined): PodcastSettings {
  const out: PodcastSettings = {};
  if (!m) return out;
  if (speedOk(m.speed)) out.speed = m.speed;
  const t = str(m.trim);
  if (isTrim(t)) out.trim = t;
  if (typeof m.boost === "boolean") out.boost = m.boost;
  return out;
}

function subOf(doc: Doc, feedUrl: string): [string, SubRec] {
  const u = normalizeFeedUrl(feedUrl);
  const s = doc.subscriptions[u];
  if (!s) throw new LibraryInputError(`You are not subscribed to ${u}.`);
  return [u, s];
}

/** A podcast's own playback settings. */
export function podcastSettings(doc: Doc, feedUrl: string): PodcastSettings {
  return readPlayback(subOf(doc, feedUrl)[1].settings);
}

/** Change a podcast's playback settings; every value is checked before anything changes. */
export function setPodcastSettings(doc: Doc, feedUrl: string, patch: PodcastSettingsPatch): Doc {
  const [u] = subOf(doc, feedUrl);
  const { speed, trim, boost } = patch as Record<string, unknown>;
  if (speed !== undefined && speed !== null && !speedOk(speed)) throw new LibraryInputError(`The speed must be between ${SPEED_RANGE[0]} and ${SPEED_RANGE[1]}.`);
  if (trim !== undefined && trim !== null && !isTrim(trim)) throw new LibraryInputError("The trim level must be off, mild, medium or strong.");
  if (boost !== undefined && boost !== null && typeof boost !== "boolean") throw new LibraryInputError("Volume boost is on or off.");
  return A.change(doc, (d) => {
    const sub = d.subscriptions[u] as SubRec;
    sub.settings ??= {};
    const m = sub.settings;
    for (const [k, v] of [["speed", speed], ["trim", trim], ["boost", boost]] as const) {
      if (v === undefined) continue;
      if (v === null) delete m[k];
      else m[k] = k === "trim" ? imm(v as string) : v;
    }
  });
}

/** The settings to play a podcast with: its own, else the global ones, else 1×, off, off. */
export function effectiveSettings(doc: Doc, feedUrl: string): EffectiveSettings {
  const own = podcastSettings(doc, feedUrl);
  const global = readPlayback(doc.settings);
  return { speed: own.speed ?? global.speed ?? 1, trim: own.trim ?? global.trim ?? "off", boost: own.boost ?? global.boost ?? false };
}

/** Add `seconds` of the listener's time saved on this device for a podcast. */
export function addTimeSaved(doc: Doc, device: string, feedUrl: string, seconds: number): Doc {
  const u = normalizeFeedUrl(feedUrl);
  if (!Number.isFinite(seconds) || seconds < 0 || seconds > MAX_SAVED_PER_REPORT) {
    throw new LibraryInputError(`The time saved must be between 0 and ${MAX_SAVED_PER_REPORT} seconds.`);
  }
  if (seconds === 0) return doc;
  return A.change(doc, (d) => {
    const m = myDeviceMap(d, device, "time_saved");
    m[u] = (typeof m[u] === "number" ? m[u] : 0) + seconds;
  });
}

/** Time saved per podcast, summed over every device of the realm. */
export function timeSaved(doc: Doc): Record<string, number> {
  const out: Record<string, number> = {};
  for (const dev of Object.keys(doc.devices).sort()) {
    for (const [feed, s] of Object.entries(doc.devices[dev]?.time_saved ?? {})) {
      if (typeof s === "number" && Number.isFinite(s) && s > 0) out[feed] = (out[feed] ?? 0) + s;
    }
  }
  return out;
}

/** Total time saved over every podcast and device (s). */
export function timeSavedTotal(doc: Doc): number {
  return Object.values(timeSaved(doc)).reduce((a, b) => a + b, 0);
}
/** Set a global setting (a number, boolean or short string); unchanged values write nothing. */
export function setSetting(doc: Doc, key: string, value: number | boolean | string): Doc {
  checkText("setting name", key);
  if (typeof value === "number" && !Number.isFinite(value)) throw new LibraryInputError(`The setting ${key} must be a number.`);
  if (typeof value === "string" && bytes(value) > MAX_TEXT) throw new LibraryInputError(`The setting ${key} is too long.`);
  const old = doc.settings[key];
  if ((typeof old === "object" && old !== null ? String(old) : old) === value) return doc;
  return A.change(doc, (d) => {
    d.settings[key] = typeof value === "string" ? imm(value) : value;
  });
}
// ===== end of listening rules =====
