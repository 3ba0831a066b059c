//! One WebSocket connection: the authentication phase, then the message loop.
//!
//! A single task per connection owns the socket: it reads client frames, and writes frames
//! that other connections queued for it (batched: everything queued is written, then one
//! flush). Protocol decisions live in [`crate::preauth`], [`crate::hub`] and
//! [`crate::ratelimit`]; this module is the I/O around them.

use futures_util::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use skypod_protocol::messages::{AuthnResponse, REALM_STATUS, RealmStatus};
use skypod_protocol::{Envelope, IdentId, RealmId, close, unix_now};

use crate::coalesce::WriteCoalescer;
use crate::hub::{CloseReason, ConnHandle, Realm};
use crate::msg::{self, Ctx, Step};
use crate::preauth::{self, Refusal, Request};
use crate::ratelimit::TokenBucket;
use crate::state::AppState;
use crate::store::{Admission, StoreError};
use crate::wsio::GuardedIo;

pub type WebSocket =
    WebSocketStream<GuardedIo<WriteCoalescer<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>>>;

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
    // The auth phase grew the WebSocket layer's buffers to the size of the token read and of
    // the member list written, and it never shrinks them: on fresh ones, an idle member costs
    // a few KiB less. Nothing is lost in the swap: everything written was flushed, and `wsio`
    // handed on nothing after the first message (what the client pipelined is still there).
    let config = *socket.get_config();
    let mut socket =
        WebSocketStream::from_raw_socket(socket.into_inner(), Role::Server, Some(config)).await;
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

async fn refuse(state: &AppState, socket: &mut WebSocket, msg: &str, seq: Option<u64>, r: Refusal) {
    state.metrics.auth_failed(r.code);
    tracing::debug!(code = r.code, status = r.status, "authentication refused");
    let frame = Envelope::err(msg, seq, r.status, r.code, r.message.as_str()).to_json();
    let _ = socket.send(Message::Text(frame.into())).await;
    close_gracefully(socket, close::for_status(r.status), r.code).await;
}

type Authenticated = (Arc<Realm>, Arc<ConnHandle>);

/// The auth phase: one request within the auth timeout, or the socket is closed.
async fn authenticate(state: &AppState, socket: &mut WebSocket) -> Option<Authenticated> {
    let cfg = &state.cfg;
    let first = match tokio::time::timeout(cfg.auth_timeout(), socket.next()).await {
        Err(_) => {
            state.metrics.auth_failed("auth_timeout");
            let frame = Envelope::err(
                "preauth",
                None,
                401,
                "auth_timeout",
                "no authentication within the time allowed",
            )
            .to_json();
            let _ = socket.send(Message::Text(frame.into())).await;
            close_gracefully(socket, close::AUTH_TIMEOUT, "authentication timeout").await;
            return None;
        }
        Ok(None) => return None,
        Ok(Some(Err(e))) => {
            if let Some(r) = read_error(state, socket, e) {
                state.metrics.auth_failed("protocol");
                close_after_violation(socket, r).await;
            }
            return None;
        }
        Ok(Some(Ok(Message::Text(t)))) => t,
        Ok(Some(Ok(_))) => {
            let r = Refusal::new(
                400,
                "binary_frame",
                "the first frame must be a text preauth.* request",
            );
            refuse(state, socket, "invalid", None, r).await;
            return None;
        }
    };
    let now = unix_now();
    let rules = cfg.token_rules();
    let first = match preauth::read_first(first.as_str(), now, &rules) {
        Ok(f) => f,
        Err(e) => {
            refuse(state, socket, &e.msg, e.seq, e.refusal).await;
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
    socket.get_mut().authenticated();
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
        e @ (StoreError::Backend(_) | StoreError::Unavailable(_)) => {
            tracing::error!(error = %e, "store failure during authentication");
            let (status, code, message) = e.failure().expect("a store failure");
            Refusal::new(status, code, message)
        }
    }
}

/// The realm a member signs in to or an invitee joins; an unknown realm is refused the way
/// a stranger is (so its existence is not told).
async fn existing_realm(state: &AppState, realm: &RealmId) -> Result<Arc<Realm>, Refusal> {
    state
        .hub
        .realm(realm)
        .await
        .map_err(store_refusal)?
        .ok_or_else(Refusal::not_a_member)
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
            let r = existing_realm(state, &realm).await?;
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
            let r = existing_realm(state, &realm).await?;
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

/// The authenticated message loop. Returns the reason the server closes, or `None` when the
/// client went away.
///
/// Keepalive: browsers cannot send WebSocket pings, so the server sends them. After a third
/// of the idle timeout without anything received it pings (again every third); every frame
/// received counts as activity, the pong a browser sends by itself included. A client that
/// sends and answers nothing for the whole idle timeout is closed with 4010.
async fn serve(
    state: &AppState,
    socket: &mut WebSocket,
    realm: &Realm,
    conn: &ConnHandle,
) -> Option<CloseReason> {
    let cfg = &state.cfg;
    let ctx = Ctx { state, realm, conn };
    let frag = cfg.ws_write_buffer.max(512);
    let idle = cfg.idle_timeout();
    let ping_every = idle / 3;
    let mut last_inbound = Instant::now();
    let mut last_ping = last_inbound;
    let mut bucket = TokenBucket::new(cfg.rate_per_sec, cfg.rate_burst, last_inbound);
    let idle_timer = tokio::time::sleep(ping_every);
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
                    Some(Err(e)) => {
                        if let Some(r) = read_error(state, socket, e) {
                            state.metrics.close(r.label());
                            close_after_violation(socket, r).await;
                        }
                        return None;
                    }
                };
                let now = Instant::now();
                last_inbound = now;
                let step = match msg {
                    Message::Text(t) => {
                        state.metrics.received.inc();
                        if bucket.take(now) {
                            msg::handle(&ctx, t.as_str())
                        } else if bucket.strikes as f64 > cfg.rate_burst {
                            return Some(CloseReason { code: close::RATE_LIMITED, reason: "rate limit exceeded for too long" });
                        } else {
                            Step::Reply(msg::rate_limited(state, t.as_str()))
                        }
                    }
                    Message::Binary(_) => Step::Reply(msg::binary(state)),
                    Message::Close(_) => return None,
                    // Pings are answered by the WebSocket layer; they still count as activity.
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Step::Continue,
                };
                let reply = match step {
                    Step::Continue => continue,
                    Step::Reply(m) => m,
                    Step::Revoke(req) => msg::member_remove::apply(&ctx, req).await,
                };
                if send_text(socket, reply, frag).await.is_err() {
                    return None;
                }
            }
            () = &mut idle_timer => {
                let now = Instant::now();
                if now >= last_inbound + idle {
                    return Some(CloseReason { code: close::IDLE, reason: "idle timeout: nothing received" });
                }
                if now >= last_inbound.max(last_ping) + ping_every {
                    if socket.send(Message::Ping(bytes::Bytes::new())).await.is_err() {
                        return None;
                    }
                    last_ping = now;
                }
                let next = (last_inbound.max(last_ping) + ping_every).min(last_inbound + idle);
                idle_timer.as_mut().reset(next.into());
            }
        }
    }
}

