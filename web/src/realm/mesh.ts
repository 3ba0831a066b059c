/**
 * The realm client: the server socket, member list and presence, one PeerLink per member
 * (full mesh), signed signals, and relay messages encrypted with the realm key. Application
 * messages from either path go to the handler of their prefix (dispatch.ts): the library
 * (`\0L`) and the message console (console.ts) register there.
 */
import type {
  AuthnResponse, BroadcastDelivery, BroadcastRequest, Envelope, IdentId, PeerJoined, PeerLeft, PublicJwk, RealmId,
  RealmStatus, RtcSignal, SignalClaims, SignalDelivery, SignalRequest,
} from "../protocol/generated";
import { MSG, TIMING, TOKEN_TTL } from "../protocol/generated";
import type { Identity } from "../lib/identity";
import { peek, sign, TokenError, unixNow, verify } from "../lib/jwt";
import {
  announce, AUD_ANNOUNCE, AUD_GRANT, compareRank, generateAgreementKey, generateRealmKey, grant, KEY_CONNECTION_ID, openGrant, openRelay,
  rank, sealRelay, verifyKeyToken, type AgreementKey, type AnnounceClaims, type GrantClaims, type RealmKey,
} from "../lib/realmkey";
import { Dispatcher, type MessageHandler, type Prefix, type Via } from "./dispatch";
import { FragmentError, MAX_P2P_MESSAGE, MAX_RELAY_MESSAGE, MessageFraming } from "./fragment";
import { DEFAULT_PEER_OPTIONS, PeerLink, short, type LinkState, type PeerOptions } from "./peer";
import { RealmSocket, type AuthStep, type SocketState } from "./socket";

export type { Via } from "./dispatch";

/** The auth step of a member (`authn`), on every connection but a register or exchange. */
export function authnStep(me: Identity, realm: RealmId): AuthStep {
  return async () => ({
    msg: MSG.PREAUTH_AUTHN,
    token: await sign(me, "authn", realm, unixNow(), TOKEN_TTL.authn, {}),
  });
}

export interface MemberView {
  identid: IdentId;
  self: boolean;
  online: boolean;
  link: "p2p" | "relay" | "offline" | "self";
  detail: LinkState | null;
  rttMs: number | null;
  polite: boolean | null;
}

export interface MeshSnapshot {
  socket: SocketState;
  socketDetail: string;
  realmid: RealmId;
  members: MemberView[];
  log: string[];
  realmKey: { epoch: number; kid: string } | null;
}

export type SignalCheck = { ok: true; claims: SignalClaims } | { ok: false; why: string };

/**
 * Verify a relayed signal: signed (purpose rtc.signal, this realm, fresh) by the member the
 * server says sent it, with the key learned at join, addressed to us, for the connection id
 * the envelope names. The server cannot forge or redirect signals.
 */
export async function checkSignal(
  d: SignalDelivery,
  keys: ReadonlyMap<IdentId, PublicJwk>,
  me: IdentId,
  realm: RealmId,
  now: number,
): Promise<SignalCheck> {
  const key = keys.get(d.localid);
  if (!key) return { ok: false, why: "unknown member" };
  try {
    const c = await verify<SignalClaims>(d.payload, key, "signal", realm, now);
    if (c.sub !== me) return { ok: false, why: "addressed to another member" };
    if (c.cid !== d.connectionid) return { ok: false, why: "connection id mismatch" };
    if (c.iss !== d.localid) return { ok: false, why: "issuer mismatch" };
    const sig = c.signal as Partial<RtcSignal> | undefined;
    const valid =
      (sig?.kind === "description" && typeof sig.type === "string" && typeof sig.sdp === "string") ||
      (sig?.kind === "candidate" && typeof sig.candidate === "string");
    if (!valid) return { ok: false, why: "malformed signal" };
    return { ok: true, claims: c };
  } catch (e) {
    return { ok: false, why: e instanceof TokenError ? e.reason : String(e) };
  }
}
/** An existing member waits this long for the newcomer's offer before offering itself. */
const FALLBACK_OFFER_MS = TIMING.waitForOfferMs;

