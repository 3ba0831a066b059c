import type { Plugin } from "vite";
import { defineConfig } from "vitest/config";
import preact from "@preact/preset-vite";
import { readFileSync } from "node:fs";

/** Writes the list of built files into the service worker so it precaches the app shell. */
function precacheServiceWorker(): Plugin {
  return {
    name: "skypod-precache-sw",
    apply: "build",
    generateBundle(_opts, bundle) {
      const files = Object.keys(bundle).filter((f) => !f.endsWith(".map"));
      const extra = ["./", "manifest.webmanifest", "icons/icon-192.png", "icons/icon-512.png", "icons/icon.svg"];
      const list = [...extra, ...files.map((f) => f)];
      const version = Buffer.from(files.sort().join("|")).toString("base64").slice(-16);
      const src = readFileSync(new URL("./src/sw.js", import.meta.url), "utf8")
        .replace("self.__PRECACHE__", JSON.stringify(list))
        .replace("self.__VERSION__", JSON.stringify(version));
      this.emitFile({ type: "asset", fileName: "sw.js", source: src });
    },
  };
}

export default defineConfig({
  base: "./",
  plugins: [preact(), precacheServiceWorker()],
  build: { target: "es2022", sourcemap: false, assetsInlineLimit: 0 },
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
  },
});
