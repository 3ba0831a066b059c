/**
 * Perfect negotiation (W3C WebRTC §10.7 pattern) plus connection-id tracking, as pure
 * functions. The browser glue in peer.ts asks these what to do; the native Rust peer follows
 * the same rules:
 *
 * - polite = own identid < remote identid (byte-wise string compare);
 * - every connection attempt (a new RTCPeerConnection) has a fresh random connection id (cid);
 *   renegotiation inside one attempt (ICE restart) keeps its cid;
 * - signals carrying a retired cid are stale and ignored;
 * - an offer with a cid we have never seen starts a new attempt, unless we are impolite and
 *   our own attempt is still being set up (the polite side will adopt ours).
 */
export function isPolite(ownId: string, remoteId: string): boolean {
  return ownId < remoteId;
}

export type AttemptPhase = "none" | "connecting" | "connected" | "failed";

export interface CidState {
  current: string | null;
  phase: AttemptPhase;
  retired: string[];
}

export const initialCid: CidState = { current: null, phase: "none", retired: [] };

const MAX_RETIRED = 32;

function retire(s: CidState): string[] {
  if (!s.current) return s.retired;
  return [...s.retired, s.current].slice(-MAX_RETIRED);
}

/** We start a new attempt with `cid`. */
export function startAttempt(s: CidState, cid: string): CidState {
  return { current: cid, phase: "connecting", retired: retire(s) };
}

export function setPhase(s: CidState, phase: AttemptPhase): CidState {
  return { ...s, phase };
}

export type CidDecision =
  | { kind: "process" } // belongs to the current attempt
  | { kind: "adopt" } // a new attempt started by the remote: tear down ours, answer theirs
  | { kind: "ignore"; why: "stale" | "unknown" | "glare" };

export function classifySignal(s: CidState, cid: string, isOffer: boolean, polite: boolean): CidDecision {
  if (cid === s.current) return { kind: "process" };
  if (s.retired.includes(cid)) return { kind: "ignore", why: "stale" };
  if (!isOffer) return { kind: "ignore", why: "unknown" };
  if (!polite && s.current && s.phase === "connecting") return { kind: "ignore", why: "glare" };
  return { kind: "adopt" };
}

/** Adopt the remote's new attempt. */
export function adopt(s: CidState, cid: string): CidState {
  return { current: cid, phase: "connecting", retired: retire(s) };
}

/** Inside one attempt: the classic perfect-negotiation flags. */
export interface NegotiationState {
  polite: boolean;
  makingOffer: boolean;
  ignoreOffer: boolean;
  settingRemoteAnswerPending: boolean;
}

export function initialNegotiation(polite: boolean): NegotiationState {
  return { polite, makingOffer: false, ignoreOffer: false, settingRemoteAnswerPending: false };
}

export type DescriptionDecision =
  | { kind: "ignore" } // impolite side drops the colliding offer
  | { kind: "apply"; rollback: boolean; answer: boolean };

/**
 * A remote description arrived. `signalingState` is the RTCPeerConnection's at that moment.
 * Returns the new flags and what to do.
 */
export function onRemoteDescription(
  s: NegotiationState,
  type: string,
  signalingState: string,
): [NegotiationState, DescriptionDecision] {
  const readyForOffer = !s.makingOffer && (signalingState === "stable" || s.settingRemoteAnswerPending);
  const offerCollision = type === "offer" && !readyForOffer;
  const ignoreOffer = !s.polite && offerCollision;
  if (ignoreOffer) return [{ ...s, ignoreOffer: true }, { kind: "ignore" }];
  return [
    { ...s, ignoreOffer: false, settingRemoteAnswerPending: type === "answer" },
    // A polite peer in have-local-offer rolls back implicitly with setRemoteDescription(offer);
    // rollback is reported so glue without implicit rollback can do it explicitly.
    { kind: "apply", rollback: offerCollision, answer: type === "offer" },
  ];
}

/** A candidate failing to apply is only an error if we did not ignore the offer it belongs to. */
export function candidateErrorMatters(s: NegotiationState): boolean {
  return !s.ignoreOffer;
}
