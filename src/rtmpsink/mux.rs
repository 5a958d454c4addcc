//! The muxer inside `rtmpsink`: a GstAggregator that takes the codecs of [`crate::flv::write`]
//! on its `video`/`audio` pads (track 0) and `video_%u`/`audio_%u` pads (multitrack), and emits FLV
//! tags (one per buffer) in DTS order across pads; for non-live input, the tags due together go
//! out as one buffer list (see [`BATCH_WINDOW_NS`]).
//!
//! The aggregator base class does the waiting: non-live, it calls us once every pad has data
//! (or is EOS), so the earliest DTS can be chosen; live, it also calls us when the latency
//! deadline passes, so a sparse or lagging stream does not hold the other back.
//!
//! Timestamps: RTMP milliseconds are the buffer's DTS running time minus the first output DTS
//! running time, so the stream starts at 0 even when B-frames make the first DTS negative.
//! The composition time of a video frame is PTS - DTS in milliseconds. Values past 2^32 ms wrap,
//! as RTMP timestamps do.

use std::collections::BTreeMap;
use std::sync::{LazyLock, Mutex, MutexGuard};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use crate::flv::TagType;
use crate::flv::tag::{TAG_HEADER_LEN, tag_header};
use crate::flv::write::{LegacyCodecs, OutAudio, OutVideo, metadata};

use super::writer::CAT;

const ENCODER: &str = concat!("gst-plugin-rtmp ", env!("CARGO_PKG_VERSION"));

/// Video caps rtmpsink takes: H.264 and H.265 as parsed access units with codec_data, AV1
/// temporal units, VP9 frames.
pub fn video_caps() -> gst::Caps {
    let mut caps = gst::Caps::builder("video/x-h264")
        .field("stream-format", "avc")
        .field("alignment", "au")
        .build();
    let more = [
        gst::Caps::builder("video/x-h265")
            .field("stream-format", gst::List::new(["hvc1", "hev1"]))
            .field("alignment", "au")
            .build(),
        gst::Caps::builder("video/x-av1")
            .field("stream-format", "obu-stream")
            .field("alignment", "tu")
            .build(),
        gst::Caps::builder("video/x-vp9").build(),
    ];
    for c in more {
        caps.merge(c);
    }
    caps
}

/// Audio caps rtmpsink takes: AAC, MP3, Opus, FLAC (framed), AC-3 and E-AC-3.
pub fn audio_caps() -> gst::Caps {
    let mut caps = gst::Caps::builder("audio/mpeg")
        .field("mpegversion", gst::List::new([4i32, 2]))
        .field("stream-format", "raw")
        .build();
    let more = [
        gst::Caps::builder("audio/mpeg")
            .field("mpegversion", 1i32)
            .field("layer", 3i32)
            .build(),
        gst::Caps::builder("audio/x-opus").build(),
        gst::Caps::builder("audio/x-flac")
            .field("framed", true)
            .build(),
        gst::Caps::builder("audio/x-ac3").build(),
        gst::Caps::builder("audio/x-eac3").build(),
    ];
    for c in more {
        caps.merge(c);
    }
    caps
}

/// The last track id a `video_%u`/`audio_%u` pad may have (the FLV track id is one byte).
const MAX_TRACK: u32 = 255;

#[derive(Debug, Clone, PartialEq)]
enum Out {
    Video(OutVideo),
    Audio(OutAudio),
}

/// One sink pad: its track and what it sends.
#[derive(Debug)]
struct PadState {
    video: bool,
    track: u8,
    out: Option<Out>,
    /// The next buffer from this pad must be preceded by its sequence header.
    header_pending: bool,
    /// RTMP timestamp of the last tag sent, for the sequence end.
    last_timestamp_ms: u32,
    /// AV1 frames were dropped while waiting for a sequence header (warned once).
    warned_no_config: bool,
}

#[derive(Default)]
struct State {
    pads: BTreeMap<String, PadState>,
    /// Running time (ns) of the first DTS sent; RTMP timestamps count from it.
    base: Option<i64>,
    /// Running time of the last buffer sent, for buffers without timestamps.
    last_running: i64,
    metadata_sent: bool,
    /// The sequence ends have been sent (at EOS).
    ended: bool,
    /// Whether tags are batched (non-live input), as last decided.
    batching: Option<bool>,
}

