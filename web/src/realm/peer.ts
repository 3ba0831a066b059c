/**
 * One remote member: an RTCPeerConnection and a reliable, ordered data channel, driven by the
 * pure machines in negotiation.ts, health.ts and backoff.ts. Timers live here, decisions there.
 */
import { LINK, TIMING, type RtcSignal } from "../protocol/generated";
import { batchItems, FEATURES } from "./batch";
import { randomId } from "../lib/b64";
import { DEFAULT_BACKOFF, initialBackoff, onFailure, onSuccess, type BackoffState } from "./backoff";
import { DEFAULT_HEALTH, nextDeadline, onPong, startHealth, tick, type HealthConfig, type HealthState } from "./health";
import {
  adopt, candidateErrorMatters, classifySignal, initialCid, initialNegotiation, isPolite, onRemoteDescription,
  setPhase, startAttempt, type CidState, type NegotiationState,
} from "./negotiation";

export type LinkState = "idle" | "connecting" | "p2p" | "failed";

/**
 * Data channel frames, shared with the native peer (crates/peer/src/rtc.rs): binary, one tag
 * byte then the body. DATA: application bytes (UTF-8 text for messages); PING: 8-byte
 * big-endian counter; PONG: the ping's body echoed; CTRL: a UTF-8 JWT (realm-key exchange).
 */
export const T_DATA = LINK.tag.data;
export const T_PING = LINK.tag.ping;
export const T_PONG = LINK.tag.pong;
export const T_CTRL = LINK.tag.ctrl;
export const T_BATCH = LINK.tag.batch;
export const T_FEATURES = LINK.tag.features;

export function frame(tag: number, body: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(body.length + 1);
  out[0] = tag;
  out.set(body, 1);
  return out;
}

export function counterBytes(n: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
}

export function readCounter(b: Uint8Array): number | null {
  if (b.length !== 8) return null;
  return Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0));
}

export interface PeerHooks {
  sendSignal(cid: string, signal: RtcSignal): void;
  /** An application frame (T_DATA), as bytes: it may be a fragment (see fragment.ts). */
  onMessage(body: Uint8Array): void;
  onControl?(token: string): void;
  onOpen?(): void;
  onChange(): void;
  log(line: string): void;
}

export interface PeerOptions {
  rtcConfig: RTCConfiguration;
  health: HealthConfig;
  /** How long an ICE restart may take before a full reconnect. */
  iceRestartMs: number;
}

export const DEFAULT_PEER_OPTIONS: PeerOptions = {
  rtcConfig: { iceServers: [] },
  health: DEFAULT_HEALTH,
  iceRestartMs: TIMING.iceRestartMs,
};

export class PeerLink {
  readonly polite: boolean;
  private cid: CidState = initialCid;
  private neg: NegotiationState;
  private pc: RTCPeerConnection | null = null;
  private dc: RTCDataChannel | null = null;
  private health: HealthState | null = null;
  private healthTimer: ReturnType<typeof setTimeout> | null = null;
  private backoff: BackoffState = initialBackoff;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private restartTimer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  state: LinkState = "idle";
  rttMs: number | null = null;
  /** A batch frame has arrived on this link (logged once). */
  private batchesSeen = false;
  connectedAt: number | null = null;
  /** Is the remote online at the server (so worth connecting to)? */
  remoteOnline = false;

  constructor(
    readonly ownId: string,
    readonly remoteId: string,
    private hooks: PeerHooks,
    private opts: PeerOptions = DEFAULT_PEER_OPTIONS,
  ) {
    this.polite = isPolite(ownId, remoteId);
    this.neg = initialNegotiation(this.polite);
  }

  get connectionId(): string | null {
    return this.cid.current;
  }

  /** Start a fresh attempt (new cid, new RTCPeerConnection, we create the channel). */
  connect(): void {
    if (this.closed) return;
    this.clearRetry();
    const cid = randomId(12);
    this.cid = startAttempt(this.cid, cid);
    this.hooks.log(`connect → ${short(this.remoteId)} cid=${cid}`);
    this.newPc(true);
  }

  /** True if an attempt is in flight or up. */
  get active(): boolean {
    return this.pc !== null && (this.state === "connecting" || this.state === "p2p");
  }

