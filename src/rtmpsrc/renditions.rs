//! Dynamic streaming for rtmpsrc, without pads, sockets or clocks: the `renditions` property
//! ([`parse`]), the switching [`Policy`], and the [`Splice`] that puts a new rendition's
//! timestamps on the old one's timeline.
//!
//! The policy sees what arrives (bytes and when, and how late media is against its own
//! timestamps) and decides:
//! - down, when media arrives later and later (the link cannot carry the rendition): to the
//!   highest rendition the measured throughput carries with headroom;
//! - up one step, after a stable period, when the link's burst rate (how fast a large video
//!   message arrived) shows room for the next rendition. The probed rendition plays beside
//!   the old one until it has kept pace ([`ProbeWatch`]), or is dropped when it falls behind;
//!   a probe that makes media late again within the probation period after its cut-over goes
//!   back down. Either doubles the stable period (backoff).
//!
//! Times are durations since the stream started, media times are stream milliseconds.

use std::collections::VecDeque;
use std::time::Duration;

use crate::protocol::session::{MediaKind, SessionEvent};

/// One rendition: a stream name and its bitrate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    pub name: String,
    pub kbps: u32,
}

/// Parses `name:kbps` pairs separated by commas, highest bitrate first.
pub fn parse(spec: &str) -> Result<Vec<Rendition>, String> {
    let mut out: Vec<Rendition> = Vec::new();
    for item in spec.split(',').map(str::trim) {
        let Some((name, kbps)) = item.rsplit_once(':') else {
            return Err(format!("'{item}' is not name:kbps"));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("'{item}' has no stream name"));
        }
        let kbps: u32 = match kbps.trim().parse() {
            Ok(k) if k > 0 => k,
            _ => {
                return Err(format!(
                    "'{item}': the bitrate must be a positive kbit/s number"
                ));
            }
        };
        if out.iter().any(|r| r.name == name) {
            return Err(format!("'{name}' is listed twice"));
        }
        if out.last().is_some_and(|last| last.kbps <= kbps) {
            return Err(format!(
                "'{item}': renditions go from the highest bitrate to the lowest"
            ));
        }
        out.push(Rendition {
            name: name.to_owned(),
            kbps,
        });
    }
    if out.len() < 2 {
        return Err("at least two renditions are needed".into());
    }
    Ok(out)
}

/// Media later than at its best by this much means the link falls behind.
pub const LATE_MS: i64 = 600;
/// Media must have been late (more than [`SETTLED_MS`]) this long before a step down.
const LATE_FOR: Duration = Duration::from_millis(500);
/// Probing up needs media this close to its best lateness.
const SETTLED_MS: i64 = 300;
/// Lateness this much below its peak of the last [`DRAIN_WINDOW`] is draining (the link
/// catches up: a probe's or a stall's backlog), not congestion.
const DRAINING_MS: i64 = 150;
const DRAIN_WINDOW: Duration = Duration::from_secs(1);
/// The rendition's bitrate times this must fit the throughput to step down to it.
const DOWN_HEADROOM: f64 = 1.2;
/// The next rendition's bitrate times this must fit the burst rate to probe it. Less than 1:
/// a burst measured from the previous message's arrival is a lower bound of the link (the
/// message may have started later), and a probe that fails backs off.
const UP_HEADROOM: f64 = 0.8;
const THROUGHPUT_WINDOW: Duration = Duration::from_secs(2);
const BURST_WINDOW: Duration = Duration::from_secs(10);
/// Fewer burst samples than this in the window do not measure the link.
const MIN_BURST_SAMPLES: usize = 3;
/// Video messages at least this large measure the link's burst rate.
pub const BURST_MIN_BYTES: usize = 4 * 1024;
/// After a switch, measurements settle this long before the next decision.
const SETTLE: Duration = Duration::from_secs(2);
/// The first wait on a rendition before probing the next one up.
pub const STABLE: Duration = Duration::from_secs(5);
const MAX_STABLE: Duration = Duration::from_secs(60);
/// A probe counts as failed when media becomes late within this long.
const PROBATION: Duration = Duration::from_secs(6);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Media arrived later and later.
    Congestion,
    /// The link showed room for the next rendition.
    Probe,
    /// A probe up made media late.
    ProbeFailed,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Congestion => "congestion",
            Reason::Probe => "probe",
            Reason::ProbeFailed => "probe-failed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub to: usize,
    pub reason: Reason,
    /// The bandwidth estimate it was made on, kbit/s.
    pub estimate_kbps: u32,
}

