/**
 * Where the realm server is. By default the app's own origin (`skypod serve` serves both).
 * For development and tests, `?server=http://127.0.0.1:PORT` points the app at another
 * server; the choice is remembered (localStorage) so reloads and offline starts keep it.
 */
const KEY = "skypod.server";

export function serverBase(): string {
  const q = new URLSearchParams(location.search).get("server");
  if (q && /^https?:\/\/[^/]+/.test(q)) {
    localStorage.setItem(KEY, q.replace(/\/+$/, ""));
  }
  return localStorage.getItem(KEY) ?? location.origin;
}

export function realmWsUrl(base: string): string {
  return `${base.replace(/^http/, "ws")}/realm`;
}

/** Use `base` from now on (the invitation names the server its realm lives on). */
export function setServerBase(base: string): string {
  const b = base.replace(/\/+$/, "");
  if (/^https?:\/\/[^/]+$/.test(b)) localStorage.setItem(KEY, b);
  return localStorage.getItem(KEY) ?? location.origin;
}
