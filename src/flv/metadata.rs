//! `onMetaData`: the script data that describes a stream (FLV spec E.5).
//!
//! The body is two AMF0 values: the string `"onMetaData"` and an ECMA array of properties.
//! A publisher sends it over RTMP as a data message with `"@setDataFrame"` in front, which the
//! server strips before passing it on to players; [`set_data_frame`] and
//! [`strip_set_data_frame`] add and remove that prefix without re-encoding the rest.

use bytes::{BufMut, Bytes, BytesMut};

use super::audio::AudioConfig;
use super::video::VideoConfig;
use crate::protocol::amf0::{self, Amf0Value};

pub const ON_METADATA: &str = "onMetaData";
pub const SET_DATA_FRAME: &str = "@setDataFrame";

/// `"@setDataFrame"` encoded as an AMF0 short string.
const SET_DATA_FRAME_AMF: &[u8] = b"\x02\x00\x0d@setDataFrame";

/// The `onMetaData` body for an outgoing stream.
///
/// Properties follow flvmux's order (`duration`, video, audio, `encoder`), with the audio
/// fields ffmpeg and OBS also write (`audiosamplerate`, `audiosamplesize`, `stereo`) after
/// `audiocodecid`/`audiodatarate`. Live streams have no duration, so it is 0. Data rates are in
/// kbit/s and only written when a bitrate is known.
pub fn on_metadata(
    video: Option<&VideoConfig>,
    audio: Option<&AudioConfig>,
    encoder: &str,
) -> Bytes {
    let mut props: Vec<(String, Amf0Value)> = Vec::new();
    let mut num = |name: &str, value: f64| props.push((name.to_owned(), Amf0Value::Number(value)));
    num("duration", 0.0);
    if let Some(v) = video {
        num("videocodecid", f64::from(v.codec_id()));
        if let Some(w) = v.width {
            num("width", f64::from(w));
        }
        if let Some(h) = v.height {
            num("height", f64::from(h));
        }
        if let Some(par) = v.pixel_aspect_ratio {
            num("AspectRatioX", f64::from(par.numer()));
            num("AspectRatioY", f64::from(par.denom()));
        }
        if let Some(fps) = v.framerate {
            num("framerate", f64::from(fps.numer()) / f64::from(fps.denom()));
        }
        if let Some(bitrate) = v.bitrate {
            num("videodatarate", f64::from(bitrate) / 1000.0);
        }
    }
    if let Some(a) = audio {
        num("audiocodecid", f64::from(a.sound_format()));
        if let Some(bitrate) = a.bitrate {
            num("audiodatarate", f64::from(bitrate) / 1000.0);
        }
        num("audiosamplerate", f64::from(a.rate()));
        num("audiosamplesize", 16.0);
        props.push(("stereo".to_owned(), Amf0Value::Boolean(a.channels() >= 2)));
    }
    props.push(("encoder".to_owned(), Amf0Value::String(encoder.to_owned())));

    let mut out = BytesMut::new();
    amf0::encode_all(
        &[
            Amf0Value::String(ON_METADATA.to_owned()),
            Amf0Value::EcmaArray(props),
        ],
        &mut out,
    );
    out.freeze()
}

/// Prepends `"@setDataFrame"` to a script body, as publishers send it over RTMP.
pub fn set_data_frame(body: &Bytes) -> Bytes {
    let mut out = BytesMut::with_capacity(SET_DATA_FRAME_AMF.len() + body.len());
    out.put_slice(SET_DATA_FRAME_AMF);
    out.put_slice(body);
    out.freeze()
}

/// Removes a leading `"@setDataFrame"` from a script body (zero-copy); other bodies are
/// returned unchanged.
pub fn strip_set_data_frame(body: &Bytes) -> Bytes {
    if body.starts_with(SET_DATA_FRAME_AMF) {
        body.slice(SET_DATA_FRAME_AMF.len()..)
    } else {
        body.clone()
    }
}

