//! The timing policy of a recorded stream: where a seek lands, what arrives around it that must
//! be dropped, and what a resume after a pause must not repeat. No pads, sockets or clocks:
//! session events and demuxer actions go in, the actions to carry out come out.
//!
//! - After a seek is sent, media still arrives from before it until the server's
//!   `NetStream.Seek.Notify` (nginx-rtmp: StreamEOF, Seek.Notify, StreamBegin): all of it is
//!   dropped, and so is the StreamEOF, which does not end the stream here.
//! - Servers land seeks on different keyframes: FMS on the one at or before the time, nginx-rtmp
//!   on the first index entry strictly after it (FLV) or the keyframe at or after it (MP4). So
//!   the server is asked for an earlier time (the index entry before the wanted keyframe, when
//!   onMetaData carries a `keyframes` index), and asked again, further back, when it still
//!   lands past the target. From where it lands, frames are held until the last keyframe at or
//!   before the target is known (KEY_UNIT snapping before, and ACCURATE, whose segment starts
//!   at the target so that downstream clips), or dropped up to the first keyframe at or after
//!   it (SNAP_AFTER). What is held is bounded in time.
//! - Resuming after a pause seeks to the last position received the same way (nginx-rtmp
//!   restarts an FLV from its last seek point on unpause) and drops frames up to what was
//!   already pushed, so nothing is repeated and nothing lost.

use std::time::Duration;

use gst::ClockTime;

use super::demux::{Action, EndReason, Frame, StreamKind};
use crate::protocol::amf0::Amf0Value;
use crate::protocol::session::SessionEvent;

/// A server that never confirms a seek is believed after this long.
pub const SEEK_NOTIFY_TIMEOUT: Duration = Duration::from_secs(5);
/// Frames held while the segment's first keyframe is not known yet span at most this much.
const MAX_HELD_MS: i64 = 5000;
/// Seeks asked again, further back, when the server lands past the target.
const MAX_RESEEKS: u32 = 3;
/// The distance between keyframes assumed until the stream shows it.
const DEFAULT_GOP_MS: i64 = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Snap {
    /// The segment starts at the requested position; data starts at the keyframe before it.
    Accurate,
    /// The segment starts at the keyframe at or before the position.
    KeyBefore,
    /// The segment starts at the first keyframe at or after the position.
    KeyAfter,
}

#[derive(Debug, Clone)]
pub struct SeekRequest {
    /// The segment asked for: `start` is the requested position.
    pub segment: gst::FormattedSegment<ClockTime>,
    pub snap: Snap,
    pub seqnum: gst::Seqnum,
}

impl SeekRequest {
    pub fn target_ms(&self) -> u64 {
        self.segment.start().map_or(0, ClockTime::mseconds)
    }
}

/// What starting a seek needs from the caller.
#[derive(Debug)]
pub enum SeekStart {
    /// Send the RTMP seek to this many milliseconds.
    Send(u32),
    /// Nothing to ask the server: carry out these actions (segment, EOS).
    Done(Vec<Action>),
}

#[derive(Debug)]
enum Purpose {
    Seek(SeekRequest),
    /// Back to where playback was: frames up to `last_main` (ms) were pushed already.
    Resume {
        last_main: i64,
    },
}

/// A seek on its way to the server, and how often it was asked again.
#[derive(Debug)]
struct Landing {
    purpose: Purpose,
    asked_ms: u64,
    attempts: u32,
}

impl Landing {
    /// The keyframe wanted is at or before this (or, snapping after, at or past it).
    fn target(&self) -> i64 {
        match &self.purpose {
            Purpose::Seek(request) => request.target_ms() as i64,
            Purpose::Resume { last_main } => *last_main,
        }
    }

    fn snap(&self) -> Snap {
        match &self.purpose {
            Purpose::Seek(request) => request.snap,
            Purpose::Resume { .. } => Snap::KeyBefore,
        }
    }
}