/// Non-live input: tags due within this much of the first one of a batch go out together, as
/// one buffer list. The writer (sync=true) then waits on the clock once for them instead of once
/// per tag, and each wait is a sleep and a wake-up, as is each hand-off to the I/O thread: 16
/// real-time publishes from one process took a quarter less CPU. For the batch to form, the pads
/// must hold that much ahead (the aggregator's `latency`, which non-live has no other effect
/// of). Just over a frame interval at 30 fps: a video frame and the audio frames around it share
/// one wait and are sent at most this much early. Live input is left alone: the `latency` would
/// add to the pipeline's, and its frames arrive at their time anyway.
const BATCH_WINDOW_NS: i64 = 40_000_000;

#[derive(Default)]
pub struct RtmpMux {
    state: Mutex<State>,
    legacy_codecs: Mutex<LegacyCodecs>,
    /// Tags made by the current `aggregate` call, pushed together at its end.
    batch: Mutex<Vec<gst::Buffer>>,
}

/// `(is video, track)` of a pad name: `video`/`audio` are track 0, `video_N`/`audio_N` track N.
fn pad_track(name: &str) -> Option<(bool, u8)> {
    let (video, rest) = if let Some(rest) = name.strip_prefix("video") {
        (true, rest)
    } else {
        (false, name.strip_prefix("audio")?)
    };
    if rest.is_empty() {
        return Some((video, 0));
    }
    let n: u32 = rest.strip_prefix('_')?.parse().ok()?;
    let track = u8::try_from(n).ok().filter(|&t| t > 0)?;
    Some((video, track))
}

/// Signed running time in nanoseconds of `time` in the pad's segment.
fn running_time_ns(pad: &gst_base::AggregatorPad, time: gst::ClockTime) -> Option<i64> {
    let segment = pad.segment();
    let segment = segment.downcast_ref::<gst::ClockTime>()?;
    match segment.to_running_time_full(time)? {
        gst::Signed::Positive(t) => i64::try_from(t.nseconds()).ok(),
        gst::Signed::Negative(t) => i64::try_from(t.nseconds()).ok().map(|t| -t),
    }
}

/// Milliseconds of a nanosecond offset, rounding towards minus infinity so that PTS - DTS in
/// milliseconds never changes sign through rounding.
fn ms_floor(ns: i64) -> i64 {
    ns.div_euclid(1_000_000)
}

impl RtmpMux {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// H.264/AAC/MP3 in the legacy or the extended header (the bin's `enhanced-rtmp`); applies
    /// to caps that arrive after the call.
    pub fn set_legacy_codecs(&self, mode: LegacyCodecs) {
        *self.legacy_codecs.lock().unwrap_or_else(|e| e.into_inner()) = mode;
    }

