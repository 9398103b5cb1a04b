//! Backoff between attempts (connections, re-attaches): rhea's doubling from an initial to a
//! maximum delay, with jitter so that many consumers of one group do not retry in step.

use std::time::Duration;

use crate::config::Reconnect;

/// The next delays to wait.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
    jitter: Jitter,
}

impl Backoff {
    pub fn new(policy: &Reconnect) -> Self {
        Backoff {
            initial: policy.initial,
            max: policy.max,
            next: policy.initial,
            jitter: Jitter::new(),
        }
    }

    /// The delay to wait now (jittered to between half and all of it); doubles the next one.
    pub fn delay(&mut self) -> Duration {
        let wait = self.next.mul_f64(self.jitter.factor());
        self.next = (self.next * 2).min(self.max);
        wait
    }

    /// Back to the initial delay (after an attempt that worked).
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

/// A tiny xorshift for backoff jitter: no need for a cryptographic source here.
#[derive(Debug, Clone)]
struct Jitter(u64);

impl Jitter {
    fn new() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        Jitter(seed | 1)
    }

    /// A factor in [0.5, 1.0).
    fn factor(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        0.5 + (self.0 >> 11) as f64 / (1u64 << 53) as f64 / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_between_half_and_one() {
        let mut j = Jitter::new();
        for _ in 0..10_000 {
            let f = j.factor();
            assert!((0.5..1.0).contains(&f), "{f}");
        }
    }

    #[test]
    fn delays_double_up_to_the_maximum_and_reset() {
        let policy = Reconnect {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(350),
            ..Reconnect::default()
        };
        let mut b = Backoff::new(&policy);
        let bounds = [100, 200, 350, 350];
        for top in bounds {
            let d = b.delay();
            assert!(
                d >= Duration::from_millis(top / 2) && d < Duration::from_millis(top),
                "{d:?} for {top}"
            );
        }
        b.reset();
        assert!(b.delay() < Duration::from_millis(100));
    }
}