#[derive(Debug)]
pub struct Policy {
    kbps: Vec<u32>,
    current: usize,
    /// (arrival, bytes) of everything received, for the throughput.
    received: VecDeque<(Duration, usize)>,
    /// (arrival, kbit/s) of burst samples.
    bursts: VecDeque<(Duration, f64)>,
    /// Lateness (arrival minus media time, ms) at its lowest and latest on this rendition.
    best_delay: Option<i64>,
    delay: i64,
    /// Since when media has been late (more than settled): the throughput since then is what
    /// the link carries.
    late_since: Option<Duration>,
    /// (arrival, lateness ms) over the last [`DRAIN_WINDOW`].
    recent_lateness: VecDeque<(Duration, i64)>,
    /// When the current rendition started (or the last switch began).
    since: Duration,
    switching: bool,
    stable: Duration,
    /// An up-switch completed then: its probation runs.
    probation_from: Option<Duration>,
}

impl Policy {
    pub fn new(kbps: Vec<u32>, current: usize) -> Self {
        Policy {
            kbps,
            current,
            received: VecDeque::new(),
            bursts: VecDeque::new(),
            best_delay: None,
            delay: 0,
            late_since: None,
            recent_lateness: VecDeque::new(),
            since: Duration::ZERO,
            switching: false,
            stable: STABLE,
            probation_from: None,
        }
    }

    pub fn current(&self) -> usize {
        self.current
    }

    /// Bytes received on any stream or connection (they share the link).
    pub fn on_bytes(&mut self, now: Duration, bytes: usize) {
        self.received.push_back((now, bytes));
        keep_within(&mut self.received, now, THROUGHPUT_WINDOW);
    }

    /// Media of the played rendition, with its stream time: how late it arrives.
    pub fn on_media_time(&mut self, now: Duration, media_ms: i64) {
        let delay = now.as_millis() as i64 - media_ms;
        self.delay = delay;
        if self.best_delay.is_none_or(|best| delay < best) {
            self.best_delay = Some(delay);
        }
        let lateness = self.lateness_ms();
        if lateness < SETTLED_MS {
            self.late_since = None;
        } else if self.late_since.is_none() {
            self.late_since = Some(now);
        }
        self.recent_lateness.push_back((now, lateness));
        keep_within(&mut self.recent_lateness, now, DRAIN_WINDOW);
    }

    /// Whether lateness is falling: well below its peak of the last second.
    fn draining(&self) -> bool {
        let peak = self.recent_lateness.iter().map(|&(_, l)| l).max();
        peak.is_some_and(|peak| peak - self.lateness_ms() > DRAINING_MS)
    }

    /// A large video message of `bytes` arrived `gap` after the message before it.
    pub fn on_burst(&mut self, now: Duration, bytes: usize, gap: Duration) {
        if bytes < BURST_MIN_BYTES || gap < Duration::from_millis(2) || self.switching {
            return;
        }
        let kbps = bytes as f64 * 8.0 / gap.as_secs_f64() / 1000.0;
        self.bursts.push_back((now, kbps));
        keep_within(&mut self.bursts, now, BURST_WINDOW);
    }

    /// How much later than at its best media arrives now, ms.
    pub fn lateness_ms(&self) -> i64 {
        self.best_delay.map_or(0, |best| self.delay - best)
    }

    /// What the link carried over the last seconds, kbit/s.
    pub fn throughput_kbps(&self, now: Duration) -> f64 {
        // While late, only what arrived since (at least the last half second) counts: before,
        // the link carried the stream, not all it could.
        let from = match self.late_since {
            Some(since) => since.min(now.saturating_sub(Duration::from_millis(500))),
            None => now.saturating_sub(THROUGHPUT_WINDOW),
        };
        // The first message counted marks the start: its bytes came before it.
        let mut first = None;
        let mut bytes = 0;
        for &(t, b) in self.received.iter().filter(|(t, _)| *t >= from) {
            match first {
                None => first = Some(t),
                Some(_) => bytes += b,
            }
        }
        let Some(first) = first else {
            return 0.0;
        };
        let span = now.saturating_sub(first).max(Duration::from_millis(100));
        bytes as f64 * 8.0 / span.as_secs_f64() / 1000.0
    }

