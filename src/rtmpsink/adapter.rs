//! The writer's side of adaptation (`adaptive-bitrate`, `max-delay`): it samples the connection
//! as tags go out, feeds the [`Policy`], and says what to do with each tag (send it, or drop it
//! as part of a dropped group of pictures) and which bitrate change to apply. Applying it (the
//! encoder's property, the bus message) is the writer's job, outside its locks.
//!
//! The delay is measured in wall time: each media tag handed to the connection is remembered
//! with the instant it was handed, and the oldest one the I/O thread has not taken yet tells
//! how long media waits on our side. (Timestamps alone would count the gap a dropped GOP
//! leaves as waiting media.) Bytes beyond our queue (held by the I/O thread, unsent in the
//! kernel, in flight in the network) count at the estimated rate.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::adaptive::{AdaptiveConfig, Change, Policy, Sample};
use super::link::Tag;
use crate::connection::LinkFigures;
use crate::flv::TagType;

/// How often the connection is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// With an encoder of unknown bitrate and no `max-bitrate`, the ceiling is the video bitrate
/// measured over this long first.
const MEASURE_START: Duration = Duration::from_secs(2);
/// Bound on remembered tags (a stalled connection must not grow it without end).
const MAX_HANDED: usize = 20_000;

/// The adaptation properties of rtmpsink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaptiveSettings {
    pub enabled: bool,
    pub min_kbps: u32,
    /// 0: the encoder's bitrate at start.
    pub max_kbps: u32,
    /// 0: never drop.
    pub max_delay: Duration,
}

impl AdaptiveSettings {
    /// Whether the writer measures at all (either feature on).
    pub fn active(&self) -> bool {
        self.enabled || !self.max_delay.is_zero()
    }
}

/// What the writer does with a tag.
#[derive(Debug, Default)]
pub struct Verdict {
    pub drop: bool,
    /// A bitrate change to apply (adaptive-bitrate only).
    pub change: Option<Change>,
}

/// The figures `stats` shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdaptiveStats {
    pub bitrate_kbps: u32,
    pub estimate_kbps: u32,
    pub delay: Duration,
    pub dropped_gops: u64,
    pub dropped_bytes: u64,
}

#[derive(Debug)]
pub struct Adapter {
    settings: AdaptiveSettings,
    started: Option<Instant>,
    last_sample: Option<Instant>,
    policy: Option<Policy>,
    /// The encoder's bitrate when adaptation started (`None`: unknown, measure it).
    start_kbps: Option<u32>,
    /// Media tags handed to the connection and not yet known to be taken: (timestamp, when).
    handed: VecDeque<(u32, Instant)>,
    /// Inside a dropped group of pictures.
    dropping: bool,
    /// The current GOP as the encoder makes it: its keyframe's timestamp, media bytes so far.
    gop: Option<(u32, u64)>,
    /// The last whole GOP: bytes and duration.
    last_gop: Option<(u64, Duration)>,
    stats: AdaptiveStats,
    /// The connection sampled (its address: identity only).
    connection: Option<usize>,
}

impl Adapter {
    pub fn new(settings: AdaptiveSettings) -> Adapter {
        Adapter {
            settings,
            started: None,
            last_sample: None,
            policy: None,
            start_kbps: None,
            handed: VecDeque::new(),
            dropping: false,
            gop: None,
            last_gop: None,
            stats: AdaptiveStats::default(),
            connection: None,
        }
    }

    pub fn settings(&self) -> AdaptiveSettings {
        self.settings
    }

    /// The encoder's bitrate in force at start, when it is known.
    pub fn set_start_kbps(&mut self, kbps: Option<u32>) {
        self.start_kbps = kbps;
    }

    pub fn stats(&self) -> AdaptiveStats {
        self.stats
    }

    /// Whether the next tag samples the connection (the writer then reads its figures).
    pub fn sample_due(&self, now: Instant) -> bool {
        self.last_sample
            .is_none_or(|at| now.duration_since(at) >= SAMPLE_EVERY)
    }

