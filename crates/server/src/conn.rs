//! One WebSocket connection: the authentication phase, then the message loop.
//!
//! A single task per connection owns the socket: it reads client frames, and writes frames
//! that other connections queued for it (batched: everything queued is written, then one
//! flush). Protocol decisions live in [`crate::preauth`], [`crate::hub`] and
//! [`crate::ratelimit`]; this module is the I/O around them.

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use skypod_protocol::envelope::RawEnvelope;
use skypod_protocol::messages::{
    AuthnResponse, BROADCAST, BroadcastResult, MEMBER_REMOVE, MEMBER_REMOVED, MemberRemoved, PING,
    PREAUTH_AUTHN, PREAUTH_EXCHANGE, PREAUTH_REGISTER, REALM_STATUS, RealmStatus, SIGNAL,
    SignalRequest,
};
use skypod_protocol::{Envelope, IdentId, Typ, close, unix_now};

use crate::hub::{CloseReason, ConnHandle, Realm};
use crate::preauth::{self, Refusal, Request};
use crate::ratelimit::TokenBucket;
use crate::state::AppState;
use crate::store::{Admission, StoreError};

pub type WebSocket = WebSocketStream<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>;

/// Queue a text message for writing. A message longer than `frag` goes out as a fragmented
/// message (RFC 6455 section 5.4) of `frag`-sized frames: the WebSocket layer keeps its write
/// buffer at the size of the largest frame it ever wrote, so fragmenting keeps idle sockets
/// small after one large message (such as the member list of a big realm).
async fn feed_text(
    socket: &mut WebSocket,
    text: Utf8Bytes,
    frag: usize,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    if text.len() <= frag {
        return socket.feed(Message::Text(text)).await;
    }
    let bytes = bytes::Bytes::from(text);
    let mut at = 0;
    while at < bytes.len() {
        let end = (at + frag).min(bytes.len());
        let opcode = if at == 0 {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        socket
            .feed(Message::Frame(Frame::message(
                bytes.slice(at..end),
                opcode,
                end == bytes.len(),
            )))
            .await?;
        at = end;
    }
    Ok(())
}

async fn send_text(
    socket: &mut WebSocket,
    text: impl Into<Utf8Bytes>,
    frag: usize,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    feed_text(socket, text.into(), frag).await?;
    socket.flush().await
}

/// Counts the socket in the gauges for as long as it lives.
struct SocketGuard(AppState);

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.0.metrics.sockets.dec();
        self.0
            .open_sockets
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

pub async fn run(state: AppState, mut socket: WebSocket) {
    state.metrics.sockets.inc();
    let _guard = SocketGuard(state.clone());
    // Boxed: the auth phase's state is large and short-lived; keeping it out of the task's
    // own allocation keeps every idle connection smaller.
    let Some((realm, conn)) = Box::pin(authenticate(&state, &mut socket)).await else {
        return;
    };
    state.metrics.authenticated.inc();
    let reason = serve(&state, &mut socket, &realm, &conn).await;
    realm.leave(&conn, &state.metrics);
    state.metrics.authenticated.dec();
    if let Some(r) = reason {
        state.metrics.close(r.label());
        close_gracefully(&mut socket, r.code, r.reason).await;
    }
}

/// Send a close frame, then read until the client answers (or a short grace period ends):
/// closing the TCP socket with unread data would reset it and the client would never see
/// the reason.
async fn close_gracefully(socket: &mut WebSocket, code: u16, reason: &str) {
    if socket.send(close_msg(code, reason)).await.is_err() {
        return;
    }
    let drain = async {
        while let Some(Ok(m)) = socket.next().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), drain).await;
}

fn close_msg(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code: code.into(),
        reason: reason.into(),
    }))
}

fn err_frame(msg: &str, seq: Option<u64>, status: u16, message: impl Into<String>) -> Message {
    Message::Text(Envelope::err(msg, seq, status, message).to_json().into())
}

fn err_text(msg: &str, seq: Option<u64>, status: u16, message: impl Into<String>) -> Utf8Bytes {
    Envelope::err(msg, seq, status, message).to_json().into()
}

