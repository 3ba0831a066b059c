//! Failed-login throttling: a guessed password costs the guesser time, not the node CPU.
//!
//! Each login name has a count of failures in a row. The first [`FREE_FAILURES`] cost
//! nothing; after that each attempt must wait a delay that doubles from one second up to
//! [`MAX_DELAY`]. While a name must wait, every attempt for it (right password or wrong) is
//! answered 429 with `Retry-After` and argon2 does not run, so the answer is no hint. A
//! success clears the count. Unknown names are tracked like known ones (again: no hint), and
//! the table holds at most [`MAX_TRACKED`] names, dropping the least recently failed, so
//! memory stays bounded whatever names a client invents. Sans-IO: time is passed in.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Failures in a row that cost nothing (typos).
pub const FREE_FAILURES: u32 = 5;
/// The longest wait between attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(300);
/// Names tracked at once.
pub const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Failure counts per login name.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    names: HashMap<String, Failures>,
}

impl LoginThrottle {
    /// `Err(wait)` when `name` may not try again before `wait` has passed.
    pub fn check(&self, name: &str, now: Instant) -> Result<(), Duration> {
        let Some(f) = self.names.get(name) else {
            return Ok(());
        };
        let ready = f.last + delay_after(f.count);
        if now >= ready {
            Ok(())
        } else {
            Err(ready - now)
        }
    }

    /// A wrong password (or an unknown name) for `name`.
    pub fn failed(&mut self, name: &str, now: Instant) {
        if !self.names.contains_key(name)
            && self.names.len() >= MAX_TRACKED
            && let Some(oldest) = self
                .names
                .iter()
                .min_by_key(|(_, f)| f.last)
                .map(|(n, _)| n.clone())
        {
            self.names.remove(&oldest);
        }
        let f = self.names.entry(name.to_owned()).or_insert(Failures {
            count: 0,
            last: now,
        });
        f.count = f.count.saturating_add(1);
        f.last = now;
    }

    /// The right password for `name`: its failures are forgotten.
    pub fn succeeded(&mut self, name: &str) {
        self.names.remove(name);
    }

    /// How many names are tracked.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no name is tracked.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// The wait after `count` failures in a row: none for the free ones, then 1 s, 2 s, 4 s, …
/// up to [`MAX_DELAY`].
fn delay_after(count: u32) -> Duration {
    if count < FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (count - FREE_FAILURES).min(16);
    Duration::from_secs(1u64 << doublings).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_free_then_each_attempt_waits_twice_as_long() {
        let mut t = LoginThrottle::default();
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES - 1 {
            t.failed("alice", t0);
            assert_eq!(t.check("alice", t0), Ok(()));
        }
        t.failed("alice", t0);
        assert_eq!(t.check("alice", t0), Err(Duration::from_secs(1)));
        assert_eq!(t.check("alice", t0 + Duration::from_secs(1)), Ok(()));
        t.failed("alice", t0 + Duration::from_secs(1));
        assert_eq!(
            t.check("alice", t0 + Duration::from_secs(2)),
            Err(Duration::from_secs(1)),
            "the sixth failure waits 2 s"
        );
        // Another name is not affected.
        assert_eq!(t.check("bob", t0), Ok(()));
    }

    #[test]
    fn the_wait_is_capped_and_a_success_clears_it() {
        let mut t = LoginThrottle::default();
        let t0 = Instant::now();
        for _ in 0..100 {
            t.failed("alice", t0);
        }
        assert_eq!(t.check("alice", t0), Err(MAX_DELAY));
        t.succeeded("alice");
        assert_eq!(t.check("alice", t0), Ok(()));
        assert!(t.is_empty());
    }

    #[test]
    fn invented_names_cannot_grow_the_table() {
        let mut t = LoginThrottle::default();
        let t0 = Instant::now();
        for i in 0..MAX_TRACKED + 50 {
            t.failed(&format!("name-{i}"), t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(t.len(), MAX_TRACKED);
        // The least recently failed went first.
        t.failed("name-0", t0);
        assert_eq!(t.len(), MAX_TRACKED);
    }
}