    /// The median of the recent burst rates, kbit/s (0 without samples).
    fn burst_kbps(&self) -> f64 {
        let mut rates: Vec<f64> = self.bursts.iter().map(|&(_, k)| k).collect();
        if rates.is_empty() {
            return 0.0;
        }
        rates.sort_by(f64::total_cmp);
        rates[rates.len() / 2]
    }

    /// The bandwidth estimate: the throughput while media falls behind (the link is full),
    /// otherwise at least the burst rate.
    pub fn estimate_kbps(&self, now: Duration) -> u32 {
        let throughput = self.throughput_kbps(now);
        let estimate = if self.lateness_ms() > LATE_MS {
            throughput
        } else {
            throughput.max(self.burst_kbps())
        };
        estimate.round().min(f64::from(u32::MAX)) as u32
    }

    /// What the policy sees, for the debug log.
    pub fn describe(&self, now: Duration) -> String {
        format!(
            "lateness {} ms (best {:?}), throughput {:.0} kbit/s, burst {:.0} kbit/s ({} samples), \
             on {} for {:?}, next probe after {:?}",
            self.lateness_ms(),
            self.best_delay,
            self.throughput_kbps(now),
            self.burst_kbps(),
            self.bursts.len(),
            self.current,
            now.saturating_sub(self.since),
            self.stable
        )
    }

    /// What to do now, if anything; a decision starts a switch (see [`switched`](Self::switched)).
    pub fn tick(&mut self, now: Duration) -> Option<Decision> {
        if self.switching || now.saturating_sub(self.since) < SETTLE {
            return None;
        }
        let lateness = self.lateness_ms();
        let last = self.kbps.len() - 1;
        if let Some(from) = self.probation_from
            && now.saturating_sub(from) >= PROBATION
        {
            // The probe held: the next one may come after the first wait again.
            self.probation_from = None;
            self.stable = STABLE;
        }
        // Late for a while, not a stall that the link then caught up on (a burst, such as a
        // server's cached GOP at the start, overflowing the link's queue once), and not
        // catching up now (a backlog draining).
        let late_for = self
            .late_since
            .map_or(Duration::ZERO, |since| now.saturating_sub(since));
        if lateness > LATE_MS && late_for >= LATE_FOR && !self.draining() && self.current < last {
            let estimate = self.throughput_kbps(now);
            let to = if estimate > 0.0 {
                (self.current + 1..=last)
                    .find(|&i| f64::from(self.kbps[i]) * DOWN_HEADROOM <= estimate)
                    .unwrap_or(last)
            } else {
                // Nothing arrived while late (a stall, the link's queue overflowing): no
                // measure of the link, so one step; another follows if that is still too much.
                self.current + 1
            };
            let reason = if self.probation_from.take().is_some() {
                self.stable = (self.stable * 2).min(MAX_STABLE);
                Reason::ProbeFailed
            } else {
                Reason::Congestion
            };
            return Some(self.start(now, to, reason));
        }
        if self.current > 0
            && self.probation_from.is_none()
            && now.saturating_sub(self.since) >= self.stable
            && lateness < SETTLED_MS
        {
            let next = f64::from(self.kbps[self.current - 1]);
            // The burst rate may not measure the link: a low rendition may send no message
            // large enough, and a server that sends in clumps (node-media-server: a few
            // frames every 140 ms) times its own pauses, below what the link evidently
            // carries. Then it probes anyway, and a probe that fails backs off.
            let burst = self.burst_kbps();
            let unmeasured =
                self.bursts.len() < MIN_BURST_SAMPLES || burst < f64::from(self.kbps[self.current]);
            if unmeasured || burst >= next * UP_HEADROOM {
                return Some(self.start(now, self.current - 1, Reason::Probe));
            }
        }
        None
    }

    fn start(&mut self, now: Duration, to: usize, reason: Reason) -> Decision {
        let estimate_kbps = self.estimate_kbps(now);
        self.switching = true;
        self.since = now;
        Decision {
            to,
            reason,
            estimate_kbps,
        }
    }

    /// The switch of `decision` completed: lateness is measured afresh on the new rendition.
    pub fn switched(&mut self, now: Duration, decision: &Decision) {
        let up = decision.to < self.current;
        self.current = decision.to;
        self.switching = false;
        self.since = now;
        self.best_delay = None;
        self.late_since = None;
        self.recent_lateness.clear();
        self.bursts.clear();
        self.probation_from = up.then_some(now);
    }

