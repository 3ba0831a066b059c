/**
 * Invitation links: `<server>/#join=<realm>.<token>` (crates/protocol/src/invitation.rs), the
 * same links `skypod invite` prints. Fragments never reach a server. The realm id is base64url
 * (no dots) and the token is a compact JWS. Extra `&name=value` parameters are tolerated.
 */
import { AUDIENCE, TOKEN_TTL, type IdentId, type InvitationClaims, type RealmId } from "../protocol/generated";
import { randomId } from "./b64";
import { DEFAULT_RULES, peek, sign, TokenError, unixNow, type Signer, checkTimes } from "./jwt";

export const DEFAULT_INVITE_TTL: number = TOKEN_TTL.invitation;

export interface InviteLink {
  server: string;
  realm: RealmId;
  token: string;
  params: Record<string, string>;
}

export function createInvitation(
  inviter: Signer,
  realm: RealmId,
  now: number,
  ttl = DEFAULT_INVITE_TTL,
  boundTo?: IdentId,
): Promise<string> {
  const ext: InvitationClaims = boundTo ? { jti: randomId(18), sub: boundTo } : { jti: randomId(18) };
  return sign(inviter, "invitation", realm, now, ttl, ext);
}

export function formatInviteLink(l: InviteLink): string {
  const extra = Object.entries(l.params).map(([k, v]) => `&${k}=${encodeURIComponent(v)}`).join("");
  return `${l.server.replace(/\/+$/, "")}/#join=${l.realm}.${l.token}${extra}`;
}

export class InviteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InviteError";
  }
}

/** Parse a pasted or scanned link; throws an InviteError with a sentence for humans. */
export function parseInviteLink(text: string): InviteLink {
  const s = text.trim();
  const at = s.indexOf("#join=");
  if (at < 0) throw new InviteError("This is not a Skypod invitation link (it has no #join= part).");
  const server = s.slice(0, at).replace(/\/+$/, "");
  const [frag = "", ...rest] = s.slice(at + 6).split("&");
  const dot = frag.indexOf(".");
  const realm = dot > 0 ? frag.slice(0, dot) : "";
  const token = dot > 0 ? frag.slice(dot + 1) : "";
  if (!/^[A-Za-z0-9_-]{16,64}$/.test(realm)) throw new InviteError("The invitation link names no valid realm.");
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) {
    throw new InviteError("The invitation link is damaged: its token is not readable.");
  }
  const params: Record<string, string> = {};
  for (const p of rest) {
    const eq = p.indexOf("=");
    if (eq > 0) params[p.slice(0, eq)] = decodeURIComponent(p.slice(eq + 1));
  }
  return { server, realm, token, params };
}

/**
 * Checks an invitee can make before asking the server (which has the final word): readable
 * claims, the right purpose and realm, not expired, bound to us if bound at all.
 */
export function precheckInvitation(l: InviteLink, me: IdentId, now = unixNow()): void {
  let c;
  try {
    c = peek<InvitationClaims>(l.token);
  } catch {
    throw new InviteError("The invitation link is damaged: its token is not readable.");
  }
  if (c.aud !== AUDIENCE.invitation) throw new InviteError("This token is not an invitation.");
  if (c.realm !== l.realm) throw new InviteError("The invitation is for a different realm than its link says.");
  try {
    checkTimes(c.iat, c.exp, "invitation", now, DEFAULT_RULES);
  } catch (e) {
    if (e instanceof TokenError && e.reason === "expired") {
      throw new InviteError("This invitation has expired. Ask for a new one.");
    }
    if (e instanceof TokenError && e.reason === "not_yet_valid") {
      throw new InviteError("This invitation is dated in the future: check this device's clock.");
    }
    throw new InviteError("This invitation is not valid.");
  }
  if (c.sub && c.sub !== me) throw new InviteError("This invitation was made for another device.");
}