/// What an incoming `onMetaData` says about the stream. Every field is optional: publishers
/// write different subsets, and some write nonsense, which is dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamMetadata {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub framerate: Option<gst::Fraction>,
    pub pixel_aspect_ratio: Option<gst::Fraction>,
    /// Legacy CodecID, or an Enhanced RTMP FourCC (big-endian) when sent as one.
    pub video_codec_id: Option<u32>,
    /// Legacy SoundFormat, or an Enhanced RTMP FourCC (big-endian) when sent as one.
    pub audio_codec_id: Option<u32>,
    pub audio_sample_rate: Option<u32>,
    pub audio_sample_size: Option<u32>,
    pub stereo: Option<bool>,
    /// Seconds; 0 (live) is kept as `None`.
    pub duration: Option<f64>,
    /// kbit/s as sent in `videodatarate`.
    pub video_data_rate: Option<f64>,
    /// kbit/s as sent in `audiodatarate`.
    pub audio_data_rate: Option<f64>,
    /// Stream-wide tags: title, artist, encoder, application name, comment, copyright,
    /// duration.
    pub tags: gst::TagList,
}

impl Default for StreamMetadata {
    fn default() -> Self {
        StreamMetadata {
            width: None,
            height: None,
            framerate: None,
            pixel_aspect_ratio: None,
            video_codec_id: None,
            audio_codec_id: None,
            audio_sample_rate: None,
            audio_sample_size: None,
            stereo: None,
            duration: None,
            video_data_rate: None,
            audio_data_rate: None,
            tags: gst::TagList::new(),
        }
    }
}

impl StreamMetadata {
    /// Reads a decoded script body: `["@setDataFrame",] "onMetaData", {ECMA array | Object}`.
    /// `None` if it is another script message or has no property list.
    pub fn from_amf(values: &[Amf0Value]) -> Option<StreamMetadata> {
        let values = match values.first() {
            Some(v) if v.as_str() == Some(SET_DATA_FRAME) => values.get(1..)?,
            _ => values,
        };
        if values.first()?.as_str() != Some(ON_METADATA) {
            return None;
        }
        let props = values.get(1)?.properties()?;

        let mut meta = StreamMetadata::default();
        let mut par_x = None;
        let mut par_y = None;
        let tags = meta.tags.make_mut();
        for (key, value) in props {
            let number = value.as_number().filter(|n| n.is_finite() && *n >= 0.0);
            let text = value.as_str().filter(|s| !s.is_empty());
            match key.as_str() {
                "width" => meta.width = number.and_then(dimension),
                "height" => meta.height = number.and_then(dimension),
                "framerate" | "videoframerate" => {
                    meta.framerate = number.and_then(fraction_from_f64)
                }
                "AspectRatioX" => par_x = number.and_then(dimension),
                "AspectRatioY" => par_y = number.and_then(dimension),
                "videocodecid" => meta.video_codec_id = codec_id(value),
                "audiocodecid" => meta.audio_codec_id = codec_id(value),
                "audiosamplerate" => meta.audio_sample_rate = number.and_then(dimension),
                "audiosamplesize" => meta.audio_sample_size = number.and_then(dimension),
                "stereo" => meta.stereo = value.as_bool(),
                "videodatarate" => meta.video_data_rate = number.filter(|&n| n > 0.0),
                "audiodatarate" => meta.audio_data_rate = number.filter(|&n| n > 0.0),
                "duration" => {
                    meta.duration = number.filter(|&n| n > 0.0);
                    if let Some(ns) = meta.duration.and_then(seconds_to_ns) {
                        tags.add::<gst::tags::Duration>(
                            &gst::ClockTime::from_nseconds(ns),
                            gst::TagMergeMode::Replace,
                        );
                    }
                }
                "title" => add_text::<gst::tags::Title>(tags, text),
                "creator" | "artist" | "author" => add_text::<gst::tags::Artist>(tags, text),
                "encoder" => add_text::<gst::tags::Encoder>(tags, text),
                "metadatacreator" => add_text::<gst::tags::ApplicationName>(tags, text),
                "comment" => add_text::<gst::tags::Comment>(tags, text),
                "description" => add_text::<gst::tags::Description>(tags, text),
                "copyright" => add_text::<gst::tags::Copyright>(tags, text),
                _ => {}
            }
        }
        if let (Some(x), Some(y)) = (par_x, par_y) {
            meta.pixel_aspect_ratio = Some(gst::Fraction::new(x as i32, y as i32));
        }
        Some(meta)
    }