#[derive(Debug)]
enum Phase {
    Flowing,
    /// The seek is sent; what arrives until the server confirms it came from before.
    AwaitNotify {
        landing: Landing,
        since: Duration,
    },
    /// Confirmed: the first frames decide where the segment starts. With `candidate`, `held`
    /// starts with the last keyframe at or before the target seen so far.
    AwaitStart {
        landing: Landing,
        held: Vec<(StreamKind, Frame)>,
        candidate: bool,
    },
    /// After a resume: frames up to the last ones pushed are repeats.
    Resuming,
}

#[derive(Debug)]
pub struct Playback {
    phase: Phase,
    /// The DTS (ms) of the last frame passed on, per stream (video, audio).
    last_dts: [Option<i64>; 2],
    duration_ms: Option<u64>,
    segment: gst::FormattedSegment<ClockTime>,
    seqnum: Option<gst::Seqnum>,
    /// The stream ended (EOS went out): nothing more until the next seek.
    stopped: bool,
    /// Keyframe times (ms) from onMetaData's `keyframes` index, ascending.
    keyframes: Vec<i64>,
    /// Distance between the last two keyframes of the main stream.
    gop_ms: i64,
    last_key_dts: Option<i64>,
    /// A seek to send to the server again (it landed past the target).
    server_seek: Option<u32>,
    /// Streams whose first frame since the seek's segment has not come yet.
    needs_discont: [bool; 2],
}

impl Default for Playback {
    fn default() -> Self {
        Self::new()
    }
}

fn index(kind: StreamKind) -> usize {
    match kind {
        StreamKind::Video => 0,
        StreamKind::Audio => 1,
    }
}

fn ms_to_time(ms: i64) -> ClockTime {
    ClockTime::from_mseconds(ms.max(0) as u64)
}

fn to_u32(ms: u64) -> u32 {
    ms.min(u64::from(u32::MAX)) as u32
}

/// The stream whose keyframes place segments: video when there is a video pad.
fn main_kind(has_video: bool) -> StreamKind {
    if has_video {
        StreamKind::Video
    } else {
        StreamKind::Audio
    }
}

impl Playback {
    pub fn new() -> Self {
        Playback {
            phase: Phase::Flowing,
            last_dts: [None; 2],
            duration_ms: None,
            segment: gst::FormattedSegment::new(),
            seqnum: None,
            stopped: false,
            keyframes: Vec::new(),
            gop_ms: DEFAULT_GOP_MS,
            last_key_dts: None,
            server_seek: None,
            needs_discont: [false; 2],
        }
    }

    /// The segment in force, for a pad added now.
    pub fn segment(&self) -> (&gst::FormattedSegment<ClockTime>, Option<gst::Seqnum>) {
        (&self.segment, self.seqnum)
    }

    /// Records the duration; true when it changed.
    pub fn set_duration_ms(&mut self, ms: u64) -> bool {
        let changed = self.duration_ms != Some(ms);
        self.duration_ms = Some(ms);
        changed
    }

    /// Takes the keyframe index of onMetaData (`keyframes.times`, in seconds), which FLV files
    /// written with one carry (nginx-rtmp seeks in FLV only through it).
    pub fn read_metadata(&mut self, values: &[Amf0Value]) {
        let times = values
            .iter()
            .find_map(|v| v.get("keyframes"))
            .and_then(|k| k.get("times"));
        let Some(Amf0Value::StrictArray(times)) = times else {
            return;
        };
        let mut keyframes: Vec<i64> = times
            .iter()
            .filter_map(Amf0Value::as_number)
            .filter(|t| t.is_finite() && *t >= 0.0 && *t < 1e9)
            .map(|t| (t * 1000.0).round() as i64)
            .collect();
        keyframes.sort_unstable();
        keyframes.dedup();
        self.keyframes = keyframes;
    }

    /// Where playback is: the latest DTS received, as the `pause` command wants it.
    pub fn position_ms(&self) -> u32 {
        let last = self.last_dts.iter().flatten().max().copied();
        let ms = last.unwrap_or_else(|| self.segment.start().map_or(0, |t| t.mseconds() as i64));
        ms.clamp(0, i64::from(u32::MAX)) as u32
    }

