import type { IdentId, PublicJwk, RealmId } from "./protocol/generated";
import { kv } from "./lib/idb";

/** What this device remembers about its realm (IndexedDB). */
export interface RealmRecord {
  realmid: RealmId;
  /** Raw realm key (we made it, or a member granted it). */
  realmKey: Uint8Array<ArrayBuffer> | null;
  realmKeyEpoch?: number;
  joinedAt: number;
  createdHere: boolean;
  /** Members last seen (public keys), so the device list shows them while offline. */
  members?: Record<IdentId, PublicJwk>;
}

export const loadRealm = () => kv.get<RealmRecord>("realm");
export const saveRealm = (r: RealmRecord) => kv.set("realm", r);
export const forgetRealm = () => kv.del("realm");