    fn legacy_codecs(&self) -> LegacyCodecs {
        *self.legacy_codecs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The pad whose next buffer has the earliest DTS, with that DTS as running time (`None`
    /// for an untimed buffer, which goes out at once); and whether every pad is EOS.
    fn earliest_pad(&self) -> (Option<(gst_base::AggregatorPad, Option<i64>)>, bool) {
        let mut best: Option<(gst_base::AggregatorPad, Option<i64>)> = None;
        let mut all_eos = true;
        for pad in self.obj().sink_pads() {
            let Ok(pad) = pad.downcast::<gst_base::AggregatorPad>() else {
                continue;
            };
            let Some(buffer) = pad.peek_buffer() else {
                all_eos &= pad.is_eos();
                continue;
            };
            all_eos = false;
            let running = buffer.dts_or_pts().and_then(|t| running_time_ns(&pad, t));
            let Some(running) = running else {
                return (Some((pad, None)), false);
            };
            if best
                .as_ref()
                .is_none_or(|(_, t)| t.is_some_and(|t| running < t))
            {
                best = Some((pad, Some(running)));
            }
        }
        (best, all_eos)
    }

    fn push_tag(
        &self,
        tag_type: TagType,
        timestamp_ms: u32,
        prefix: &[u8],
        payload: Option<gst::Buffer>,
        running: gst::ClockTime,
        delta: bool,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let payload_len = payload.as_ref().map_or(0, |b| b.size());
        let body_len = prefix.len() + payload_len;
        if body_len > 0xFF_FFFF {
            gst::element_imp_error!(
                self,
                gst::StreamError::Mux,
                ("Frame of {body_len} bytes does not fit in an FLV tag")
            );
            return Err(gst::FlowError::Error);
        }
        let mut head = Vec::with_capacity(TAG_HEADER_LEN + prefix.len());
        head.extend_from_slice(&tag_header(tag_type, body_len as u32, timestamp_ms));
        head.extend_from_slice(prefix);
        let mut out = gst::Buffer::from_mut_slice(head);
        // The payload's memory is shared, not copied.
        if let Some(payload) = payload {
            out.append(payload);
        }
        out.append(gst::Buffer::from_mut_slice(
            ((TAG_HEADER_LEN + body_len) as u32).to_be_bytes(),
        ));
        {
            let out = out.make_mut();
            out.set_pts(running);
            out.set_dts(running);
            if delta {
                out.set_flags(gst::BufferFlags::DELTA_UNIT);
            } else {
                out.unset_flags(gst::BufferFlags::DELTA_UNIT);
            }
        }
        self.batch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(out);
        Ok(gst::FlowSuccess::Ok)
    }

    /// Whether to batch: only for non-live input (the aggregator reports no latency then). Sets
    /// the pads' room to match when that changes.
    fn batching(&self) -> bool {
        let batching = self.obj().latency().is_none();
        let mut state = self.state();
        if state.batching != Some(batching) {
            state.batching = Some(batching);
            drop(state);
            let room = if batching { BATCH_WINDOW_NS as u64 } else { 0 };
            self.obj().set_property("latency", room);
        }
        batching
    }

    /// Pushes the tags of this `aggregate` call: one buffer, or a list of them.
    fn push_batch(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut tags = std::mem::take(&mut *self.batch.lock().unwrap_or_else(|e| e.into_inner()));
        match tags.len() {
            0 => Ok(gst::FlowSuccess::Ok),
            1 => self.obj().finish_buffer(tags.remove(0)),
            n => {
                let mut list = gst::BufferList::new_sized(n);
                {
                    let list = list.get_mut().expect("a new list is writable");
                    for tag in tags {
                        list.add(tag);
                    }
                }
                self.obj().finish_buffer_list(list)
            }
        }
    }

    /// Whether the next tag joins the batch that started at `start` (running time, ns): every
    /// pad has its next buffer (or is EOS), so the earliest is known, and it is due in the window.
    fn batch_goes_on(&self, start: i64) -> bool {
        if !self.batching() {
            return false;
        }
        for pad in self.obj().sink_pads() {
            let Ok(pad) = pad.downcast::<gst_base::AggregatorPad>() else {
                continue;
            };
            if !pad.has_buffer() && !pad.is_eos() {
                return false;
            }
        }
        matches!(self.earliest_pad(), (Some((_, Some(t))), false) if t <= start.saturating_add(BATCH_WINDOW_NS))
    }

    fn send_metadata(&self, state: &State) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut video = Vec::new();
        let mut audio = Vec::new();
        for pad in state.pads.values() {
            match &pad.out {
                Some(Out::Video(v)) => video.push((pad.track, v)),
                Some(Out::Audio(a)) => audio.push((pad.track, a)),
                None => {}
            }
        }
        let body = metadata::on_metadata(&video, &audio, ENCODER);
        self.push_tag(TagType::Script, 0, &body, None, gst::ClockTime::ZERO, false)
    }

    /// At EOS: the SequenceEnd of every extended stream, at its last timestamp.
    fn send_sequence_ends(&self) -> Result<(), gst::FlowError> {
        let mut state = self.state();
        if std::mem::replace(&mut state.ended, true) || !state.metadata_sent {
            return Ok(());
        }
        let running = gst::ClockTime::from_nseconds(state.last_running.max(0) as u64);
        let ends: Vec<_> = state
            .pads
            .values()
            .filter_map(|pad| {
                let body = match pad.out.as_ref()? {
                    Out::Video(v) => (TagType::Video, v.sequence_end(pad.track)?),
                    Out::Audio(a) => (TagType::Audio, a.sequence_end(pad.track)?),
                };
                Some((body, pad.last_timestamp_ms))
            })
            .collect();
        drop(state);
        for ((tag_type, body), ts) in ends {
            self.push_tag(tag_type, ts, &body, None, running, false)?;
        }
        Ok(())
    }

    fn caps_changed(&self, pad: &gst_base::AggregatorPad, caps: &gst::CapsRef) -> bool {
        let mut state = self.state();
        let mode = self.legacy_codecs();
        let Some(pad_state) = state.pads.get_mut(pad.name().as_str()) else {
            return false;
        };
        let result = if pad_state.video {
            OutVideo::from_caps(caps, mode).map(Out::Video)
        } else {
            OutAudio::from_caps(caps, mode).map(Out::Audio)
        };
        match result {
            Ok(out) => {
                // AV1 caps without codec_data repeat: keep the av1C built from the stream.
                let same = match (&pad_state.out, &out) {
                    (Some(Out::Video(old)), Out::Video(new)) if new.needs_config() => {
                        old.format == new.format
                    }
                    (old, new) => old.as_ref() == Some(new),
                };
                if !same {
                    pad_state.header_pending = true;
                    pad_state.out = Some(out);
                }
                true
            }
            Err(err) => {
                drop(state);
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    ("Caps not supported on the {} pad: {err}", pad.name())
                );
                false
            }
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for RtmpMux {
    const NAME: &'static str = "GstRsRtmpMux";
    type Type = super::RtmpMuxElement;
    type ParentType = gst_base::Aggregator;
}

impl ObjectImpl for RtmpMux {}
impl GstObjectImpl for RtmpMux {}

impl ElementImpl for RtmpMux {
    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let src = gst::PadTemplate::with_gtype(
                "src",
                gst::PadDirection::Src,
                gst::PadPresence::Always,
                &gst::Caps::builder("video/x-flv").build(),
                gst_base::AggregatorPad::static_type(),
            );
            let sink = |name: &str, caps: &gst::Caps| {
                gst::PadTemplate::with_gtype(
                    name,
                    gst::PadDirection::Sink,
                    gst::PadPresence::Request,
                    caps,
                    gst_base::AggregatorPad::static_type(),
                )
            };
            [
                src,
                sink("video", &video_caps()),
                sink("video_%u", &video_caps()),
                sink("audio", &audio_caps()),
                sink("audio_%u", &audio_caps()),
            ]
            .into_iter()
            .map(|t| t.expect("static pad template"))
            .collect()
        });
        TEMPLATES.as_ref()
    }

