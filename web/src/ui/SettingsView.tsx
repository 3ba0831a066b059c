import { useState } from "preact/hooks";
import { feeds as listFeeds, notifyOn, setNotify } from "../library/doc";
import { notificationsSupported } from "../podcast/notify";
import { REFRESH_EVERY_MS } from "../podcast/refresh";
import { useApp, useDoc } from "../app/context";
import { OpmlExport } from "./AddView";
import { PlaybackSettings } from "../player/PlaybackSettings";

/** Settings: notifications (browser permission, per podcast), refresh, export, appearance. */
export function SettingsView() {
  const app = useApp();
  const doc = useDoc(app.lib);
  const feeds = listFeeds(doc);
  const [perm, setPerm] = useState(notificationsSupported() ? Notification.permission : "unsupported");
  return (
    <>
      <h1 id="view-h">Settings</h1>
      <PlaybackSettings lib={app.lib} />
      <section class="card" aria-labelledby="notif-h">
        <h2 id="notif-h">Notifications</h2>
        {perm === "unsupported" ? (
          <p class="hint">This browser cannot show notifications.</p>
        ) : perm === "granted" ? (
          <p class="hint">This device may show notifications for new episodes of the podcasts switched on below.</p>
        ) : perm === "denied" ? (
          <p class="hint">Notifications are blocked for Skypod in this browser's site settings.</p>
        ) : (
          <p>
            <button type="button" onClick={() => void Notification.requestPermission().then(setPerm)}>
              Allow notifications on this device
            </button>
          </p>
        )}
        {feeds.length > 0 && (
          <fieldset class="plain-set">
            <legend>Notify about new episodes of</legend>
            {feeds.map((f) => (
              <label key={f.url} class="switch">
                <input type="checkbox" checked={notifyOn(doc, f.url)} onChange={(e) => app.lib.change((d) => setNotify(d, f.url, e.currentTarget.checked))} />
                {f.title || f.url}
              </label>
            ))}
          </fieldset>
        )}
      </section>
      <section class="card" aria-labelledby="upd-h">
        <h2 id="upd-h">Updates</h2>
        <p class="hint">
          Feeds are refreshed when Skypod opens and every {REFRESH_EVERY_MS / 60_000} minutes while it is open, through your Skypod server. An always-on{" "}
          <code>skypod node</code> refreshes them on its own schedule too.
        </p>
      </section>
      <OpmlExport />
      <section class="card" aria-labelledby="look-h">
        <h2 id="look-h">Appearance</h2>
        <p class="hint">Light or dark follows this device's setting.</p>
      </section>
    </>
  );
}