    /// A probed rendition did not keep pace beside the played one: wait longer before the
    /// next probe, and measure lateness afresh (the probe's bytes held up the played stream
    /// once; that is not congestion).
    pub fn probe_failed(&mut self, now: Duration) {
        self.switch_failed(now);
        self.best_delay = None;
        self.late_since = None;
        self.recent_lateness.clear();
    }

    /// The switch did not happen (the new rendition did not start): wait longer before
    /// trying again.
    pub fn switch_failed(&mut self, now: Duration) {
        self.switching = false;
        self.since = now;
        self.stable = (self.stable * 2).min(MAX_STABLE);
    }
}

/// Drops the samples of `queue` (oldest first) older than `window` before `now`.
fn keep_within<T>(queue: &mut VecDeque<(Duration, T)>, now: Duration, window: Duration) {
    while queue
        .front()
        .is_some_and(|(t, _)| now.saturating_sub(*t) > window)
    {
        queue.pop_front();
    }
}

/// A probe up plays the new rendition beside the old one and cuts over only at a keyframe
/// after the new one has kept pace this long: a server's cached GOP (node-media-server's)
/// comes as fast as the link carries it, so whether the link carries the rendition shows
/// before the pads depend on it, and the cut lands on live media, not on the cache's past.
pub const PROBE_MEASURE: Duration = Duration::from_millis(800);
/// A probe fails when late (see [`ProbeWatch::on_video`]) this long: short, as its bytes hold
/// up the played rendition meanwhile.
const PROBE_LATE_FOR: Duration = Duration::from_millis(150);
/// A probe still catching up (its media arriving earlier and earlier against its timestamps,
/// by more than [`CATCHING_UP_MS`] within this long) is still in a server's cached GOP.
const CAUGHT_UP_FOR: Duration = Duration::from_millis(400);
const CATCHING_UP_MS: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeVerdict {
    /// Hold this keyframe back (measuring goes on).
    Wait,
    /// Cut over at this keyframe.
    CutOver,
    /// The link did not keep up with the new rendition: drop it.
    Failed,
}

/// How a probed rendition arrives before the cut-over: how late its video comes against
/// its own timestamps, from its first message on.
#[derive(Debug, Default)]
pub struct ProbeWatch {
    first: Option<Duration>,
    best_delay: Option<i64>,
    lateness: i64,
    /// Since when it has been late (more than settled).
    late_since: Option<Duration>,
    /// Its highest lateness since then.
    late_peak: i64,
    /// The best delay when it last improved by [`CATCHING_UP_MS`] or more, and when.
    improved: Option<(i64, Duration)>,
}

impl ProbeWatch {
    /// A video frame of the probed rendition (`media_ms` on its own timeline).
    pub fn on_video(&mut self, now: Duration, media_ms: i64, keyframe: bool) -> ProbeVerdict {
        let delay = now.as_millis() as i64 - media_ms;
        let first = *self.first.get_or_insert(now);
        let best = self.best_delay.map_or(delay, |best| best.min(delay));
        self.best_delay = Some(best);
        if self
            .improved
            .is_none_or(|(mark, _)| best <= mark - CATCHING_UP_MS)
        {
            self.improved = Some((best, now));
        }
        let caught_up = self
            .improved
            .is_some_and(|(_, at)| now.saturating_sub(at) >= CAUGHT_UP_FOR);
        let lateness = delay - best;
        self.lateness = lateness;
        if lateness < SETTLED_MS {
            self.late_since = None;
            self.late_peak = 0;
        } else if self.late_since.is_none() {
            self.late_since = Some(now);
        }
        self.late_peak = self.late_peak.max(lateness);
        let late_for = self
            .late_since
            .map_or(Duration::ZERO, |since| now.saturating_sub(since));
        // Late and not catching up: not one stall whose backlog then comes at once (a
        // publisher's or server's hiccup), which would fail a probe the link carries.
        let draining = self.late_peak - lateness > DRAINING_MS;
        if lateness > LATE_MS && late_for >= PROBE_LATE_FOR && !draining {
            ProbeVerdict::Failed
        } else if keyframe
            && now.saturating_sub(first) >= PROBE_MEASURE
            && lateness < SETTLED_MS
            && caught_up
        {
            ProbeVerdict::CutOver
        } else {
            ProbeVerdict::Wait
        }
    }

    /// What it saw, for the debug log.
    pub fn describe(&self, now: Duration) -> String {
        let measured = self.first.map_or(Duration::ZERO, |t| now.saturating_sub(t));
        format!("measured {measured:?}, {} ms late", self.lateness)
    }
}

