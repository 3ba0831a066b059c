/**
 * Fragmentation of application messages: the TypeScript port of
 * crates/protocol/src/fragment.rs (same wire format, limits and error codes; checked against
 * the same golden vectors, crates/protocol/testdata/fragments.json).
 *
 * A message that fits and does not start with "\0F" travels unframed; anything else travels
 * as fragments `0x00 'F' | id u32 | index u32 | count u32 | total u32 | payload`
 * (big-endian). Sans-IO: time is passed in (milliseconds).
 */

import { FRAGMENT, LINK, PREFIX } from "../protocol/generated";

export const FRAGMENT_PREFIX = new Uint8Array(PREFIX.fragment);
// Limits are the protocol's (generated from crates/protocol, so they cannot drift).
export const HEADER_LEN = FRAGMENT.headerLen;
export const MIN_CHUNK = FRAGMENT.minChunk;
export const MAX_MESSAGE = FRAGMENT.maxMessage;
export const FRAGMENT_OVERHEAD = FRAGMENT.overhead;
export const REMEMBERED = FRAGMENT.remembered;
/** Largest data channel message (64 KiB minus the frame tag). */
export const MAX_P2P_MESSAGE = LINK.maxP2pMessage;
/** Largest relayed plaintext (the server's 64 KiB frame cap minus AES-GCM, base64url and the
 * envelope). */
export const MAX_RELAY_MESSAGE = LINK.maxRelayMessage;

export type FragmentErrorCode =
  | "too_large"
  | "max_too_small"
  | "not_a_fragment"
  | "truncated"
  | "out_of_range"
  | "bad_count"
  | "chunk_too_small"
  | "inconsistent"
  | "duplicate"
  | "already_delivered"
  | "length_mismatch"
  | "too_many_partials"
  | "buffer_full";

export class FragmentError extends Error {
  constructor(
    readonly code: FragmentErrorCode,
    detail: string,
  ) {
    super(`${code}: ${detail}`);
    this.name = "FragmentError";
  }
}

export function isFragment(frame: Uint8Array): boolean {
  return frame.length >= 2 && frame[0] === FRAGMENT_PREFIX[0] && frame[1] === FRAGMENT_PREFIX[1];
}

export function fitsUnframed(msg: Uint8Array, max: number): boolean {
  return msg.length <= max && !isFragment(msg);
}

export interface Fragment {
  id: number;
  index: number;
  count: number;
  total: number;
  payload: Uint8Array;
}

function maxCount(total: number): number {
  return Math.max(1, Math.ceil(total / MIN_CHUNK));
}

/** Parse a fragment's header and check what one fragment alone can tell. */
export function parseFragment(frame: Uint8Array): Fragment {
  if (!isFragment(frame)) throw new FragmentError("not_a_fragment", "no \\0F prefix");
  if (frame.length < HEADER_LEN) throw new FragmentError("truncated", `${frame.length} bytes`);
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const f: Fragment = {
    id: dv.getUint32(2),
    index: dv.getUint32(6),
    count: dv.getUint32(10),
    total: dv.getUint32(14),
    payload: frame.subarray(HEADER_LEN),
  };
  if (f.count === 0 || f.count > maxCount(f.total)) {
    throw new FragmentError("bad_count", `message ${f.id}: ${f.count} fragments for ${f.total} bytes`);
  }
  if (f.index >= f.count) throw new FragmentError("out_of_range", `fragment ${f.index} of ${f.count}`);
  if (f.index + 1 < f.count && f.payload.length < MIN_CHUNK) {
    throw new FragmentError("chunk_too_small", `message ${f.id}: fragment ${f.index} has ${f.payload.length} bytes`);
  }
  if (f.payload.length > f.total) {
    throw new FragmentError("length_mismatch", `message ${f.id}: more than ${f.total} bytes`);
  }
  return f;
}

export function encodeFragment(f: Fragment): Uint8Array {
  const out = new Uint8Array(HEADER_LEN + f.payload.length);
  out.set(FRAGMENT_PREFIX, 0);
  const dv = new DataView(out.buffer);
  dv.setUint32(2, f.id >>> 0);
  dv.setUint32(6, f.index >>> 0);
  dv.setUint32(10, f.count >>> 0);
  dv.setUint32(14, f.total >>> 0);
  out.set(f.payload, HEADER_LEN);
  return out;
}

/** Transport messages of at most `max` bytes: `[msg]` when it fits unframed, else fragments. */
export function split(msg: Uint8Array, max: number, id: number): Uint8Array[] {
  if (fitsUnframed(msg, max)) return [msg];
  if (msg.length > MAX_MESSAGE) throw new FragmentError("too_large", `${msg.length} bytes`);
  const chunk = max - HEADER_LEN;
  if (chunk < MIN_CHUNK) throw new FragmentError("max_too_small", `${max} bytes`);
  const count = Math.max(1, Math.ceil(msg.length / chunk));
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const payload = msg.subarray(i * chunk, Math.min(msg.length, (i + 1) * chunk));
    out.push(encodeFragment({ id: id >>> 0, index: i, count, total: msg.length, payload }));
  }
  return out;
}

/** The sending side: numbers fragmented messages (start at a random id). */
export class Fragmenter {
  constructor(private nextId: number = crypto.getRandomValues(new Uint32Array(1))[0] ?? 0) {}

  split(msg: Uint8Array, max: number): Uint8Array[] {
    if (fitsUnframed(msg, max)) return [msg];
    const out = split(msg, max, this.nextId);
    this.nextId = (this.nextId + 1) >>> 0;
    return out;
  }
}