async fn refuse(state: &AppState, socket: &mut WebSocket, msg: &str, seq: Option<u64>, r: Refusal) {
    state.metrics.auth_failed(r.reason);
    tracing::debug!(
        reason = r.reason,
        status = r.status,
        "authentication refused"
    );
    let _ = socket
        .send(err_frame(msg, seq, r.status, r.message.clone()))
        .await;
    close_gracefully(socket, close::for_status(r.status), r.reason).await;
}

type Authenticated = (Arc<Realm>, Arc<ConnHandle>);

/// The auth phase: one request within the auth timeout, or the socket is closed.
async fn authenticate(state: &AppState, socket: &mut WebSocket) -> Option<Authenticated> {
    let cfg = &state.cfg;
    let first = match tokio::time::timeout(cfg.auth_timeout(), socket.next()).await {
        Err(_) => {
            state.metrics.auth_failed("timeout");
            let _ = socket
                .send(err_frame(
                    "preauth",
                    None,
                    401,
                    "no authentication within the time allowed",
                ))
                .await;
            close_gracefully(socket, close::AUTH_TIMEOUT, "authentication timeout").await;
            return None;
        }
        Ok(None) | Ok(Some(Err(_))) => return None,
        Ok(Some(Ok(Message::Text(t)))) => t,
        Ok(Some(Ok(_))) => {
            let r = Refusal::new(
                400,
                "malformed",
                "the first frame must be a text preauth.* request",
            );
            refuse(state, socket, "preauth", None, r).await;
            return None;
        }
    };
    let now = unix_now();
    let rules = cfg.token_rules();
    let first = match preauth::read_first(first.as_str(), now, &rules) {
        Ok(f) => f,
        Err((seq, r)) => {
            refuse(state, socket, "preauth", seq, r).await;
            return None;
        }
    };
    let (msg, seq) = (first.msg, first.seq);
    let decided = decide(state, first.request, now).await;
    let (realm, identid, method) = match decided {
        Ok(v) => v,
        Err(r) => {
            refuse(state, socket, msg, seq, r).await;
            return None;
        }
    };
    state
        .metrics
        .auth_ok
        .get_or_create(&crate::metrics::Kind { kind: method })
        .inc();
    let conn = ConnHandle::new(
        state.hub.next_conn_id(),
        identid.clone(),
        cfg.outbound_queue,
    );
    let joined = realm.join(conn.clone(), &state.metrics);
    let res = Envelope::res(
        msg,
        seq,
        AuthnResponse {
            realmid: realm.id.clone(),
            identid: identid.clone(),
            peers: joined.peers.clone(),
            identities: joined.identities,
        },
    );
    let status = Envelope::evt(
        REALM_STATUS,
        RealmStatus {
            realmid: realm.id.clone(),
            identid,
            peers: joined.peers,
            members: joined.members,
        },
    );
    let frag = cfg.ws_write_buffer.max(512);
    let sent = async {
        feed_text(socket, res.to_json().into(), frag).await?;
        feed_text(socket, status.to_json().into(), frag).await?;
        socket.flush().await
    };
    if sent.await.is_err() {
        realm.leave(&conn, &state.metrics);
        return None;
    }
    tracing::debug!(realm = %realm.id, ident = %conn.identid, method, "authenticated");
    Some((realm, conn))
}

fn store_refusal(e: StoreError) -> Refusal {
    match e {
        StoreError::RealmExists => {
            Refusal::new(409, "realm_exists", "a realm with this id already exists")
        }
        StoreError::NonceUsed => Refusal::new(
            409,
            "replayed_invitation",
            "invitation has already been used",
        ),
        StoreError::NoSuchRealm => Refusal::not_a_member(),
        StoreError::Backend(e) => {
            tracing::error!(error = %e, "store failure during authentication");
            Refusal::new(500, "store", "the server could not record this; try again")
        }
    }
}

