//! The audio side of an outgoing stream: which codec, its sequence start, and the tag bodies
//! (legacy AAC/MP3, or the extended audio header with SoundFormat 9).

use bytes::{BufMut, Bytes, BytesMut};

use super::{
    AUDIO_MULTICHANNEL_CONFIG, CODED_FRAMES, LegacyCodecs, SEQUENCE_END, SEQUENCE_START,
    audio_header, fourcc_number,
};
use crate::flv::codecs::{flac_caps, opus_caps};
use crate::flv::{AudioConfig, FlvError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioFormat {
    Aac,
    Mp3,
    Opus,
    Flac,
    Ac3,
    Eac3,
}

impl AudioFormat {
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            AudioFormat::Aac => *b"mp4a",
            AudioFormat::Mp3 => *b".mp3",
            AudioFormat::Opus => *b"Opus",
            AudioFormat::Flac => *b"fLaC",
            AudioFormat::Ac3 => *b"ac-3",
            AudioFormat::Eac3 => *b"ec-3",
        }
    }
}

/// AudioChannelOrder of the MultichannelConfig packet.
const ORDER_UNSPECIFIED: u8 = 0;
const ORDER_NATIVE: u8 = 1;
const STREAMINFO_LEN: usize = 34;

/// What rtmpsink's audio pad sends, from its caps.
#[derive(Debug, Clone, PartialEq)]
pub struct OutAudio {
    pub format: AudioFormat,
    /// AAC or MP3 (always parsed, for rate and channels); used as is for track 0 in legacy mode.
    legacy: Option<AudioConfig>,
    use_legacy: bool,
    /// AudioSpecificConfig, OpusHead, FLAC STREAMINFO; empty for AC-3, E-AC-3 and MP3.
    config: Bytes,
    pub rate: u32,
    pub channels: u32,
    /// Speaker mask in Enhanced RTMP's AudioChannelMask bits, when the layout maps onto it.
    channel_mask: Option<u32>,
}

fn unsupported(msg: String) -> FlvError {
    FlvError::UnsupportedCaps(msg)
}

fn int(s: &gst::StructureRef, field: &str) -> Option<i32> {
    s.get_optional::<i32>(field).ok().flatten()
}

fn buffer_bytes(buffer: &gst::Buffer) -> Result<Bytes, FlvError> {
    let map = buffer
        .map_readable()
        .map_err(|_| unsupported("caps buffer is not readable".into()))?;
    Ok(Bytes::copy_from_slice(map.as_slice()))
}

fn streamheader(s: &gst::StructureRef) -> Result<Vec<Bytes>, FlvError> {
    let Some(array) = s.get_optional::<gst::Array>("streamheader").ok().flatten() else {
        return Ok(Vec::new());
    };
    array
        .iter()
        .filter_map(|v| v.get::<gst::Buffer>().ok())
        .map(|b| buffer_bytes(&b))
        .collect()
}

/// The speaker mask of the caps' `channel-mask`, or the usual mono/stereo layout; `None` when
/// a position has no Enhanced RTMP equivalent (the order is then "unspecified").
fn channel_mask(s: &gst::StructureRef, channels: u32) -> Option<u32> {
    let gst_mask = s
        .get_optional::<gst::Bitmask>("channel-mask")
        .ok()
        .flatten()
        .map(|m| m.0)
        .filter(|&m| m != 0);
    let Some(gst_mask) = gst_mask else {
        return match channels {
            1 => Some(0x4), // front centre
            2 => Some(0x3),
            _ => None,
        };
    };
    crate::flv::channels::mask_from_gst(gst_mask)
}

