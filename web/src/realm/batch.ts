/**
 * Batches: several application frames in one data channel message. The TypeScript reader of
 * crates/protocol/src/batch.rs (same wire format and error codes; checked against the same
 * golden vectors, crates/protocol/testdata/batches.json).
 *
 * `tag.batch | (len u16 | item)*`, big-endian, at least one item, nothing after the last.
 * Each item is what a `tag.data` frame carries after its tag. The native peer packs the
 * small messages that queued up while its channel was busy; this app only reads batches
 * (it announces that with a `tag.features` frame when its channel opens).
 */

import { LINK } from "../protocol/generated";

export const LEN_PREFIX = LINK.batchLenPrefix;
/** The `tag.features` frame body this app sends: it reads batch frames. */
export const FEATURES = LINK.feature.batch;

export type BatchErrorCode = "empty" | "truncated";

export class BatchError extends Error {
  constructor(readonly code: BatchErrorCode) {
    super(code === "empty" ? "empty batch" : "batch item runs past the end of the message");
    this.name = "BatchError";
  }
}

/** The items of a batch body (what follows the tag), in order; all or nothing. */
export function batchItems(body: Uint8Array): Uint8Array[] {
  if (body.length === 0) throw new BatchError("empty");
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < body.length) {
    if (at + LEN_PREFIX > body.length) throw new BatchError("truncated");
    const len = view.getUint16(at);
    at += LEN_PREFIX;
    if (at + len > body.length) throw new BatchError("truncated");
    out.push(body.subarray(at, at + len));
    at += len;
  }
  return out;
}