    pub fn is_seeking(&self) -> bool {
        match &self.phase {
            Phase::AwaitNotify { landing, .. } | Phase::AwaitStart { landing, .. } => {
                matches!(landing.purpose, Purpose::Seek(_))
            }
            _ => false,
        }
    }

    fn is_resuming(&self) -> bool {
        match &self.phase {
            Phase::AwaitNotify { landing, .. } | Phase::AwaitStart { landing, .. } => {
                matches!(landing.purpose, Purpose::Resume { .. })
            }
            _ => false,
        }
    }

    /// A seek the server must be sent again, further back; `now` starts its wait for the
    /// confirmation.
    pub fn take_server_seek(&mut self, now: Duration) -> Option<u32> {
        let ms = self.server_seek.take()?;
        if let Phase::AwaitNotify { since, .. } = &mut self.phase {
            *since = now;
        }
        Some(ms)
    }

    /// What to ask the server for so that it lands at or before `target` (`after`: at or
    /// past it) whether it rounds seeks down (FMS) or up (nginx-rtmp).
    fn ask_for(&self, target: i64, after: bool) -> u64 {
        if after {
            return (target - 1).max(0) as u64;
        }
        // The entry before the wanted keyframe: nginx-rtmp takes the first entry past it.
        match self.keyframes.iter().rposition(|&t| t <= target) {
            _ if self.keyframes.is_empty() => target.max(0) as u64,
            Some(i) if i > 0 => self.keyframes[i - 1] as u64,
            _ => 0,
        }
    }

    /// Starts a flushing seek (the caller has flushed the pads).
    pub fn start_seek(&mut self, request: SeekRequest, now: Duration) -> SeekStart {
        self.last_dts = [None; 2];
        self.last_key_dts = None;
        self.stopped = false;
        self.server_seek = None;
        let target = request.target_ms();
        if self.duration_ms.is_some_and(|d| target >= d) {
            // Past the end: as a file demuxer, an empty segment and EOS.
            self.phase = Phase::Flowing;
            self.segment = request.segment.clone();
            self.seqnum = Some(request.seqnum);
            self.stopped = true;
            return SeekStart::Done(vec![
                Action::Segment {
                    segment: request.segment,
                    seqnum: request.seqnum,
                },
                Action::Eos(EndReason::Status("seek past the end".into())),
            ]);
        }
        let asked = self.ask_for(target as i64, request.snap == Snap::KeyAfter);
        self.phase = Phase::AwaitNotify {
            landing: Landing {
                purpose: Purpose::Seek(request),
                asked_ms: asked,
                attempts: 0,
            },
            since: now,
        };
        SeekStart::Send(to_u32(asked))
    }

    /// Starts resuming after a pause: returns the position to seek to, or `None` when a seek
    /// is under way anyway or nothing was received yet.
    pub fn start_resume(&mut self, now: Duration, has_video: bool) -> Option<u32> {
        if self.is_seeking() || self.last_dts.iter().all(Option::is_none) {
            return None;
        }
        let last_main = self.last_dts[index(main_kind(has_video))]
            .unwrap_or_else(|| i64::from(self.position_ms()));
        let asked = self.ask_for(last_main, false);
        self.server_seek = None;
        self.phase = Phase::AwaitNotify {
            landing: Landing {
                purpose: Purpose::Resume { last_main },
                asked_ms: asked,
                attempts: 0,
            },
            since: now,
        };
        Some(to_u32(asked))
    }