export class Mesh {
  private socket: RealmSocket;
  private keys = new Map<IdentId, PublicJwk>();
  private online = new Set<IdentId>();
  private links = new Map<IdentId, PeerLink>();
  private logLines: string[] = [];
  private socketState: SocketState = "closed";
  private socketDetail = "";
  private listeners = new Set<(s: MeshSnapshot) => void>();
  private scheduled = false;
  private oldKeys: RealmKey[] = [];
  private agreement: AgreementKey | null = null;
  private apks = new Map<IdentId, string>();
  /** Called when a newer realm key is adopted, to persist it. */
  onRealmKey?: (k: RealmKey) => void;
  /** Called when the set of known members (and keys) changes, to persist it. */
  onMembersChanged?: (members: Record<IdentId, PublicJwk>) => void;
  /** Every whole application message (after reassembly) goes to the handler of its prefix. */
  private dispatcher = new Dispatcher((line) => this.log(line));
  /** Reconnections (and a member's first connection) authenticate with this. */
  private readonly authn: AuthStep;
  /** Large messages travel as fragments over either path (fragment.ts). */
  private framing = new MessageFraming();
  /** A member came online or its data channel opened / it went away (library sync). */
  onPeerUp?: (id: IdentId) => void;
  onPeerDown?: (id: IdentId) => void;

  constructor(
    readonly me: Identity,
    readonly realm: RealmId,
    wsUrl: string,
    /** A register or exchange for a newcomer; null for a member (then `authnStep`). */
    firstAuth: AuthStep | null,
    private realmKey: RealmKey | null,
    private opts: PeerOptions = DEFAULT_PEER_OPTIONS,
    private onAuthed?: (res: AuthnResponse, first: boolean) => void,
    known: Record<IdentId, PublicJwk> = {},
  ) {
    for (const [id, k] of Object.entries(known)) this.keys.set(id, k);
    this.keys.set(me.identid, me.publicJwk);
    this.authn = authnStep(me, realm);
    this.socket = new RealmSocket(wsUrl, firstAuth ?? this.authn, {
      state: (s, d) => {
        this.socketState = s;
        this.socketDetail = d ?? "";
        if (s !== "online") this.serverGone();
        this.changed();
      },
      authed: (res, first) => this.authed(res, first),
      event: (env) => this.event(env),
    });
  }

  /**
   * Route application messages with this prefix (NUL and a tag byte, or `TEXT` for console
   * text) to `handler`; returns the function that removes it. See dispatch.ts.
   */
  handle(prefix: Prefix, handler: MessageHandler): () => void {
    return this.dispatcher.handle(prefix, handler);
  }

  async start(): Promise<void> {
    this.agreement = await generateAgreementKey();
    this.socket.start();
  }

  stop(): void {
    this.socket.stop();
    for (const l of this.links.values()) l.close();
    this.links.clear();
  }

  kick(): void {
    this.socket.kick();
  }

  subscribe(f: (s: MeshSnapshot) => void): () => void {
    this.listeners.add(f);
    f(this.snapshot());
    return () => this.listeners.delete(f);
  }