/// What a video tag body is, from its first bytes (legacy and Enhanced RTMP headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoPart {
    SequenceHeader,
    Keyframe,
    Frame,
    Other,
}

pub fn video_part(body: &[u8]) -> VideoPart {
    let Some(&first) = body.first() else {
        return VideoPart::Other;
    };
    let keyframe = (first >> 4) & 0x07 == 1;
    let (header, frame) = if first & 0x80 != 0 {
        // Enhanced RTMP: the low nibble is the packet type (0 start, 1/3 coded frames).
        let packet = first & 0x0f;
        (packet == 0, packet == 1 || packet == 3)
    } else {
        match first & 0x0f {
            // AVC and FFmpeg's HEVC id: AVCPacketType 0 = header, 1 = frame.
            7 | 12 => (body.get(1) == Some(&0), body.get(1) == Some(&1)),
            _ => (false, true),
        }
    };
    match (header, frame, keyframe) {
        (true, ..) => VideoPart::SequenceHeader,
        (_, true, true) => VideoPart::Keyframe,
        (_, true, false) => VideoPart::Frame,
        _ => VideoPart::Other,
    }
}

/// The composition time (PTS - DTS, ms) of a legacy AVC/HEVC frame; 0 for anything else.
fn composition_ms(body: &[u8]) -> u32 {
    match body {
        [first, 1, a, b, c, ..] if first & 0x80 == 0 && matches!(first & 0x0f, 7 | 12) => {
            // SI24, sign-extended; a negative one counts as 0 as in the demuxer.
            let raw = i32::from_be_bytes([0, *a, *b, *c]) << 8 >> 8;
            raw.max(0) as u32
        }
        _ => 0,
    }
}

