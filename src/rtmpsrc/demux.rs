//! What rtmpsrc makes of a played stream, without pads, clocks or sockets.
//!
//! [`Demuxer::handle`] takes the [`SessionEvent`]s of a playing session and returns [`Action`]s
//! for the element: add a pad with caps, change caps, send tags, push a buffer, signal
//! no-more-pads, post a data message, warn, or end the stream. Timestamps come out as stream
//! milliseconds (64-bit, per stream unwrapped and resynchronised like flvdemux does);
//! [`LiveClock`] then maps them onto the pipeline's running time.
//!
//! Rules, after flvdemux where one exists:
//! - A pad is created once its codec is known: after the AVC or AAC sequence header, or at the
//!   first MP3 frame. A new sequence header (or onMetaData changing the frame rate) changes caps.
//! - DTS is the RTMP timestamp, PTS = DTS + composition time (never below 0). A jump back by
//!   [`RESYNC_THRESHOLD_MS`] or more is absorbed into an offset and flagged DISCONT; a 32-bit
//!   wrap (a jump back by more than 2^31 ms) continues the count.
//! - Video frames before the first keyframe are dropped: a decoder cannot use them.
//! - No-more-pads once the layout is known: both pads exist, or onMetaData's codec ids say which
//!   streams exist and those pads exist (or were skipped), or [`NO_MORE_PADS_TIMEOUT`] after
//!   the first pad.
//! - Codecs we cannot map produce one warning per stream, and the stream is skipped.
//! - Enhanced RTMP multitrack: track 0 is `video`/`audio`, track N gets `video_N`/`audio_N`,
//!   each added at its sequence start. Since a new track can show up in any packet, the layout
//!   is only taken as known once coded frames flow (publishers send every sequence start
//!   first) or at the timeout.

use std::time::Duration;

use bytes::Bytes;

use crate::flv::{
    AudioTag, ColorInfo, ExAudioCodec, ExVideoCodec, StreamMetadata, VideoTag, aac_caps,
    config_full_range, ex_audio_caps, ex_video_caps, mp3_caps, parse_audio_body, parse_video_body,
    video_caps,
};
use crate::protocol::amf0::Amf0Value;
use crate::protocol::session::{MediaKind, SessionEvent};

pub use super::demux_text::amf_text;
use super::demux_text::{enhanced_name, sound_format_name, video_codec_name};
use super::imp::CAT;
pub use super::time::{LiveClock, Mapped, Timeline};

pub use super::time::{GAP_THRESHOLD_MS, RESYNC_THRESHOLD_MS};
/// How long after the first pad we wait for the other stream when nothing says it exists.
pub const NO_MORE_PADS_TIMEOUT: Duration = Duration::from_secs(3);
/// Data messages are posted as text cut to this many bytes.
pub const MAX_DATA_TEXT: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StreamKind {
    Video,
    Audio,
}

impl StreamKind {
    /// The pad name, as flvdemux names them.
    pub fn pad_name(self) -> &'static str {
        match self {
            StreamKind::Video => "video",
            StreamKind::Audio => "audio",
        }
    }
}

/// One pad: a stream kind and its Enhanced RTMP track (0 for legacy tags and the default
/// track).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PadId {
    pub kind: StreamKind,
    pub track: u8,
}

impl PadId {
    pub const VIDEO: PadId = PadId {
        kind: StreamKind::Video,
        track: 0,
    };
    pub const AUDIO: PadId = PadId {
        kind: StreamKind::Audio,
        track: 0,
    };

    /// `video`, `audio` for track 0, else `video_N`, `audio_N`.
    pub fn pad_name(self) -> String {
        match self.track {
            0 => self.kind.pad_name().to_owned(),
            n => format!("{}_{n}", self.kind.pad_name()),
        }
    }

    /// The name of the pad template the pad is made from.
    pub fn template_name(self) -> &'static str {
        match (self.kind, self.track) {
            (kind, 0) => kind.pad_name(),
            (StreamKind::Video, _) => "video_%u",
            (StreamKind::Audio, _) => "audio_%u",
        }
    }
}

impl From<StreamKind> for PadId {
    fn from(kind: StreamKind) -> Self {
        PadId { kind, track: 0 }
    }
}

/// One buffer's worth of media, timestamped in stream milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub data: Bytes,
    pub dts_ms: i64,
    pub pts_ms: i64,
    /// Nanoseconds below the millisecond added to both (Enhanced RTMP's TimestampOffsetNano,
    /// under 1 ms).
    pub offset_ns: u32,
    /// Audio frames are all keyframes; video non-keyframes become DELTA_UNIT.
    pub keyframe: bool,
    pub discont: bool,
}

