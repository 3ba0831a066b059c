//! The accept loop, in place of `axum::serve`, so a hostile network cannot hold the server's
//! descriptors: every accepted socket gets `TCP_NODELAY` (answers made of several frames are
//! not held back by Nagle's algorithm), its HTTP request head must arrive within the header
//! timeout (silent and trickling sockets are cut), and connections still in the HTTP phase
//! (not yet upgraded to a WebSocket, and not busy with a request) are capped: at the cap the
//! oldest idle one is closed to make room, so a flood of half-open sockets cannot lock real
//! clients out.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower_service::Service;

use crate::metrics::Metrics;

/// Connections that have not left the HTTP phase, oldest first.
pub struct HttpPhase {
    cap: usize,
    next: AtomicU64,
    slots: Mutex<BTreeMap<u64, Arc<Slot>>>,
}

/// One connection's place in [`HttpPhase`].
struct Slot {
    /// Requests being answered (their response bodies not yet dropped): such a connection is
    /// doing work, not holding a descriptor idle, and is never evicted.
    busy: AtomicUsize,
    evict: Notify,
}

/// Removes the connection from the HTTP phase when dropped (closed or upgraded).
struct Ticket {
    id: u64,
    slot: Arc<Slot>,
    phase: Arc<HttpPhase>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.phase.lock().remove(&self.id);
    }
}

impl HttpPhase {
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self {
            cap: cap.max(1),
            next: AtomicU64::new(0),
            slots: Mutex::new(BTreeMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Slot>>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connections in the HTTP phase now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ask the oldest idle connection to close. False if every one is busy.
    fn evict_oldest_idle(slots: &mut BTreeMap<u64, Arc<Slot>>) -> bool {
        let Some(id) = slots
            .iter()
            .find(|(_, s)| s.busy.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id)
        else {
            return false;
        };
        if let Some(s) = slots.remove(&id) {
            s.evict.notify_one();
        }
        true
    }

    /// Admit a new connection, evicting the oldest idle one at the cap. `None` when the cap is
    /// reached and every connection is busy: the new one is refused.
    fn admit(self: &Arc<Self>) -> Option<Ticket> {
        let mut slots = self.lock();
        if slots.len() >= self.cap && !Self::evict_oldest_idle(&mut slots) {
            return None;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot {
            busy: AtomicUsize::new(0),
            evict: Notify::new(),
        });
        slots.insert(id, slot.clone());
        Some(Ticket {
            id,
            slot,
            phase: self.clone(),
        })
    }
}

/// Marks a connection busy while a response is being produced and sent.
struct BusyGuard(Arc<Slot>);

impl BusyGuard {
    fn new(slot: Arc<Slot>) -> Self {
        slot.busy.fetch_add(1, Ordering::AcqRel);
        Self(slot)
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How the accept loop treats connections.
pub struct ServeOptions {
    /// A request head must arrive within this long.
    pub header_timeout: Duration,
    /// `TCP_NODELAY` on accepted sockets.
    pub nodelay: bool,
    /// How long HTTP connections may finish their current request after shutdown.
    pub drain: Duration,
}

/// Serve `app` on `listener` until `shutdown` resolves; then stop accepting, let every HTTP
/// connection finish its current request (at most `opts.drain`), and return. Upgraded
/// WebSockets are not HTTP connections any more: the caller closes them.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    opts: ServeOptions,
    phase: Arc<HttpPhase>,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let ServeOptions {
        header_timeout,
        nodelay,
        drain,
    } = opts;
    let (stop_tx, stop_rx) = watch::channel(false);
    let live = Arc::new(AtomicUsize::new(0));
    let all_done = Arc::new(Notify::new());
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors: make room by closing the oldest idle HTTP
                    // connection, rather than stalling until the sockets time out.
                    if matches!(e.raw_os_error(), Some(23 | 24)) {
                        HttpPhase::evict_oldest_idle(&mut phase.lock());
                        metrics.close("http_phase_evicted");
                    } else {
                        tracing::debug!(error = %e, "accept failed");
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
            },
        };
        if let Err(e) = stream.set_nodelay(nodelay) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let Some(ticket) = phase.admit() else {
            metrics.reject("http_phase_full");
            drop(stream);
            continue;
        };
        let app = app.clone();
        let metrics = metrics.clone();
        let mut stop = stop_rx.clone();
        live.fetch_add(1, Ordering::AcqRel);
        let live = live.clone();
        let all_done = all_done.clone();
        tokio::spawn(async move {
            let slot = ticket.slot.clone();
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let guard = BusyGuard::new(slot.clone());
                let mut app = app.clone();
                async move {
                    let res = app.call(req.map(Body::new)).await?;
                    // The guard lives as long as the response body, so a connection sending a
                    // large body is busy, not idle, until it is done.
                    Ok::<_, Infallible>(res.map(|b| {
                        Body::new(b.map_frame(move |f: hyper::body::Frame<bytes::Bytes>| {
                            let _ = &guard;
                            f
                        }))
                    }))
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(conn);
            let slot = ticket.slot.clone();
            let evicted = slot.evict.notified();
            tokio::pin!(evicted);
            let mut stopping = false;
            loop {
                tokio::select! {
                    res = conn.as_mut() => {
                        if let Err(e) = res {
                            if e.is_timeout() {
                                metrics.close("header_timeout");
                            }
                            tracing::debug!(error = %e, "http connection ended");
                        }
                        break;
                    }
                    () = &mut evicted => {
                        metrics.close("http_phase_evicted");
                        break;
                    }
                    changed = stop.changed(), if !stopping => {
                        stopping = true;
                        if changed.is_ok() {
                            conn.as_mut().graceful_shutdown();
                        }
                    }
                }
            }
            drop(ticket);
            if live.fetch_sub(1, Ordering::AcqRel) == 1 {
                all_done.notify_waiters();
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let wait = async {
        while live.load(Ordering::Acquire) > 0 {
            let notified = all_done.notified();
            if live.load(Ordering::Acquire) == 0 {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
        }
    };
    let _ = tokio::time::timeout(drain, wait).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_evicts_the_oldest_idle_connection_never_a_busy_one() {
        let phase = HttpPhase::new(2);
        let a = phase.admit().unwrap();
        let b = phase.admit().unwrap();
        let busy_a = BusyGuard::new(a.slot.clone());
        // a is busy: b, the oldest idle one, makes room
        let c = phase.admit().unwrap();
        assert_eq!(phase.len(), 2);
        assert!(phase.lock().contains_key(&a.id));
        assert!(!phase.lock().contains_key(&b.id));
        // every one busy: refused
        let _busy_c = BusyGuard::new(c.slot.clone());
        assert!(phase.admit().is_none());
        drop(busy_a);
        let d = phase.admit().unwrap();
        assert!(!phase.lock().contains_key(&a.id));
        drop((b, d));
        assert_eq!(phase.len(), 1);
    }
}
