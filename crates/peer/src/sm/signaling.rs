//! The signaling-client connection, sans-IO: connect → authenticate → online, and on any
//! loss reconnect with backoff. A refusal that retrying cannot fix (the device was removed,
//! or another connection of the same identity took over) stops the loop instead of
//! hammering the server.

use std::time::{Duration, Instant};

use skypod_protocol::close;

use super::backoff::{Backoff, BackoffConfig, Rng01};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SigState {
    /// Waiting to (re)connect at `retry_at`.
    Disconnected {
        retry_at: Instant,
    },
    /// The WebSocket is being opened.
    Connecting,
    /// The authentication request is out.
    Authenticating,
    Online {
        since: Instant,
    },
    /// Stopped for good; the reason is for humans.
    Stopped {
        reason: StopReason,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Authentication refused: this device is not (or no longer) a member.
    Refused,
    /// Another connection of this identity replaced ours.
    Replaced,
    /// The application asked to stop.
    Shutdown,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SigAction {
    /// Open the WebSocket.
    Connect,
    /// Send the authentication request.
    Authenticate,
    /// Send a keepalive ping (the server closes silent sockets).
    Keepalive,
    /// Now online: (re)announce ourselves to the mesh.
    Online,
    /// Connection lost; will retry after this delay.
    Offline {
        retry_in: Duration,
    },
    Stopped(StopReason),
}

pub struct Signaling {
    state: SigState,
    backoff: Backoff,
    rng: Box<dyn Rng01 + Send>,
    keepalive: Duration,
    next_keepalive: Option<Instant>,
    out: Vec<SigAction>,
}

impl Signaling {
    /// Starts disconnected with an immediate first attempt.
    pub fn new(
        now: Instant,
        backoff: BackoffConfig,
        keepalive: Duration,
        rng: Box<dyn Rng01 + Send>,
    ) -> Self {
        Self {
            state: SigState::Disconnected { retry_at: now },
            backoff: Backoff::new(backoff),
            rng,
            keepalive,
            next_keepalive: None,
            out: vec![],
        }
    }

    pub fn state(&self) -> &SigState {
        &self.state
    }

    pub fn is_online(&self) -> bool {
        matches!(self.state, SigState::Online { .. })
    }

    fn lost(&mut self, now: Instant) {
        let d = self.backoff.next_delay(&mut *self.rng);
        self.state = SigState::Disconnected { retry_at: now + d };
        self.next_keepalive = None;
        self.out.push(SigAction::Offline { retry_in: d });
    }

    fn stop(&mut self, reason: StopReason) {
        self.state = SigState::Stopped { reason };
        self.next_keepalive = None;
        self.out.push(SigAction::Stopped(reason));
    }

    /// The WebSocket opened.
    pub fn on_connected(&mut self) {
        if self.state == SigState::Connecting {
            self.state = SigState::Authenticating;
            self.out.push(SigAction::Authenticate);
        }
    }

    /// Opening the WebSocket failed.
    pub fn on_connect_failed(&mut self, now: Instant) {
        if self.state == SigState::Connecting {
            self.lost(now);
        }
    }

    /// The server accepted the authentication.
    pub fn on_auth_ok(&mut self, now: Instant) {
        if self.state == SigState::Authenticating {
            self.backoff.reset();
            self.state = SigState::Online { since: now };
            self.next_keepalive = Some(now + self.keepalive);
            self.out.push(SigAction::Online);
        }
    }

    /// The server refused the authentication with an HTTP-style status.
    pub fn on_auth_refused(&mut self, now: Instant, status: u16) {
        if !matches!(self.state, SigState::Authenticating) {
            return;
        }
        match status {
            401 | 403 | 404 => self.stop(StopReason::Refused),
            // 409 (a race on our own registration), 429, 5xx: transient.
            _ => self.lost(now),
        }
    }

    /// The socket closed (or errored); `code` is the WebSocket close code if one came.
    pub fn on_closed(&mut self, now: Instant, code: Option<u16>) {
        if matches!(
            self.state,
            SigState::Stopped { .. } | SigState::Disconnected { .. }
        ) {
            return;
        }
        match code {
            Some(close::FORBIDDEN) | Some(close::UNAUTHENTICATED) => self.stop(StopReason::Refused),
            Some(close::REPLACED) => self.stop(StopReason::Replaced),
            _ => self.lost(now),
        }
    }

    pub fn shutdown(&mut self) {
        if !matches!(self.state, SigState::Stopped { .. }) {
            self.stop(StopReason::Shutdown);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            SigState::Disconnected { retry_at } => Some(retry_at),
            SigState::Online { .. } => self.next_keepalive,
            _ => None,
        }
    }

    pub fn poll(&mut self, now: Instant) -> Option<SigAction> {
        if !self.out.is_empty() {
            return Some(self.out.remove(0));
        }
        match self.state {
            SigState::Disconnected { retry_at } if now >= retry_at => {
                self.state = SigState::Connecting;
                Some(SigAction::Connect)
            }
            SigState::Online { .. } if self.next_keepalive.is_some_and(|k| now >= k) => {
                self.next_keepalive = Some(now + self.keepalive);
                Some(SigAction::Keepalive)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sm::backoff::tests::Seq;

    fn sig(t: Instant) -> Signaling {
        Signaling::new(
            t,
            BackoffConfig {
                initial: Duration::from_millis(100),
                factor: 2.0,
                max: Duration::from_secs(2),
                jitter: 0.5,
            },
            Duration::from_secs(30),
            Box::new(Seq(vec![0.0], 0)),
        )
    }

    fn drain(s: &mut Signaling, now: Instant) -> Vec<SigAction> {
        let mut v = vec![];
        while let Some(a) = s.poll(now) {
            v.push(a);
        }
        v
    }

    /// A machine that has connected and waits for the server's verdict, its actions so far
    /// taken.
    fn authenticating(t: Instant) -> Signaling {
        let mut s = sig(t);
        drain(&mut s, t);
        s.on_connected();
        drain(&mut s, t);
        s
    }

    #[test]
    fn connect_auth_online_keepalive() {
        let t = Instant::now();
        let mut s = sig(t);
        assert_eq!(drain(&mut s, t), vec![SigAction::Connect]);
        s.on_connected();
        assert_eq!(drain(&mut s, t), vec![SigAction::Authenticate]);
        s.on_auth_ok(t);
        assert_eq!(drain(&mut s, t), vec![SigAction::Online]);
        assert!(s.is_online());
        let k = s.poll_timeout().unwrap();
        assert_eq!(k, t + Duration::from_secs(30));
        assert_eq!(drain(&mut s, k), vec![SigAction::Keepalive]);
    }

    #[test]
    fn reconnects_with_growing_backoff_then_resets() {
        let t = Instant::now();
        let mut s = sig(t);
        drain(&mut s, t);
        s.on_connect_failed(t);
        assert_eq!(
            drain(&mut s, t),
            vec![SigAction::Offline {
                retry_in: Duration::from_millis(100)
            }]
        );
        let r1 = s.poll_timeout().unwrap();
        assert_eq!(drain(&mut s, r1), vec![SigAction::Connect]);
        s.on_connect_failed(r1);
        drain(&mut s, r1);
        let r2 = s.poll_timeout().unwrap();
        assert_eq!(r2 - r1, Duration::from_millis(200));
        drain(&mut s, r2);
        s.on_connected();
        s.on_auth_ok(r2);
        drain(&mut s, r2);
        // server restart: going away
        s.on_closed(r2, Some(close::GOING_AWAY));
        assert_eq!(
            drain(&mut s, r2),
            vec![SigAction::Offline {
                retry_in: Duration::from_millis(100)
            }]
        );
    }

    #[test]
    fn refusal_and_replacement_stop_the_loop() {
        let t = Instant::now();
        let mut s = authenticating(t);
        s.on_auth_refused(t, 401);
        assert_eq!(
            drain(&mut s, t),
            vec![SigAction::Stopped(StopReason::Refused)]
        );
        assert_eq!(s.poll_timeout(), None);

        let mut s = sig(t);
        drain(&mut s, t);
        s.on_connected();
        s.on_auth_ok(t);
        drain(&mut s, t);
        s.on_closed(t, Some(close::FORBIDDEN)); // revoked while online
        assert_eq!(
            drain(&mut s, t),
            vec![SigAction::Stopped(StopReason::Refused)]
        );

        let mut s = sig(t);
        drain(&mut s, t);
        s.on_connected();
        s.on_auth_ok(t);
        s.on_closed(t, Some(close::REPLACED));
        assert!(drain(&mut s, t).contains(&SigAction::Stopped(StopReason::Replaced)));
    }

    #[test]
    fn transient_refusals_retry() {
        let t = Instant::now();
        let mut s = authenticating(t);
        s.on_auth_refused(t, 429);
        assert!(matches!(drain(&mut s, t)[..], [SigAction::Offline { .. }]));
        // events for the wrong state are ignored
        s.on_auth_ok(t);
        s.on_connected();
        assert!(drain(&mut s, t).is_empty());
    }
}
