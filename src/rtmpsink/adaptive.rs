//! The adaptive-bitrate policy (`adaptive-bitrate=true`): from the figures the connection
//! exposes (what the link carried, how much media waits on our side) it decides the video
//! bitrate and whether to drop a group of pictures. Pure: time and figures come in, decisions
//! go out; the writer samples the connection and applies them (`encoder.rs` sets the encoder).
//!
//! - The estimate is what the link carried over the last [`WINDOW`] (the peer TCP's acknowledged
//!   bytes). While the queue grows the link is the bottleneck, so that is its capacity.
//! - Media waiting longer than [`HIGH_WATER`] lowers the video bitrate to [`FIT`] of the estimate
//!   minus audio, less what drains the media waiting within [`DRAIN_WITHIN`], and at least by
//!   [`STEP_DOWN`]; again after [`HOLD`] if the queue has not started to drain; never below
//!   `min-bitrate`.
//! - Once the queue has stayed under [`LOW_WATER`] for [`RAISE_AFTER`], the bitrate rises by
//!   [`STEP_UP`], step by step, up to the ceiling (the encoder's start bitrate or `max-bitrate`).
//!   The rate the link carried when it last congested is remembered: steps stop just below it,
//!   and probe beyond it only after [`PROBE_AFTER`] of calm (else every probe would queue up);
//!   a probe that makes media wait goes back at once.
//! - A short rise of the delay (a keyframe's burst counted at the rate we sent, a busy CPU)
//!   is no congestion: the delay must stay above [`LOW_WATER`] for [`SUSTAINED`], or above
//!   [`HIGH_WATER`] in two samples in a row, to count.
//!   (The kernel's delivery rate is no better measure of the link there: a shaper's burst
//!   allowance lets a keyframe go at many times the link's rate.)
//! - Beyond `max-delay` the writer drops whole GOPs: from a keyframe to the next one. A GOP
//!   is dropped too when carrying one like the last would take the delay past `max-delay`
//!   (a link far narrower than the stream: each GOP kept takes seconds to go), unless nothing
//!   waits (or nothing would ever go).

use std::collections::VecDeque;
use std::time::Duration;

/// Media waiting longer than this means the link does not carry the current bitrate.
pub const HIGH_WATER: Duration = Duration::from_millis(400);
/// Media waiting less than this means the link keeps up.
pub const LOW_WATER: Duration = Duration::from_millis(150);
/// How long the delay must stay above [`LOW_WATER`] to mean congestion.
pub const SUSTAINED: Duration = Duration::from_millis(300);
/// The estimate's window.
pub const WINDOW: Duration = Duration::from_millis(1000);
/// After lowering, how long the encoder is given before lowering again.
pub const HOLD: Duration = Duration::from_millis(1000);
/// How long the link must keep up before each step up.
pub const RAISE_AFTER: Duration = Duration::from_millis(1000);
/// Share of the estimate the video gets when lowering (the rest drains the queue).
pub const FIT: f64 = 0.8;
/// Lowering leaves room in the estimate to carry what waits within this time.
pub const DRAIN_WITHIN: Duration = Duration::from_secs(3);
/// The share of the estimate the video keeps at least when lowering (before audio).
const MIN_SHARE: f64 = 0.3;
/// A lowering is at least this factor; a raising is this factor (or 100 kbit/s).
pub const STEP_DOWN: f64 = 0.85;
pub const STEP_UP: f64 = 1.3;
const MIN_STEP_UP_KBPS: u32 = 100;
/// How long the bitrate stays just below the last congested rate before probing beyond it.
pub const PROBE_AFTER: Duration = Duration::from_secs(4);
/// Share of the last congested rate that steps up stop at.
const BELOW_CAPACITY: f64 = 0.95;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaptiveConfig {
    pub min_kbps: u32,
    /// The ceiling: `max-bitrate`, or the encoder's bitrate when adaptation started.
    pub max_kbps: u32,
    /// Beyond this delay whole GOPs are dropped (zero: never).
    pub max_delay: Duration,
}

