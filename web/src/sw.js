/* Skypod service worker: precaches the app shell so the app opens offline.
 * The list of built files is written in at build time (vite.config.ts). */
const PRECACHE = self.__PRECACHE__;
const VERSION = self.__VERSION__;
const CACHE = `skypod-shell-${VERSION}`;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((c) => c.addAll(PRECACHE)).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("skypod-shell-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin) return;
  // Only the app shell is ours; the realm socket, the feed proxy, /healthz and /metrics are not.
  if (/^\/(realm|proxy|feeds|healthz|metrics)(\/|$)/.test(url.pathname)) return;
  if (req.mode === "navigate") {
    // Network first for the page (fresh deploys), the cached shell when offline.
    event.respondWith(
      fetch(req)
        .then((res) => {
          if (res.ok) {
            const copy = res.clone();
            caches.open(CACHE).then((c) => c.put(new URL("./", self.registration.scope).href, copy));
          }
          return res;
        })
        .catch(() => caches.match(new URL("./", self.registration.scope).href, { ignoreSearch: true })),
    );
    return;
  }
  // Hashed assets: cache first.
  event.respondWith(caches.match(req, { ignoreSearch: true }).then((hit) => hit || fetch(req)));
});

// A new-episode notification (src/podcast/notify.ts) opens that podcast's page.
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const feed = event.notification.data?.feed;
  const url = new URL(feed ? `./#/podcast/${encodeURIComponent(feed)}` : "./#/new", self.registration.scope).href;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((cs) => {
      const c = cs[0];
      if (!c) return self.clients.openWindow(url);
      return (c.navigate ? c.navigate(url) : Promise.resolve(c)).then((w) => (w ?? c).focus());
    }),
  );
});
