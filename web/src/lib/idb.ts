/** A tiny key/value store on IndexedDB (values are structured-cloned, so CryptoKeys fit). */
const DB = "skypod";
const STORE = "kv";

let dbp: Promise<IDBDatabase> | null = null;

function db(): Promise<IDBDatabase> {
  dbp ??= new Promise((resolve, reject) => {
    const r = indexedDB.open(DB, 1);
    r.onupgradeneeded = () => r.result.createObjectStore(STORE);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error("IndexedDB unavailable"));
  });
  return dbp;
}

function tx<T>(mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest): Promise<T> {
  return db().then(
    (d) =>
      new Promise<T>((resolve, reject) => {
        const t = d.transaction(STORE, mode);
        const r = f(t.objectStore(STORE));
        t.oncomplete = () => resolve(r.result as T);
        t.onerror = () => reject(t.error ?? new Error("IndexedDB transaction failed"));
      }),
  );
}

export const kv = {
  get: <T>(key: string) => tx<T | undefined>("readonly", (s) => s.get(key)),
  set: (key: string, value: unknown) => tx<unknown>("readwrite", (s) => s.put(value, key)),
  del: (key: string) => tx<unknown>("readwrite", (s) => s.delete(key)),
};
