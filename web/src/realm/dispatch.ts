/**
 * Application messages by prefix. A whole application message (after reassembly, from a data
 * channel or the relay) is routed by its first bytes, the rule of `LIBRARY_SYNC_PREFIX` in
 * crates/protocol (messages.rs): a message that starts with NUL is tagged — NUL and a tag
 * byte, `\0L` for library sync — and anything else is console text in UTF-8 (a NUL never
 * starts console text). Each prefix has one handler. A tagged message that no handler claims
 * is dropped with a log line: it is never shown as text.
 */
import type { IdentId } from "../protocol/generated";
import { FRAGMENT_PREFIX } from "./fragment";
import { short } from "./peer";

export type Via = "p2p" | "relay";

/** Gets the whole message, its prefix included. */
export type MessageHandler = (from: IdentId, msg: Uint8Array, via: Via) => void;

/** The prefix of console text: every message whose first byte is not NUL. */
export const TEXT = "text";

/** Tagged messages start with NUL and a tag byte (`Uint8Array`); see `TEXT` for the rest. */
export type Prefix = Uint8Array | typeof TEXT;

function startsWith(b: Uint8Array, prefix: Uint8Array): boolean {
  if (b.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (b[i] !== prefix[i]) return false;
  return true;
}

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

export class Dispatcher {
  private tagged: { prefix: Uint8Array; handler: MessageHandler }[] = [];
  private text: MessageHandler | null = null;

  constructor(private log: (line: string) => void) {}

  /**
   * Route messages with this prefix to `handler`; returns the function that removes it.
   * Throws when the prefix is taken (or overlaps one that is), is not NUL and a tag byte, or
   * is the fragment prefix (fragments are reassembled before dispatch).
   */
  handle(prefix: Prefix, handler: MessageHandler): () => void {
    if (prefix === TEXT) {
      if (this.text) throw new Error("console text already has a handler");
      this.text = handler;
      return () => {
        if (this.text === handler) this.text = null;
      };
    }
    if (prefix.length < 2 || prefix[0] !== 0) throw new Error(`a message prefix is NUL and a tag byte, not ${hex(prefix)}`);
    if (startsWith(prefix, FRAGMENT_PREFIX)) throw new Error("the fragment prefix is reserved");
    if (this.tagged.some((t) => startsWith(t.prefix, prefix) || startsWith(prefix, t.prefix))) {
      throw new Error(`message prefix ${hex(prefix)} already has a handler`);
    }
    const entry = { prefix: new Uint8Array(prefix), handler };
    this.tagged.push(entry);
    return () => {
      this.tagged = this.tagged.filter((t) => t !== entry);
    };
  }

  /** Hand a whole message to its handler; false (and a log line) when none takes it. */
  dispatch(from: IdentId, msg: Uint8Array, via: Via): boolean {
    if (msg.length === 0 || msg[0] !== 0) {
      if (!this.text) {
        this.log(`text from ${short(from)} dropped: no console`);
        return false;
      }
      this.text(from, msg, via);
      return true;
    }
    const t = this.tagged.find((t) => startsWith(msg, t.prefix));
    if (!t) {
      this.log(`message from ${short(from)} via ${via} dropped: unknown prefix ${hex(msg.subarray(0, 2))}`);
      return false;
    }
    t.handler(from, msg, via);
    return true;
  }
}
