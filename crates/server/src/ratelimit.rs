//! A token bucket per connection. Time is passed in, so it is tested without sleeping.

use std::time::Instant;

#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    /// Consecutive refusals; a client that keeps flooding is disconnected.
    pub strikes: u32,
}

impl TokenBucket {
    pub fn new(rate: f64, burst: f64, now: Instant) -> Self {
        Self {
            rate,
            burst: burst.max(1.0),
            tokens: burst.max(1.0),
            last: now,
            strikes: 0,
        }
    }

    /// Take one token; false when the bucket is empty.
    pub fn take(&mut self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.strikes = 0;
            true
        } else {
            self.strikes += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 5.0, t0);
        assert!((0..5).all(|_| b.take(t0)));
        assert!(!b.take(t0));
        assert_eq!(b.strikes, 1);
        // 100 ms at 10/s refills one token
        assert!(b.take(t0 + Duration::from_millis(100)));
        assert!(!b.take(t0 + Duration::from_millis(100)));
        // never more than the burst
        let later = t0 + Duration::from_secs(60);
        assert!((0..5).all(|_| b.take(later)));
        assert!(!b.take(later));
    }
}
