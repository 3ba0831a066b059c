import { useEffect, useRef, useState } from "preact/hooks";

interface Detector {
  detect(source: HTMLVideoElement): Promise<{ rawValue: string }[]>;
}
type DetectorCtor = new (opts: { formats: string[] }) => Detector;

/** A camera is reachable; the detector is native or the lazily loaded ZXing polyfill. */
export function canScan(): boolean {
  return !!navigator.mediaDevices?.getUserMedia;
}

/** The native BarcodeDetector when it reads QR codes, else the ZXing-based one (loaded now). */
async function detectorCtor(): Promise<DetectorCtor> {
  const native = (globalThis as unknown as { BarcodeDetector?: DetectorCtor & { getSupportedFormats?(): Promise<string[]> } }).BarcodeDetector;
  // Chromium on Linux exposes the constructor without a backend: getSupportedFormats() is empty.
  const formats: string[] = native ? ((await native.getSupportedFormats?.().catch(() => [])) ?? []) : [];
  if (native && formats.includes("qr_code")) return native;
  const { loadBarcodeDetector } = await import("./barcode-polyfill");
  return (await loadBarcodeDetector()) as unknown as DetectorCtor;
}

/** Camera QR scanning through BarcodeDetector, natively or through a ZXing-based polyfill. */
export function Scanner({ onResult, onClose }: { onResult(text: string): void; onClose(): void }) {
  const video = useRef<HTMLVideoElement>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    let stream: MediaStream | null = null;
    let stop = false;
    (async () => {
      try {
        const Ctor = await detectorCtor();
        if (stop) return;
        const det = new Ctor({ formats: ["qr_code"] });
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
        if (stop) {
          stream.getTracks().forEach((t) => t.stop());
          return;
        }
        const v = video.current;
        if (!v) return;
        v.srcObject = stream;
        await v.play();
        while (!stop) {
          const codes = await det.detect(v).catch(() => []);
          const first = codes[0];
          if (first) {
            onResult(first.rawValue);
            return;
          }
          await new Promise((r) => setTimeout(r, 200));
        }
      } catch (e) {
        setError(`The camera cannot be used: ${e instanceof Error ? e.message : String(e)}. Paste the link instead.`);
      }
    })();
    return () => {
      stop = true;
      stream?.getTracks().forEach((t) => t.stop());
    };
  }, []);
  return (
    <div class="scanner" role="dialog" aria-label="Scan a QR code">
      <video ref={video} muted playsInline aria-label="Camera preview" />
      {error && <p role="alert" class="error">{error}</p>}
      <button type="button" onClick={onClose}>Stop scanning</button>
    </div>
  );
}
