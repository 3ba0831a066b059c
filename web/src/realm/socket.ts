/**
 * The realm server connection: one WebSocket, the auth phase, request/response by `seq`,
 * server pings answered, keepalive pings sent, reconnection with backoff + jitter.
 */
import type { AuthnResponse, Envelope, ErrorBody } from "../protocol/generated";
import { CLOSE, MSG } from "../protocol/generated";
import { parseEnvelope } from "./envelope";
import { DEFAULT_BACKOFF, initialBackoff, onFailure, onSuccess, type BackoffState } from "./backoff";

export type SocketState = "connecting" | "online" | "waiting" | "refused" | "closed";

/** The auth request to send on each (re)connection. */
export type AuthStep = () => Promise<{ msg: string; token: string }>;

export class RefusedError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "RefusedError";
  }
}

export interface SocketEvents {
  state(s: SocketState, detail?: string): void;
  authed(res: AuthnResponse, first: boolean): void;
  event(env: Envelope<unknown>): void;
}

const KEEPALIVE_MS = 30_000;
const REQUEST_TIMEOUT_MS = 10_000;

export class RealmSocket {
  private ws: WebSocket | null = null;
  private seq = 0;
  private pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; timer: ReturnType<typeof setTimeout> }>();
  private backoff: BackoffState = initialBackoff;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private keepalive: ReturnType<typeof setInterval> | null = null;
  private stopped = false;
  private authedOnce = false;
  state: SocketState = "closed";

  constructor(
    readonly url: string,
    private auth: AuthStep,
    private on: SocketEvents,
  ) {}

  /** Replace the auth step (after an exchange, reconnects use authn). */
  setAuth(a: AuthStep): void {
    this.auth = a;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.ws?.close(1000);
    this.ws = null;
    this.setState("closed");
  }

  /** Retry now (e.g. the browser came back online). */
  kick(): void {
    if (this.state === "waiting") {
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.connect();
    }
  }

  private setState(s: SocketState, detail?: string): void {
    this.state = s;
    this.on.state(s, detail);
  }

  private connect(): void {
    if (this.stopped) return;
    this.setState("connecting");
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this.scheduleRetry(String(e));
      return;
    }
    this.ws = ws;
    let authed = false;
    ws.onopen = async () => {
      try {
        const { msg, token } = await this.auth();
        const res = (await this.request(msg, { token })) as AuthnResponse;
        authed = true;
        this.backoff = onSuccess();
        this.setState("online");
        this.on.authed(res, !this.authedOnce);
        this.authedOnce = true;
        this.keepalive = setInterval(() => this.evt(MSG.PING, { t: Date.now() }), KEEPALIVE_MS);
      } catch (e) {
        if (e instanceof RefusedError && e.status !== 429 && e.status < 500) {
          this.stopped = true;
          this.setState("refused", e.message);
          ws.close(1000);
        }
      }
    };
    ws.onmessage = (m) => {
      if (typeof m.data !== "string") return;
      const env = parseEnvelope(m.data);
      if (!env) return;
      if ((env.typ === "res" || env.typ === "err") && env.seq !== undefined && this.pending.has(env.seq)) {
        const p = this.pending.get(env.seq)!;
        this.pending.delete(env.seq);
        clearTimeout(p.timer);
        if (env.typ === "res") p.resolve(env.dat);
        else {
          const b = env.dat as ErrorBody;
          p.reject(new RefusedError(b.status, b.message));
        }
        return;
      }
      if (env.typ === "req" && env.msg === MSG.PING) {
        this.send({ typ: "res", msg: MSG.PING, seq: env.seq, dat: env.dat ?? {} });
        return;
      }
      this.on.event(env);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.keepalive) clearInterval(this.keepalive);
      for (const [, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new Error("connection closed"));
      }
      this.pending.clear();
      if (this.stopped) return;
      // Authentication refused: do not hammer the server.
      const refused: number[] = [CLOSE.unauthenticated, CLOSE.forbidden, CLOSE.conflict];
      if (!authed && refused.includes(ev.code)) {
        this.stopped = true;
        this.setState("refused", ev.reason || `refused (${ev.code})`);
        return;
      }
      this.scheduleRetry(ev.reason || `closed (${ev.code})`);
    };
  }

  private scheduleRetry(why: string): void {
    this.backoff = onFailure(this.backoff, Date.now(), Math.random(), DEFAULT_BACKOFF);
    const delay = Math.max(0, (this.backoff.retryAt ?? 0) - Date.now());
    this.setState("waiting", `${why}; retrying in ${Math.ceil(delay / 1000)} s`);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  private send(env: Envelope<unknown>): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(env));
    return true;
  }

  evt(msg: string, dat: unknown): boolean {
    return this.send({ typ: "evt", msg, dat });
  }

  request(msg: string, dat: unknown): Promise<unknown> {
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new Error(`${msg}: no answer`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(seq, { resolve, reject, timer });
      if (!this.send({ typ: "req", msg, seq, dat })) {
        clearTimeout(timer);
        this.pending.delete(seq);
        reject(new Error("not connected"));
      }
    });
  }
}
