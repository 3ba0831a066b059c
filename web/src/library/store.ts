/**
 * The library of this device: the Automerge document, persisted in IndexedDB and synced with
 * every connected member over the mesh, the same way as crates/skypod/src/libsync.rs:
 * messages are LIBRARY_SYNC_PREFIX + an Automerge sync message, one sync state per peer,
 * and the heads shared with each peer are persisted so a reconnect only sends what changed.
 */
import * as A from "@automerge/automerge/slim";
import { PREFIX } from "../protocol/generated";
import { genesisBytes, schemaOk, type Doc, type LibraryDoc } from "./doc";

/** `LIBRARY_SYNC_PREFIX` of crates/protocol (`\0L`): a NUL never starts console text. */
export const LIBRARY_SYNC_PREFIX = new Uint8Array(PREFIX.librarySync);

export function isLibraryMessage(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === LIBRARY_SYNC_PREFIX[0] && b[1] === LIBRARY_SYNC_PREFIX[1];
}

/** Where the document and sync states live (IndexedDB in the app, a Map in tests). */
export interface KV {
  get<T>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown): Promise<unknown>;
}

/** Sends one framed message to a member; resolves false when it could not go out. */
export type SendBytes = (peer: string, bytes: Uint8Array<ArrayBuffer>) => Promise<boolean>;

export class LibraryStore {
  private peers = new Map<string, A.SyncState>();
  private listeners = new Set<(d: Doc) => void>();
  private saveTimer: ReturnType<typeof setTimeout> | null = null;
  private dirty = false;
  /** Diagnostics (shown in the connection log, read by tests). */
  received = 0;
  sent = 0;
  log: (line: string) => void = () => {};
  send: SendBytes = async () => false;

  private constructor(
    public doc: Doc,
    readonly device: string,
    private kv: KV,
    private docKey: string,
  ) {}

  /** Open this realm's library, or start one from the shared genesis. */
  static async open(kv: KV, realm: string, device: string): Promise<LibraryStore> {
    const key = `library:${realm}`;
    const saved = await kv.get<Uint8Array>(key);
    let doc: Doc | null = null;
    if (saved) {
      try {
        doc = A.load<LibraryDoc>(saved);
        if (!schemaOk(doc)) doc = null;
      } catch {
        doc = null;
      }
    }
    return new LibraryStore(doc ?? A.load<LibraryDoc>(genesisBytes()), device, kv, key);
  }

  subscribe(f: (d: Doc) => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  /** Apply a local edit (a pure function from doc.ts), save, tell every peer. */
  change(f: (d: Doc) => Doc): void {
    const next = f(this.doc);
    if (next === this.doc) return;
    this.set(next);
    this.flush();
  }

  private set(d: Doc): void {
    this.doc = d;
    this.dirty = true;
    this.saveTimer ??= setTimeout(() => void this.save(), 250);
    for (const l of this.listeners) l(d);
  }

  /** Write the document now (also called on page hide). */
  async save(): Promise<void> {
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = null;
    if (!this.dirty) return;
    this.dirty = false;
    await this.kv.set(this.docKey, A.save(this.doc));
  }

  /** A member came online or its direct link opened: start (or continue) syncing. */
  async connect(peer: string): Promise<void> {
    if (!this.peers.has(peer)) {
      const saved = await this.kv.get<Uint8Array>(`libsync:${peer}`);
      let st = A.initSyncState();
      // A saved state keeps only the shared heads; a bad one means a full (still correct) sync.
      if (saved) try { st = A.decodeSyncState(saved); } catch { /* full sync */ }
      if (!this.peers.has(peer)) this.peers.set(peer, st);
    }
    this.flushPeer(peer);
  }

  /** A member went offline: keep what we know it has for next time. */
  async disconnect(peer: string): Promise<void> {
    const st = this.peers.get(peer);
    if (!st) return;
    this.peers.delete(peer);
    await this.kv.set(`libsync:${peer}`, A.encodeSyncState(st));
  }

  /** Persist every connected peer's shared heads. */
  async persistPeers(): Promise<void> {
    for (const [p, st] of this.peers) await this.kv.set(`libsync:${p}`, A.encodeSyncState(st));
  }

  /** A framed library message from `peer` (untrusted bytes: errors leave the doc unchanged). */
  async receive(peer: string, framed: Uint8Array): Promise<void> {
    if (!this.peers.has(peer)) await this.connect(peer);
    const st = this.peers.get(peer) ?? A.initSyncState();
    try {
      const [doc, next] = A.receiveSyncMessage(this.doc, st, framed.subarray(LIBRARY_SYNC_PREFIX.length));
      this.received++;
      this.peers.set(peer, next);
      if (doc !== this.doc && !sameHeads(A.getHeads(doc), A.getHeads(this.doc))) {
        this.set(doc);
        this.log(`library: merged changes from ${peer.slice(0, 8)}`);
      } else this.doc = doc;
    } catch (e) {
      this.log(`library: refused a sync message from ${peer.slice(0, 8)}: ${String(e)}`);
      return;
    }
    this.flushPeer(peer);
  }

  /** Send whatever the sync protocol wants to send now, to every connected peer. */
  flush(): void {
    for (const p of this.peers.keys()) this.flushPeer(p);
  }

  private flushPeer(peer: string): void {
    const st = this.peers.get(peer);
    if (!st) return;
    const [next, msg] = A.generateSyncMessage(this.doc, st);
    this.peers.set(peer, next);
    if (!msg) return;
    const framed = new Uint8Array(LIBRARY_SYNC_PREFIX.length + msg.length);
    framed.set(LIBRARY_SYNC_PREFIX);
    framed.set(msg, LIBRARY_SYNC_PREFIX.length);
    void this.send(peer, framed).then((ok) => {
      if (ok) {
        this.sent++;
        return;
      }
      // The state believes the message is in flight; forget that so the next event (link up,
      // a message) retries from what the peer acknowledged.
      const cur = this.peers.get(peer);
      if (cur) this.peers.set(peer, A.decodeSyncState(A.encodeSyncState(cur)));
    });
  }

  /** Whether the last exchange with `peer` showed both sides at the same heads. */
  inSync(peer: string): boolean {
    const theirs = this.peers.get(peer)?.theirHeads;
    return !!theirs && sameHeads(theirs, A.getHeads(this.doc));
  }

  connectedPeers(): string[] {
    return [...this.peers.keys()];
  }
}

function sameHeads(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join() === [...b].sort().join();
}
