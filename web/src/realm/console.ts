/**
 * The message console (Devices → Diagnostics): plain UTF-8 text to every other device over
 * the data channels or through the relay, and the history of what came in and went out. It is
 * the mesh's handler for `TEXT` (dispatch.ts); the bytes on the wire are the text itself, as
 * `skypod realm send` and `skypod realm listen` of the native peer write and read them.
 */
import type { IdentId } from "../protocol/generated";
import { utf8 } from "../lib/b64";
import { TEXT, type MessageHandler, type Prefix, type Via } from "./dispatch";

export interface ChatMessage {
  id: number;
  from: IdentId;
  body: string;
  via: Via;
  at: number;
  outgoing: boolean;
}

/** What the console needs from the mesh (`Mesh` has it). */
export interface ConsoleTransport {
  readonly me: { identid: IdentId };
  handle(prefix: Prefix, handler: MessageHandler): () => void;
  /** Returns how many members the message went to. */
  broadcastP2P(msg: Uint8Array): number;
  /** Returns how many members got it; throws without a realm key. */
  broadcastRelay(msg: Uint8Array): Promise<number>;
}

/** How many messages the history keeps. */
export const HISTORY = 200;

export class MessageConsole {
  private list: ChatMessage[] = [];
  private seq = 0;
  private listeners = new Set<(messages: readonly ChatMessage[]) => void>();
  /** Stops receiving. */
  readonly detach: () => void;

  constructor(private mesh: ConsoleTransport) {
    this.detach = mesh.handle(TEXT, (from, msg, via) => this.add(from, utf8.decode(msg), via, false));
  }

  get messages(): readonly ChatMessage[] {
    return this.list;
  }

  /** Calls `f` now and after every change; returns the function that stops it. */
  subscribe(f: (messages: readonly ChatMessage[]) => void): () => void {
    this.listeners.add(f);
    f(this.list);
    return () => this.listeners.delete(f);
  }

  /**
   * Send text to every other device the chosen way; returns how many it went to (0: nobody
   * could get it, and it is not added to the history). Throws for the relay without a realm
   * key, and for text that starts with NUL (it would be read as a tagged message).
   */
  async send(body: string, via: Via): Promise<number> {
    if (body.startsWith("\0")) throw new Error("A message cannot start with a NUL character.");
    const msg = utf8.encode(body);
    const n = via === "p2p" ? this.mesh.broadcastP2P(msg) : await this.mesh.broadcastRelay(msg);
    // (as before the console moved out of the mesh: a relay message is shown even when
    // nobody was online to get it, a P2P one only when it went out)
    if (n > 0 || via === "relay") this.add(this.mesh.me.identid, body, via, true);
    return n;
  }

  private add(from: IdentId, body: string, via: Via, outgoing: boolean): void {
    this.list = [...this.list.slice(-(HISTORY - 1)), { id: ++this.seq, from, body, via, at: Date.now(), outgoing }];
    for (const f of this.listeners) f(this.list);
  }
}
