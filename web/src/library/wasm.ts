/**
 * Loads Automerge's WASM as a separate asset (the "slim" entry point), so the main bundle
 * stays small and the service worker caches the .wasm like any other file.
 */
import { initializeWasm } from "@automerge/automerge/slim";
import wasmUrl from "@automerge/automerge/automerge.wasm?url";

let ready: Promise<void> | null = null;

export function loadAutomerge(): Promise<void> {
  ready ??= initializeWasm(wasmUrl);
  return ready;
}