/// Why the stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The StreamEOF user control event.
    StreamEof,
    /// An onStatus code such as `NetStream.Play.UnpublishNotify` or `NetStream.Play.Stop`.
    Status(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create the pad with these caps (a `Tags` action for it follows).
    AddPad {
        pad: PadId,
        caps: gst::Caps,
    },
    /// New caps on the existing pad.
    Caps {
        pad: PadId,
        caps: gst::Caps,
    },
    /// A tag event for the pad; the list carries its scope.
    Tags {
        pad: PadId,
        tags: gst::TagList,
    },
    Buffer {
        pad: PadId,
        frame: Frame,
    },
    NoMorePads,
    /// A data message other than onMetaData (onTextData, onCuePoint...): its name and the
    /// remaining values as text.
    Data {
        name: String,
        timestamp: u32,
        text: String,
    },
    /// Something the user should see once, e.g. an unsupported codec.
    Warning(String),
    /// A new segment on every pad, before the buffers that follow (a recording after a seek).
    Segment {
        segment: gst::FormattedSegment<gst::ClockTime>,
        seqnum: gst::Seqnum,
    },
    /// The publisher stopped.
    Eos(EndReason),
    /// The server ended the session (the `close` command or `NetConnection.Connect.Closed`).
    ServerClosed,
}

#[derive(Debug, Clone, PartialEq)]
enum Config {
    None,
    Avc(Bytes),
    /// An Enhanced RTMP video codec and its configuration record.
    ExVideo(ExVideoCodec, Bytes),
    /// An Enhanced RTMP audio codec and its sequence start.
    ExAudio(ExAudioCodec, Bytes),
    Aac(Bytes),
    Mp3,
}

#[derive(Debug)]
struct Stream {
    id: PadId,
    config: Config,
    /// The caps on the pad; `Some` once the pad exists.
    caps: Option<gst::Caps>,
    /// An unsupported codec was seen before any pad: the stream will not get one.
    skipped: bool,
    warned: bool,
    timeline: Timeline,
    /// The next buffer is the pad's first.
    first: bool,
    keyframe_seen: bool,
    /// Frames dropped while waiting for a sequence header or keyframe (logged once).
    dropped: u64,
    /// The last Enhanced RTMP `colorInfo` (video).
    color: Option<ColorInfo>,
}

impl Stream {
    fn new(id: PadId) -> Self {
        Stream {
            id,
            config: Config::None,
            caps: None,
            skipped: false,
            warned: false,
            timeline: Timeline::default(),
            first: true,
            keyframe_seen: false,
            dropped: 0,
            color: None,
        }
    }

    fn has_pad(&self) -> bool {
        self.caps.is_some()
    }
}

/// The mapping state of one played stream.
#[derive(Debug)]
pub struct Demuxer {
    /// Track 0's video and audio first, then other tracks as they appear (at most 255 of
    /// each kind: track ids are a byte).
    streams: Vec<Stream>,
    meta: Option<StreamMetadata>,
    /// A coded frame arrived: every track's sequence start came before.
    media_seen: bool,
    no_more_pads: bool,
    first_pad_at: Option<Duration>,
    ended: bool,
}

impl Default for Demuxer {
    fn default() -> Self {
        Self::new()
    }
}

impl Demuxer {
    pub fn new() -> Self {
        Demuxer {
            streams: vec![Stream::new(PadId::VIDEO), Stream::new(PadId::AUDIO)],
            meta: None,
            media_seen: false,
            no_more_pads: false,
            first_pad_at: None,
            ended: false,
        }
    }

    /// A new connection continues the stream: its timestamps start over, each pad's next buffer
    /// is a DISCONT, and video waits for a keyframe again.
    pub fn restart_timelines(&mut self) {
        for stream in &mut self.streams {
            stream.timeline.restart();
            stream.first = true;
            stream.keyframe_seen = false;
        }
    }

    /// Maps a recording: timestamps are positions in it, and a jump back is kept as it is.
    pub fn set_recorded(&mut self) {
        for stream in &mut self.streams {
            stream.timeline = Timeline::recorded();
        }
    }

    /// After a seek: timelines start over, video waits for a keyframe, and the stream may
    /// flow again after it had ended.
    pub fn restart_after_seek(&mut self) {
        self.restart_timelines();
        self.ended = false;
    }

    /// The duration onMetaData gave, in milliseconds.
    pub fn metadata_duration_ms(&self) -> Option<u64> {
        let seconds = self.meta.as_ref()?.duration?;
        (seconds.is_finite() && seconds > 0.0).then_some((seconds * 1000.0) as u64)
    }

    /// Whether the pad exists.
    pub fn has_pad(&self, pad: impl Into<PadId>) -> bool {
        self.stream(pad.into()).is_some_and(Stream::has_pad)
    }

    pub fn no_more_pads_sent(&self) -> bool {
        self.no_more_pads
    }

