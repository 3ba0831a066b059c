import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { Identity } from "../lib/identity";
import { deviceName } from "../library/doc";
import type { LibraryStore } from "../library/store";
import type { MessageConsole } from "../realm/console";
import type { Mesh, MeshSnapshot } from "../realm/mesh";
import { newEpisodes, viewsOf, type EpisodeView } from "../podcast/episodes";
import { notifyNew } from "../podcast/notify";
import { FeedStore, useFeeds } from "../podcast/refresh";
import { AppCtx, useDoc, type AppContext } from "../app/context";
import { href, useRoute, type Route, type View } from "../app/router";
import { AddView } from "./AddView";
import { DevicesView } from "./DevicesView";
import { bindDownloads } from "../downloads/binding";
import { DownloadsView } from "../downloads/DownloadsView";
import { downloads } from "../downloads/manager";
import { bindPlayerSettings } from "../player/library";
import { EpisodesView } from "./EpisodesView";
import { NewView } from "./NewView";
import { PodcastView } from "./PodcastView";
import { PodcastsView } from "./PodcastsView";
import { QueueView } from "./QueueView";
import { SettingsView } from "./SettingsView";

interface Props {
  lib: LibraryStore;
  me: Identity;
  realm: string;
  server: string;
  snap: MeshSnapshot | null;
  mesh: Mesh | null;
  messageConsole: MessageConsole | null;
  onLeave(): void;
}

const NAV: ReadonlyArray<[View, string, string]> = [
  ["podcasts", "Podcasts", "▦"],
  ["new", "New", "✦"],
  ["queue", "Queue", "☰"],
  ["downloads", "Downloads", "⤓"],
  ["devices", "Devices", "⌘"],
  ["settings", "Settings", "⚙"],
];

/** Which navigation entry a route belongs to. */
function section(r: Route): View {
  if (r.view === "podcast" || r.view === "episodes" || r.view === "add") return "podcasts";
  return r.view;
}

/** The member's app: navigation (side on a laptop, bottom on a phone) and the routed views. */
export function Shell(props: Props) {
  const { lib, me } = props;
  const route = useRoute();
  const doc = useDoc(lib);
  const feeds = useMemo(() => new FeedStore({ me, realm: props.realm, server: props.server }), [lib]);
  const snap = useFeeds(feeds);
  const urls = Object.keys(doc.subscriptions);

  // Refresh everything on open and every 30 minutes; load new subscriptions' stored copies.
  const docRef = useRef(doc);
  docRef.current = doc;
  useEffect(() => {
    feeds.onFeed = (url, feed) => void notifyNew(docRef.current, url, feed).catch(() => undefined);
    feeds.start(() => Object.keys(lib.doc.subscriptions));
    return () => feeds.stop();
  }, [feeds]);
  useEffect(() => void feeds.load(urls), [urls.join("\n")]);
  // Playback and downloads follow the library (settings, auto-download, who holds what).
  useEffect(() => bindPlayerSettings(lib), [lib]);
  useEffect(() => bindDownloads(lib, me.identid, { me, realm: props.realm, server: props.server }), [lib, props.realm, props.server]);
  const [dlVersion, setDlVersion] = useState(0);
  useEffect(() => {
    void downloads.load();
    return downloads.subscribe(() => setDlVersion((v) => v + 1));
  }, []);

  const episodes = useMemo(() => {
    const m = new Map<string, EpisodeView>();
    for (const url of urls) {
      const f = snap.states[url]?.feed;
      const title = String(doc.subscriptions[url]?.title ?? "") || f?.channel.title || url;
      if (f) for (const v of viewsOf(url, title, f)) m.set(v.key, v);
    }
    return m;
  }, [snap, urls.join("\n"), doc.subscriptions]);
  const newCount = useMemo(() => newEpisodes(doc, [...episodes.values()]).length, [doc, episodes]);

  const app: AppContext = useMemo(
    () => ({
      lib,
      me,
      proxy: { me, realm: props.realm, server: props.server },
      feeds,
      episodes,
      fallbackName: (id) => (id === me.identid ? "this device" : `device ${id.slice(0, 6)}`),
      downloaded: (key) => downloads.get(key)?.state === "done",
    }),
    [lib, feeds, episodes, dlVersion],
  );

  // A new view: to its top, and focus on its heading for keyboard and screen-reader users
  // (not on the first render, where the browser's own focus is right).
  const first = useRef(true);
  const key = href(route);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    scrollTo(0, 0);
    const h = document.getElementById("view-h");
    if (h) {
      h.tabIndex = -1;
      h.focus({ preventScroll: true });
    }
  }, [key]);
  const [, setTick] = useState(0);
  useEffect(() => {
    document.title = `${NAV.find(([v]) => v === section(route))?.[1] ?? "Skypod"} · Skypod`;
    setTick((t) => t + 1);
  }, [key]);

  const current = section(route);
  const me_ = deviceName(doc, me.identid);
  return (
    <AppCtx.Provider value={app}>
      <div class="shell">
        <nav class="nav" aria-label="Skypod">
          <ul>
            {NAV.map(([v, label, icon]) => (
              <li key={v}>
                <a href={href({ view: v } as Route)} aria-current={current === v ? "page" : undefined} data-nav={v}>
                  <span class="nav-icon" aria-hidden="true">
                    {icon}
                  </span>
                  <span class="nav-label">{label}</span>
                  {v === "new" && newCount > 0 && (
                    <span class="nav-badge" data-new-count={newCount}>
                      <span class="sr-only">, </span>
                      {newCount}
                      <span class="sr-only"> new</span>
                    </span>
                  )}
                </a>
              </li>
            ))}
          </ul>
          {me_ && <p class="nav-me hint">{me_}</p>}
        </nav>
        <main class="view" data-view={route.view} aria-labelledby="view-h">
          {route.view === "podcasts" && <PodcastsView />}
          {route.view === "podcast" && <PodcastView key={route.feed} feed={route.feed} />}
          {route.view === "episodes" && <EpisodesView />}
          {route.view === "new" && <NewView />}
          {route.view === "queue" && <QueueView />}
          {route.view === "downloads" && (
            <>
              <h1 id="view-h">Downloads</h1>
              <DownloadsView lib={lib} device={me.identid} ctx={{ me, realm: props.realm, server: props.server }} />
            </>
          )}
          {route.view === "add" && <AddView q={route.q} />}
          {route.view === "devices" && <DevicesView me={me} realm={props.realm} server={props.server} snap={props.snap} mesh={props.mesh} messageConsole={props.messageConsole} onLeave={props.onLeave} />}
          {route.view === "settings" && <SettingsView />}
        </main>
      </div>
    </AppCtx.Provider>
  );
}
