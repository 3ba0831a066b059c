import { useEffect, useRef, useState } from "preact/hooks";

interface Detector {
  detect(source: HTMLVideoElement): Promise<{ rawValue: string }[]>;
}
type DetectorCtor = new (opts: { formats: string[] }) => Detector;

export function canScan(): boolean {
  return "BarcodeDetector" in globalThis && !!navigator.mediaDevices?.getUserMedia;
}

/** Camera QR scanning through BarcodeDetector (where the browser has it). */
export function Scanner({ onResult, onClose }: { onResult(text: string): void; onClose(): void }) {
  const video = useRef<HTMLVideoElement>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    let stream: MediaStream | null = null;
    let stop = false;
    (async () => {
      try {
        const Ctor = (globalThis as unknown as { BarcodeDetector: DetectorCtor }).BarcodeDetector;
        const det = new Ctor({ formats: ["qr_code"] });
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
        const v = video.current!;
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