/// One look at the connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    /// Monotonic time since adaptation started.
    pub now: Duration,
    /// Bytes the link carried so far (acknowledged by the peer).
    pub carried_bytes: u64,
    /// Media duration waiting in our queue (from timestamps).
    pub queued_media: Duration,
    /// Bytes beyond the queue not yet on the wire (held by the I/O thread, unsent in the kernel).
    pub unsent_bytes: u64,
    /// Bytes in our queue.
    pub queued_bytes: u64,
    /// Audio payload bytes sent so far (the video's budget is the estimate minus audio).
    pub audio_bytes: u64,
    /// The kernel's latest delivery rate when the link (not we) limited it; 0: unknown.
    pub delivery_kbps: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Congestion,
    Recovery,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Congestion => "congestion",
            Reason::Recovery => "recovery",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub old_kbps: u32,
    pub new_kbps: u32,
    pub reason: Reason,
}

#[derive(Debug)]
pub struct Policy {
    config: AdaptiveConfig,
    current_kbps: u32,
    /// (time, carried bytes, audio bytes) over the last [`WINDOW`] and a bit.
    history: VecDeque<(Duration, u64, u64)>,
    estimate_kbps: u32,
    audio_kbps: u32,
    delay: Duration,
    /// When the bitrate last changed, and the delay and the bytes waiting then.
    last_change: Option<(Duration, Duration, u64)>,
    /// Bytes waiting on our side and in the kernel at the last sample.
    backlog: u64,
    calm_since: Option<Duration>,
    /// What the link carried (kbit/s, audio included) when it last congested.
    capacity: Option<u32>,
    /// Probing beyond `capacity`: the bitrate before the probe.
    probing: Option<u32>,
    /// Since when the delay has been at or above [`LOW_WATER`].
    high_since: Option<Duration>,
    /// Whether the previous sample's delay was above [`HIGH_WATER`].
    was_above_high: bool,
}

impl Policy {
    /// `start_kbps`: the video bitrate in force (clamped into the configured range).
    pub fn new(config: AdaptiveConfig, start_kbps: u32) -> Policy {
        let max_kbps = config.max_kbps.max(config.min_kbps);
        Policy {
            config: AdaptiveConfig { max_kbps, ..config },
            current_kbps: start_kbps.clamp(config.min_kbps, max_kbps),
            history: VecDeque::new(),
            estimate_kbps: 0,
            audio_kbps: 0,
            delay: Duration::ZERO,
            last_change: None,
            backlog: 0,
            calm_since: None,
            capacity: None,
            probing: None,
            high_since: None,
            was_above_high: false,
        }
    }

    pub fn bitrate_kbps(&self) -> u32 {
        self.current_kbps
    }

    /// What the link carried over the last window, in kbit/s (0 before a window has passed).
    pub fn estimate_kbps(&self) -> u32 {
        self.estimate_kbps
    }

    /// Media delay on our side: queued media plus the unsent bytes at the estimated rate.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// Whether a GOP that starts now should be dropped; `last_gop`: the bytes and duration of
    /// the one before, as the encoder made it.
    pub fn drop_gop(&self, last_gop: Option<(u64, Duration)>) -> bool {
        let max_delay = self.config.max_delay;
        if max_delay.is_zero() {
            return false;
        }
        if self.delay > max_delay {
            return true;
        }
        let (Some((bytes, duration)), kbps) = (last_gop, self.estimate_kbps) else {
            return false;
        };
        if self.delay < LOW_WATER || kbps == 0 {
            return false;
        }
        let carried_in = Duration::from_secs_f64(bytes as f64 * 8.0 / 1000.0 / f64::from(kbps));
        self.delay + carried_in.saturating_sub(duration) > max_delay
    }

    /// Takes a sample without deciding a bitrate (`max-delay` alone, without adaptation).
    pub fn observe(&mut self, sample: Sample) {
        self.measure(&sample);
    }