    /// Looks at a session event before the demuxer does: `None` passes it on, `Some` consumes it
    /// (with what to do instead).
    pub fn on_event(&mut self, event: &SessionEvent) -> Option<Vec<Action>> {
        let Phase::AwaitNotify { .. } = self.phase else {
            return None;
        };
        match event {
            SessionEvent::Status(status) if status.code == "NetStream.Seek.Notify" => {
                self.notified();
                Some(Vec::new())
            }
            // NetStream.Seek.Failed, NetStream.Seek.InvalidTime (past the end on FMS).
            SessionEvent::Status(status) if status.code.starts_with("NetStream.Seek.") => {
                let Phase::AwaitNotify { landing, .. } =
                    std::mem::replace(&mut self.phase, Phase::Flowing)
                else {
                    unreachable!("checked above");
                };
                match landing.purpose {
                    Purpose::Resume { .. } => Some(Vec::new()),
                    Purpose::Seek(request) => {
                        self.segment = request.segment.clone();
                        self.seqnum = Some(request.seqnum);
                        self.stopped = true;
                        Some(vec![
                            Action::Segment {
                                segment: request.segment,
                                seqnum: request.seqnum,
                            },
                            Action::Eos(EndReason::Status(status.code.clone())),
                        ])
                    }
                }
            }
            // A resume flushes nothing: media from before it goes on through the repeat
            // filter (it may have waited in our queues while paused).
            SessionEvent::Media { .. } if self.is_resuming() => None,
            // From before the seek: its media, and the end of what it played.
            SessionEvent::Media { .. }
            | SessionEvent::StreamEof
            | SessionEvent::StreamBegin
            | SessionEvent::StreamDry => Some(Vec::new()),
            SessionEvent::Status(status)
                if matches!(
                    status.code.as_str(),
                    "NetStream.Play.Stop" | "NetStream.Play.Complete"
                ) =>
            {
                Some(Vec::new())
            }
            SessionEvent::Data { values, .. }
                if values.first().and_then(Amf0Value::as_str) == Some("onPlayStatus") =>
            {
                Some(Vec::new())
            }
            _ => None,
        }
    }

    /// Gives up waiting for a seek confirmation that does not come.
    pub fn tick(&mut self, now: Duration) {
        if let Phase::AwaitNotify { since, .. } = self.phase
            && now.saturating_sub(since) >= SEEK_NOTIFY_TIMEOUT
        {
            gst::warning!(
                super::imp::CAT,
                "no NetStream.Seek.Notify after {SEEK_NOTIFY_TIMEOUT:?}: going on"
            );
            self.notified();
        }
    }

    /// When [`tick`](Self::tick) matters next.
    pub fn next_deadline(&self) -> Option<Duration> {
        match self.phase {
            Phase::AwaitNotify { since, .. } => Some(since + SEEK_NOTIFY_TIMEOUT),
            _ => None,
        }
    }

    fn notified(&mut self) {
        let phase = std::mem::replace(&mut self.phase, Phase::Flowing);
        self.phase = match phase {
            Phase::AwaitNotify { landing, .. } => Phase::AwaitStart {
                landing,
                held: Vec::new(),
                candidate: false,
            },
            other => other,
        };
    }

    /// Filters the demuxer's actions; `has_video` says whether the stream has a video pad (its
    /// keyframes then place segments).
    pub fn filter(&mut self, actions: Vec<Action>, has_video: bool) -> Vec<Action> {
        let mut out = Vec::with_capacity(actions.len());
        for action in actions {
            match action {
                Action::Buffer { pad, frame } if pad.track == 0 => {
                    self.on_frame(pad.kind, frame, has_video, &mut out)
                }
                // Other Enhanced RTMP tracks do not place segments; around a seek they wait
                // for the main track to flow again.
                Action::Buffer { pad, frame } => {
                    if matches!(self.phase, Phase::Flowing) {
                        out.push(Action::Buffer { pad, frame });
                    }
                }
                Action::Eos(reason) => {
                    match self.phase {
                        Phase::AwaitNotify { .. } => continue,
                        // The recording ended before a frame placed the segment.
                        Phase::AwaitStart { .. } => self.decide(None, has_video, &mut out),
                        _ => {}
                    }
                    if !self.stopped {
                        self.stopped = true;
                        out.push(Action::Eos(reason));
                    }
                }
                other => out.push(other),
            }
        }
        out
    }