  private newPc(initiator: boolean): void {
    this.teardownPc();
    const cid = this.cid.current!;
    const pc = new RTCPeerConnection(this.opts.rtcConfig);
    this.pc = pc;
    this.neg = initialNegotiation(this.polite);
    this.setState("connecting");
    pc.onicecandidate = ({ candidate }) => {
      if (!candidate || this.pc !== pc) return;
      const sig: RtcSignal = { kind: "candidate", candidate: candidate.candidate };
      if (candidate.sdpMid != null) sig.sdpMid = candidate.sdpMid;
      if (candidate.sdpMLineIndex != null) sig.sdpMLineIndex = candidate.sdpMLineIndex;
      this.hooks.sendSignal(cid, sig);
    };
    pc.onnegotiationneeded = async () => {
      if (this.pc !== pc) return;
      try {
        this.neg = { ...this.neg, makingOffer: true };
        await pc.setLocalDescription();
        const d = pc.localDescription!;
        this.hooks.sendSignal(cid, { kind: "description", type: d.type, sdp: d.sdp });
      } catch (e) {
        this.hooks.log(`offer failed: ${String(e)}`);
      } finally {
        this.neg = { ...this.neg, makingOffer: false };
      }
    };
    pc.onconnectionstatechange = () => {
      if (this.pc !== pc) return;
      const s = pc.connectionState;
      if (s === "failed") this.onTrouble("connection failed");
      else if (s === "disconnected") this.scheduleIceRestart();
      else if (s === "connected" && this.restartTimer) {
        clearTimeout(this.restartTimer);
        this.restartTimer = null;
      }
    };
    pc.ondatachannel = ({ channel }) => {
      if (this.pc === pc) this.attachChannel(channel);
    };
    if (initiator) this.attachChannel(pc.createDataChannel(LINK.label, { ordered: true }));
  }

  private attachChannel(dc: RTCDataChannel): void {
    this.dc = dc;
    dc.onopen = () => {
      if (this.dc !== dc) return;
      this.cid = setPhase(this.cid, "connected");
      this.backoff = onSuccess();
      this.connectedAt = Date.now();
      this.setState("p2p");
      this.health = startHealth(Date.now());
      // Tell the remote what we read (batch frames); a peer that predates it ignores this.
      this.sendFrame(T_FEATURES, new Uint8Array([FEATURES]));
      this.runHealth();
      this.hooks.onOpen?.();
    };
    dc.onclose = () => {
      if (this.dc !== dc) return;
      this.onTrouble("data channel closed");
    };
    dc.binaryType = "arraybuffer";
    dc.onmessage = (m) => {
      if (!(m.data instanceof ArrayBuffer) || m.data.byteLength === 0) return;
      const data = new Uint8Array(m.data);
      const body = data.subarray(1);
      switch (data[0]) {
        case T_DATA:
          this.hooks.onMessage(body);
          break;
        case T_BATCH: {
          let items: Uint8Array[];
          try {
            items = batchItems(body);
          } catch (e) {
            this.hooks.log(`${short(this.remoteId)}: batch refused: ${String(e)}`);
            break;
          }
          if (!this.batchesSeen) this.hooks.log(`${short(this.remoteId)}: receiving batches (${items.length} messages in the first)`);
          this.batchesSeen = true;
          for (const item of items) this.hooks.onMessage(item);
          break;
        }
        case T_PING:
          this.sendFrame(T_PONG, body);
          break;
        case T_PONG: {
          const id = readCounter(body);
          if (id !== null && this.health) {
            this.health = onPong(this.health, id, Date.now(), this.opts.health);
            this.rttMs = this.health.rttMs;
            this.hooks.onChange();
            this.runHealth();
          }
          break;
        }
        case T_CTRL:
          this.hooks.onControl?.(new TextDecoder().decode(body));
          break;
        default:
          break;
      }
    };
  }

  private runHealth(): void {
    if (this.healthTimer) clearTimeout(this.healthTimer);
    if (!this.health) return;
    const [h, action] = tick(this.health, Date.now(), this.opts.health);
    this.health = h;
    if (action.kind === "ping") this.sendFrame(T_PING, counterBytes(action.id));
    if (action.kind === "dead") {
      this.onTrouble(`no pong for ${action.sinceMs} ms`);
      return;
    }
    const wait = Math.max(10, nextDeadline(this.health, this.opts.health) - Date.now());
    this.healthTimer = setTimeout(() => this.runHealth(), wait);
  }

  /** Link trouble: try an ICE restart first, then a fresh attempt with backoff. */
  private onTrouble(why: string): void {
    if (this.closed) return;
    this.hooks.log(`${short(this.remoteId)}: ${why}`);
    this.cid = setPhase(this.cid, "failed");
    this.teardownPc();
    this.setState("failed");
    this.scheduleReconnect();
  }

