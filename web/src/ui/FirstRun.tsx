import { useEffect, useRef, useState } from "preact/hooks";
import type { Identity } from "../lib/identity";
import { Qr } from "./Qr";
import { canScan, Scanner } from "./Scanner";

export interface FirstRunProps {
  me: Identity;
  initialLink: string;
  busy: boolean;
  error: string;
  onCreate(): void;
  onJoin(link: string): void;
}

/** First run: start a new realm, or sync to an existing install with an invitation. */
export function FirstRun({ me, initialLink, busy, error, onCreate, onJoin }: FirstRunProps) {
  const [mode, setMode] = useState<"choose" | "join">(initialLink ? "join" : "choose");
  const [link, setLink] = useState(initialLink);
  const [scanning, setScanning] = useState(false);
  // Switching screens removes the focused button: put focus on the new screen's heading so
  // keyboard and screen-reader users land at its start (not on <body>).
  const heading = useRef<HTMLHeadingElement>(null);
  const switched = useRef(false);
  useEffect(() => {
    if (switched.current) heading.current?.focus();
    switched.current = true;
  }, [mode]);

  if (mode === "choose") {
    return (
      <main class="first-run">
        <h1 ref={heading} tabIndex={-1}>Welcome to Skypod</h1>
        <p>Your podcasts live on your own devices and sync between them directly.</p>
        <div class="choices">
          <button type="button" class="primary" disabled={busy} onClick={onCreate}>
            Start a new realm
          </button>
          <button type="button" disabled={busy} onClick={() => setMode("join")}>
            Sync to an existing install
          </button>
        </div>
        {error && <p role="alert" class="error">{error}</p>}
        <p class="hint">This device's id: <code>{me.identid}</code></p>
      </main>
    );
  }
  return (
    <main class="first-run">
      <h1 ref={heading} tabIndex={-1}>Sync to an existing install</h1>
      <ol class="steps">
        <li>
          On your other device, open Skypod → <em>Invite a device</em>. To bind the invitation to this
          device, scan this code there (optional):
          <Qr text={`skypod:device:${me.identid}`} label="This device's id as a QR code" />
          <code class="id">{me.identid}</code>
        </li>
        <li>Then scan its invitation QR code, or paste its link here.</li>
      </ol>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          onJoin(link);
        }}
      >
        <label for="invite-input">Invitation link</label>
        <textarea id="invite-input" rows={3} value={link} onInput={(e) => setLink(e.currentTarget.value)} placeholder="http://…/#join=…" />
        <div class="row">
          <button type="submit" class="primary" disabled={busy || !link.trim()}>
            {busy ? "Joining…" : "Join"}
          </button>
          {canScan() && (
            <button type="button" onClick={() => setScanning(true)}>
              Scan QR code
            </button>
          )}
          <button type="button" onClick={() => setMode("choose")}>
            Back
          </button>
        </div>
      </form>
      {scanning && (
        <Scanner
          onResult={(t) => {
            setScanning(false);
            setLink(t);
            onJoin(t);
          }}
          onClose={() => setScanning(false)}
        />
      )}
      {error && <p role="alert" class="error">{error}</p>}
    </main>
  );
}