  private changed(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      const s = this.snapshot();
      for (const f of this.listeners) f(s);
    });
  }

  log(line: string): void {
    this.logLines = [...this.logLines.slice(-99), `${new Date().toISOString().slice(11, 23)} ${line}`];
    this.changed();
  }

  snapshot(): MeshSnapshot {
    const members: MemberView[] = [...this.keys.keys()].map((id) => {
      if (id === this.me.identid) {
        return { identid: id, self: true, online: this.socketState === "online", link: "self", detail: null, rttMs: null, polite: null };
      }
      const l = this.links.get(id);
      const online = this.online.has(id);
      const link = l?.state === "p2p" ? "p2p" : online ? "relay" : "offline";
      return { identid: id, self: false, online, link, detail: l?.state ?? null, rttMs: l?.rttMs ?? null, polite: l?.polite ?? null };
    });
    members.sort((a, b) => Number(b.self) - Number(a.self) || a.identid.localeCompare(b.identid));
    return {
      socket: this.socketState,
      socketDetail: this.socketDetail,
      realmid: this.realm,
      members,
      log: this.logLines,
      realmKey: this.realmKey ? { epoch: this.realmKey.epoch, kid: this.realmKey.kid } : null,
    };
  }

  private membersChanged(): void {
    this.onMembersChanged?.(Object.fromEntries(this.keys));
  }

  private link(id: IdentId): PeerLink {
    let l = this.links.get(id);
    if (!l) {
      l = new PeerLink(
        this.me.identid,
        id,
        {
          sendSignal: (cid, signal) => void this.sendSignal(id, cid, signal),
          onMessage: (frame) => this.receivedFrame(id, frame, "p2p"),
          onControl: (tok) => void this.keyToken(id, tok),
          onOpen: () => {
            void this.announceTo(id);
            this.onPeerUp?.(id);
          },
          onChange: () => this.changed(),
          log: (line) => this.log(line),
        },
        this.opts,
      );
      this.links.set(id, l);
    }
    return l;
  }

  private authed(res: AuthnResponse, first: boolean): void {
    this.socket.setAuth(this.authn);
    for (const [id, k] of Object.entries(res.identities)) this.keys.set(id, k);
    this.membersChanged();
    this.online = new Set(res.peers);
    this.log(`authenticated as ${short(res.identid)}; ${res.peers.length} peer(s) online`);
    // We are the newcomer on this socket: we offer to everyone online.
    for (const id of res.peers) {
      const l = this.link(id);
      l.remoteOnline = true;
      if (!l.active) l.connect();
    }
    this.onAuthed?.(res, first);
    for (const id of res.peers) this.onPeerUp?.(id);
    this.changed();
  }

  private serverGone(): void {
    // Established P2P links survive a server outage; pending ones cannot complete anyway.
    for (const id of [...this.online]) {
      const l = this.links.get(id);
      if (!l || l.state !== "p2p") this.online.delete(id);
    }
  }

  private event(env: Envelope<unknown>): void {
    switch (env.msg) {
      case MSG.REALM_STATUS: {
        const s = env.dat as RealmStatus;
        this.log(`realm status: ${s.members} member(s)`);
        break;
      }
      case MSG.PEER_JOINED: {
        const p = env.dat as PeerJoined;
        if (p.identid === this.me.identid) break;
        const known = this.keys.has(p.identid);
        this.keys.set(p.identid, p.pubkey);
        if (!known) this.membersChanged();
        this.online.add(p.identid);
        this.log(`peer joined: ${short(p.identid)}`);
        const l = this.link(p.identid);
        l.remoteOnline = true;
        // A working data channel survives the member's reconnection to the server (e.g. after
        // a server restart). Otherwise the newcomer offers; we offer ourselves if it does not.
        if (l.state !== "p2p") {
          l.remoteLeft();
          l.remoteOnline = true;
          l.connectSoon(FALLBACK_OFFER_MS);
        }
        // No realm key yet: ask the newcomer through the server too (it may hold one).
        if (!this.realmKey) void this.announceTo(p.identid);
        this.onPeerUp?.(p.identid);
        break;
      }
      case MSG.PEER_LEFT: {
        const p = env.dat as PeerLeft;
        this.online.delete(p.identid);
        this.links.get(p.identid)?.remoteLeft();
        this.onPeerDown?.(p.identid);
        this.log(`peer left: ${short(p.identid)}`);
        break;
      }
      case MSG.MEMBER_REMOVED: {
        const p = env.dat as { identid: IdentId };
        this.online.delete(p.identid);
        this.keys.delete(p.identid);
        this.membersChanged();
        this.links.get(p.identid)?.close();
        this.links.delete(p.identid);
        this.onPeerDown?.(p.identid);
        this.log(`member removed: ${short(p.identid)}`);
        break;
      }
      case MSG.SIGNAL:
        void this.receiveSignal(env.dat as SignalDelivery);
        break;
      case MSG.BROADCAST:
        void this.receiveRelay(env.dat as BroadcastDelivery);
        break;
      default:
        break;
    }
    this.changed();
  }

  private async sendSignal(to: IdentId, cid: string, signal: RtcSignal): Promise<void> {
    const ext: SignalClaims = { sub: to, cid, signal };
    const payload = await sign(this.me, "signal", this.realm, unixNow(), TOKEN_TTL.signal, ext);
    const req: SignalRequest = { remoteid: to, connectionid: cid, payload };
    this.socket.evt(MSG.SIGNAL, req);
  }

  private async receiveSignal(d: SignalDelivery): Promise<void> {
    if (d.connectionid === KEY_CONNECTION_ID && d.remoteid === this.me.identid) return this.keyToken(d.localid, d.payload);
    const r = await checkSignal(d, this.keys, this.me.identid, this.realm, unixNow());
    if (!r.ok) return this.log(`signal from ${short(d.localid)} refused: ${r.why}`);
    await this.link(d.localid).onSignal(r.claims.cid, r.claims.signal);
  }

  private async receiveRelay(d: BroadcastDelivery): Promise<void> {
    if (!this.realmKey) return this.log(`relay message from ${short(d.from)}: no realm key yet`);
    try {
      const pt = await openRelay([this.realmKey, ...this.oldKeys], this.realm, d.from, d.payload);
      this.receivedFrame(d.from, pt, "relay");
    } catch {
      this.log(`relay message from ${short(d.from)} could not be decrypted`);
    }
  }

  /** A transport message: reassemble, then hand the whole message on. */
  private receivedFrame(from: IdentId, frame: Uint8Array, via: Via): void {
    let msg: Uint8Array | null;
    try {
      msg = this.framing.incoming(from, frame, Date.now());
    } catch (e) {
      if (!(e instanceof FragmentError)) throw e;
      return this.log(`fragment from ${short(from)} refused: ${e.message}`);
    }
    if (msg !== null) this.dispatcher.dispatch(from, msg, via);
  }

  // ---- realm key delivery (same protocol as crates/peer) ----

  private async announceTo(id: IdentId): Promise<void> {
    if (!this.agreement) return;
    const tok = await announce(this.me, this.agreement, this.realmKey, this.realm, unixNow());
    this.sendKeyToken(id, tok);
  }

  /** Over the data channel when open, else through the server as a signal. */
  private sendKeyToken(to: IdentId, tok: string): void {
    if (this.links.get(to)?.sendControl(tok)) return;
    const req: SignalRequest = { remoteid: to, connectionid: KEY_CONNECTION_ID, payload: tok };
    this.socket.evt(MSG.SIGNAL, req);
  }

  private async keyToken(from: IdentId, tok: string): Promise<void> {
    const key = this.keys.get(from);
    if (!key || !this.agreement) return this.log(`key message from ${short(from)} dropped: unknown member`);
    try {
      const aud = peek(tok).aud;
      if (aud === AUD_ANNOUNCE) {
        const c = await verifyKeyToken<AnnounceClaims>(tok, key, AUD_ANNOUNCE, this.realm, unixNow());
        if (typeof c.apk !== "string") throw new Error("announcement without agreement key");
        this.apks.set(from, c.apk);
        const cmp = compareRank(rank(this.realmKey), c.have ?? null);
        if (cmp > 0 && this.realmKey) {
          this.sendKeyToken(from, await grant(this.me, this.realmKey, from, c.apk, this.realm, unixNow()));
          this.log(`granted realm key epoch ${this.realmKey.epoch} to ${short(from)}`);
        } else if (cmp < 0) {
          await this.announceTo(from);
        }
      } else if (aud === AUD_GRANT) {
        const c = await verifyKeyToken<GrantClaims>(tok, key, AUD_GRANT, this.realm, unixNow());
        const k = await openGrant(c, this.me.identid, this.agreement, this.realm);
        if (compareRank(rank(k), rank(this.realmKey)) > 0) await this.adoptKey(k, from);
      } else {
        this.log(`unknown key message from ${short(from)}`);
      }
    } catch (e) {
      this.log(`key message from ${short(from)} refused: ${e instanceof TokenError ? e.reason : String(e)}`);
    }
  }

  private async adoptKey(k: RealmKey, from: IdentId): Promise<void> {
    if (this.realmKey) this.oldKeys = [this.realmKey, ...this.oldKeys].slice(0, 3);
    this.realmKey = k;
    this.log(`realm key epoch ${k.epoch} (${k.kid}) granted by ${short(from)}`);
    this.onRealmKey?.(k);
    this.changed();
    // Everyone behind gets a grant, everyone ahead grants us.
    for (const id of this.online) await this.announceTo(id);
  }

  /** Break every P2P link as if the network failed (debug / E2E); they reconnect by themselves. */
  simulateLinkFailure(): void {
    for (const l of this.links.values()) l.simulateFailure();
  }

  /** Connection ids of the current attempts, per member (debug / E2E). */
  connectionIds(): Record<IdentId, string | null> {
    return Object.fromEntries([...this.links].map(([id, l]) => [id, l.connectionId]));
  }

  /** One message over every open data channel; returns how many members it went to. */
  broadcastP2P(msg: Uint8Array): number {
    let n = 0;
    for (const l of this.links.values()) if (this.sendOnLink(l, msg)) n++;
    return n;
  }

  /**
   * Binary data (library sync) to one member: over its data channel when open, else through
   * the server, encrypted with the realm key (like `Mode::P2p` on the native peer); fragmented
   * for the path taken. Resolves false when neither is possible now.
   */
  async sendBytes(to: IdentId, body: Uint8Array): Promise<boolean> {
    const l = this.links.get(to);
    if (l && this.sendOnLink(l, body)) return true;
    if (!this.realmKey || this.socketState !== "online") return false;
    try {
      return (await this.relayFrames(body, [to])).delivered > 0;
    } catch {
      return false;
    }
  }

  /** Remove a device from the realm (signed `realm.member.remove`); throws with the server's reason. */
  async removeMember(id: IdentId): Promise<void> {
    const token = await sign(this.me, "revoke", this.realm, unixNow(), TOKEN_TTL.revoke, { sub: id });
    await this.socket.request(MSG.MEMBER_REMOVE, { token });
    // The server tells the other members; the remover learns it from this answer.
    this.event({ typ: "evt", msg: MSG.MEMBER_REMOVED, dat: { identid: id, by: this.me.identid } } as Envelope<unknown>);
    // The remover rotates the realm key (as crates/peer does); the others get it as a grant.
    await this.adoptKey(await generateRealmKey((this.realmKey?.epoch ?? 0) + 1), this.me.identid);
  }

  /** One message to every online member through the server, encrypted with the realm key;
   * returns how many got it. */
  async broadcastRelay(msg: Uint8Array): Promise<number> {
    return (await this.relayFrames(msg)).delivered;
  }

  /** All fragments over one data channel; false when it is not open. */
  private sendOnLink(l: PeerLink, msg: Uint8Array): boolean {
    for (const f of this.framing.outgoing(msg, MAX_P2P_MESSAGE)) if (!l.sendBytes(f)) return false;
    return true;
  }

  /** All fragments through the server, each sealed with the realm key. */
  private async relayFrames(msg: Uint8Array, recipients?: IdentId[]): Promise<{ delivered: number }> {
    const key = this.realmKey;
    if (!key) throw new Error("This device has no realm key yet, so it cannot use the relay.");
    let res = { delivered: 0 };
    for (const f of this.framing.outgoing(msg, MAX_RELAY_MESSAGE)) {
      // (a copy: sealRelay wants an ArrayBuffer-backed view)
      const payload = await sealRelay(key, this.realm, this.me.identid, new Uint8Array(f));
      const req: BroadcastRequest = recipients ? { payload, recipients } : { payload };
      res = (await this.socket.request(MSG.BROADCAST, req)) as { delivered: number };
    }
    return res;
  }
}