    /// When [`tick`](Self::tick) should next be called (time since the start, like `now`).
    pub fn next_deadline(&self) -> Option<Duration> {
        if self.no_more_pads || self.ended {
            return None;
        }
        self.first_pad_at.map(|t| t + NO_MORE_PADS_TIMEOUT)
    }

    fn stream(&self, pad: PadId) -> Option<&Stream> {
        self.streams.iter().find(|s| s.id == pad)
    }

    /// The stream of `pad`, created at its first tag.
    fn stream_mut(&mut self, pad: PadId) -> &mut Stream {
        let i = match self.streams.iter().position(|s| s.id == pad) {
            Some(i) => i,
            None => {
                self.streams.push(Stream::new(pad));
                self.streams.len() - 1
            }
        };
        &mut self.streams[i]
    }

    /// Maps one session event; `now` is the time since playing started (for the bounded
    /// no-more-pads wait).
    pub fn handle(&mut self, event: SessionEvent, now: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        match event {
            SessionEvent::Media {
                kind: MediaKind::Video,
                timestamp,
                payload,
            } => self.handle_video(timestamp, &payload, now, &mut out),
            SessionEvent::Media {
                kind: MediaKind::Audio,
                timestamp,
                payload,
            } => self.handle_audio(timestamp, &payload, now, &mut out),
            SessionEvent::Data { timestamp, values } => {
                self.handle_data(timestamp, &values, now, &mut out)
            }
            SessionEvent::Status(status) => match status.code.as_str() {
                "NetStream.Play.UnpublishNotify"
                | "NetStream.Play.Stop"
                | "NetStream.Play.Complete" => {
                    self.end(EndReason::Status(status.code), &mut out);
                }
                _ => gst::info!(
                    CAT,
                    "server status {} {} {}",
                    status.level,
                    status.code,
                    status.description
                ),
            },
            SessionEvent::StreamEof => self.end(EndReason::StreamEof, &mut out),
            SessionEvent::ServerClosed => {
                self.ended = true;
                out.push(Action::ServerClosed);
            }
            other => gst::debug!(CAT, "{other:?}"),
        }
        self.check_no_more_pads(now, &mut out);
        out
    }

    /// Checks the bounded no-more-pads wait.
    pub fn tick(&mut self, now: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        if !self.ended {
            self.check_no_more_pads(now, &mut out);
        }
        out
    }

    fn end(&mut self, reason: EndReason, out: &mut Vec<Action>) {
        self.ended = true;
        // Whoever waits for the layout must learn it before the end.
        if !self.no_more_pads && self.streams.iter().any(Stream::has_pad) {
            self.no_more_pads = true;
            out.push(Action::NoMorePads);
        }
        out.push(Action::Eos(reason));
    }

    fn push_tags(&self, pad: PadId, out: &mut Vec<Action>) {
        if let Some(meta) = &self.meta
            && meta.tags.n_tags() > 0
        {
            let mut global = meta.tags.clone();
            global.make_mut().set_scope(gst::TagScope::Global);
            out.push(Action::Tags { pad, tags: global });
        }
        out.push(Action::Tags {
            pad,
            tags: self.stream_tags(pad),
        });
    }

    /// Codec name and nominal bitrate, scoped to the stream.
    fn stream_tags(&self, pad: PadId) -> gst::TagList {
        let meta = self.meta.clone().unwrap_or_default();
        let mut tags = match pad.kind {
            StreamKind::Video => meta.video_tags(),
            StreamKind::Audio => meta.audio_tags(),
        };
        {
            let tags = tags.make_mut();
            tags.set_scope(gst::TagScope::Stream);
            let config = self.stream(pad).map_or(&Config::None, |s| &s.config);
            match config {
                Config::Avc(_) => {
                    tags.add::<gst::tags::VideoCodec>(&"H.264 / AVC", gst::TagMergeMode::Replace)
                }
                Config::ExVideo(codec, _) => {
                    tags.add::<gst::tags::VideoCodec>(&codec.name(), gst::TagMergeMode::Replace)
                }
                Config::ExAudio(codec, _) => {
                    tags.add::<gst::tags::AudioCodec>(&codec.name(), gst::TagMergeMode::Replace)
                }
                Config::Aac(_) => {
                    tags.add::<gst::tags::AudioCodec>(&"MPEG-4 AAC", gst::TagMergeMode::Replace)
                }
                Config::Mp3 => tags.add::<gst::tags::AudioCodec>(
                    &"MPEG-1 Layer 3 (MP3)",
                    gst::TagMergeMode::Replace,
                ),
                Config::None => {}
            }
        }
        tags
    }

