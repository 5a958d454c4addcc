//! The muxer inside `rtmpsink`: a GstAggregator that takes H.264, AAC and MP3 on its `video` and
//! `audio` pads and emits FLV tags (one per buffer) in DTS order across pads.
//!
//! The aggregator base class does the waiting: non-live, it calls us once every pad has data
//! (or is EOS), so the earliest DTS can be chosen; live, it also calls us when the latency
//! deadline passes, so a sparse or lagging stream does not hold the other back.
//!
//! Timestamps: RTMP milliseconds are the buffer's DTS running time minus the first output DTS
//! running time, so the stream starts at 0 even when B-frames make the first DTS negative.
//! The composition time of a video frame is PTS - DTS in milliseconds. Values past 2^32 ms wrap,
//! as RTMP timestamps do.

use std::sync::{LazyLock, Mutex, MutexGuard};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use crate::flv::tag::{TAG_HEADER_LEN, tag_header};
use crate::flv::{AudioConfig, TagType, VideoConfig, metadata, video_frame_header};

use super::writer::CAT;

const ENCODER: &str = concat!("gst-plugin-rtmp ", env!("CARGO_PKG_VERSION"));

pub fn video_caps() -> gst::Caps {
    gst::Caps::builder("video/x-h264")
        .field("stream-format", "avc")
        .field("alignment", "au")
        .build()
}

pub fn audio_caps() -> gst::Caps {
    let mut caps = gst::Caps::builder("audio/mpeg")
        .field("mpegversion", gst::List::new([4i32, 2]))
        .field("stream-format", "raw")
        .build();
    caps.merge(
        gst::Caps::builder("audio/mpeg")
            .field("mpegversion", 1i32)
            .field("layer", 3i32)
            .build(),
    );
    caps
}

#[derive(Default)]
struct PadState {
    video: Option<VideoConfig>,
    audio: Option<AudioConfig>,
    /// The next buffer from this pad must be preceded by its sequence header.
    header_pending: bool,
}

#[derive(Default)]
struct State {
    video: PadState,
    audio: PadState,
    /// Running time (ns) of the first DTS sent; RTMP timestamps count from it.
    base: Option<i64>,
    /// Running time of the last buffer sent, for buffers without timestamps.
    last_running: i64,
    metadata_sent: bool,
}

#[derive(Default)]
pub struct RtmpMux {
    state: Mutex<State>,
}

fn is_video(pad: &impl IsA<gst::Pad>) -> bool {
    pad.as_ref().name().starts_with("video")
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
        self.obj().finish_buffer(out)
    }

    fn send_metadata(&self, state: &State) -> Result<gst::FlowSuccess, gst::FlowError> {
        let body = metadata::on_metadata(
            state.video.video.as_ref(),
            state.audio.audio.as_ref(),
            ENCODER,
        );
        self.push_tag(TagType::Script, 0, &body, None, gst::ClockTime::ZERO, false)
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
            let video = gst::PadTemplate::with_gtype(
                "video",
                gst::PadDirection::Sink,
                gst::PadPresence::Request,
                &video_caps(),
                gst_base::AggregatorPad::static_type(),
            );
            let audio = gst::PadTemplate::with_gtype(
                "audio",
                gst::PadDirection::Sink,
                gst::PadPresence::Request,
                &audio_caps(),
                gst_base::AggregatorPad::static_type(),
            );
            [src, video, audio]
                .into_iter()
                .map(|t| t.expect("static pad template"))
                .collect()
        });
        TEMPLATES.as_ref()
    }
}

impl AggregatorImpl for RtmpMux {
    fn create_new_pad(
        &self,
        templ: &gst::PadTemplate,
        _req_name: Option<&str>,
        _caps: Option<&gst::Caps>,
    ) -> Option<gst_base::AggregatorPad> {
        let name = templ.name_template();
        if self.obj().static_pad(name).is_some() {
            gst::error!(CAT, imp = self, "rtmpsink has only one {name} pad");
            return None;
        }
        Some(
            gst::PadBuilder::<gst_base::AggregatorPad>::from_template(templ)
                .name(name.to_string())
                .build(),
        )
    }

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        *self.state() = State::default();
        Ok(())
    }

    fn update_src_caps(&self, _caps: &gst::Caps) -> Result<gst::Caps, gst::FlowError> {
        Ok(gst::Caps::builder("video/x-flv").build())
    }

    fn sink_event(&self, pad: &gst_base::AggregatorPad, event: gst::Event) -> bool {
        if let gst::EventView::Caps(caps) = event.view() {
            let caps = caps.caps();
            let mut state = self.state();
            let result = if is_video(pad) {
                VideoConfig::from_caps(caps).map(|config| {
                    let changed = state.video.video.as_ref() != Some(&config);
                    state.video.header_pending |= changed;
                    state.video.video = Some(config);
                })
            } else {
                AudioConfig::from_caps(caps).map(|config| {
                    let changed = state.audio.audio.as_ref() != Some(&config);
                    state.audio.header_pending |= changed;
                    state.audio.audio = Some(config);
                })
            };
            drop(state);
            if let Err(err) = result {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    ("Caps not supported on the {} pad: {err}", pad.name())
                );
                return false;
            }
        }
        self.parent_sink_event(pad, event)
    }

    fn aggregate(&self, timeout: bool) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (best, all_eos) = self.earliest_pad();
        if all_eos {
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
        let video = is_video(&pad);

        let mut state = self.state();
        let dts_running = dts_running.unwrap_or(state.last_running);
        state.last_running = dts_running;
        let base = *state.base.get_or_insert(dts_running);
        let dts_rel = dts_running.saturating_sub(base).max(0);
        let timestamp_ms = ms_floor(dts_rel) as u32;
        // Output timestamps only pace the writer (sync=true); keep them non-negative.
        let running = gst::ClockTime::from_nseconds((dts_running - base.min(0)).max(0) as u64);

        if !state.metadata_sent {
            state.metadata_sent = true;
            self.send_metadata(&state)?;
        }

        let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        if video {
            let Some(config) = state.video.video.clone() else {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Negotiation,
                    ("Video data before caps")
                );
                return Err(gst::FlowError::NotNegotiated);
            };
            if std::mem::take(&mut state.video.header_pending) {
                let header = config.sequence_header();
                self.push_tag(TagType::Video, timestamp_ms, &header, None, running, false)?;
            }
            drop(state);
            let cts_ms = match buffer.pts().and_then(|pts| running_time_ns(&pad, pts)) {
                Some(pts_running) => {
                    let pts_rel = pts_running.saturating_sub(base);
                    (ms_floor(pts_rel) - ms_floor(dts_rel)).clamp(i32::MIN as i64, i32::MAX as i64)
                        as i32
                }
                None => 0,
            };
            let prefix = video_frame_header(keyframe, cts_ms);
            self.push_tag(
                TagType::Video,
                timestamp_ms,
                &prefix,
                Some(buffer),
                running,
                !keyframe,
            )
        } else {
            let Some(config) = state.audio.audio.clone() else {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Negotiation,
                    ("Audio data before caps")
                );
                return Err(gst::FlowError::NotNegotiated);
            };
            if std::mem::take(&mut state.audio.header_pending)
                && let Some(header) = config.sequence_header()
            {
                self.push_tag(TagType::Audio, timestamp_ms, &header, None, running, false)?;
            }
            drop(state);
            self.push_tag(
                TagType::Audio,
                timestamp_ms,
                config.frame_header(),
                Some(buffer),
                running,
                false,
            )
        }
    }
}

#[cfg(test)]
mod tests;