    fn on_frame(&mut self, kind: StreamKind, frame: Frame, has_video: bool, out: &mut Vec<Action>) {
        if self.stopped {
            return;
        }
        match &self.phase {
            Phase::AwaitNotify { .. } if self.is_resuming() => {
                self.pass_new(kind, frame, has_video, out)
            }
            Phase::AwaitNotify { .. } => {}
            Phase::Flowing => self.pass(kind, frame, has_video, out),
            Phase::Resuming => self.pass_new(kind, frame, has_video, out),
            Phase::AwaitStart { .. } => self.land(kind, frame, has_video, out),
        }
    }

    /// Resuming: frames already pushed are dropped, the rest continue the stream.
    fn pass_new(&mut self, kind: StreamKind, frame: Frame, has_video: bool, out: &mut Vec<Action>) {
        if self.last_dts[index(kind)].is_some_and(|last| frame.dts_ms <= last) {
            return;
        }
        // A continuation: the decoder keeps its state.
        let frame = Frame {
            discont: false,
            ..frame
        };
        self.pass(kind, frame, has_video, out);
    }

    /// A frame after the seek was confirmed, before the segment is placed.
    fn land(&mut self, kind: StreamKind, frame: Frame, has_video: bool, out: &mut Vec<Action>) {
        let gop_ms = self.gop_ms;
        let last_main = self.last_dts[index(main_kind(has_video))];
        let Phase::AwaitStart {
            landing,
            held,
            candidate,
        } = &mut self.phase
        else {
            return;
        };
        let target = match landing.purpose {
            // What was pushed meanwhile counts too.
            Purpose::Resume { .. } => last_main.unwrap_or_else(|| landing.target()),
            Purpose::Seek(_) => landing.target(),
        };
        let main = kind == main_kind(has_video);
        // A seek places keyframes by when they are shown (a B-frame stream's keyframe at DTS
        // 10 s shows at 10.08 s, after a seek to 10 s); a resume by decode order, as its
        // repeat filter.
        let resume = matches!(landing.purpose, Purpose::Resume { .. });
        let key_time = if resume { frame.dts_ms } else { frame.pts_ms };
        if !main {
            held.push((kind, frame));
            let span = held.last().map_or(0, |(_, f)| f.dts_ms)
                - held.first().map_or(0, |(_, f)| f.dts_ms);
            if span > MAX_HELD_MS {
                // No usable keyframe comes: start with what there is.
                self.decide(None, has_video, out);
            }
            return;
        }
        if landing.snap() == Snap::KeyAfter {
            if frame.keyframe && key_time >= target {
                self.decide(Some((kind, frame)), has_video, out);
            } else {
                held.clear();
            }
            return;
        }
        if frame.keyframe && key_time <= target {
            if resume {
                // Back at or before where playback was: the rest is the repeat filter's job.
                let held = std::mem::take(held);
                self.phase = Phase::Resuming;
                for (kind, frame) in held.into_iter().chain([(kind, frame)]) {
                    self.pass_new(kind, frame, has_video, out);
                }
                return;
            }
            // A later keyframe at or before the target: start from it instead.
            held.retain(|(_, f)| f.dts_ms >= frame.dts_ms);
            held.insert(0, (kind, frame));
            *candidate = true;
            return;
        }
        if *candidate {
            // In decode order: once past the target, no keyframe shown before it can come.
            if frame.dts_ms <= target {
                held.push((kind, frame));
            } else {
                // Past the target: the candidate is the last keyframe before it.
                self.decide(None, has_video, out);
                self.on_frame(kind, frame, has_video, out);
            }
            return;
        }
        if !frame.keyframe {
            // Nothing to decode it from.
            return;
        }
        // The server landed past the target: ask again, further back.
        if landing.attempts < MAX_RESEEKS && landing.asked_ms > 0 {
            let step = gop_ms.max(1000) << landing.attempts;
            let asked = (landing.asked_ms.min(target.max(0) as u64)).saturating_sub(step as u64);
            gst::debug!(
                super::imp::CAT,
                "seek landed at {} ms, past {target} ms: asking for {asked} ms",
                frame.dts_ms
            );
            landing.attempts += 1;
            landing.asked_ms = asked;
            held.clear();
            self.server_seek = Some(to_u32(asked));
            let Phase::AwaitStart { landing, .. } =
                std::mem::replace(&mut self.phase, Phase::Flowing)
            else {
                unreachable!("matched above");
            };
            self.phase = Phase::AwaitNotify {
                landing,
                since: Duration::ZERO,
            };
            return;
        }
        // As close as the server goes.
        if let Purpose::Resume { .. } = landing.purpose {
            let held = std::mem::take(held);
            self.phase = Phase::Resuming;
            for (kind, frame) in held.into_iter().chain([(kind, frame)]) {
                self.pass_new(kind, frame, has_video, out);
            }
            return;
        }
        self.decide(Some((kind, frame)), has_video, out);
    }

