import { useState } from "preact/hooks";
import type { Identity } from "../lib/identity";
import { createInvitation, formatInviteLink } from "../lib/invite";
import { unixNow } from "../lib/jwt";
import { Qr } from "./Qr";
import { canScan, Scanner } from "./Scanner";

const ID_RE = /^[A-Za-z0-9_-]{43}$/;

/** Create an invitation (optionally bound to the invitee's device id) as a link and a QR code. */
export function InvitePanel({ me, realm, server }: { me: Identity; realm: string; server: string }) {
  const [link, setLink] = useState("");
  const [bind, setBind] = useState("");
  const [error, setError] = useState("");
  const [scanning, setScanning] = useState(false);
  const [copied, setCopied] = useState(false);

  const create = async (e: Event) => {
    e.preventDefault();
    setError("");
    const sub = bind.trim().replace(/^skypod:device:/, "");
    if (sub && !ID_RE.test(sub)) {
      setError("That device id is not valid: it should be 43 letters, digits, - or _.");
      return;
    }
    const token = await createInvitation(me, realm, unixNow(), undefined, sub || undefined);
    setLink(formatInviteLink({ server, realm, token, params: {} }));
    setCopied(false);
  };

  return (
    <section aria-labelledby="inv-h" class="card">
      <h2 id="inv-h">Invite a device</h2>
      <form onSubmit={create}>
        <label for="bind-id">Bind to the new device's id (optional, from its QR code)</label>
        <div class="row">
          <input id="bind-id" value={bind} onInput={(e) => setBind(e.currentTarget.value)} placeholder="device id" autocomplete="off" />
          {canScan() && (
            <button type="button" onClick={() => setScanning(true)}>
              Scan its QR
            </button>
          )}
        </div>
        <button type="submit">Create invitation</button>
      </form>
      {scanning && (
        <Scanner
          onResult={(t) => {
            setBind(t.replace(/^skypod:device:/, ""));
            setScanning(false);
          }}
          onClose={() => setScanning(false)}
        />
      )}
      {error && <p role="alert" class="error">{error}</p>}
      {link && (
        <div class="invite">
          <Qr text={link} label="Invitation QR code" />
          <label for="invite-link">Invitation link (valid 24 hours, single use)</label>
          <textarea id="invite-link" readOnly rows={3} value={link} onFocus={(e) => e.currentTarget.select()} />
          <button
            type="button"
            onClick={() => navigator.clipboard?.writeText(link).then(() => setCopied(true), () => setCopied(false))}
          >
            {copied ? "Copied" : "Copy link"}
          </button>
          <p class="hint">Anyone with this link can join your realm once: share it only with your own device. The realm key is then handed over end-to-end encrypted.</p>
        </div>
      )}
    </section>
  );
}