    fn handle_data(
        &mut self,
        timestamp: u32,
        values: &[Amf0Value],
        now: Duration,
        out: &mut Vec<Action>,
    ) {
        if let Some(meta) = StreamMetadata::from_amf(values) {
            gst::debug!(CAT, "onMetaData: {}", amf_text(values));
            self.meta = Some(meta);
            // The frame rate and, without an SPS, the size come from here.
            let meta = self.meta.clone().unwrap_or_default();
            let video: Vec<_> = self
                .streams
                .iter()
                .filter(|s| s.id.kind == StreamKind::Video)
                .map(|s| (s.id, s.config.clone()))
                .collect();
            for (pad, config) in video {
                let caps = match &config {
                    Config::Avc(avcc) => video_caps(avcc, &meta).ok(),
                    Config::ExVideo(codec, config) => self.ex_video_caps(pad, *codec, config).ok(),
                    _ => None,
                };
                if let Some(caps) = caps {
                    self.set_caps(pad, caps, now, out);
                }
            }
            let pads: Vec<_> = self
                .streams
                .iter()
                .filter(|s| s.has_pad())
                .map(|s| s.id)
                .collect();
            for pad in pads {
                self.push_tags(pad, out);
            }
            return;
        }
        // "@setDataFrame" only frames what a publisher asks the server to keep.
        let values = match values.first().and_then(Amf0Value::as_str) {
            Some("@setDataFrame") => values.get(1..).unwrap_or_default(),
            _ => values,
        };
        let (name, rest) = match values.split_first() {
            Some((first, rest)) => match first.as_str() {
                Some(name) => (name.to_owned(), rest),
                None => (String::new(), values),
            },
            None => return,
        };
        if name == "onPlayStatus" {
            // nginx-rtmp and FMS say a recording is complete with a data message.
            let code = rest
                .iter()
                .find_map(|v| v.get("code"))
                .and_then(Amf0Value::as_str);
            if code == Some("NetStream.Play.Complete") {
                self.end(EndReason::Status("NetStream.Play.Complete".into()), out);
                return;
            }
        }
        let text = amf_text(rest);
        if name == "|RtmpSampleAccess" {
            // Flash Player permissions that every nginx/Wowza play starts with.
            gst::debug!(CAT, "{name} {text}");
            return;
        }
        gst::info!(CAT, "data message {name} at {timestamp} ms: {text}");
        out.push(Action::Data {
            name,
            timestamp,
            text,
        });
    }

    fn check_no_more_pads(&mut self, now: Duration, out: &mut Vec<Action>) {
        if self.no_more_pads || self.ended {
            return;
        }
        let Some(first_pad_at) = self.first_pad_at else {
            return;
        };
        let announced = |kind: StreamKind| {
            self.meta.as_ref().map(|m| match kind {
                StreamKind::Video => m.video_codec_id.is_some(),
                StreamKind::Audio => m.audio_codec_id.is_some(),
            })
        };
        let settled = |stream: &Stream| {
            stream.has_pad()
                || stream.skipped
                || (stream.id.track == 0 && announced(stream.id.kind) == Some(false))
        };
        let timed_out = now >= first_pad_at + NO_MORE_PADS_TIMEOUT;
        if (self.media_seen && self.streams.iter().all(settled)) || timed_out {
            self.no_more_pads = true;
            out.push(Action::NoMorePads);
        }
    }
}

fn drop_frame(stream: &mut Stream, why: &str) {
    if stream.dropped == 0 {
        gst::debug!(CAT, "dropping {} frames: {why}", stream.id.pad_name());
    }
    stream.dropped += 1;
}

/// Where a frame sits: the message timestamp, the composition time and any sub-ms offset.
#[derive(Debug, Clone, Copy)]
struct Time {
    ts: u32,
    cts_ms: i32,
    offset_ns: u32,
}

impl Time {
    fn ms(ts: u32, cts_ms: i32) -> Self {
        Time {
            ts,
            cts_ms,
            offset_ns: 0,
        }
    }
}

fn push_frame(stream: &mut Stream, at: Time, keyframe: bool, data: Bytes, out: &mut Vec<Action>) {
    let Time {
        ts,
        cts_ms,
        offset_ns,
    } = at;
    if data.is_empty() {
        return;
    }
    let mapped = stream.timeline.map(ts);
    if mapped.resync {
        gst::warning!(
            CAT,
            "{} timestamps jumped back, resynchronising at {} ms",
            stream.id.pad_name(),
            mapped.ms
        );
    }
    let discont = std::mem::take(&mut stream.first) || mapped.resync || mapped.gap;
    let frame = Frame {
        data,
        dts_ms: mapped.ms,
        pts_ms: (mapped.ms + i64::from(cts_ms)).max(0),
        // The specification bounds it below one millisecond.
        offset_ns: offset_ns.min(999_999),
        keyframe,
        discont,
    };
    out.push(Action::Buffer {
        pad: stream.id,
        frame,
    });
}

#[path = "demux_media.rs"]
mod media;
#[cfg(test)]
#[path = "demux_tests.rs"]
mod tests;
