//! `peak-kbps`: a bandwidth limit on the send path, as a token bucket in virtual time.
//!
//! Each message occupies the link for its size at the peak rate; the next one may start when
//! the previous ones have used their time. Up to [`BURST`] of unused time is credited, so a
//! stream below the limit is never delayed by its own jitter (a keyframe after small frames
//! goes out at once as long as the average stays under the limit), while over any interval no
//! more than `rate * interval` plus one burst and one message is sent.

use std::time::{Duration, Instant};

/// Unused sending time that is credited to later messages.
pub const BURST: Duration = Duration::from_millis(100);

#[derive(Debug, Default)]
pub struct Pacer {
    /// When the messages accounted so far have used up their time at the peak rate.
    free_at: Option<Instant>,
}

impl Pacer {
    /// How long to wait, from `now`, before sending `bytes` with a limit of `kbps` (1000 bits
    /// per second; 0: unlimited), accounting them as sent then.
    pub fn delay(&mut self, now: Instant, bytes: usize, kbps: u32) -> Duration {
        if kbps == 0 {
            self.free_at = None;
            return Duration::ZERO;
        }
        let earliest = now.checked_sub(BURST).unwrap_or(now);
        let start = self.free_at.map_or(now, |free| free.max(earliest));
        let busy = Duration::from_secs_f64(bytes as f64 * 8.0 / (f64::from(kbps) * 1000.0));
        self.free_at = Some(start + busy);
        start.saturating_duration_since(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_never_waits() {
        let mut pacer = Pacer::default();
        let now = Instant::now();
        for _ in 0..100 {
            assert_eq!(pacer.delay(now, 1_000_000, 0), Duration::ZERO);
        }
    }

    #[test]
    fn a_burst_is_spread_at_the_peak_rate() {
        let mut pacer = Pacer::default();
        let now = Instant::now();
        // 800 kbit/s = 100 kB/s: ten 10 kB messages at once take 0.9 s to start.
        let delays: Vec<Duration> = (0..10).map(|_| pacer.delay(now, 10_000, 800)).collect();
        for (i, delay) in delays.iter().enumerate() {
            let expected = Duration::from_millis(100 * i as u64);
            assert!(
                delay.abs_diff(expected) < Duration::from_micros(10),
                "{delays:?}"
            );
        }
    }

    #[test]
    fn a_stream_under_the_limit_is_not_delayed_and_idle_time_is_credited_up_to_a_burst() {
        let mut pacer = Pacer::default();
        let start = Instant::now();
        // 50 kB/s against 100 kB/s: 5 kB every 100 ms never waits.
        for i in 0..20 {
            let now = start + Duration::from_millis(100 * i);
            assert_eq!(pacer.delay(now, 5_000, 800), Duration::ZERO);
        }
        // After a long pause, at most BURST is credited: 30 kB at once (300 ms at the peak rate)
        // has the third 10 kB start 100 ms late, not at once.
        let later = start + Duration::from_secs(10);
        assert_eq!(pacer.delay(later, 10_000, 800), Duration::ZERO);
        assert_eq!(pacer.delay(later, 10_000, 800), Duration::ZERO);
        let third = pacer.delay(later, 10_000, 800);
        assert!(
            third.abs_diff(Duration::from_millis(100)) < Duration::from_micros(10),
            "{third:?}"
        );
    }
}