/// The close a failed read calls for, or `None` when the client is simply gone.
fn read_error(
    state: &AppState,
    socket: &WebSocket,
    e: tokio_tungstenite::tungstenite::Error,
) -> Option<CloseReason> {
    use crate::wsio::Refusal;
    use tokio_tungstenite::tungstenite::error::{Error as WsError, ProtocolError};
    let too_big = CloseReason {
        code: close::TOO_BIG,
        reason: "frame larger than the server accepts",
    };
    let reason = match (socket.get_ref().refusal(), e) {
        (Some(Refusal::TooBig), _) | (None, WsError::Capacity(_)) => too_big,
        (Some(Refusal::Protocol(why)), _) => CloseReason {
            code: close::PROTOCOL_ERROR,
            reason: why,
        },
        (Some(Refusal::Stalled), _) => CloseReason {
            code: close::POLICY,
            reason: "message not completed in time",
        },
        (None, WsError::Utf8(_)) => CloseReason {
            code: close::INVALID_DATA,
            reason: "text frame is not valid UTF-8",
        },
        (None, WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)) => return None,
        (None, WsError::Protocol(p)) => {
            tracing::debug!(error = %p, "websocket protocol violation");
            CloseReason {
                code: close::PROTOCOL_ERROR,
                reason: "WebSocket protocol violation",
            }
        }
        (None, other) => {
            tracing::debug!(error = %other, "websocket read error");
            return None;
        }
    };
    state.metrics.reject(match reason.code {
        close::TOO_BIG => "too_large",
        close::INVALID_DATA => "invalid_utf8",
        close::POLICY => "stalled_frame",
        _ => "protocol_violation",
    });
    Some(reason)
}

/// Close after a read failed: the close frame, then discard what the client still sends (up
/// to a bound), so the client reads our close instead of a connection reset.
async fn close_after_violation(socket: &mut WebSocket, r: CloseReason) {
    if socket.send(close_msg(r.code, r.reason)).await.is_err() {
        return;
    }
    socket
        .get_mut()
        .discard(256 * 1024, std::time::Duration::from_secs(1))
        .await;
}
