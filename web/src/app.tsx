import { useEffect, useRef, useState } from "preact/hooks";
import type { AuthnResponse } from "./protocol/generated";
import { MSG, TOKEN_TTL } from "./protocol/generated";
import { randomId } from "./lib/b64";
import { loadOrCreateIdentity, type Identity } from "./lib/identity";
import { InviteError, parseInviteLink, precheckInvitation } from "./lib/invite";
import { sign, unixNow } from "./lib/jwt";
import { generateRealmKey, importRealmKey, type RealmKey } from "./lib/realmkey";
import { MessageConsole } from "./realm/console";
import { Mesh, type MeshSnapshot } from "./realm/mesh";
import type { AuthStep } from "./realm/socket";
import { realmWsUrl, serverBase, setServerBase } from "./config";
import { forgetRealm, loadRealm, saveRealm, type RealmRecord } from "./state";
import { FirstRun } from "./ui/FirstRun";
import { InstallButton } from "./ui/Install";
import { PlayerDock } from "./player/PlayerDock";
import { player } from "./player/player";
import { attachLibrary } from "./library/session";
import type { LibraryStore } from "./library/store";
import { Shell } from "./ui/Shell";

type Phase =
  | { kind: "loading" }
  | { kind: "first-run" }
  | { kind: "member"; realm: RealmRecord; key: RealmKey | null };

function refusalText(detail: string, joining: boolean): string {
  const d = detail.toLowerCase();
  if (joining) {
    if (d.includes("already")) return "This invitation has already been used. Ask for a new one.";
    if (d.includes("expired")) return "This invitation has expired. Ask for a new one.";
    if (d.includes("another identity") || d.includes("bound")) return "This invitation was made for another device.";
    return `The server refused this invitation: ${detail}`;
  }
  return `The server refused this device: ${detail}`;
}