/// Apply a verified-as-far-as-possible request to the hub and store.
async fn decide(
    state: &AppState,
    request: Request,
    now: i64,
) -> Result<(Arc<Realm>, IdentId, &'static str), Refusal> {
    let rules = state.cfg.token_rules();
    match request {
        Request::Register { realm, member } => {
            let r = state
                .hub
                .register(&realm, &member, now)
                .await
                .map_err(store_refusal)?;
            Ok((r, member.identid, "register"))
        }
        Request::Authn {
            realm,
            identid,
            token,
        } => {
            let r = state
                .hub
                .realm(&realm)
                .await
                .map_err(store_refusal)?
                .ok_or_else(Refusal::not_a_member)?;
            let key = r
                .fresh_member_key(state.hub.store().as_ref(), &identid)
                .await
                .map_err(store_refusal)?
                .ok_or_else(Refusal::not_a_member)?;
            preauth::verify_authn(&token, &key, &realm, now, &rules)?;
            Ok((r, identid, "authn"))
        }
        Request::Exchange {
            realm,
            member,
            invitation,
        } => {
            let r = state
                .hub
                .realm(&realm)
                .await
                .map_err(store_refusal)?
                .ok_or_else(Refusal::not_a_member)?;
            let claims = preauth::verify_invitation(
                &invitation,
                &realm,
                &member.identid,
                |id| r.member_key(id),
                now,
                &rules,
            )?;
            let admission = Admission {
                realm: &realm,
                nonce: &claims.ext.jti,
                nonce_expires_at: claims.exp,
                inviter: &claims.iss,
                invitee: &member,
                now,
            };
            state
                .hub
                .admit(&r, admission)
                .await
                .map_err(store_refusal)?;
            Ok((r, member.identid, "exchange"))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BroadcastIn<'a> {
    #[serde(borrow)]
    payload: &'a RawValue,
    #[serde(default)]
    recipients: Option<Vec<IdentId>>,
}

/// What handling one client frame asks the loop to do.
enum Step {
    Continue,
    /// `realm.member.remove`: needs the store, so it is done in the loop.
    Revoke {
        token: String,
        seq: Option<u64>,
    },
    Reply(Utf8Bytes),
    Close(CloseReason),
}

/// The authenticated message loop. Returns the reason the server closes, or `None` when the
/// client went away.
async fn serve(
    state: &AppState,
    socket: &mut WebSocket,
    realm: &Realm,
    conn: &ConnHandle,
) -> Option<CloseReason> {
    let cfg = &state.cfg;
    let frag = cfg.ws_write_buffer.max(512);
    let idle = cfg.idle_timeout();
    let mut last_inbound = Instant::now();
    let mut bucket = TokenBucket::new(cfg.rate_per_sec, cfg.rate_burst, last_inbound);
    let idle_timer = tokio::time::sleep(idle);
    tokio::pin!(idle_timer);
    let mut batch = VecDeque::new();
    loop {
        tokio::select! {
            biased;
            close = std::future::poll_fn(|cx| conn.poll_outgoing(cx, &mut batch)) => {
                if let Some(reason) = close {
                    return Some(reason);
                }
                for frame in batch.drain(..) {
                    if feed_text(socket, frame, frag).await.is_err() {
                        return None;
                    }
                }
                if batch.capacity() > 32 {
                    batch = VecDeque::new();
                }
                if socket.flush().await.is_err() {
                    return None;
                }
            }
            incoming = socket.next() => {
                let msg = match incoming {
                    None => return None,
                    Some(Ok(m)) => m,
                    Some(Err(e)) => return read_error(state, e),
                };
                let now = Instant::now();
                last_inbound = now;
                let step = match msg {
                    Message::Text(t) if t.len() > cfg.max_frame_bytes => {
                        state.metrics.reject("too_large");
                        Step::Close(CloseReason { code: close::TOO_BIG, reason: "frame larger than the server accepts" })
                    }
                    Message::Text(t) => {
                        state.metrics.received.inc();
                        if bucket.take(now) {
                            handle(state, realm, conn, t.as_str())
                        } else if bucket.strikes as f64 > cfg.rate_burst {
                            Step::Close(CloseReason { code: close::RATE_LIMITED, reason: "rate limit exceeded for too long" })
                        } else {
                            state.metrics.reject("rate_limited");
                            Step::Reply(err_text("rate", None, 429, format!("rate limit: at most {} messages/s", cfg.rate_per_sec)))
                        }
                    }
                    Message::Binary(_) => {
                        state.metrics.reject("binary");
                        Step::Reply(err_text("binary", None, 400, "binary frames are not part of the protocol; send JSON text"))
                    }
                    Message::Close(_) => return None,
                    // Pings are answered by the WebSocket layer; they still count as activity.
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Step::Continue,
                };
                match step {
                    Step::Continue => {}
                    Step::Revoke { token, seq } => {
                        let reply = revoke(state, realm, conn, &token, seq).await;
                        if send_text(socket, reply, frag).await.is_err() {
                            return None;
                        }
                    }
                    Step::Reply(m) => {
                        if send_text(socket, m, frag).await.is_err() {
                            return None;
                        }
                    }
                    Step::Close(r) => return Some(r),
                }
            }
            () = &mut idle_timer => {
                let deadline = last_inbound + idle;
                if Instant::now() >= deadline {
                    return Some(CloseReason { code: close::IDLE, reason: "idle timeout: nothing received" });
                }
                idle_timer.as_mut().reset(deadline.into());
            }
        }
    }
}

/// Remove a device: the request is a token signed by the (authenticated) caller naming the
/// device. The store forgets its key, its socket is closed, the others are told.
async fn revoke(
    state: &AppState,
    realm: &Realm,
    conn: &ConnHandle,
    token: &str,
    seq: Option<u64>,
) -> Utf8Bytes {
    use skypod_protocol::token::{Purpose, RevokeClaims};
    let rules = state.cfg.token_rules();
    let Some(key) = realm.member_key(&conn.identid) else {
        return err_text(
            MEMBER_REMOVE,
            seq,
            403,
            "you are no longer a member of this realm",
        );
    };
    let claims = match skypod_protocol::token::verify::<RevokeClaims>(
        token,
        &key,
        Purpose::Revoke,
        &realm.id,
        unix_now(),
        &rules,
    ) {
        Ok(c) => c,
        Err(e) => {
            state.metrics.reject(e.reason());
            return err_text(MEMBER_REMOVE, seq, 401, e.to_string());
        }
    };
    let target = claims.ext.sub;
    if !realm.is_member(&target) {
        return err_text(
            MEMBER_REMOVE,
            seq,
            404,
            format!("{target} is not a member of this realm"),
        );
    }
    if let Err(e) = state.hub.revoke(realm, &target).await {
        tracing::error!(error = %e, "store failure during revocation");
        return err_text(
            MEMBER_REMOVE,
            seq,
            500,
            "the server could not record this; try again",
        );
    }
    tracing::info!(realm = %realm.id, removed = %target, by = %conn.identid, "device removed");
    let removed = MemberRemoved {
        identid: target,
        by: conn.identid.clone(),
    };
    let evt: Utf8Bytes = Envelope::evt(MEMBER_REMOVED, removed.clone())
        .to_json()
        .into();
    let n = realm.route(&conn.identid, &evt, None);
    state.metrics.routed("presence", n as u64);
    Envelope::res(MEMBER_REMOVE, seq, removed).to_json().into()
}

fn read_error(state: &AppState, e: tokio_tungstenite::tungstenite::Error) -> Option<CloseReason> {
    use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
    match e {
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => {
            state.metrics.reject("too_large");
            Some(CloseReason {
                code: close::TOO_BIG,
                reason: "frame larger than the server accepts",
            })
        }
        other => {
            tracing::debug!(error = %other, "websocket read error");
            None
        }
    }
}

/// Handle one text frame from an authenticated client.
fn handle(state: &AppState, realm: &Realm, conn: &ConnHandle, text: &str) -> Step {
    let env = match RawEnvelope::parse(text) {
        Ok(e) => e,
        Err(e) => {
            state.metrics.reject("malformed");
            return Step::Reply(err_text("invalid", None, 400, e.to_string()));
        }
    };
    let (msg, seq, typ) = (env.msg.as_ref(), env.seq, env.typ);
    let bad = |reason: &'static str, status: u16, message: String| {
        state.metrics.reject(reason);
        Step::Reply(err_text(msg, seq, status, message))
    };
    match typ {
        Typ::Err => {
            // Never answer an error with an error (two buggy peers would loop).
            state.metrics.reject("unexpected_err");
            return Step::Continue;
        }
        Typ::Res => {
            return bad(
                "unexpected_res",
                400,
                format!("no request of the server is waiting for a res to {msg}"),
            );
        }
        Typ::Evt | Typ::Req => {}
    }
    match msg {
        BROADCAST => {
            let b: BroadcastIn = match env.dat() {
                Ok(b) => b,
                Err(e) => {
                    return bad(
                        "malformed",
                        400,
                        format!("realm.broadcast needs dat {{payload, recipients?}}: {e}"),
                    );
                }
            };
            if !b.payload.get().starts_with('"') {
                return bad(
                    "malformed",
                    400,
                    "realm.broadcast payload must be a string (realm-key ciphertext)".into(),
                );
            }
            // The payload is already a JSON string literal: splice it in without re-encoding.
            let frame: Utf8Bytes = format!(
                r#"{{"typ":"evt","msg":"realm.broadcast","dat":{{"from":"{}","payload":{}}}}}"#,
                conn.identid,
                b.payload.get()
            )
            .into();
            let n = realm.route(&conn.identid, &frame, b.recipients.as_deref());
            state.metrics.routed("broadcast", n as u64);
            match typ {
                Typ::Req => Step::Reply(
                    Envelope::res(BROADCAST, seq, BroadcastResult { delivered: n })
                        .to_json()
                        .into(),
                ),
                _ => Step::Continue,
            }
        }
        SIGNAL => {
            let s: SignalRequest = match env.dat() {
                Ok(s) => s,
                Err(e) => {
                    return bad(
                        "malformed",
                        400,
                        format!(
                            "realm.rtc.signal needs dat {{remoteid, connectionid, payload}}: {e}"
                        ),
                    );
                }
            };
            if s.localid.as_ref().is_some_and(|l| l != &conn.identid) {
                return bad(
                    "spoofed_sender",
                    403,
                    "localid must be your own identity".into(),
                );
            }
            if s.remoteid == conn.identid {
                return bad("malformed", 400, "cannot signal yourself".into());
            }
            if s.connectionid.is_empty() || s.connectionid.len() > 128 {
                return bad(
                    "malformed",
                    400,
                    "connectionid must be 1..=128 characters".into(),
                );
            }
            let delivery = skypod_protocol::messages::SignalDelivery {
                localid: conn.identid.clone(),
                remoteid: s.remoteid.clone(),
                connectionid: s.connectionid,
                payload: s.payload,
            };
            let frame: Utf8Bytes = Envelope::evt(SIGNAL, delivery).to_json().into();
            if realm.send_to(&s.remoteid, &frame) {
                state.metrics.routed("signal", 1);
                match typ {
                    Typ::Req => Step::Reply(
                        Envelope::res(SIGNAL, seq, BroadcastResult { delivered: 1 })
                            .to_json()
                            .into(),
                    ),
                    _ => Step::Continue,
                }
            } else {
                bad(
                    "peer_offline",
                    404,
                    format!("{} is not online in this realm", s.remoteid),
                )
            }
        }
        PING => match typ {
            Typ::Req => {
                let dat = env.dat.map(|d| d.get()).unwrap_or("{}");
                let seq = seq.unwrap_or(0);
                Step::Reply(
                    format!(r#"{{"typ":"res","msg":"ping","seq":{seq},"dat":{dat}}}"#).into(),
                )
            }
            _ => Step::Continue,
        },
        MEMBER_REMOVE => match (typ, env.dat::<skypod_protocol::messages::TokenRequest>()) {
            (Typ::Req, Ok(t)) => Step::Revoke {
                token: t.token,
                seq,
            },
            (Typ::Req, Err(e)) => bad(
                "malformed",
                400,
                format!("realm.member.remove needs dat {{token}}: {e}"),
            ),
            _ => bad("malformed", 400, "realm.member.remove must be a req".into()),
        },
        PREAUTH_REGISTER | PREAUTH_AUTHN | PREAUTH_EXCHANGE => bad(
            "already_authenticated",
            409,
            "this connection is already authenticated".into(),
        ),
        other => bad("unknown_msg", 404, format!("unknown message {other:?}")),
    }
}
