import type { Envelope, ErrorBody, Typ } from "../protocol/generated";

const TYPS: readonly Typ[] = ["evt", "req", "res", "err"];
const KEYS = new Set(["typ", "msg", "seq", "dat"]);

/** Parse and validate one frame the same way the server does; null when invalid. */
export function parseEnvelope(text: string): Envelope<unknown> | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  if (Object.keys(o).some((k) => !KEYS.has(k))) return null;
  if (!TYPS.includes(o.typ as Typ) || typeof o.msg !== "string" || o.msg.length === 0) return null;
  if (o.seq !== undefined && (typeof o.seq !== "number" || !Number.isSafeInteger(o.seq) || o.seq < 0)) return null;
  if ((o.typ === "req" || o.typ === "res" || o.typ === "err") && o.seq === undefined) return null;
  if (o.typ === "err") {
    const d = o.dat as Partial<ErrorBody> | undefined;
    if (!d || typeof d.status !== "number" || typeof d.message !== "string") return null;
  }
  return o as unknown as Envelope<unknown>;
}
