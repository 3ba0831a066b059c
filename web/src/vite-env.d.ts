/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** "1" in E2E builds (web/scripts/e2e.sh): exposes the `skypodDebug` test hook. */
  readonly VITE_E2E?: string;
}
