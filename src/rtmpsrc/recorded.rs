//! The timing policy of a recorded stream: where a seek lands, what arrives around it that must
//! be dropped, and what a resume after a pause must not repeat. No pads, sockets or clocks:
//! session events and demuxer actions go in, the actions to carry out come out.
//!
//! - After a seek is sent, media still arrives from before it until the server's
//!   `NetStream.Seek.Notify` (nginx-rtmp: StreamEOF, Seek.Notify, StreamBegin): all of it is
//!   dropped, and so is the StreamEOF, which does not end the stream here.
//! - The segment starts where the seek asked (ACCURATE: downstream clips to it) or at the
//!   keyframe the server started from (KEY_UNIT, snapping before; after: the first keyframe at
//!   or past the target). Audio that comes before that keyframe is held, a bounded time.
//! - Resuming after a pause seeks to the last position received (nginx-rtmp restarts an FLV
//!   from its last seek point on unpause); frames up to what was already pushed are dropped,
//!   so nothing is repeated and nothing lost.

use std::time::Duration;

use gst::ClockTime;

use super::demux::{Action, EndReason, Frame, StreamKind};
use crate::protocol::session::SessionEvent;

/// A server that never confirms a seek is believed after this long.
pub const SEEK_NOTIFY_TIMEOUT: Duration = Duration::from_secs(5);
/// Audio held for the keyframe that starts a key-unit segment spans at most this much.
const MAX_HELD_MS: i64 = 3000;

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
    Resume,
}

#[derive(Debug)]
enum Phase {
    Flowing,
    /// The seek is sent; what arrives until the server confirms it came from before.
    AwaitNotify {
        purpose: Purpose,
        since: Duration,
    },
    /// Confirmed: the first frames decide where the segment starts.
    AwaitStart {
        request: SeekRequest,
        held: Vec<(StreamKind, Frame)>,
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
    /// The segment's stop was passed: nothing more until the next seek.
    stopped: bool,
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

impl Playback {
    pub fn new() -> Self {
        Playback {
            phase: Phase::Flowing,
            last_dts: [None; 2],
            duration_ms: None,
            segment: gst::FormattedSegment::new(),
            seqnum: None,
            stopped: false,
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

    /// Where playback is: the latest DTS received, as the `pause` command wants it.
    pub fn position_ms(&self) -> u32 {
        let last = self.last_dts.iter().flatten().max().copied();
        let ms = last.unwrap_or_else(|| self.segment.start().map_or(0, |t| t.mseconds() as i64));
        ms.clamp(0, i64::from(u32::MAX)) as u32
    }

    pub fn is_seeking(&self) -> bool {
        matches!(
            self.phase,
            Phase::AwaitNotify {
                purpose: Purpose::Seek(_),
                ..
            } | Phase::AwaitStart { .. }
        )
    }

    /// Starts a flushing seek (the caller has flushed the pads).
    pub fn start_seek(&mut self, request: SeekRequest, now: Duration) -> SeekStart {
        self.last_dts = [None; 2];
        self.stopped = false;
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
        self.phase = Phase::AwaitNotify {
            purpose: Purpose::Seek(request),
            since: now,
        };
        SeekStart::Send(target.min(u64::from(u32::MAX)) as u32)
    }

    /// Starts resuming after a pause: returns the position to seek to, or `None` when a seek
    /// is under way anyway or nothing was received yet.
    pub fn start_resume(&mut self, now: Duration) -> Option<u32> {
        if self.is_seeking() || self.last_dts.iter().all(Option::is_none) {
            return None;
        }
        self.phase = Phase::AwaitNotify {
            purpose: Purpose::Resume,
            since: now,
        };
        Some(self.position_ms())
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
                let Phase::AwaitNotify { purpose, .. } =
                    std::mem::replace(&mut self.phase, Phase::Flowing)
                else {
                    unreachable!("checked above");
                };
                match purpose {
                    Purpose::Resume => Some(Vec::new()),
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
                if values.first().and_then(|v| v.as_str()) == Some("onPlayStatus") =>
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
            Phase::AwaitNotify {
                purpose: Purpose::Seek(request),
                ..
            } => Phase::AwaitStart {
                request,
                held: Vec::new(),
            },
            Phase::AwaitNotify {
                purpose: Purpose::Resume,
                ..
            } => Phase::Resuming,
            other => other,
        };
    }

    /// Filters the demuxer's actions; `has_video` says whether the stream has a video pad (its
    /// keyframes then place key-unit segments).
    pub fn filter(&mut self, actions: Vec<Action>, has_video: bool) -> Vec<Action> {
        let mut out = Vec::with_capacity(actions.len());
        for action in actions {
            match action {
                Action::Buffer { kind, frame } => self.on_frame(kind, frame, has_video, &mut out),
                Action::Eos(reason) => {
                    if let Phase::AwaitNotify { .. } = self.phase {
                        continue;
                    }
                    if let Phase::AwaitStart { .. } = self.phase {
                        // The recording ended before a frame placed the segment.
                        self.decide(None, has_video, &mut out);
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
        match &mut self.phase {
            Phase::AwaitNotify { .. } => {}
            Phase::Flowing => self.pass(kind, frame, has_video, out),
            Phase::Resuming => {
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
            Phase::AwaitStart { request, held } => {
                let target = request.target_ms() as i64;
                let key_after = request.snap == Snap::KeyAfter;
                let main = if has_video {
                    StreamKind::Video
                } else {
                    StreamKind::Audio
                };
                if kind != main {
                    held.push((kind, frame));
                    let span = held.last().map(|(_, f)| f.dts_ms).unwrap_or(0)
                        - held.first().map(|(_, f)| f.dts_ms).unwrap_or(0);
                    if span > MAX_HELD_MS {
                        // No keyframe comes: start with what there is.
                        self.decide(None, has_video, out);
                    }
                    return;
                }
                if key_after && (!frame.keyframe || frame.dts_ms < target) {
                    return;
                }
                self.decide(Some((kind, frame)), has_video, out);
            }
        }
    }

    /// Places the segment at `first` (the frame that starts it) and passes the held frames on.
    fn decide(
        &mut self,
        first: Option<(StreamKind, Frame)>,
        has_video: bool,
        out: &mut Vec<Action>,
    ) {
        let Phase::AwaitStart { request, held } =
            std::mem::replace(&mut self.phase, Phase::Flowing)
        else {
            return;
        };
        let target = request.target_ms() as i64;
        let start_frame = first
            .as_ref()
            .map(|(_, f)| f.pts_ms)
            .or_else(|| held.first().map(|(_, f)| f.pts_ms));
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
        let keep_early = request.snap == Snap::Accurate;
        for (kind, frame) in held {
            if keep_early || frame.pts_ms >= start {
                self.pass(kind, frame, has_video, out);
            }
        }
        if let Some((kind, frame)) = first {
            self.pass(kind, frame, has_video, out);
        }
    }

    fn pass(&mut self, kind: StreamKind, frame: Frame, has_video: bool, out: &mut Vec<Action>) {
        let main = kind == StreamKind::Video || !has_video;
        if let Some(stop) = self.segment.stop()
            && main
            && ms_to_time(frame.pts_ms) >= stop
        {
            self.stopped = true;
            out.push(Action::Eos(EndReason::Status("segment stop".into())));
            return;
        }
        self.last_dts[index(kind)] = Some(frame.dts_ms);
        out.push(Action::Buffer { kind, frame });
    }
}

#[cfg(test)]
#[path = "recorded_tests.rs"]
mod tests;