    /// Places the segment at `first` (the keyframe that starts it; without it, the first held
    /// frame) and passes the held frames on.
    fn decide(
        &mut self,
        first: Option<(StreamKind, Frame)>,
        has_video: bool,
        out: &mut Vec<Action>,
    ) {
        let Phase::AwaitStart { landing, held, .. } =
            std::mem::replace(&mut self.phase, Phase::Flowing)
        else {
            return;
        };
        let Purpose::Seek(request) = landing.purpose else {
            // A resume that found nothing to resume from: go on with what comes.
            self.phase = Phase::Resuming;
            for (kind, frame) in held.into_iter().chain(first) {
                self.pass_new(kind, frame, has_video, out);
            }
            return;
        };
        let target = request.target_ms() as i64;
        let main = main_kind(has_video);
        let start_frame = first
            .as_ref()
            .or_else(|| held.iter().find(|(k, _)| *k == main))
            .or(held.first())
            .map(|(_, f)| f.pts_ms);
        let start = match (request.snap, start_frame) {
            (Snap::Accurate, _) | (_, None) => target,
            (_, Some(pts)) => pts,
        };
        let mut segment = request.segment.clone();
        let start_time = ms_to_time(start);
        segment.set_start(start_time);
        segment.set_time(start_time);
        segment.set_position(start_time);
        self.segment = segment.clone();
        self.seqnum = Some(request.seqnum);
        out.push(Action::Segment {
            segment,
            seqnum: request.seqnum,
        });
        // Key-unit segments drop what would be clipped anyway; ACCURATE ones keep the frames
        // from the keyframe on, which the decoder needs.
        let keep_early = request.snap == Snap::Accurate;
        let mut started = [false; 2];
        for (kind, mut frame) in held.into_iter().chain(first) {
            if keep_early || kind == main || frame.pts_ms >= start {
                // The first of each stream after the flush, even when what the demuxer marked
                // was dropped here (a landing past the target).
                frame.discont |= !std::mem::replace(&mut started[index(kind)], true);
                self.pass(kind, frame, has_video, out);
            }
        }
        self.needs_discont = [!started[0], !started[1]];
    }

    fn pass(&mut self, kind: StreamKind, mut frame: Frame, has_video: bool, out: &mut Vec<Action>) {
        frame.discont |= std::mem::take(&mut self.needs_discont[index(kind)]);
        let main = kind == main_kind(has_video);
        if let Some(stop) = self.segment.stop()
            && main
            && ms_to_time(frame.pts_ms) >= stop
        {
            self.stopped = true;
            out.push(Action::Eos(EndReason::Status("segment stop".into())));
            return;
        }
        if main && frame.keyframe {
            if let Some(previous) = self.last_key_dts
                && frame.dts_ms > previous
            {
                self.gop_ms = (frame.dts_ms - previous).clamp(100, 10_000);
            }
            self.last_key_dts = Some(frame.dts_ms);
        }
        self.last_dts[index(kind)] = Some(frame.dts_ms);
        out.push(Action::Buffer {
            pad: kind.into(),
            frame,
        });
    }
}

#[cfg(test)]
#[path = "recorded_tests.rs"]
mod tests;
