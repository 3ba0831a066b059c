/**
 * Wires this device's library to the mesh: library messages in and out, a sync state per
 * member that comes online, persistence on page hide.
 */
import { kv } from "../lib/idb";
import type { Mesh } from "../realm/mesh";
import { LIBRARY_SYNC_PREFIX, LibraryStore } from "./store";
import { loadAutomerge } from "./wasm";

/** The library of the mesh attached last; timers of older ones stop. */
let active: LibraryStore | null = null;

export async function attachLibrary(m: Mesh, realm: string, device: string): Promise<LibraryStore> {
  await loadAutomerge();
  const lib = await LibraryStore.open(kv, realm, device);
  lib.send = (peer, bytes) => m.sendBytes(peer, bytes);
  lib.log = (line) => m.log(line);
  m.handle(LIBRARY_SYNC_PREFIX, (from, body) => void lib.receive(from, body));
  m.onPeerUp = (id) => void lib.connect(id);
  m.onPeerDown = (id) => void lib.disconnect(id);
  // Members that came online while the library was loading.
  for (const mv of m.snapshot().members) if (!mv.self && mv.online) void lib.connect(mv.identid);
  // A message that could not be sent (no link, no realm key yet) is retried on the next event;
  // with a relay-only peer there may be none for a while, so nudge every 10 s (a no-op when
  // in sync). A message the peer dropped is answered by its own nudge. Shared heads are saved
  // now and then, like `skypod node` does.
  active = lib;
  let ticks = 0;
  const timer = setInterval(() => {
    if (active !== lib) return clearInterval(timer);
    lib.flush();
    if (++ticks % 3 === 0) void lib.persistPeers();
  }, 10_000);
  addEventListener("pagehide", () => {
    void lib.save();
    void lib.persistPeers();
  });
  return lib;
}
