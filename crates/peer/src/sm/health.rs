//! Link health: ping every `interval`, declare the link dead after `max_missed` pings went
//! unanswered, measure round-trip time. Sans-IO: the caller feeds `now` and pongs, and sends
//! the pings this returns.
//!
//! Why our own ping when ICE has consent freshness: the application-level ping travels the
//! same SCTP stream as the data, so it also catches a stuck channel, and it notices a dead
//! link within `interval × max_missed` instead of the stack's ~30 s failure timeout.

use std::time::{Duration, Instant};

#[derive(Clone, Debug, PartialEq)]
pub struct HealthConfig {
    pub interval: Duration,
    /// Consecutive unanswered pings after which the link is dead.
    pub max_missed: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
            max_missed: 2,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthAction {
    /// Send a ping carrying this nonce.
    SendPing(u64),
    /// Too many pings went unanswered.
    Dead,
}

#[derive(Clone, Debug)]
pub struct Health {
    cfg: HealthConfig,
    next_ping: Instant,
    /// The ping in flight: nonce and when it was sent.
    outstanding: Option<(u64, Instant)>,
    missed: u32,
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
            missed: 0,
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
        (!self.dead).then_some(self.next_ping)
    }

    /// Advance to `now`.
    pub fn poll(&mut self, now: Instant) -> Option<HealthAction> {
        if self.dead || now < self.next_ping {
            return None;
        }
        if self.outstanding.take().is_some() {
            self.missed += 1;
            if self.missed >= self.cfg.max_missed {
                self.dead = true;
                return Some(HealthAction::Dead);
            }
        }
        self.nonce = self.nonce.wrapping_add(1);
        self.outstanding = Some((self.nonce, now));
        self.next_ping = now + self.cfg.interval;
        Some(HealthAction::SendPing(self.nonce))
    }

    /// A pong arrived. Returns the measured RTT if it answers the ping in flight; stale or
    /// unsolicited pongs are ignored.
    pub fn on_pong(&mut self, nonce: u64, now: Instant) -> Option<Duration> {
        match self.outstanding {
            Some((n, sent)) if n == nonce && !self.dead => {
                self.outstanding = None;
                self.missed = 0;
                let rtt = now.saturating_duration_since(sent);
                self.rtt = Some(rtt);
                Some(rtt)
            }
            _ => None,
        }
    }

    /// Any inbound traffic proves the link works, but only a pong gives an RTT; this resets
    /// the missed count so a busy link is not declared dead when pongs queue behind data.
    pub fn on_traffic(&mut self) {
        self.missed = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> HealthConfig {
        HealthConfig {
            interval: Duration::from_secs(30),
            max_missed: 2,
        }
    }

    #[test]
    fn pings_on_schedule_and_measures_rtt() {
        let t0 = Instant::now();
        let mut h = Health::new(cfg(), t0);
        assert_eq!(h.poll(t0), Some(HealthAction::SendPing(1)));
        assert_eq!(h.poll(t0 + Duration::from_secs(1)), None);
        assert_eq!(
            h.on_pong(1, t0 + Duration::from_millis(40)),
            Some(Duration::from_millis(40))
        );
        assert_eq!(h.rtt(), Some(Duration::from_millis(40)));
        assert_eq!(h.poll_timeout(), Some(t0 + Duration::from_secs(30)));
        assert_eq!(
            h.poll(t0 + Duration::from_secs(30)),
            Some(HealthAction::SendPing(2))
        );
    }

    #[test]
    fn dead_after_missed_pongs() {
        let t0 = Instant::now();
        let mut h = Health::new(cfg(), t0);
        assert_eq!(h.poll(t0), Some(HealthAction::SendPing(1)));
        // no pong: one missed
        assert_eq!(
            h.poll(t0 + Duration::from_secs(30)),
            Some(HealthAction::SendPing(2))
        );
        // a late pong for ping 1 does not count
        assert_eq!(h.on_pong(1, t0 + Duration::from_secs(31)), None);
        assert_eq!(
            h.poll(t0 + Duration::from_secs(60)),
            Some(HealthAction::Dead)
        );
        assert!(h.is_dead());
        assert_eq!(h.poll(t0 + Duration::from_secs(90)), None);
        assert_eq!(h.poll_timeout(), None);
    }

    #[test]
    fn a_pong_resets_the_missed_count() {
        let t0 = Instant::now();
        let mut h = Health::new(cfg(), t0);
        h.poll(t0);
        h.poll(t0 + Duration::from_secs(30)); // missed 1, ping 2
        h.on_pong(2, t0 + Duration::from_secs(30));
        h.poll(t0 + Duration::from_secs(60)); // ping 3, nothing missed
        assert_eq!(
            h.poll(t0 + Duration::from_secs(90)),
            Some(HealthAction::SendPing(4))
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
}
