//! Link health: ping, declare the link dead when a ping stays unanswered for `pong_timeout`,
//! measure round-trip time. Sans-IO: the caller feeds `now` and pongs, and sends the pings
//! this returns. The same rule as the web app's `web/src/realm/health.ts`; the defaults are
//! the shared policy in `skypod_protocol::link::timing`.
//!
//! Why our own ping when ICE has consent freshness: the application-level ping travels the
//! same SCTP stream as the data, so it also catches a stuck channel, and it notices a dead
//! link within `interval + pong_timeout` instead of the stack's ~30 s failure timeout.

use std::time::{Duration, Instant};

use skypod_protocol::link::timing;

#[derive(Clone, Debug, PartialEq)]
pub struct HealthConfig {
    /// Time from a pong to the next ping.
    pub interval: Duration,
    /// A ping unanswered this long means the link is dead.
    pub pong_timeout: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            interval: timing::PING_INTERVAL,
            pong_timeout: timing::PONG_TIMEOUT,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthAction {
    /// Send a ping carrying this nonce.
    SendPing(u64),
    /// The ping in flight went unanswered for `pong_timeout`.
    Dead,
}

#[derive(Clone, Debug)]
pub struct Health {
    cfg: HealthConfig,
    next_ping: Instant,
    /// The ping in flight: nonce and when it was sent. At most one.
    outstanding: Option<(u64, Instant)>,
    nonce: u64,
    rtt: Option<Duration>,
    dead: bool,
}

impl Health {
    /// Start monitoring a link that just opened. The first ping goes out right away so an
    /// RTT is known early.
    pub fn new(cfg: HealthConfig, now: Instant) -> Self {
        Self {
            cfg,
            next_ping: now,
            outstanding: None,
            nonce: 0,
            rtt: None,
            dead: false,
        }
    }

    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// When the caller should call [`Self::poll`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.dead {
            return None;
        }
        Some(match self.outstanding {
            Some((_, sent)) => sent + self.cfg.pong_timeout,
            None => self.next_ping,
        })
    }

    /// Advance to `now`.
    pub fn poll(&mut self, now: Instant) -> Option<HealthAction> {
        if self.dead {
            return None;
        }
        if let Some((_, sent)) = self.outstanding {
            if now >= sent + self.cfg.pong_timeout {
                self.dead = true;
                return Some(HealthAction::Dead);
            }
            return None;
        }
        if now < self.next_ping {
            return None;
        }
        self.nonce = self.nonce.wrapping_add(1);
        self.outstanding = Some((self.nonce, now));
        Some(HealthAction::SendPing(self.nonce))
    }

    /// A pong arrived. Returns the measured RTT if it answers the ping in flight; stale or
    /// unsolicited pongs are ignored.
    pub fn on_pong(&mut self, nonce: u64, now: Instant) -> Option<Duration> {
        match self.outstanding {
            Some((n, sent)) if n == nonce && !self.dead => {
                self.outstanding = None;
                self.next_ping = now + self.cfg.interval;
                let rtt = now.saturating_duration_since(sent);
                self.rtt = Some(rtt);
                Some(rtt)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> HealthConfig {
        HealthConfig {
            interval: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn pings_on_schedule_and_measures_rtt() {
        let t0 = Instant::now();
        let mut h = Health::new(cfg(), t0);
        assert_eq!(h.poll(t0), Some(HealthAction::SendPing(1)));
        assert_eq!(h.poll(t0 + Duration::from_secs(1)), None);
        let pong = t0 + Duration::from_millis(40);
        assert_eq!(h.on_pong(1, pong), Some(Duration::from_millis(40)));
        assert_eq!(h.rtt(), Some(Duration::from_millis(40)));
        assert_eq!(h.poll_timeout(), Some(pong + Duration::from_secs(30)));
        assert_eq!(
            h.poll(pong + Duration::from_secs(30)),
            Some(HealthAction::SendPing(2))
        );
    }

    #[test]
    fn dead_when_a_ping_goes_unanswered_for_the_timeout() {
        let t0 = Instant::now();
        let mut h = Health::new(cfg(), t0);
        assert_eq!(h.poll(t0), Some(HealthAction::SendPing(1)));
        assert_eq!(h.poll_timeout(), Some(t0 + Duration::from_secs(10)));
        // Only one ping is ever in flight: nothing until the deadline.
        assert_eq!(h.poll(t0 + Duration::from_millis(9_999)), None);
        assert_eq!(
            h.poll(t0 + Duration::from_secs(10)),
            Some(HealthAction::Dead)
        );
        assert!(h.is_dead());
        // A late pong changes nothing.
        assert_eq!(h.on_pong(1, t0 + Duration::from_secs(11)), None);
        assert_eq!(h.poll(t0 + Duration::from_secs(90)), None);
        assert_eq!(h.poll_timeout(), None);
    }

    #[test]
    fn a_pong_in_time_keeps_the_link_alive() {
        let t0 = Instant::now();
        let mut h = Health::new(cfg(), t0);
        h.poll(t0);
        h.on_pong(1, t0 + Duration::from_secs(9));
        assert_eq!(h.poll(t0 + Duration::from_secs(20)), None);
        assert_eq!(
            h.poll(t0 + Duration::from_secs(39)),
            Some(HealthAction::SendPing(2))
        );
        assert!(!h.is_dead());
    }

    #[test]
    fn unsolicited_pongs_are_ignored() {
        let t0 = Instant::now();
        let mut h = Health::new(cfg(), t0);
        assert_eq!(h.on_pong(99, t0), None);
        h.poll(t0);
        assert_eq!(h.on_pong(99, t0), None);
        assert_eq!(h.rtt(), None);
    }

    #[test]
    fn defaults_are_the_shared_policy() {
        let c = HealthConfig::default();
        assert_eq!(c.interval, timing::PING_INTERVAL);
        assert_eq!(c.pong_timeout, timing::PONG_TIMEOUT);
    }
}