/// Whether `a` comes after `b` on a wrapping 32-bit millisecond timeline.
fn later(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

fn is_audio_header(body: &[u8]) -> bool {
    // AAC (sound format 10) AACPacketType 0, or an Enhanced RTMP audio sequence start.
    match body.first() {
        Some(&b) if b >> 4 == 10 => body.get(1) == Some(&0),
        Some(&b) if b >> 4 == 9 => b & 0x0f == 0,
        _ => false,
    }
}

/// Puts a new rendition on the old one's timeline: its first keyframe takes the place of the
/// next frame of the old stream, and every later timestamp moves by the same amount, so the
/// demuxer sees one stream whose sequence headers changed.
#[derive(Debug, Default)]
pub struct Splice {
    /// Added to the played stream's timestamps (a previous switch).
    offset: u32,
    last_video: Option<u32>,
    /// The latest presentation time of the played video (B-frames: above the last DTS).
    max_video_pts: Option<u32>,
    video_interval: Option<u32>,
    last_audio: Option<u32>,
    /// The candidate's metadata and sequence headers, sent just before its keyframe.
    headers: Vec<SessionEvent>,
    /// Audio at or before this (the old stream's last) is dropped after a cut-over.
    audio_floor: Option<u32>,
    /// Added to the offset at the played stream's next keyframe, ms (see
    /// [`skip_ahead`](Self::skip_ahead)).
    ahead: u32,
}

impl Splice {
    /// Rewrites an event of the played stream and notes its timestamps; `None`: drop it.
    pub fn played(&mut self, event: SessionEvent) -> Option<SessionEvent> {
        if self.ahead > 0
            && let SessionEvent::Media {
                kind: MediaKind::Video,
                payload,
                ..
            } = &event
            && video_part(payload) == VideoPart::Keyframe
        {
            self.offset = self.offset.wrapping_add(std::mem::take(&mut self.ahead));
        }
        let event = shift(event, self.offset);
        match &event {
            SessionEvent::Media {
                kind: MediaKind::Video,
                timestamp,
                payload,
            } if matches!(video_part(payload), VideoPart::Keyframe | VideoPart::Frame) => {
                if let Some(last) = self.last_video {
                    let step = timestamp.wrapping_sub(last);
                    if (1..=200).contains(&step) {
                        self.video_interval = Some(step);
                    }
                }
                self.last_video = Some(*timestamp);
                let pts = timestamp.wrapping_add(composition_ms(payload));
                if self.max_video_pts.is_none_or(|max| later(pts, max)) {
                    self.max_video_pts = Some(pts);
                }
            }
            SessionEvent::Media {
                kind: MediaKind::Audio,
                timestamp,
                ..
            } => {
                if let Some(floor) = self.audio_floor {
                    // Wrapping comparison: at or before the old stream's last audio.
                    if (floor.wrapping_sub(*timestamp) as i32) >= 0 {
                        return None;
                    }
                    self.audio_floor = None;
                }
                self.last_audio = Some(*timestamp);
            }
            _ => {}
        }
        Some(event)
    }

    /// Forgets a candidate that did not start.
    pub fn abandon(&mut self) {
        self.headers.clear();
    }

    /// Moves the played stream `ms` ahead from its next keyframe on. A live stream that fell
    /// behind on a narrow link would otherwise stay that late for good after a switch down:
    /// the timeline skips what the old rendition delivered late, in one step at a keyframe.
    pub fn skip_ahead(&mut self, ms: u32) {
        self.ahead = ms;
    }

    /// Whether a [`skip_ahead`](Self::skip_ahead) waits for its keyframe.
    pub fn skipping(&self) -> bool {
        self.ahead > 0
    }

    /// An event of the rendition being switched to. Returns the events that cut over (its
    /// headers and first keyframe, on the played timeline) once that keyframe is there;
    /// `None` while waiting for it.
    pub fn candidate(&mut self, event: SessionEvent) -> Option<Vec<SessionEvent>> {
        match &event {
            SessionEvent::Data { values, .. }
                if values.first().and_then(|v| v.as_str()) == Some("onMetaData") =>
            {
                self.headers
                    .retain(|e| !matches!(e, SessionEvent::Data { .. }));
                self.headers.push(event);
                None
            }
            SessionEvent::Media {
                kind: MediaKind::Audio,
                payload,
                ..
            } if is_audio_header(payload) => {
                self.headers.retain(|e| {
                    !matches!(
                        e,
                        SessionEvent::Media {
                            kind: MediaKind::Audio,
                            ..
                        }
                    )
                });
                self.headers.push(event);
                None
            }
            SessionEvent::Media {
                kind: MediaKind::Video,
                timestamp,
                payload,
            } => match video_part(payload) {
                VideoPart::SequenceHeader => {
                    self.headers.retain(|e| {
                        !matches!(
                            e,
                            SessionEvent::Media {
                                kind: MediaKind::Video,
                                ..
                            }
                        )
                    });
                    self.headers.push(event);
                    None
                }
                VideoPart::Keyframe => {
                    let interval = self.video_interval.unwrap_or(33);
                    // Both its DTS and its PTS come after the old stream's (B-frames reorder).
                    let next = self
                        .last_video
                        .map_or(*timestamp, |t| t.wrapping_add(interval));
                    let mut offset = next.wrapping_sub(*timestamp);
                    if let Some(max_pts) = self.max_video_pts {
                        let pts = timestamp.wrapping_add(composition_ms(payload));
                        let by_pts = max_pts.wrapping_add(interval).wrapping_sub(pts);
                        if later(by_pts, offset) {
                            offset = by_pts;
                        }
                    }
                    self.offset = offset;
                    let next = timestamp.wrapping_add(offset);
                    self.max_video_pts = None;
                    self.audio_floor = self.last_audio;
                    let mut out: Vec<SessionEvent> = std::mem::take(&mut self.headers)
                        .into_iter()
                        // Headers take the keyframe's time: nothing goes back.
                        .map(|e| retime(e, next))
                        .collect();
                    out.extend(self.played(event));
                    Some(out)
                }
                _ => None,
            },
            _ => None,
        }
    }
}

fn shift(event: SessionEvent, offset: u32) -> SessionEvent {
    match event {
        SessionEvent::Media {
            kind,
            timestamp,
            payload,
        } => SessionEvent::Media {
            kind,
            timestamp: timestamp.wrapping_add(offset),
            payload,
        },
        SessionEvent::Data { timestamp, values } => SessionEvent::Data {
            timestamp: timestamp.wrapping_add(offset),
            values,
        },
        other => other,
    }
}

fn retime(event: SessionEvent, at: u32) -> SessionEvent {
    match event {
        SessionEvent::Media { kind, payload, .. } => SessionEvent::Media {
            kind,
            timestamp: at,
            payload,
        },
        SessionEvent::Data { values, .. } => SessionEvent::Data {
            timestamp: at,
            values,
        },
        other => other,
    }
}

#[cfg(test)]
#[path = "renditions_tests.rs"]
mod tests;
