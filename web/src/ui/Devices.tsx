import { useState } from "preact/hooks";
import { bridgedDevices, deviceName, setDeviceName } from "../library/doc";
import { ago, useMinuteTick } from "../podcast/refresh";
import type { LibraryStore } from "../library/store";
import type { MemberView } from "../realm/mesh";
import { useDoc } from "../app/context";
import { Outcome } from "./Outcome";

/** What a bridge kind is, in words. */
const BRIDGE_KIND: Record<string, string> = { gpodder: "gpodder sync" };

/**
 * Devices that are not realm members but sync through a member's bridge (AntennaPod through a
 * node's gpodder bridge). No controls: only the bridging node writes their records, and the
 * library has no way to remove them; their accounts are managed on that node.
 */
export function BridgedDevices({ lib }: { lib: LibraryStore }) {
  const doc = useDoc(lib);
  const now = useMinuteTick();
  const devices = bridgedDevices(doc);
  if (devices.length === 0) return null;
  return (
    <section class="card" aria-labelledby="bridged-h">
      <h2 id="bridged-h">Apps synced through a bridge</h2>
      <p class="hint">
        Apps like AntennaPod that sync with a node’s gpodder bridge. They are not members of the realm: the node they come through writes their positions and
        queue and keeps their accounts (<code class="cmd">skypod bridge user</code>), so they are managed there, not here.
      </p>
      <ul class="plain devices" aria-labelledby="bridged-h">
        {devices.map((b) => (
          <li key={b.id} class="row bridged" data-bridged={b.id}>
            <span class="ep-title">
              {b.app} <span class="badge">{BRIDGE_KIND[b.kind] ?? (b.kind || "bridge")}</span>
              <br />
              <span class="hint">
                via <span class="via-node">{b.bridgedByName ?? `device ${b.bridgedBy.slice(0, 10)}…`}</span> ·{" "}
                {b.lastActivity === null ? (
                  "no activity yet"
                ) : (
                  <>
                    last activity{" "}
                    <time dateTime={new Date(b.lastActivity).toISOString()} title={new Date(b.lastActivity).toLocaleString()} data-last={b.lastActivity}>
                      {ago(b.lastActivity, now)}
                    </time>
                  </>
                )}{" "}
                · {b.episodes} episode{b.episodes === 1 ? "" : "s"}
              </span>
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** Device management: name this device (in the library, so every device sees it), remove others from the realm. */
export function Devices({ lib, members, onRemove }: { lib: LibraryStore; members: MemberView[]; onRemove(id: string): Promise<void> }) {
  const doc = useDoc(lib);
  const mine = deviceName(doc, lib.device) ?? "";
  const [name, setName] = useState(mine);
  const [error, setError] = useState("");
  const [status, setStatus] = useState("");

  const rename = (e: Event) => {
    e.preventDefault();
    setError("");
    try {
      lib.change((d) => setDeviceName(d, lib.device, name));
      setStatus(`This device is now called “${name.trim()}”.`);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };

  const remove = async (m: MemberView) => {
    const label = deviceName(doc, m.identid) ?? m.identid.slice(0, 10);
    if (!confirm(`Remove “${label}” from the realm? It will no longer sync or use the server.`)) return;
    setError("");
    try {
      await onRemove(m.identid);
      setStatus(`Removed ${label}.`);
    } catch (err) {
      setError(`Could not remove ${label}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  return (
    <section class="card" aria-labelledby="dev-h">
      <h2 id="dev-h">Your devices</h2>
      <form onSubmit={rename}>
        <label for="dev-name">Name of this device</label>
        <div class="row">
          <input id="dev-name" maxLength={100} value={name} placeholder="e.g. Phone" onInput={(e) => setName(e.currentTarget.value)} />
          <button type="submit">Rename</button>
        </div>
      </form>
      <ul class="plain devices" aria-label="Devices in this realm">
        {members.map((m) => {
          const n = deviceName(doc, m.identid);
          return (
            <li key={m.identid} class="row" data-device={m.identid}>
              <span class="ep-title">
                {n ?? "Unnamed device"} {m.self && <span class="hint">(this device)</span>}
                <br />
                <code class="hint">{m.identid.slice(0, 16)}…</code> <span class="hint">{m.link}</span>
              </span>
              {!m.self && (
                <button type="button" onClick={() => void remove(m)} aria-label={`Remove ${n ?? m.identid.slice(0, 10)} from the realm`}>
                  Remove
                </button>
              )}
            </li>
          );
        })}
      </ul>
      <Outcome error={error} status={status} />
    </section>
  );
}
