//! A token-bucket rate limit per client identity (the token's id, or the peer without auth).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::RateLimit;

const MAX_IDENTITIES: usize = 4096;

pub(crate) struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        RateLimiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `who`'s bucket; `Err(seconds)` to wait when it is empty.
    pub(crate) fn check(&self, who: &str, now: Instant) -> Result<(), u64> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_IDENTITIES && !buckets.contains_key(who) {
            // Forget full buckets (idle identities) so the map stays bounded.
            let burst = f64::from(self.limit.burst);
            let rate = self.limit.per_second;
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let burst = f64::from(self.limit.burst);
        let (tokens, at) = buckets.entry(who.to_owned()).or_insert((burst, now));
        let refilled =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.limit.per_second).min(burst);
        *at = now;
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            Ok(())
        } else {
            *tokens = refilled;
            let wait = (1.0 - refilled) / self.limit.per_second;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Err(wait.ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill_at_the_rate() {
        let rl = RateLimiter::new(RateLimit {
            per_second: 2.0,
            burst: 3,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            rl.check("a", t0).unwrap();
        }
        assert_eq!(rl.check("a", t0), Err(1));
        // another identity has its own bucket
        rl.check("b", t0).unwrap();
        // half a second later one request is back
        let t1 = t0 + Duration::from_millis(500);
        rl.check("a", t1).unwrap();
        assert_eq!(rl.check("a", t1), Err(1));
    }
}
