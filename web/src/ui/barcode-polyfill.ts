// ZXing-based BarcodeDetector (barcode-detector → zxing-wasm) for browsers without a native one
// that reads QR codes (Debian chromium, Firefox, desktop Safari). Imported lazily by Scanner.tsx
// only when the scanner opens, so neither this code nor the WASM weighs on the main bundle. The
// .wasm is a Vite asset served from our own origin (and precached by the service worker): the
// package's default is a jsDelivr URL, which would break offline use and call out to a CDN.
import { BarcodeDetector, prepareZXingModule } from "barcode-detector/ponyfill";
import wasmUrl from "zxing-wasm/reader/zxing_reader.wasm?url";

/** Compiles the WASM now, so a load failure surfaces as an error rather than empty scans. */
export async function loadBarcodeDetector(): Promise<typeof BarcodeDetector> {
  await prepareZXingModule({
    overrides: {
      locateFile: (path: string, prefix: string) => (path.endsWith(".wasm") ? new URL(wasmUrl, document.baseURI).href : prefix + path),
    },
    fireImmediately: true,
  });
  return BarcodeDetector;
}