  private scheduleIceRestart(): void {
    if (this.restartTimer || !this.pc) return;
    const pc = this.pc;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.pc !== pc || pc.connectionState === "connected") return;
      this.hooks.log(`${short(this.remoteId)}: ICE restart`);
      pc.restartIce();
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        if (this.pc === pc && pc.connectionState !== "connected") this.onTrouble("ICE restart did not recover");
      }, this.opts.iceRestartMs);
    }, 2_000);
  }

  private scheduleReconnect(): void {
    this.clearRetry();
    if (!this.remoteOnline || this.closed) return;
    this.backoff = onFailure(this.backoff, Date.now(), Math.random(), DEFAULT_BACKOFF);
    const delay = Math.max(0, (this.backoff.retryAt ?? 0) - Date.now());
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.active && this.remoteOnline) this.connect();
    }, delay);
  }

  /** Connect after `ms` unless the remote starts an attempt first. */
  connectSoon(ms: number): void {
    this.clearRetry();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.active && this.remoteOnline) this.connect();
    }, ms);
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /** A verified signal from the remote. */
  async onSignal(cid: string, signal: RtcSignal): Promise<void> {
    if (this.closed) return;
    const isOffer = signal.kind === "description" && signal.type === "offer";
    const decision = classifySignal(this.cid, cid, isOffer, this.polite);
    if (decision.kind === "ignore") {
      this.hooks.log(`${short(this.remoteId)}: ignored ${signal.kind} (${decision.why}) cid=${cid}`);
      return;
    }
    if (decision.kind === "adopt") {
      this.clearRetry();
      this.cid = adopt(this.cid, cid);
      this.newPc(false);
    }
    const pc = this.pc;
    if (!pc) return;
    try {
      if (signal.kind === "description") {
        const [neg, d] = onRemoteDescription(this.neg, signal.type, pc.signalingState);
        this.neg = neg;
        if (d.kind === "ignore") return;
        await pc.setRemoteDescription({ type: signal.type as RTCSdpType, sdp: signal.sdp });
        this.neg = { ...this.neg, settingRemoteAnswerPending: false };
        if (d.answer) {
          await pc.setLocalDescription();
          const l = pc.localDescription!;
          this.hooks.sendSignal(cid, { kind: "description", type: l.type, sdp: l.sdp });
        }
      } else {
        try {
          await pc.addIceCandidate({
            candidate: signal.candidate,
            sdpMid: signal.sdpMid ?? null,
            sdpMLineIndex: signal.sdpMLineIndex ?? null,
          });
        } catch (e) {
          if (candidateErrorMatters(this.neg)) throw e;
        }
      }
    } catch (e) {
      this.hooks.log(`${short(this.remoteId)}: signal failed: ${String(e)}`);
    }
  }

  private sendFrame(tag: number, body: Uint8Array): boolean {
    if (!this.dc || this.dc.readyState !== "open") return false;
    this.dc.send(frame(tag, body));
    return true;
  }

  send(body: string): boolean {
    return this.sendBytes(new TextEncoder().encode(body));
  }

  /** One application frame (at most fragment.ts MAX_P2P_MESSAGE bytes). */
  sendBytes(body: Uint8Array): boolean {
    return this.sendFrame(T_DATA, body);
  }

  /** A realm-key token as a CTRL frame; false when the channel is not open. */
  sendControl(token: string): boolean {
    return this.sendFrame(T_CTRL, new TextEncoder().encode(token));
  }

  /** Treat the link as broken (tests and the debug handle): reconnect with backoff. */
  simulateFailure(): void {
    if (this.pc) this.onTrouble("failure simulated");
  }

  /** The remote went offline at the server: drop the link, wait for it to come back. */
  remoteLeft(): void {
    this.remoteOnline = false;
    this.clearRetry();
    this.teardownPc();
    this.cid = setPhase(this.cid, "failed");
    this.setState("idle");
  }

  close(): void {
    this.closed = true;
    this.clearRetry();
    this.teardownPc();
  }

  private teardownPc(): void {
    if (this.healthTimer) clearTimeout(this.healthTimer);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.healthTimer = this.restartTimer = null;
    this.health = null;
    const dc = this.dc;
    const pc = this.pc;
    this.dc = null;
    this.pc = null;
    dc?.close();
    pc?.close();
    this.connectedAt = null;
  }

  private setState(s: LinkState): void {
    this.state = s;
    if (s !== "p2p") this.rttMs = null;
    this.hooks.onChange();
  }
}

export function short(id: string): string {
  return id.slice(0, 8);
}