    /// Takes a sample; returns the bitrate change to apply, if any.
    pub fn update(&mut self, sample: Sample) -> Option<Change> {
        self.measure(&sample);
        let now = sample.now;
        let above_high = self.delay > HIGH_WATER;
        let was_above_high = std::mem::replace(&mut self.was_above_high, above_high);
        let twice_above_high = above_high && was_above_high;
        if self.delay >= LOW_WATER {
            let since = *self.high_since.get_or_insert(now);
            if now.saturating_sub(since) < SUSTAINED && !twice_above_high {
                return None;
            }
            self.calm_since = None;
            // A probe beyond the last congested rate that queues up failed: back at once, the
            // link is as narrow as it was.
            if let Some(before) = self.probing.take() {
                return self.change(now, before, Reason::Congestion);
            }
            if self.delay > HIGH_WATER {
                return self.lower(now);
            }
            return None;
        }
        self.high_since = None;
        let calm_since = *self.calm_since.get_or_insert(now);
        let changed_long_ago = self
            .last_change
            .is_none_or(|(at, _, _)| now.saturating_sub(at) >= RAISE_AFTER);
        if now.saturating_sub(calm_since) < RAISE_AFTER || !changed_long_ago {
            return None;
        }
        if self.probing.take().is_some() {
            // The link carried the probe: it has widened.
            self.capacity = None;
        }
        if self.current_kbps >= self.config.max_kbps {
            return None;
        }
        let mut up = ((f64::from(self.current_kbps) * STEP_UP) as u32)
            .max(self.current_kbps + MIN_STEP_UP_KBPS)
            .min(self.config.max_kbps);
        if let Some(capacity) = self.capacity {
            let below = ((f64::from(capacity) * BELOW_CAPACITY) as u32)
                .saturating_sub(self.audio_kbps)
                .max(self.config.min_kbps);
            // Steps smaller than a normal one are no steps: the audio's share wobbles, and
            // each tiny raise would put off the probe.
            if self.current_kbps + MIN_STEP_UP_KBPS <= below {
                up = up.min(below);
            } else if now.saturating_sub(calm_since) < PROBE_AFTER {
                return None;
            } else {
                // Calm for long: the link may have widened.
                self.probing = Some(self.current_kbps);
            }
        }
        self.calm_since = Some(now);
        self.change(now, up, Reason::Recovery)
    }

    fn measure(&mut self, sample: &Sample) {
        self.history
            .push_back((sample.now, sample.carried_bytes, sample.audio_bytes));
        // Keep one sample at least a window old, to measure over the whole window.
        while self.history.len() > 2
            && self
                .history
                .get(1)
                .is_some_and(|(at, _, _)| sample.now.saturating_sub(*at) >= WINDOW)
        {
            self.history.pop_front();
        }
        if let Some(&(at, carried, audio)) = self.history.front() {
            let span = sample.now.saturating_sub(at);
            if span >= WINDOW / 2 {
                let kbps = |bytes: u64| (bytes as f64 * 8.0 / span.as_secs_f64() / 1000.0) as u32;
                self.estimate_kbps = kbps(sample.carried_bytes.saturating_sub(carried));
                self.audio_kbps = kbps(sample.audio_bytes.saturating_sub(audio));
            }
        }
        self.backlog = sample.queued_bytes + sample.unsent_bytes;
        self.delay = self.delay_at_estimate(sample);
        // Congested, the kernel's latest delivery rate tells the link's rate sooner than the
        // window (which still holds the time before the link narrowed).
        if self.delay > LOW_WATER
            && sample.delivery_kbps > 0
            && (self.estimate_kbps == 0 || sample.delivery_kbps < self.estimate_kbps)
        {
            self.estimate_kbps = sample.delivery_kbps;
            self.delay = self.delay_at_estimate(sample);
        }
    }

    /// Queued media plus the bytes beyond the queue at the estimated rate.
    fn delay_at_estimate(&self, sample: &Sample) -> Duration {
        let unsent = match self.estimate_kbps {
            0 => Duration::ZERO,
            kbps => {
                Duration::from_secs_f64(sample.unsent_bytes as f64 * 8.0 / 1000.0 / f64::from(kbps))
            }
        };
        sample.queued_media + unsent
    }