export interface ReassemblyLimits {
  maxMessage: number;
  maxPartials: number;
  maxBuffered: number;
  timeoutMs: number;
}

export const DEFAULT_LIMITS: ReassemblyLimits = {
  maxMessage: FRAGMENT.maxMessage,
  maxPartials: FRAGMENT.maxPartials,
  maxBuffered: FRAGMENT.maxBuffered,
  timeoutMs: FRAGMENT.timeoutMs,
};

interface Partial {
  count: number;
  total: number;
  parts: Map<number, Uint8Array>;
  received: number;
  charged: number;
  last: number;
}

/** The receiving side, one per sender. */
export class Reassembler {
  private partials = new Map<number, Partial>();
  private done: { id: number; at: number }[] = [];
  private bufferedBytes = 0;

  constructor(private limits: ReassemblyLimits = DEFAULT_LIMITS) {}

  /**
   * Take one fragment; returns the whole message when this was its last missing piece.
   * Throws a FragmentError (nothing delivered); a contradiction also drops the partial message.
   */
  push(now: number, frame: Uint8Array): Uint8Array | null {
    this.expire(now);
    const f = parseFragment(frame);
    if (f.total > this.limits.maxMessage) throw new FragmentError("too_large", `${f.total} bytes`);
    if (this.done.some((d) => d.id === f.id)) throw new FragmentError("already_delivered", `message ${f.id}`);
    const charge = f.payload.length + FRAGMENT_OVERHEAD;
    const existing = this.partials.get(f.id);
    if (!existing && f.count > 1 && this.partials.size >= this.limits.maxPartials) {
      throw new FragmentError("too_many_partials", `${this.limits.maxPartials} in flight`);
    }
    if (existing) {
      if (existing.count !== f.count || existing.total !== f.total) {
        this.take(f.id);
        throw new FragmentError("inconsistent", `message ${f.id}`);
      }
      if (existing.parts.has(f.index)) throw new FragmentError("duplicate", `message ${f.id} fragment ${f.index}`);
      if (existing.received + f.payload.length > f.total) {
        this.take(f.id);
        throw new FragmentError("length_mismatch", `message ${f.id}: more than ${f.total} bytes`);
      }
    }
    if (f.count > 1 && this.bufferedBytes + charge > this.limits.maxBuffered) {
      throw new FragmentError("buffer_full", `above ${this.limits.maxBuffered} bytes`);
    }
    const p: Partial = existing ?? { count: f.count, total: f.total, parts: new Map(), received: 0, charged: 0, last: now };
    if (!existing) this.partials.set(f.id, p);
    // Copy: the frame's buffer may be reused by the caller.
    p.parts.set(f.index, f.payload.slice());
    p.received += f.payload.length;
    p.charged += charge;
    p.last = now;
    this.bufferedBytes += charge;
    if (p.parts.size < p.count) return null;
    this.take(f.id);
    if (p.received !== p.total) throw new FragmentError("length_mismatch", `message ${f.id}: ${p.received} of ${p.total} bytes`);
    const msg = new Uint8Array(p.total);
    let at = 0;
    for (let i = 0; i < p.count; i++) {
      const part = p.parts.get(i);
      if (!part) throw new FragmentError("length_mismatch", `message ${f.id}: fragment ${i} missing`);
      msg.set(part, at);
      at += part.length;
    }
    if (this.done.length >= REMEMBERED) this.done.shift();
    this.done.push({ id: f.id, at: now });
    return msg;
  }

  /** Drop partial messages idle for the timeout; returns how many. */
  expire(now: number): number {
    let n = 0;
    for (const [id, p] of [...this.partials]) {
      if (now - p.last >= this.limits.timeoutMs) {
        this.take(id);
        n++;
      }
    }
    while (this.done.length > 0 && now - (this.done[0]?.at ?? now) >= this.limits.timeoutMs) this.done.shift();
    return n;
  }

  get inFlight(): number {
    return this.partials.size;
  }

  get buffered(): number {
    return this.bufferedBytes;
  }

  get idle(): boolean {
    return this.partials.size === 0 && this.done.length === 0;
  }

  private take(id: number): void {
    const p = this.partials.get(id);
    if (!p) return;
    this.partials.delete(id);
    this.bufferedBytes -= p.charged;
  }
}

/**
 * The mesh's wrapper: one fragmenter for what we send, one reassembler per sender for what
 * we receive (shared by the direct channel and the relay, so each message arrives once).
 */
export class MessageFraming {
  private fragmenter = new Fragmenter();
  private reassemblers = new Map<string, Reassembler>();

  constructor(private limits: ReassemblyLimits = DEFAULT_LIMITS) {}

  /** Transport messages for `msg` on a transport carrying at most `max` bytes. */
  outgoing(msg: Uint8Array, max: number): Uint8Array[] {
    return this.fragmenter.split(msg, max);
  }

  /** A transport message from `from`: the whole app message when complete, else null.
   * Throws a FragmentError for a bad fragment. */
  incoming(from: string, frame: Uint8Array, now: number): Uint8Array | null {
    if (!isFragment(frame)) return frame;
    let r = this.reassemblers.get(from);
    if (!r) {
      r = new Reassembler(this.limits);
      this.reassemblers.set(from, r);
    }
    try {
      return r.push(now, frame);
    } finally {
      if (r.idle) this.reassemblers.delete(from);
    }
  }
}