    fn release_pad(&self, pad: &gst::Pad) {
        self.state().pads.remove(pad.name().as_str());
        self.parent_release_pad(pad);
    }
}

impl AggregatorImpl for RtmpMux {
    fn create_new_pad(
        &self,
        templ: &gst::PadTemplate,
        req_name: Option<&str>,
        _caps: Option<&gst::Caps>,
    ) -> Option<gst_base::AggregatorPad> {
        let template = templ.name_template();
        let name = match template.strip_suffix("_%u") {
            None => template.to_string(),
            Some(kind) => match req_name {
                Some(name) => name.to_string(),
                // The lowest free track id.
                None => (1..=MAX_TRACK)
                    .map(|n| format!("{kind}_{n}"))
                    .find(|n| self.obj().static_pad(n).is_none())?,
            },
        };
        let Some((video, track)) = pad_track(&name)
            .filter(|(v, _)| template.starts_with(if *v { "video" } else { "audio" }))
        else {
            gst::error!(
                CAT,
                imp = self,
                "pad name {name}: tracks are {template} with a number from 1 to {MAX_TRACK}"
            );
            return None;
        };
        if self.obj().static_pad(&name).is_some() {
            gst::error!(CAT, imp = self, "rtmpsink has only one {name} pad");
            return None;
        }
        let pad = gst::PadBuilder::<gst_base::AggregatorPad>::from_template(templ)
            .name(name.as_str())
            .build();
        self.state().pads.insert(
            name,
            PadState {
                video,
                track,
                out: None,
                header_pending: false,
                last_timestamp_ms: 0,
                warned_no_config: false,
            },
        );
        Some(pad)
    }

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let mut state = self.state();
        let pads = std::mem::take(&mut state.pads);
        *state = State::default();
        // The pads stay (they were requested before starting); what they carried does not.
        state.pads = pads
            .into_iter()
            .map(|(name, pad)| {
                let fresh = PadState {
                    out: None,
                    header_pending: false,
                    last_timestamp_ms: 0,
                    warned_no_config: false,
                    ..pad
                };
                (name, fresh)
            })
            .collect();
        Ok(())
    }

    fn update_src_caps(&self, _caps: &gst::Caps) -> Result<gst::Caps, gst::FlowError> {
        Ok(gst::Caps::builder("video/x-flv").build())
    }

    fn sink_event(&self, pad: &gst_base::AggregatorPad, event: gst::Event) -> bool {
        if let gst::EventView::Caps(caps) = event.view()
            && !self.caps_changed(pad, caps.caps())
        {
            return false;
        }
        self.parent_sink_event(pad, event)
    }

    fn aggregate(&self, timeout: bool) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut result = self.aggregate_one(timeout);
        if result.is_ok() {
            let start = self.state().last_running;
            while result.is_ok() && self.batch_goes_on(start) {
                result = self.aggregate_one(false);
            }
        }
        // What was made goes out whatever came after it (EOS after the sequence ends).
        let pushed = self.push_batch();
        match result {
            Ok(_) => pushed,
            Err(err) => pushed.and(Err(err)),
        }
    }
}