/// An Opus ID header (RFC 7845 5.1) from Opus caps fields, for caps without a streamheader.
/// The pre-skip is unknown there and written as 0.
fn opus_head_from_fields(s: &gst::StructureRef) -> Result<Bytes, FlvError> {
    let channels = int(s, "channels").ok_or(FlvError::MissingField("channels"))?;
    let channels = u8::try_from(channels)
        .ok()
        .filter(|&c| c > 0)
        .ok_or_else(|| unsupported(format!("Opus with {channels} channels")))?;
    let rate = int(s, "rate")
        .and_then(|r| u32::try_from(r).ok())
        .unwrap_or(48000);
    let family = int(s, "channel-mapping-family").unwrap_or(0);
    let family = u8::try_from(family).map_err(|_| unsupported("channel-mapping-family".into()))?;
    let mut head = BytesMut::with_capacity(21 + usize::from(channels));
    head.put_slice(b"OpusHead");
    head.put_u8(1);
    head.put_u8(channels);
    head.put_u16_le(0);
    head.put_u32_le(rate);
    head.put_i16_le(0);
    head.put_u8(family);
    if family != 0 {
        let field = |name: &'static str| {
            int(s, name)
                .and_then(|v| u8::try_from(v).ok())
                .ok_or(FlvError::MissingField(name))
        };
        head.put_u8(field("stream-count")?);
        head.put_u8(field("coupled-count")?);
        let mapping = s
            .get_optional::<gst::Array>("channel-mapping")
            .ok()
            .flatten()
            .ok_or(FlvError::MissingField("channel-mapping"))?;
        for v in mapping.iter() {
            let c = v
                .get::<i32>()
                .ok()
                .and_then(|c| u8::try_from(c).ok())
                .ok_or_else(|| unsupported("channel-mapping entry".into()))?;
            head.put_u8(c);
        }
    }
    Ok(head.freeze())
}

/// The 34-byte STREAMINFO from flacparse's streamheader: either the Ogg FLAC mapping's first
/// packet (`0x7F "FLAC"`, version, header count, `"fLaC"`, block header, STREAMINFO) or
/// `"fLaC"` followed by the STREAMINFO block.
fn flac_streaminfo(headers: &[Bytes]) -> Option<Bytes> {
    let first = headers.first()?;
    if first.starts_with(b"\x7fFLAC") {
        return first
            .get(17..17 + STREAMINFO_LEN)
            .map(Bytes::copy_from_slice);
    }
    if &first[..] == b"fLaC" {
        let block = headers.get(1)?;
        return (block.first()? & 0x7f == 0)
            .then(|| block.get(4..4 + STREAMINFO_LEN).map(Bytes::copy_from_slice))
            .flatten();
    }
    None
}

impl OutAudio {
    /// Accepts AAC (raw, codec_data), MP3, Opus (streamheader or the caps fields), FLAC
    /// (framed, with streamheader), AC-3 and E-AC-3.
    pub fn from_caps(caps: &gst::CapsRef, mode: LegacyCodecs) -> Result<OutAudio, FlvError> {
        let s = caps
            .structure(0)
            .ok_or_else(|| unsupported("empty caps".into()))?;
        let positive = |field: &str| {
            int(s, field)
                .and_then(|v| u32::try_from(v).ok())
                .filter(|&v| v > 0)
        };
        let (format, legacy, config) = match s.name().as_str() {
            "audio/mpeg" => {
                let legacy = AudioConfig::from_caps(caps)?;
                let (format, config) = if legacy.sound_format() == crate::flv::SOUND_FORMAT_AAC {
                    let asc = s
                        .get_optional::<gst::Buffer>("codec_data")
                        .ok()
                        .flatten()
                        .ok_or(FlvError::MissingField("codec_data"))?;
                    (AudioFormat::Aac, buffer_bytes(&asc)?)
                } else {
                    (AudioFormat::Mp3, Bytes::new())
                };
                (format, Some(legacy), config)
            }
            "audio/x-opus" => {
                let headers = streamheader(s)?;
                let head = match headers.first() {
                    Some(head) if head.starts_with(b"OpusHead") => head.clone(),
                    _ => opus_head_from_fields(s)?,
                };
                // The playing side's parser checks the header as a player would.
                opus_caps(&head)?;
                (AudioFormat::Opus, None, head)
            }
            "audio/x-flac" => {
                if s.get_optional::<bool>("framed").ok().flatten() == Some(false) {
                    return Err(unsupported(
                        "audio/x-flac framed=false: FLV carries whole FLAC frames; put flacparse \
                         before the sink"
                            .into(),
                    ));
                }
                let info = flac_streaminfo(&streamheader(s)?).ok_or_else(|| {
                    unsupported(
                        "audio/x-flac without a STREAMINFO streamheader; put flacparse before \
                         the sink"
                            .into(),
                    )
                })?;
                flac_caps(&info)?;
                (AudioFormat::Flac, None, info)
            }
            "audio/x-ac3" => (AudioFormat::Ac3, None, Bytes::new()),
            "audio/x-eac3" => (AudioFormat::Eac3, None, Bytes::new()),
            other => {
                return Err(unsupported(format!(
                    "{other} cannot be sent as FLV audio; rtmpsink takes AAC, MP3, Opus, FLAC, \
                     AC-3 and E-AC-3"
                )));
            }
        };
        if matches!(format, AudioFormat::Ac3 | AudioFormat::Eac3)
            && s.get_optional::<&str>("alignment").ok().flatten() == Some("iec61937")
        {
            return Err(unsupported(
                "AC-3 alignment=iec61937: FLV carries sync frames; put ac3parse before the sink"
                    .into(),
            ));
        }
        let (rate, channels) = match &legacy {
            Some(l) => (l.rate(), l.channels()),
            None => (
                positive("rate").unwrap_or(48000),
                positive("channels").unwrap_or(2),
            ),
        };
        Ok(OutAudio {
            format,
            use_legacy: legacy.is_some() && mode == LegacyCodecs::Legacy,
            legacy,
            config,
            rate,
            channels,
            channel_mask: channel_mask(s, channels),
        })
    }