export function App() {
  const [me, setMe] = useState<Identity | null>(null);
  const [phase, setPhase] = useState<Phase>({ kind: "loading" });
  const [snap, setSnap] = useState<MeshSnapshot | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [lib, setLib] = useState<LibraryStore | null>(null);
  const mesh = useRef<Mesh | null>(null);
  const messageConsole = useRef<MessageConsole | null>(null);
  const server = useRef(serverBase());
  const initialLink = location.hash.startsWith("#join=") ? location.href : "";

  useEffect(() => {
    (async () => {
      const id = await loadOrCreateIdentity();
      setMe(id);
      const r = await loadRealm();
      if (r) {
        const key = r.realmKey ? await importRealmKey(r.realmKey, r.realmKeyEpoch ?? 1) : null;
        setPhase({ kind: "member", realm: r, key });
        startMesh(id, r.realmid, key, null, r);
      } else setPhase({ kind: "first-run" });
    })().catch((e: unknown) => setError(`This browser cannot store Skypod's keys: ${String(e)}`));
    const online = () => mesh.current?.kick();
    addEventListener("online", online);
    return () => {
      removeEventListener("online", online);
      mesh.current?.stop();
    };
  }, []);

  /** Start the realm client. With `first`, the first auth is a register/exchange. */
  function startMesh(
    id: Identity,
    realmid: string,
    key: RealmKey | null,
    first: { auth: AuthStep; onAdmitted(res: AuthnResponse): void; joining: boolean } | null,
    rec?: RealmRecord,
  ): Mesh {
    mesh.current?.stop();
    let admitted = first === null;
    const m: Mesh = new Mesh(
      id,
      realmid,
      realmWsUrl(server.current),
      first?.auth ?? null,
      key,
      undefined,
      (res) => {
        if (!admitted && first) {
          admitted = true;
          first.onAdmitted(res);
        }
      },
      rec?.members,
    );
    mesh.current = m;
    messageConsole.current = new MessageConsole(m);
    // The one test hook (web/README.md): a network failure cannot be caused from the UI, so
    // the E2E test breaks the P2P links here and reads the connection ids; and what the ear
    // hears cannot be read from the page, so it reads the loudness graph's output level. No
    // keys are reachable.
    // Only E2E builds have it (`VITE_E2E=1`, web/scripts/e2e.sh); Vite drops it from the others.
    if (import.meta.env.VITE_E2E === "1") {
      (globalThis as { skypodDebug?: unknown }).skypodDebug = {
        dropLinks: () => m.simulateLinkFailure(),
        connectionIds: () => m.connectionIds(),
        // What the loudness graph sends out now: a stream Web Audio may not read gives zeros.
        audioPeak: () => player.graphOutputPeak(),
      };
    }
    setLib(null);
    attachLibrary(m, realmid, id.identid)
      .then((l) => mesh.current === m && setLib(l))
      .catch((e: unknown) => setError(`The library cannot be opened: ${String(e)}`));
    let members = rec?.members;
    // One read-modify-write at a time: a member removal and the key rotation that follows
    // must not overwrite each other's record.
    let saving: Promise<unknown> = Promise.resolve();
    const update = (f: (r: RealmRecord) => RealmRecord) => {
      saving = saving.then(() => loadRealm()).then((r) => r && r.realmid === realmid && saveRealm(f(r))).catch(() => undefined);
    };
    m.onMembersChanged = (ms) => {
      members = ms;
      if (admitted) update((r) => ({ ...r, members }));
    };
    m.onRealmKey = (k) => update((r) => ({ ...r, realmKey: k.raw, realmKeyEpoch: k.epoch }));
    m.subscribe((s) => {
      setSnap(s);
      if (s.socket === "refused" && !admitted && first) {
        setBusy(false);
        setError(refusalText(s.socketDetail, first.joining));
        m.stop();
      }
    });
    void m.start();
    return m;
  }

  const createRealm = async () => {
    if (!me) return;
    setBusy(true);
    setError("");
    const realmid = randomId(24);
    const key = await generateRealmKey(1);
    const rec: RealmRecord = { realmid, realmKey: key.raw, realmKeyEpoch: key.epoch, joinedAt: Date.now(), createdHere: true };
    startMesh(me, realmid, key, {
      joining: false,
      auth: async () => ({
        msg: MSG.PREAUTH_REGISTER,
        token: await sign(me, "register", realmid, unixNow(), TOKEN_TTL.register, { pubkey: me.publicJwk }),
      }),
      onAdmitted: (res) => {
        void saveRealm({ ...rec, members: res.identities });
        setBusy(false);
        setPhase({ kind: "member", realm: rec, key });
      },
    });
    // If the server never answers, say so rather than spin forever.
    setTimeout(() => {
      if (mesh.current?.snapshot().socket !== "online") {
        setBusy(false);
        setError((e) => e || "The Skypod server cannot be reached. Check your connection and try again.");
      }
    }, 8000);
  };

  const join = async (text: string) => {
    if (!me) return;
    setError("");
    let link;
    try {
      link = parseInviteLink(text);
      precheckInvitation(link, me.identid);
    } catch (e) {
      setError(e instanceof InviteError ? e.message : "This invitation cannot be read.");
      return;
    }
    setBusy(true);
    const l = link;
    // The realm lives on the server the invitation names (a link may come from another install).
    if (l.server) server.current = setServerBase(l.server);
    // The realm key arrives later, granted by a member (see realmkey.ts).
    const rec: RealmRecord = { realmid: l.realm, realmKey: null, joinedAt: Date.now(), createdHere: false };
    performance.mark("skypod:join-submitted");
    startMesh(me, l.realm, null, {
      joining: true,
      auth: async () => ({
        msg: MSG.PREAUTH_EXCHANGE,
        token: await sign(me, "exchange", l.realm, unixNow(), TOKEN_TTL.exchange, { pubkey: me.publicJwk, invitation: l.token }),
      }),
      onAdmitted: (res) => {
        void saveRealm({ ...rec, members: res.identities });
        if (location.hash) history.replaceState(null, "", location.pathname + location.search);
        setBusy(false);
        setPhase({ kind: "member", realm: rec, key: null });
      },
    });
  };

  const leave = async () => {
    if (!confirm("Forget this realm on this device? Other devices keep it.")) return;
    mesh.current?.stop();
    mesh.current = null;
    messageConsole.current = null;
    setLib(null);
    await forgetRealm();
    setSnap(null);
    setPhase({ kind: "first-run" });
  };

  if (!me || phase.kind === "loading") {
    return (
      <main class="loading">
        <p>{error || "Starting Skypod…"}</p>
      </main>
    );
  }
  if (phase.kind === "first-run") {
    return (
      <>
        <Header snap={null} />
        <FirstRun me={me} initialLink={initialLink} busy={busy} error={error} onCreate={createRealm} onJoin={join} />
      </>
    );
  }
  return (
    <>
      <Header snap={snap} />
      {snap?.socket === "refused" && (
        <p role="alert" class="error banner">
          {refusalText(snap.socketDetail, false)}{" "}
          <button type="button" onClick={leave}>Leave realm</button>
        </p>
      )}
      {lib ? (
        <Shell
          lib={lib}
          me={me}
          realm={phase.realm.realmid}
          server={server.current}
          snap={snap}
          mesh={mesh.current}
          messageConsole={messageConsole.current}
          onLeave={leave}
        />
      ) : (
        <main class="home">
          <p class="hint" role="status">Opening the library…</p>
        </main>
      )}
      <PlayerDock />
    </>
  );
}

function Header({ snap }: { snap: MeshSnapshot | null }) {
  const label: Record<string, string> = {
    online: "Server: connected",
    connecting: "Server: connecting…",
    waiting: "Server: offline, retrying",
    refused: "Server: refused",
    closed: "Server: not connected",
  };
  return (
    <header class="top">
      <span class="logo" aria-hidden="true">◉</span>
      <span class="title">Skypod</span>
      {snap && (
        <span class={`pill ${snap.socket}`} role="status" title={snap.socketDetail} data-socket={snap.socket}>
          {label[snap.socket]}
        </span>
      )}
      <InstallButton />
    </header>
  );
}