    fn lower(&mut self, now: Duration) -> Option<Change> {
        if let Some((at, delay_then, backlog_then)) = self.last_change {
            // Give the encoder time; after that, lower again only while the queue is not
            // draining (what waits was encoded at the old bitrate and takes a while to go).
            // The bytes tell sooner than the delay: the oldest media waiting keeps ageing while
            // the backlog made before the cut goes out.
            let draining = self.delay < delay_then.mul_f64(0.9)
                || (self.backlog as f64) < backlog_then as f64 * 0.9;
            if now.saturating_sub(at) < HOLD || draining {
                return None;
            }
        }
        // What waits was encoded at the old bitrate: leave room to carry it soon, or the delay
        // stays high until the next lowering.
        let drain = self.delay.as_secs_f64() / DRAIN_WITHIN.as_secs_f64();
        let share = (FIT - drain).max(MIN_SHARE);
        let fit = (f64::from(self.estimate_kbps) * share) as u32;
        let fit = fit.saturating_sub(self.audio_kbps);
        let step = (f64::from(self.current_kbps) * STEP_DOWN) as u32;
        if self.estimate_kbps > 0 {
            self.capacity = Some(self.estimate_kbps);
        }
        let down = match self.estimate_kbps {
            // No estimate yet: a plain step.
            0 => step,
            _ => fit.min(step),
        };
        self.change(now, down.max(self.config.min_kbps), Reason::Congestion)
    }

