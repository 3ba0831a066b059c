//! Exponential backoff with jitter (sans-IO: the caller passes the random source and the
//! clock, so tests are deterministic and never sleep).

use std::time::{Duration, Instant};

/// Backoff parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct BackoffConfig {
    /// Delay before the first retry.
    pub initial: Duration,
    /// Growth factor per failed attempt.
    pub factor: f64,
    /// Upper bound on the (pre-jitter) delay.
    pub max: Duration,
    /// Fraction of the delay that is randomised: the delay is drawn uniformly from
    /// `[d·(1-jitter), d]` ("equal jitter"), so a thundering herd after a server restart
    /// spreads out while a lone client still retries quickly.
    pub jitter: f64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(250),
            factor: 2.0,
            max: Duration::from_secs(30),
            jitter: 0.5,
        }
    }
}

/// Anything that yields uniform numbers in `[0, 1)`. Production uses `rand`; tests use a
/// fixed sequence.
pub trait Rng01 {
    fn next_f64(&mut self) -> f64;
}

impl<R: rand::Rng> Rng01 for R {
    fn next_f64(&mut self) -> f64 {
        self.r#gen::<f64>()
    }
}

/// The state of one retry loop.
#[derive(Clone, Debug)]
pub struct Backoff {
    cfg: BackoffConfig,
    attempts: u32,
}

impl Backoff {
    pub fn new(cfg: BackoffConfig) -> Self {
        Self { cfg, attempts: 0 }
    }

    /// Failed attempts since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The ceiling for the next delay, before jitter.
    fn ceiling(&self) -> Duration {
        let exp = self.cfg.factor.powi(self.attempts.min(64) as i32);
        let secs = self.cfg.initial.as_secs_f64() * exp;
        let capped = secs.min(self.cfg.max.as_secs_f64());
        Duration::from_secs_f64(capped.max(0.0))
    }

    /// Record a failure and return how long to wait before the next attempt.
    pub fn next_delay(&mut self, rng: &mut (impl Rng01 + ?Sized)) -> Duration {
        let ceiling = self.ceiling();
        self.attempts = self.attempts.saturating_add(1);
        let jitter = self.cfg.jitter.clamp(0.0, 1.0);
        let r = rng.next_f64().clamp(0.0, 1.0);
        ceiling.mul_f64(1.0 - jitter * r)
    }

    /// Record a failure and return the instant of the next attempt.
    pub fn next_at(&mut self, now: Instant, rng: &mut (impl Rng01 + ?Sized)) -> Instant {
        now + self.next_delay(rng)
    }

    /// A success: the next failure starts from the initial delay again.
    pub fn reset(&mut self) {
        self.attempts = 0;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fixed sequence of "random" numbers.
    pub struct Seq(pub Vec<f64>, pub usize);
    impl Rng01 for Seq {
        fn next_f64(&mut self) -> f64 {
            let v = self.0[self.1 % self.0.len()];
            self.1 += 1;
            v
        }
    }

    fn cfg() -> BackoffConfig {
        BackoffConfig {
            initial: Duration::from_millis(100),
            factor: 2.0,
            max: Duration::from_secs(1),
            jitter: 0.5,
        }
    }

    #[test]
    fn grows_exponentially_without_jitter() {
        let mut b = Backoff::new(cfg());
        let mut zero = Seq(vec![0.0], 0);
        let d: Vec<_> = (0..6)
            .map(|_| b.next_delay(&mut zero).as_millis())
            .collect();
        assert_eq!(d, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.attempts(), 6);
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let mut b = Backoff::new(cfg());
        let mut one = Seq(vec![0.999_999], 0);
        // full jitter draw removes up to half the delay
        let d = b.next_delay(&mut one);
        assert!(d >= Duration::from_millis(50) && d <= Duration::from_millis(100));
        let mut rng = rand::thread_rng();
        let mut b = Backoff::new(cfg());
        for _ in 0..100 {
            let c = b.ceiling();
            let d = b.next_delay(&mut rng);
            assert!(d <= c && d >= c / 2, "{d:?} vs {c:?}");
            assert!(d <= Duration::from_secs(1));
        }
    }

    #[test]
    fn reset_on_success() {
        let mut b = Backoff::new(cfg());
        let mut zero = Seq(vec![0.0], 0);
        for _ in 0..5 {
            b.next_delay(&mut zero);
        }
        b.reset();
        assert_eq!(b.next_delay(&mut zero), Duration::from_millis(100));
        let now = Instant::now();
        assert_eq!(b.next_at(now, &mut zero), now + Duration::from_millis(200));
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let mut b = Backoff::new(cfg());
        b.attempts = u32::MAX - 1;
        let mut zero = Seq(vec![0.0], 0);
        assert_eq!(b.next_delay(&mut zero), Duration::from_secs(1));
        assert_eq!(b.next_delay(&mut zero), Duration::from_secs(1));
    }
}
