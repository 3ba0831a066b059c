import type { MemberView } from "../realm/mesh";

const LABEL: Record<MemberView["link"], string> = {
  self: "this device",
  p2p: "P2P",
  relay: "relay only",
  offline: "offline",
};

/** Every realm member with its link state (p2p / relay / offline) and round-trip time. */
export function PeerList({ members }: { members: MemberView[] }) {
  return (
    <section aria-labelledby="peers-h" class="card">
      <h2 id="peers-h">Devices in this realm</h2>
      <ul class="peers" aria-live="polite">
        {members.map((m) => (
          <li key={m.identid} class={`peer ${m.link}`} data-identid={m.identid} data-link={m.link}>
            <span class="dot" aria-hidden="true" />
            <span class="pid" title={m.identid}>
              {m.identid.slice(0, 10)}…
            </span>
            <span class="state">{LABEL[m.link]}</span>
            <span class="rtt">{m.rttMs !== null ? `${m.rttMs} ms` : m.link === "self" ? "" : "—"}</span>
          </li>
        ))}
      </ul>
      {members.length === 1 && <p class="hint">No other device yet. Invite one below.</p>}
    </section>
  );
}
