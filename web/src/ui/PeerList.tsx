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
      <h2 id="peers-h">Connections</h2>
      {/* One short announcement when a link changes, not one per RTT ping. */}
      <p class="sr-only" role="status">
        {summary(members)}
      </p>
      <ul class="peers">
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

function summary(members: MemberView[]): string {
  const others = members.filter((m) => m.link !== "self");
  const p2p = others.filter((m) => m.link === "p2p").length;
  const relay = others.filter((m) => m.link === "relay").length;
  return `${others.length} other device${others.length === 1 ? "" : "s"}: ${p2p} over P2P, ${relay} relay only, ${others.length - p2p - relay} offline.`;
}