impl RtmpMux {
    /// Muxes the earliest buffer into tags (added to the batch).
    fn aggregate_one(&self, timeout: bool) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (best, all_eos) = self.earliest_pad();
        if all_eos {
            self.send_sequence_ends()?;
            return Err(gst::FlowError::Eos);
        }
        let Some((pad, dts_running)) = best else {
            return if timeout {
                Ok(gst::FlowSuccess::Ok)
            } else {
                Err(gst_base::AGGREGATOR_FLOW_NEED_DATA)
            };
        };
        let Some(buffer) = pad.pop_buffer() else {
            return Err(gst_base::AGGREGATOR_FLOW_NEED_DATA);
        };

        let mut state = self.state();
        let name = pad.name();
        let Some(pad_state) = state.pads.get_mut(name.as_str()) else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let Some(out) = pad_state.out.as_mut() else {
            drop(state);
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ("Data before caps on the {name} pad")
            );
            return Err(gst::FlowError::NotNegotiated);
        };
        let track = pad_state.track;
        match out {
            // Opus and FLAC parsers push their headers as buffers too: they are in the sequence
            // start already.
            Out::Audio(a)
                if a.drops_header_buffers()
                    && buffer.flags().contains(gst::BufferFlags::HEADER) =>
            {
                return Ok(gst::FlowSuccess::Ok);
            }
            Out::Video(v) if v.needs_config() => {
                let found = buffer
                    .map_readable()
                    .is_ok_and(|map| v.config_from_frame(map.as_slice()));
                if !found {
                    if !std::mem::replace(&mut pad_state.warned_no_config, true) {
                        gst::warning!(
                            CAT,
                            imp = self,
                            "{name}: dropping AV1 temporal units until one has a sequence \
                             header (the caps have no codec_data)"
                        );
                    }
                    return Ok(gst::FlowSuccess::Ok);
                }
                pad_state.header_pending = true;
            }
            _ => {}
        }
        let out = out.clone();
        let header_pending = std::mem::take(&mut pad_state.header_pending);

        let dts_running = dts_running.unwrap_or(state.last_running);
        state.last_running = dts_running;
        let base = *state.base.get_or_insert(dts_running);
        let dts_rel = dts_running.saturating_sub(base).max(0);
        let timestamp_ms = ms_floor(dts_rel) as u32;
        if let Some(p) = state.pads.get_mut(name.as_str()) {
            p.last_timestamp_ms = timestamp_ms;
        }
        // Output timestamps only pace the writer (sync=true); keep them non-negative.
        let running = gst::ClockTime::from_nseconds((dts_running - base.min(0)).max(0) as u64);

        if !state.metadata_sent {
            state.metadata_sent = true;
            self.send_metadata(&state)?;
        }
        drop(state);

        let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        match out {
            Out::Video(v) => {
                if header_pending {
                    // colorInfo first (as FFmpeg sends it): the player's first caps carry it.
                    let headers = [v.metadata_packet(track), v.sequence_start(track)];
                    for header in headers.into_iter().flatten() {
                        self.push_tag(TagType::Video, timestamp_ms, &header, None, running, false)?;
                    }
                }
                let cts_ms = match buffer.pts().and_then(|pts| running_time_ns(&pad, pts)) {
                    Some(pts_running) => {
                        let pts_rel = pts_running.saturating_sub(base);
                        (ms_floor(pts_rel) - ms_floor(dts_rel))
                            .clamp(i32::MIN as i64, i32::MAX as i64) as i32
                    }
                    None => 0,
                };
                let prefix = v.frame_header(keyframe, cts_ms, track);
                self.push_tag(
                    TagType::Video,
                    timestamp_ms,
                    &prefix,
                    Some(buffer),
                    running,
                    !keyframe,
                )
            }
            Out::Audio(a) => {
                if header_pending {
                    let headers = [a.sequence_start(track), a.multichannel_config(track)];
                    for header in headers.into_iter().flatten() {
                        self.push_tag(TagType::Audio, timestamp_ms, &header, None, running, false)?;
                    }
                }
                self.push_tag(
                    TagType::Audio,
                    timestamp_ms,
                    &a.frame_header(track),
                    Some(buffer),
                    running,
                    false,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests;