    /// Decides for `tag` before it is sent. `figures`: the connection's, when there is one;
    /// `video_bytes`/`audio_bytes`: what was sent so far.
    pub fn on_tag(
        &mut self,
        tag: &Tag,
        now: Instant,
        figures: Option<LinkFigures>,
        video_bytes: u64,
        audio_bytes: u64,
    ) -> Verdict {
        let started = *self.started.get_or_insert(now);
        let mut verdict = Verdict::default();
        if self.sample_due(now)
            && let Some(figures) = figures
        {
            self.last_sample = Some(now);
            self.ensure_policy(now.duration_since(started), video_bytes);
            let sample = self.sample(now, started, &figures, audio_bytes);
            if let Some(policy) = self.policy.as_mut() {
                if self.settings.enabled {
                    verdict.change = policy.update(sample);
                } else {
                    policy.observe(sample);
                }
                self.stats.bitrate_kbps = policy.bitrate_kbps();
                self.stats.estimate_kbps = policy.estimate_kbps();
                self.stats.delay = policy.delay();
            }
        }
        verdict.drop = self.drop_decision(tag);
        if verdict.drop {
            self.stats.dropped_bytes += tag.body.len() as u64;
        }
        verdict
    }

    /// Remembers a media tag handed to the connection.
    pub fn handed(&mut self, tag_type: TagType, timestamp: u32, now: Instant) {
        if tag_type == TagType::Script {
            return;
        }
        if self.handed.len() >= MAX_HANDED {
            self.handed.pop_front();
        }
        self.handed.push_back((timestamp, now));
    }

    /// A new connection (reconnected, or moved): what the old one held is gone.
    pub fn connection_changed(&mut self, id: usize) {
        if self.connection != Some(id) {
            self.connection = Some(id);
            self.handed.clear();
        }
    }

    fn ensure_policy(&mut self, elapsed: Duration, video_bytes: u64) {
        if self.policy.is_some() {
            return;
        }
        let configured = Some(self.settings.max_kbps).filter(|kbps| *kbps > 0);
        let start = match self.start_kbps.or(configured) {
            Some(kbps) => kbps,
            // An encoder we cannot read: what it produced so far.
            None if elapsed >= MEASURE_START => {
                (video_bytes as f64 * 8.0 / 1000.0 / elapsed.as_secs_f64()) as u32
            }
            None => return,
        };
        let config = AdaptiveConfig {
            min_kbps: self.settings.min_kbps,
            max_kbps: configured.unwrap_or(start),
            max_delay: self.settings.max_delay,
        };
        self.policy = Some(Policy::new(config, start));
    }

    fn sample(
        &mut self,
        now: Instant,
        started: Instant,
        figures: &LinkFigures,
        audio_bytes: u64,
    ) -> Sample {
        // Forget what the I/O thread has taken; the first one left is the oldest waiting.
        if let Some(taken) = figures.last_taken_ts {
            while self
                .handed
                .front()
                .is_some_and(|(ts, _)| taken.wrapping_sub(*ts) < u32::MAX / 2)
            {
                self.handed.pop_front();
            }
        }
        let queued_media = match self.handed.front() {
            Some((_, at)) if figures.queued_bytes > 0 => now.duration_since(*at),
            _ => Duration::ZERO,
        };
        let tcp = figures.tcp.unwrap_or_default();
        let carried_bytes = match figures.tcp {
            Some(tcp) => tcp.bytes_acked,
            // RTMPT: only the server's acknowledgements tell.
            None => figures.server_acked_bytes,
        };
        Sample {
            now: now.duration_since(started),
            carried_bytes,
            queued_media,
            unsent_bytes: figures.held_bytes as u64
                + u64::from(tcp.notsent_bytes)
                + tcp.in_flight_bytes,
            queued_bytes: figures.queued_bytes as u64,
            audio_bytes,
            delivery_kbps: match figures.tcp {
                Some(tcp) if !tcp.app_limited => (tcp.delivery_rate * 8 / 1000) as u32,
                _ => 0,
            },
        }
    }