    /// Tags for the video stream: the nominal bitrate from `videodatarate`.
    pub fn video_tags(&self) -> gst::TagList {
        bitrate_tags(self.video_data_rate)
    }

    /// Tags for the audio stream: the nominal bitrate from `audiodatarate`.
    pub fn audio_tags(&self) -> gst::TagList {
        bitrate_tags(self.audio_data_rate)
    }
}

/// Tag strings are C strings (an interior NUL makes glib panic), so the text ends at the first
/// NUL, as flvdemux reads it.
fn add_text<'a, T: gst::tags::Tag<'a, TagType = &'a str>>(
    tags: &mut gst::TagListRef,
    text: Option<&'a str>,
) {
    let text = text
        .and_then(|t| t.split('\0').next())
        .filter(|t| !t.is_empty());
    if let Some(text) = text {
        tags.add::<T>(&text, gst::TagMergeMode::Replace);
    }
}

fn bitrate_tags(kbps: Option<f64>) -> gst::TagList {
    let mut tags = gst::TagList::new();
    let bps = kbps
        .map(|k| k * 1000.0)
        .filter(|&b| b >= 1.0 && b <= f64::from(u32::MAX));
    if let Some(bps) = bps {
        tags.make_mut()
            .add::<gst::tags::NominalBitrate>(&(bps as u32), gst::TagMergeMode::Replace);
    }
    tags
}

/// A positive whole number that fits caps' `i32` (sizes, rates, aspect ratio terms).
fn dimension(n: f64) -> Option<u32> {
    (n >= 1.0 && n <= f64::from(i32::MAX)).then_some(n as u32)
}

fn seconds_to_ns(s: f64) -> Option<u64> {
    let ns = s * 1e9;
    (ns.is_finite() && ns < u64::MAX as f64).then_some(ns as u64)
}

/// Codec ids are numbers in legacy FLV and may be FourCC strings (or their numbers) in
/// Enhanced RTMP.
fn codec_id(value: &Amf0Value) -> Option<u32> {
    if let Some(n) = value.as_number() {
        return (n.is_finite() && n >= 0.0 && n <= f64::from(u32::MAX)).then_some(n as u32);
    }
    let s = value.as_str()?.as_bytes();
    let fourcc: [u8; 4] = s.try_into().ok()?;
    Some(u32::from_be_bytes(fourcc))
}

/// Frame rates in metadata are doubles; recover the exact NTSC fractions (30000/1001, ...).
/// A rate too small to express is dropped: 0/1 would win over the SPS timing in caps.
fn fraction_from_f64(fps: f64) -> Option<gst::Fraction> {
    if !(fps > 0.0 && fps < 1_000_000.0) {
        return None;
    }
    nearest_fraction(fps).filter(|f| f.numer() > 0)
}

fn nearest_fraction(fps: f64) -> Option<gst::Fraction> {
    let whole = fps.round();
    if (fps - whole).abs() < 1e-3 {
        return Some(gst::Fraction::new(whole as i32, 1));
    }
    let ntsc = (fps * 1.001).round();
    if (fps * 1.001 - ntsc).abs() < 1e-3 {
        return Some(gst::Fraction::new(ntsc as i32 * 1000, 1001));
    }
    gst::Fraction::approximate_f64(fps)
}

#[cfg(test)]
#[path = "metadata_tests.rs"]
mod tests;
