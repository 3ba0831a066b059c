import type { Identity } from "../lib/identity";
import type { MessageConsole } from "../realm/console";
import type { Mesh, MeshSnapshot } from "../realm/mesh";
import { useApp } from "../app/context";
import { BridgedDevices, Devices } from "./Devices";
import { InvitePanel } from "./InvitePanel";
import { MessageInterface } from "./MessageInterface";
import { PeerList } from "./PeerList";

/** Devices: rename, remove, invite/pair; apps bridged in by a node; the P2P/relay console and the logs as diagnostics. */
export function DevicesView(props: { me: Identity; realm: string; server: string; snap: MeshSnapshot | null; mesh: Mesh | null; messageConsole: MessageConsole | null; onLeave(): void }) {
  const { lib } = useApp();
  const { snap, me } = props;
  return (
    <>
      <h1 id="view-h">Devices</h1>
      <Devices lib={lib} members={snap?.members ?? []} onRemove={(id) => props.mesh?.removeMember(id) ?? Promise.resolve()} />
      <BridgedDevices lib={lib} />
      <PeerList members={snap?.members ?? []} />
      <InvitePanel me={me} realm={props.realm} server={props.server} />
      <details class="card diagnostics">
        <summary>Diagnostics: P2P and relay messages, connection log</summary>
        {props.messageConsole && <MessageInterface messageConsole={props.messageConsole} />}
        <h2 id="log-h">Connection log</h2>
        <pre class="log" aria-labelledby="log-h" tabIndex={0}>
          {(snap?.log ?? []).join("\n")}
        </pre>
      </details>
      <p class="hint">
        Realm <code>{props.realm.slice(0, 10)}…</code> · this device <code>{me.identid.slice(0, 10)}…</code> ·{" "}
        <span data-realm-key={snap?.realmKey ? `${snap.realmKey.epoch}:${snap.realmKey.kid}` : ""}>
          {snap?.realmKey ? `realm key epoch ${snap.realmKey.epoch} (${snap.realmKey.kid.slice(0, 8)})` : "waiting for the realm key from a member"}
        </span>{" "}
        <button type="button" class="link" onClick={props.onLeave}>
          Leave realm
        </button>
      </p>
    </>
  );
}
