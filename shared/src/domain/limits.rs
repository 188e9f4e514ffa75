//! Rate limits as an exact rule: at most `limit` attempts in any 60 seconds.
//!
//! Attempts are counted in one-second buckets. An attempt at second `t` is
//! allowed only if the buckets `t - 60 ..= t` (61 of them) hold fewer than
//! `limit` attempts. Any 60-second window that holds an attempt at `t` lies within
//! those buckets, so no window ever holds more than `limit`; the price is that an
//! attempt up to one second older than a minute may still count.

use std::collections::BTreeMap;

/// The window a limit speaks of, in seconds.
pub const WINDOW_SECS: i64 = 60;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allowed: the buckets to keep, this attempt counted.
    Allowed(BTreeMap<i64, u32>),
    /// Refused: seconds until an attempt would be allowed.
    Limited { retry_after_secs: u64 },
}

/// Decides an attempt at second `now` given the stored buckets (second -> attempts).
pub fn decide(buckets: &BTreeMap<i64, u32>, now: i64, limit: u32) -> Decision {
    // Buckets after `now` (a clock that went back, or a pinned one) are dropped.
    let live: BTreeMap<i64, u32> = buckets.range(now - WINDOW_SECS..=now).map(|(s, n)| (*s, *n)).collect();
    let total: u64 = live.values().map(|n| u64::from(*n)).sum();
    if total < u64::from(limit) {
        let mut kept = live;
        *kept.entry(now).or_default() += 1;
        return Decision::Allowed(kept);
    }
    // The earliest second at which enough of the oldest buckets have left the window.
    let mut left = total;
    for (second, n) in &live {
        left -= u64::from(*n);
        if left < u64::from(limit) {
            let wait = second + WINDOW_SECS + 1 - now;
            return Decision::Limited { retry_after_secs: u64::try_from(wait).unwrap_or(1).max(1) };
        }
    }
    Decision::Limited { retry_after_secs: 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(limit: u32, attempts: &[i64]) -> Vec<i64> {
        let mut buckets = BTreeMap::new();
        let mut allowed = Vec::new();
        for &t in attempts {
            if let Decision::Allowed(kept) = decide(&buckets, t, limit) {
                buckets = kept;
                allowed.push(t);
            }
        }
        allowed
    }

    #[test]
    fn a_burst_gets_exactly_the_limit() {
        assert_eq!(run(10, &[100; 25]).len(), 10);
    }

    #[test]
    fn across_a_minute_boundary_no_sixty_seconds_hold_more_than_the_limit() {
        // 10 at 59 s and 10 at 61 s: a fixed window allowed all 20 within 2 s.
        let attempts: Vec<i64> = std::iter::repeat_n(59, 10).chain(std::iter::repeat_n(61, 10)).collect();
        assert_eq!(run(10, &attempts).len(), 10);
    }

    #[test]
    fn every_sixty_second_window_of_a_long_steady_stream_holds_at_most_the_limit() {
        // Three attempts a second for 10 minutes against 10 a minute.
        let attempts: Vec<i64> = (0..600).flat_map(|s| [s, s, s]).collect();
        let allowed = run(10, &attempts);
        for start in 0..600 {
            let in_window = allowed.iter().filter(|t| (start..start + WINDOW_SECS).contains(*t)).count();
            assert!(in_window <= 10, "window from {start}: {in_window}");
        }
        assert!(allowed.len() >= 10 * 600 / 61, "the limit is reached, not starved: {}", allowed.len());
    }

    #[test]
    fn retry_after_says_when_enough_attempts_have_aged_out() {
        let mut buckets = BTreeMap::new();
        buckets.insert(100, 4);
        buckets.insert(130, 6);
        assert_eq!(decide(&buckets, 140, 10), Decision::Limited { retry_after_secs: 21 });
        assert!(matches!(decide(&buckets, 161, 10), Decision::Allowed(_)));
    }
}