    /// Whole groups of pictures: the decision is taken at a keyframe and holds (for video and
    /// audio alike, so both have the same gap) until the next one. Headers and metadata always go.
    fn drop_decision(&mut self, tag: &Tag) -> bool {
        // Every track's sequence start, colorInfo and channel layout as well as metadata: a
        // decoder needs them whatever was dropped.
        if tag.header_key().is_some() {
            return false;
        }
        if tag.is_video_keyframe() {
            if let Some((started, bytes)) = self.gop {
                let duration = crate::connection::media_between(started, tag.timestamp);
                self.last_gop = Some((bytes, duration));
            }
            self.gop = Some((tag.timestamp, 0));
            let last_gop = self.last_gop;
            let drop = self
                .policy
                .as_ref()
                .is_some_and(|policy| policy.drop_gop(last_gop));
            if drop {
                self.stats.dropped_gops += 1;
            }
            self.dropping = drop;
        }
        if let Some((_, bytes)) = self.gop.as_mut() {
            *bytes += tag.body.len() as u64;
        }
        self.dropping
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::chunk::Payload;
    use bytes::Bytes;

    const SETTINGS: AdaptiveSettings = AdaptiveSettings {
        enabled: true,
        min_kbps: 300,
        max_kbps: 0,
        max_delay: Duration::from_millis(1000),
    };

    fn tag(tag_type: TagType, timestamp: u32, body: &'static [u8]) -> Tag {
        Tag {
            tag_type,
            timestamp,
            body: Payload::from(Bytes::from_static(body)),
        }
    }

    fn key(ts: u32) -> Tag {
        tag(TagType::Video, ts, b"\x17\x01\0\0\0key")
    }
    fn inter(ts: u32) -> Tag {
        tag(TagType::Video, ts, b"\x27\x01\0\0\0inter")
    }
    fn audio(ts: u32) -> Tag {
        tag(TagType::Audio, ts, b"\xAF\x01aac")
    }

    /// Figures of a connection that took nothing since `taken`, with `queued` bytes waiting.
    fn figures(taken: Option<u32>, queued: usize) -> LinkFigures {
        LinkFigures {
            queued_bytes: queued,
            last_taken_ts: taken,
            ..LinkFigures::default()
        }
    }

    #[test]
    fn a_stuck_queue_drops_whole_gops_with_their_audio_and_resumes_at_a_keyframe() {
        let mut adapter = Adapter::new(SETTINGS);
        adapter.set_start_kbps(Some(2000));
        let t0 = Instant::now();
        let mut sent = Vec::new();
        // 30 frames a second, a keyframe every 10, audio between; the connection takes nothing
        // after the first frame for the first 2 s, then everything.
        for frame in 0..90u32 {
            let ts = frame * 33;
            let now = t0 + Duration::from_millis(u64::from(ts));
            let stuck = ts < 2000;
            let taken = if stuck { Some(0) } else { Some(ts) };
            let fig = figures(taken, if stuck { 100_000 } else { 0 });
            for t in [
                if frame % 10 == 0 { key(ts) } else { inter(ts) },
                audio(ts + 1),
            ] {
                let verdict = adapter.on_tag(&t, now, Some(fig), 0, 0);
                if !verdict.drop {
                    adapter.handed(t.tag_type, t.timestamp, now);
                    sent.push((t.timestamp, t.tag_type, t.is_video_keyframe()));
                }
            }
        }
        let stats = adapter.stats();
        assert!(stats.dropped_gops >= 1, "{stats:?}");
        // Every sent video run starts at a keyframe after a gap; audio has the same gap.
        let mut previous: Option<u32> = None;
        for &(ts, kind, keyframe) in &sent {
            if kind == TagType::Video {
                if let Some(p) = previous
                    && ts - p > 40
                {
                    assert!(keyframe, "a dropped run ends at a keyframe ({ts})");
                }
                previous = Some(ts);
            }
        }
        let video: Vec<u32> = sent
            .iter()
            .filter(|s| s.1 == TagType::Video)
            .map(|s| s.0)
            .collect();
        for &(ts, kind, _) in &sent {
            if kind == TagType::Audio {
                assert!(
                    video.iter().any(|v| *v + 1 == ts),
                    "audio {ts} kept without its video"
                );
            }
        }
        assert!(sent.len() < 180, "nothing dropped");
        // Recovered: the last GOP went out whole.
        assert_eq!(video.last(), Some(&(89 * 33)));
    }

    #[test]
    fn headers_and_metadata_are_never_dropped() {
        let mut adapter = Adapter::new(SETTINGS);
        adapter.set_start_kbps(Some(2000));
        let t0 = Instant::now();
        adapter.handed(TagType::Video, 0, t0);
        adapter.handed(TagType::Audio, 1, t0);
        let late = t0 + Duration::from_secs(5);
        assert!(
            adapter
                .on_tag(&key(5000), late, Some(figures(Some(0), 1000)), 0, 0)
                .drop
        );
        let header = tag(TagType::Video, 5000, b"\x17\0\0\0\0\x01avcc");
        let script = tag(TagType::Script, 5000, b"\x02\0\x0aonMetaData");
        let aac_header = tag(TagType::Audio, 5000, b"\xAF\0\x12\x10");
        // Enhanced RTMP: colorInfo, and track 1's sequence start and channel layout.
        let color_info = tag(TagType::Video, 5000, b"\x94hvc1\x02");
        let track_1_start = tag(TagType::Audio, 5000, b"\x95\x00Opus\x01OpusHead");
        let track_1_channels = tag(TagType::Audio, 5000, b"\x95\x04Opus\x01\x01\x02");
        for t in [
            header,
            script,
            aac_header,
            color_info,
            track_1_start,
            track_1_channels,
        ] {
            assert!(!adapter.on_tag(&t, late, None, 0, 0).drop, "{t:?}");
        }
        assert!(adapter.on_tag(&audio(5001), late, None, 0, 0).drop);
    }

    #[test]
    fn off_without_max_delay_and_no_drop_without_it() {
        let settings = AdaptiveSettings {
            max_delay: Duration::ZERO,
            ..SETTINGS
        };
        assert!(settings.active());
        assert!(
            !AdaptiveSettings {
                enabled: false,
                ..settings
            }
            .active()
        );
        let mut adapter = Adapter::new(settings);
        adapter.set_start_kbps(Some(2000));
        let t0 = Instant::now();
        adapter.handed(TagType::Video, 0, t0);
        adapter.handed(TagType::Audio, 1, t0);
        // 30 s waiting, for longer than a passing burst: congestion, so it still lowers.
        let mut changes = Vec::new();
        for tenth in 0..5 {
            let late = t0 + Duration::from_secs(30) + Duration::from_millis(tenth * 100);
            let verdict = adapter.on_tag(&key(30_000), late, Some(figures(Some(0), 1000)), 0, 0);
            assert!(!verdict.drop);
            changes.extend(verdict.change);
        }
        assert!(!changes.is_empty());
    }

    #[test]
    fn an_unknown_encoder_starts_from_the_measured_bitrate() {
        let mut adapter = Adapter::new(SETTINGS);
        let t0 = Instant::now();
        assert!(
            adapter
                .on_tag(&key(0), t0, Some(figures(None, 0)), 0, 0)
                .change
                .is_none()
        );
        assert_eq!(adapter.stats().bitrate_kbps, 0);
        // 2 s of 1000 kbit/s video.
        let later = t0 + Duration::from_secs(2);
        adapter.on_tag(&inter(2000), later, Some(figures(None, 0)), 250_000, 0);
        assert_eq!(adapter.stats().bitrate_kbps, 1000);
    }
}