    fn change(&mut self, now: Duration, kbps: u32, reason: Reason) -> Option<Change> {
        if kbps == self.current_kbps {
            return None;
        }
        let old_kbps = std::mem::replace(&mut self.current_kbps, kbps);
        self.last_change = Some((now, self.delay, self.backlog));
        Some(Change {
            old_kbps,
            new_kbps: kbps,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: AdaptiveConfig = AdaptiveConfig {
        min_kbps: 300,
        max_kbps: 4000,
        max_delay: Duration::from_millis(2000),
    };

    /// A simulated link fed at the policy's bitrate plus 128 kbit/s audio, in steps of 100 ms;
    /// the encoder follows a change at once.
    struct Sim {
        policy: Policy,
        now: Duration,
        carried: u64,
        audio: u64,
        /// Queued bytes, with the bitrate they were encoded at (for the media duration).
        queue: VecDeque<(u64, u32)>,
        changes: Vec<Change>,
        /// Added to the next step's queued media once (a burst, a stalled thread).
        spike: Duration,
    }

    impl Sim {
        fn new() -> Sim {
            Sim {
                policy: Policy::new(CONFIG, 4000),
                now: Duration::ZERO,
                carried: 0,
                audio: 0,
                queue: VecDeque::new(),
                changes: Vec::new(),
                spike: Duration::ZERO,
            }
        }

        fn run(&mut self, link_kbps: u32, seconds: u32) {
            for _ in 0..seconds * 10 {
                self.step(link_kbps);
            }
        }

        /// 100 ms: the encoder's output goes in, the link takes what it can.
        fn step(&mut self, link_kbps: u32) {
            self.now += Duration::from_millis(100);
            let rate = self.policy.bitrate_kbps() + 128;
            self.queue.push_back((u64::from(rate) * 100 / 8, rate));
            self.audio += 128 * 100 / 8;
            let mut budget = u64::from(link_kbps) * 100 / 8;
            while let Some((bytes, _)) = self.queue.front_mut() {
                let taken = budget.min(*bytes);
                *bytes -= taken;
                budget -= taken;
                self.carried += taken;
                if *bytes > 0 {
                    break;
                }
                self.queue.pop_front();
            }
            let queued_media = self
                .queue
                .iter()
                .map(|(bytes, rate)| {
                    Duration::from_secs_f64(*bytes as f64 * 8.0 / 1000.0 / f64::from(*rate))
                })
                .sum::<Duration>()
                + std::mem::take(&mut self.spike);
            let sample = Sample {
                now: self.now,
                carried_bytes: self.carried,
                queued_media,
                unsent_bytes: 0,
                queued_bytes: self.queue.iter().map(|(bytes, _)| bytes).sum(),
                audio_bytes: self.audio,
                delivery_kbps: 0,
            };
            if let Some(change) = self.policy.update(sample) {
                self.changes.push(change);
            }
        }
    }

    /// 8 Mbit/s, 1.5 for 15 s, then 10 s of 8 Mbit/s with `each_step` before each step:
    /// above 2.5 Mbit/s by then; returns the changes after the narrow phase.
    fn recovery_after_a_narrow_link(mut each_step: impl FnMut(&mut Sim, u64)) -> Vec<Change> {
        let mut sim = Sim::new();
        sim.run(8000, 3);
        sim.run(1500, 15);
        let at_narrow_end = sim.changes.len();
        for step in 0..100u64 {
            each_step(&mut sim, step);
            sim.step(8000);
        }
        let after = sim.changes[at_narrow_end..].to_vec();
        assert!(
            sim.policy.bitrate_kbps() > 2500,
            "{} kbit/s 10 s after the link widened: {after:?}",
            sim.policy.bitrate_kbps(),
        );
        after
    }

    #[test]
    fn after_a_narrow_link_it_recovers_within_10_s_with_wobbling_audio() {
        // Audio's measured rate wobbles by a few kbit/s each step.
        recovery_after_a_narrow_link(|sim, step| sim.audio += (step % 3) * 200);
    }

    #[test]
    fn short_spikes_of_delay_on_a_wide_link_neither_fail_a_probe_nor_stop_the_recovery() {
        // Once a second a keyframe's burst (or a busy CPU) makes media wait 450 ms for one
        // sample, beyond HIGH_WATER.
        let after = recovery_after_a_narrow_link(|sim, step| {
            if step % 10 == 5 {
                sim.spike = Duration::from_millis(450);
            }
        });
        assert!(
            after.iter().all(|c| c.reason == Reason::Recovery),
            "{after:?}"
        );
    }

    /// Lowers once on a 1500 kbit/s link, then for 2 s the oldest media keeps ageing while the
    /// bytes waiting go `backlog_after` (per 100 ms): the changes after the first.
    fn after_the_first_cut(backlog_step: i64) -> Vec<Change> {
        let mut policy = Policy::new(CONFIG, 4000);
        let mut changes = Vec::new();
        let mut backlog: i64 = 200_000;
        for tenth in 0..=40u64 {
            let congested = tenth >= 10;
            if congested && !changes.is_empty() {
                backlog = (backlog + backlog_step).max(0);
            }
            let sample = Sample {
                now: Duration::from_millis(tenth * 100),
                carried_bytes: tenth * 18_750,
                queued_media: Duration::from_millis(if congested { tenth * 30 } else { 0 }),
                queued_bytes: if congested { backlog as u64 } else { 0 },
                ..Sample::default()
            };
            changes.extend(policy.update(sample));
        }
        changes
    }

    #[test]
    fn a_cut_that_drains_the_backlog_is_not_followed_by_another() {
        let draining = after_the_first_cut(-10_000);
        assert_eq!(draining.len(), 1, "{draining:?}");
        assert_eq!(draining[0].reason, Reason::Congestion);
        // The same ageing with a backlog that does not shrink: the cut was not enough.
        let stuck = after_the_first_cut(0);
        assert!(stuck.len() >= 2, "{stuck:?}");
    }

    #[test]
    fn a_wide_link_changes_nothing() {
        let mut sim = Sim::new();
        sim.run(8000, 20);
        assert!(sim.changes.is_empty(), "{:?}", sim.changes);
        assert_eq!(sim.policy.bitrate_kbps(), 4000);
        assert!(
            sim.policy.estimate_kbps() > 3900,
            "{}",
            sim.policy.estimate_kbps()
        );
    }

    #[test]
    fn a_narrow_link_lowers_to_fit_keeps_the_delay_bounded_and_recovery_raises_again() {
        let mut sim = Sim::new();
        sim.run(8000, 5);
        let mut worst = Duration::ZERO;
        let mut rates = Vec::new();
        for _ in 0..150 {
            sim.step(1500);
            worst = worst.max(sim.policy.delay());
            rates.push(sim.policy.bitrate_kbps());
        }
        assert!(worst < Duration::from_millis(2000), "worst delay {worst:?}");
        // Over the last 10 s the stream fits the link, probing beyond it now and then.
        let last = &rates[50..];
        let narrow_rate = last.iter().sum::<u32>() / last.len() as u32;
        assert!(
            narrow_rate + 128 <= 1500,
            "{narrow_rate} kbit/s on a 1500 link: {rates:?}"
        );
        let above = last.iter().filter(|r| **r + 128 > 1500).count();
        assert!(
            above * 4 < last.len(),
            "above the link too often: {rates:?}"
        );
        assert!(narrow_rate >= 600, "{narrow_rate} kbit/s: too timid");
        assert_eq!(sim.changes[0].reason, Reason::Congestion);
        assert_eq!(sim.changes[0].old_kbps, 4000);
        // Back to 8 Mbit/s: above 2.5 Mbit/s within 10 s, the ceiling reached, not passed.
        sim.run(8000, 10);
        assert!(
            sim.policy.bitrate_kbps() > 2500,
            "{}",
            sim.policy.bitrate_kbps()
        );
        sim.run(8000, 10);
        assert_eq!(sim.policy.bitrate_kbps(), 4000);
        assert!(
            sim.changes
                .iter()
                .all(|c| c.new_kbps <= 4000 && c.new_kbps >= 300)
        );
    }

    #[test]
    fn never_below_the_minimum_and_gops_dropped_beyond_max_delay() {
        let mut sim = Sim::new();
        sim.run(200, 20);
        assert_eq!(sim.policy.bitrate_kbps(), 300);
        // 428 kbit/s into 200: the queue grows past max-delay.
        assert!(sim.policy.delay() > CONFIG.max_delay);
        assert!(sim.policy.drop_gop(None));
    }

    #[test]
    fn a_gop_that_would_take_the_delay_past_max_delay_is_dropped_unless_nothing_waits() {
        let mut policy = Policy::new(CONFIG, 4000);
        let sample = |tenth: u64, queued_ms: u64| Sample {
            now: Duration::from_millis(tenth * 100),
            // 1200 kbit/s carried
            carried_bytes: tenth * 15_000,
            queued_media: Duration::from_millis(queued_ms),
            ..Sample::default()
        };
        for tenth in 0..=10 {
            policy.observe(sample(tenth, 0));
        }
        assert_eq!(policy.estimate_kbps(), 1200);
        // A 1 s GOP of 4 Mbit/s takes 3.3 s at 1.2 Mbit/s: 2.3 s more delay at its end.
        let gop = Some((500_000, Duration::from_secs(1)));
        assert!(!policy.drop_gop(gop), "nothing waits: kept");
        policy.observe(sample(11, 500));
        assert!(policy.drop_gop(gop), "0.5 + 2.3 s > 2 s");
        // A GOP the link carries within its own duration adds nothing.
        assert!(!policy.drop_gop(Some((100_000, Duration::from_secs(1)))));
        policy.observe(sample(12, 2500));
        assert!(policy.drop_gop(None), "beyond max-delay");
    }

    #[test]
    fn a_zero_max_delay_never_drops() {
        let mut policy = Policy::new(
            AdaptiveConfig {
                max_delay: Duration::ZERO,
                ..CONFIG
            },
            1000,
        );
        policy.update(Sample {
            now: Duration::from_secs(1),
            queued_media: Duration::from_secs(30),
            ..Sample::default()
        });
        assert!(!policy.drop_gop(None));
    }

    #[test]
    fn when_congested_the_delivery_rate_corrects_a_stale_window() {
        let mut policy = Policy::new(CONFIG, 4000);
        for tenth in 0..=10u64 {
            policy.update(Sample {
                now: Duration::from_millis(tenth * 100),
                // 4000 kbit/s carried over the window
                carried_bytes: tenth * 50_000,
                delivery_kbps: 1500,
                ..Sample::default()
            });
        }
        assert_eq!(policy.estimate_kbps(), 4000, "not congested: the window");
        // Media waits for the SUSTAINED time that makes it congestion.
        let changes: Vec<Change> = (11..=14u64)
            .filter_map(|tenth| {
                policy.update(Sample {
                    now: Duration::from_millis(tenth * 100),
                    carried_bytes: tenth * 50_000,
                    queued_media: Duration::from_millis(500),
                    delivery_kbps: 1500,
                    ..Sample::default()
                })
            })
            .collect();
        assert_eq!(policy.estimate_kbps(), 1500);
        let change = *changes.first().expect("lowered");
        assert!(change.new_kbps + 128 < 1500, "{change:?}");
    }

    #[test]
    fn unsent_bytes_count_at_the_estimated_rate() {
        let mut policy = Policy::new(CONFIG, 4000);
        for tenth in 0..=10u64 {
            policy.update(Sample {
                now: Duration::from_millis(tenth * 100),
                // 1000 kbit/s carried
                carried_bytes: tenth * 12_500,
                unsent_bytes: 125_000,
                ..Sample::default()
            });
        }
        assert_eq!(policy.estimate_kbps(), 1000);
        // 125 kB at 1000 kbit/s: one second.
        assert_eq!(policy.delay(), Duration::from_secs(1));
    }
}