    pub fn fourcc(&self) -> [u8; 4] {
        self.format.fourcc()
    }

    fn legacy_for(&self, track: u8) -> Option<&AudioConfig> {
        self.legacy
            .as_ref()
            .filter(|_| self.use_legacy && track == 0)
    }

    /// `audiocodecid` for onMetaData: the SoundFormat in the legacy form, else the FourCC's
    /// number.
    pub fn codec_id(&self) -> f64 {
        match self.legacy_for(0) {
            Some(l) => f64::from(l.sound_format()),
            None => fourcc_number(self.fourcc()),
        }
    }

    /// The sequence start for `track` (AAC sequence header in the legacy form); MP3 has none.
    pub fn sequence_start(&self, track: u8) -> Option<Bytes> {
        if let Some(legacy) = self.legacy_for(track) {
            return legacy.sequence_header();
        }
        if self.format == AudioFormat::Mp3 {
            return None;
        }
        let header = audio_header(SEQUENCE_START, self.fourcc(), track);
        let mut out = BytesMut::with_capacity(header.len() + self.config.len());
        out.put_slice(&header);
        out.put_slice(&self.config);
        Some(out.freeze())
    }

    /// The MultichannelConfig packet FFmpeg sends after each extended sequence start: the
    /// channel count, and the speaker mask when known.
    pub fn multichannel_config(&self, track: u8) -> Option<Bytes> {
        if self.legacy_for(track).is_some() {
            return None;
        }
        let mut out = audio_header(AUDIO_MULTICHANNEL_CONFIG, self.fourcc(), track);
        let channels = u8::try_from(self.channels).unwrap_or(u8::MAX);
        match self.channel_mask {
            Some(mask) => {
                out.extend_from_slice(&[ORDER_NATIVE, channels]);
                out.extend_from_slice(&mask.to_be_bytes());
            }
            None => out.extend_from_slice(&[ORDER_UNSPECIFIED, channels]),
        }
        Some(Bytes::from(out))
    }

    /// The bytes before each frame.
    pub fn frame_header(&self, track: u8) -> Vec<u8> {
        match self.legacy_for(track) {
            Some(legacy) => legacy.frame_header().to_vec(),
            None => audio_header(CODED_FRAMES, self.fourcc(), track),
        }
    }

    /// The SequenceEnd sent at EOS (the legacy form has none).
    pub fn sequence_end(&self, track: u8) -> Option<Bytes> {
        if self.legacy_for(track).is_some() {
            return None;
        }
        Some(Bytes::from(audio_header(
            SEQUENCE_END,
            self.fourcc(),
            track,
        )))
    }

    /// Whether buffers flagged HEADER repeat the streamheader (Opus and FLAC parsers push their
    /// headers as buffers too) and must not be sent as frames.
    pub fn drops_header_buffers(&self) -> bool {
        matches!(self.format, AudioFormat::Opus | AudioFormat::Flac)
    }
}
