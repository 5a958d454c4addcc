//! AAC and MP3 in FLV audio tags, both directions.
//!
//! An audio tag body starts with one flags byte: `UB[4] SoundFormat, UB[2] SoundRate,
//! UB[1] SoundSize, UB[1] SoundType`. AAC (format 10) adds an AACPacketType byte (0: the
//! AudioSpecificConfig, 1: one raw AAC frame) and always declares 44 kHz/16-bit/stereo: the real
//! values live in the AudioSpecificConfig. MP3 (format 2, or 14 for 8 kHz) is followed by MPEG
//! audio frames, whose own headers carry the real rate and channel count.
//!
//! Enhanced RTMP audio (SoundFormat 9) is recognised: `mp4a` and `.mp3` map onto the same
//! variants, `Opus`/`fLaC`/`ac-3`/`ec-3` onto the `Ex*` variants (caps in [`super::codecs`]),
//! other FourCCs are reported as unsupported.

use bytes::{BufMut, Bytes, BytesMut};

use super::FlvError;
use super::bits::BitReader;
use super::codecs::ExAudioCodec;

pub const SOUND_FORMAT_MP3: u8 = 2;
pub const SOUND_FORMAT_AAC: u8 = 10;
pub const SOUND_FORMAT_MP3_8K: u8 = 14;
/// Enhanced RTMP: the low nibble is an AudioPacketType and a FourCC follows.
const SOUND_FORMAT_EX_HEADER: u8 = 9;

const AAC_SEQUENCE_HEADER: u8 = 0;
const AAC_RAW: u8 = 1;
/// AAC tags always say 44 kHz, 16-bit, stereo (FLV spec E.4.2.1).
const AAC_FLAGS: u8 = (SOUND_FORMAT_AAC << 4) | (3 << 2) | (1 << 1) | 1;

// Enhanced RTMP AudioPacketType values.
const EX_SEQUENCE_START: u8 = 0;
const EX_CODED_FRAMES: u8 = 1;
const EX_SEQUENCE_END: u8 = 2;
const EX_MULTICHANNEL_CONFIG: u8 = 4;
const EX_MULTITRACK: u8 = 5;
/// AudioChannelOrder::Native: a UI32 channel mask follows the channel count.
const CHANNEL_ORDER_NATIVE: u8 = 1;

/// ISO/IEC 14496-3 Table 1.18 sampling frequencies, by samplingFrequencyIndex.
const AAC_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// The fields of an AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1) that caps need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AudioSpecificConfig {
    /// Audio object type of the core coder (2 = AAC-LC), after an explicit SBR/PS wrapper.
    pub object_type: u8,
    /// Core sampling rate: what GStreamer puts in AAC caps.
    pub sample_rate: u32,
    /// channelConfiguration; 0 means the layout is in a program config element.
    pub channel_config: u8,
    /// Number of channels, or `None` for channel configuration 0.
    pub channels: Option<u32>,
    /// Output rate of an explicitly signalled SBR (HE-AAC) extension.
    pub extension_sample_rate: Option<u32>,
}

impl AudioSpecificConfig {
    pub fn parse(data: &[u8]) -> Result<Self, FlvError> {
        let short = FlvError::InvalidAsc("truncated");
        let mut r = BitReader::new(data);
        let mut object_type = read_object_type(&mut r).ok_or(short.clone())?;
        if object_type == 0 {
            return Err(FlvError::InvalidAsc("audio object type 0"));
        }
        let sample_rate = read_rate(&mut r)?;
        let channel_config = r.read_bits(4).ok_or(short.clone())? as u8;
        let channels = match channel_config {
            0 => None,
            1..=6 => Some(u32::from(channel_config)),
            7 | 12 | 14 => Some(8),
            11 => Some(7),
            13 => Some(24),
            _ => return Err(FlvError::InvalidAsc("reserved channel configuration")),
        };
        let mut extension_sample_rate = None;
        // Explicit SBR (5) / PS (29) signalling wraps the core object type (1.6.2.1).
        if object_type == 5 || object_type == 29 {
            extension_sample_rate = Some(read_rate(&mut r)?);
            object_type = read_object_type(&mut r).ok_or(short)?;
            if object_type == 0 {
                return Err(FlvError::InvalidAsc("audio object type 0"));
            }
        }
        Ok(AudioSpecificConfig {
            object_type,
            sample_rate,
            channel_config,
            channels,
            extension_sample_rate,
        })
    }

    /// The `profile` string GStreamer uses in AAC caps, for the basic object types.
    pub fn profile_name(&self) -> Option<&'static str> {
        Some(match self.object_type {
            1 => "main",
            2 => "lc",
            3 => "ssr",
            4 => "ltp",
            _ => return None,
        })
    }
}

fn read_object_type(r: &mut BitReader<'_>) -> Option<u8> {
    let t = r.read_bits(5)?;
    let t = if t == 31 { 32 + r.read_bits(6)? } else { t };
    u8::try_from(t).ok()
}

fn read_rate(r: &mut BitReader<'_>) -> Result<u32, FlvError> {
    let short = FlvError::InvalidAsc("truncated");
    let index = r.read_bits(4).ok_or(short.clone())?;
    let rate = if index == 15 {
        r.read_bits(24).ok_or(short)?
    } else {
        *AAC_RATES
            .get(index as usize)
            .ok_or(FlvError::InvalidAsc("reserved sampling frequency index"))?
    };
    if rate == 0 {
        return Err(FlvError::InvalidAsc("sampling frequency 0"));
    }
    Ok(rate)
}

/// The codec of an outgoing audio stream.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioCodec {
    Aac {
        /// The AudioSpecificConfig from `codec_data`.
        asc: Bytes,
        config: AudioSpecificConfig,
    },
    Mp3,
}

/// The audio side of an outgoing stream, from the caps of rtmpsink's audio pad.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioConfig {
    codec: AudioCodec,
    rate: u32,
    channels: u32,
    /// The flags byte, plus AACPacketType 1 for AAC.
    header: [u8; 2],
    /// Bits per second, for `audiodatarate` in onMetaData. Not in caps: set it from tags.
    pub bitrate: Option<u32>,
}

impl AudioConfig {
    /// Accepts `audio/mpeg, mpegversion=4 (or 2), stream-format=raw, codec_data` and
    /// `audio/mpeg, mpegversion=1, layer=3, rate, channels`.
    pub fn from_caps(caps: &gst::CapsRef) -> Result<AudioConfig, FlvError> {
        let s = caps
            .structure(0)
            .ok_or_else(|| FlvError::UnsupportedCaps("empty caps".into()))?;
        if s.name() != "audio/mpeg" {
            return Err(FlvError::UnsupportedCaps(format!(
                "{} cannot be sent as FLV audio; only AAC and MP3 (audio/mpeg) are supported",
                s.name()
            )));
        }
        let int = |field: &'static str| s.get_optional::<i32>(field).ok().flatten();
        match int("mpegversion").ok_or(FlvError::MissingField("mpegversion"))? {
            2 | 4 => {
                match s.get_optional::<&str>("stream-format").ok().flatten() {
                    None | Some("raw") => {}
                    Some(other) => {
                        return Err(FlvError::UnsupportedCaps(format!(
                            "AAC stream-format={other}: FLV carries raw AAC with codec_data; \
                             put aacparse before the sink"
                        )));
                    }
                }
                let buffer = s
                    .get_optional::<gst::Buffer>("codec_data")
                    .ok()
                    .flatten()
                    .ok_or(FlvError::MissingField("codec_data"))?;
                let map = buffer.map_readable().map_err(|_| {
                    FlvError::UnsupportedCaps("codec_data buffer is not readable".into())
                })?;
                let asc = Bytes::copy_from_slice(map.as_slice());
                let config = AudioSpecificConfig::parse(&asc)?;
                let caps_channels = int("channels").and_then(|c| u32::try_from(c).ok());
                let channels = config
                    .channels
                    .or(caps_channels)
                    .ok_or(FlvError::MissingField("channels"))?;
                Ok(AudioConfig {
                    rate: config.sample_rate,
                    channels,
                    codec: AudioCodec::Aac { asc, config },
                    header: [AAC_FLAGS, AAC_RAW],
                    bitrate: None,
                })
            }
            1 => {
                let layer = int("layer").ok_or(FlvError::MissingField("layer"))?;
                if layer != 3 {
                    return Err(FlvError::UnsupportedCaps(format!(
                        "MPEG-1 audio layer {layer}: FLV carries layer 3 (MP3) only"
                    )));
                }
                let rate = int("rate")
                    .and_then(|r| u32::try_from(r).ok())
                    .filter(|&r| r > 0)
                    .ok_or(FlvError::MissingField("rate"))?;
                let channels = int("channels").ok_or(FlvError::MissingField("channels"))?;
                if channels != 1 && channels != 2 {
                    return Err(FlvError::UnsupportedCaps(format!(
                        "MP3 with {channels} channels: FLV carries mono or stereo"
                    )));
                }
                Ok(AudioConfig {
                    codec: AudioCodec::Mp3,
                    rate,
                    channels: channels as u32,
                    header: [mp3_flags(rate, channels == 2), 0],
                    bitrate: None,
                })
            }
            other => Err(FlvError::UnsupportedCaps(format!(
                "audio/mpeg mpegversion={other}: FLV carries AAC (mpegversion 2 or 4) or MP3"
            ))),
        }
    }

    pub fn codec(&self) -> &AudioCodec {
        &self.codec
    }

    /// Real sampling rate (for AAC: the AudioSpecificConfig's core rate).
    pub fn rate(&self) -> u32 {
        self.rate
    }

    pub fn channels(&self) -> u32 {
        self.channels
    }

    /// FLV SoundFormat: 10 (AAC), 2 (MP3) or 14 (MP3 at 8 kHz).
    pub fn sound_format(&self) -> u8 {
        self.header[0] >> 4
    }

    /// The SoundFormat/SoundRate/SoundSize/SoundType byte that starts every tag body.
    pub fn flags(&self) -> u8 {
        self.header[0]
    }

    /// Tag body of the AAC sequence header (`0xAF 0x00` + AudioSpecificConfig); MP3 has none.
    pub fn sequence_header(&self) -> Option<Bytes> {
        match &self.codec {
            AudioCodec::Aac { asc, .. } => {
                let mut out = BytesMut::with_capacity(2 + asc.len());
                out.put_slice(&[AAC_FLAGS, AAC_SEQUENCE_HEADER]);
                out.put_slice(asc);
                Some(out.freeze())
            }
            AudioCodec::Mp3 => None,
        }
    }

    /// The bytes that precede each frame: `[0xAF, 0x01]` for AAC, the flags byte for MP3.
    pub fn frame_header(&self) -> &[u8] {
        match self.codec {
            AudioCodec::Aac { .. } => &self.header,
            AudioCodec::Mp3 => &self.header[..1],
        }
    }
}

/// The flags byte for MP3: format 14 at exactly 8 kHz (as flvmux does), else format 2 with the
/// nearest of the four FLV rates; decoders take the real rate from the MPEG frame headers.
fn mp3_flags(rate: u32, stereo: bool) -> u8 {
    let (format, rate_bits) = if rate == 8000 {
        (SOUND_FORMAT_MP3_8K, 0)
    } else {
        let nearest = [5512u32, 11025, 22050, 44100]
            .iter()
            .enumerate()
            .min_by_key(|(_, r)| r.abs_diff(rate))
            .map_or(3, |(i, _)| i as u8);
        (SOUND_FORMAT_MP3, nearest)
    };
    (format << 4) | (rate_bits << 2) | (1 << 1) | u8::from(stereo)
}

/// A parsed audio tag body. Payloads are sub-slices of the body (no copy).
#[derive(Debug, Clone, PartialEq)]
pub enum AudioTag {
    /// The AudioSpecificConfig, for `codec_data`.
    AacSequenceHeader(Bytes),
    /// One raw AAC frame.
    AacFrame(Bytes),
    /// MPEG audio frames.
    Mp3 {
        data: Bytes,
    },
    /// Enhanced RTMP SequenceStart of `codec` (OpusHead, STREAMINFO, nothing for AC-3).
    ExSequenceStart {
        codec: ExAudioCodec,
        config: Bytes,
    },
    /// Coded frames of `codec`; `timestamp_offset_ns` comes from a TimestampOffsetNano ModEx.
    ExFrame {
        codec: ExAudioCodec,
        timestamp_offset_ns: u32,
        data: Bytes,
    },
    ExSequenceEnd {
        codec: ExAudioCodec,
    },
    /// MultichannelConfig: the channel order (0 unspecified, 1 native, 2 custom), the channel
    /// count and, for the native order, the speaker mask (bit 0 front left, bit 1 front
    /// right, ... in the order of WAVEFORMATEXTENSIBLE).
    ExMultichannelConfig {
        fourcc: [u8; 4],
        order: u8,
        channels: u8,
        mask: Option<u32>,
    },
    /// An Enhanced RTMP multitrack packet: each track's id and its packet (never another
    /// `Multitrack`). Track 0 is the default track.
    Multitrack(Vec<(u8, AudioTag)>),
    /// A legacy codec other than AAC and MP3.
    Unsupported {
        sound_format: u8,
    },
    /// An Enhanced RTMP packet we do not map (another FourCC, multitrack, ...).
    UnsupportedEnhanced {
        packet_type: u8,
        fourcc: Option<[u8; 4]>,
    },
}

/// Parses an audio tag body (legacy FLV or Enhanced RTMP).
pub fn parse_audio_body(body: &Bytes) -> Result<AudioTag, FlvError> {
    let &flags = body.first().ok_or(FlvError::Truncated("audio tag body"))?;
    match flags >> 4 {
        SOUND_FORMAT_AAC => {
            let &packet_type = body
                .get(1)
                .ok_or(FlvError::Truncated("AAC audio tag header"))?;
            match packet_type {
                AAC_SEQUENCE_HEADER => Ok(AudioTag::AacSequenceHeader(body.slice(2..))),
                AAC_RAW => Ok(AudioTag::AacFrame(body.slice(2..))),
                other => Err(FlvError::UnknownAacPacketType(other)),
            }
        }
        SOUND_FORMAT_MP3 | SOUND_FORMAT_MP3_8K => Ok(AudioTag::Mp3 {
            data: body.slice(1..),
        }),
        SOUND_FORMAT_EX_HEADER => parse_enhanced(body),
        sound_format => Ok(AudioTag::Unsupported { sound_format }),
    }
}

fn parse_enhanced(body: &Bytes) -> Result<AudioTag, FlvError> {
    let truncated = FlvError::Truncated("enhanced audio tag header");
    let packet_type = body.first().ok_or(truncated.clone())? & 0x0f;
    let super::enhanced::ModEx {
        packet_type,
        pos,
        timestamp_offset_ns,
    } = super::enhanced::read_mod_ex(body, packet_type, 1, &truncated)?;
    if packet_type == EX_MULTITRACK {
        let Some((packet_type, tracks)) = super::enhanced::read_multitrack(body, pos, &truncated)?
        else {
            return Ok(AudioTag::UnsupportedEnhanced {
                packet_type,
                fourcc: None,
            });
        };
        let tracks = tracks
            .into_iter()
            .map(|t| {
                let tag = audio_packet(packet_type, t.fourcc, t.data, timestamp_offset_ns)?;
                Ok((t.id, tag))
            })
            .collect::<Result<Vec<_>, FlvError>>()?;
        return Ok(AudioTag::Multitrack(tracks));
    }
    let fourcc: [u8; 4] = body
        .get(pos..pos + 4)
        .and_then(|f| f.try_into().ok())
        .ok_or(truncated.clone())?;
    audio_packet(
        packet_type,
        fourcc,
        body.slice(pos + 4..),
        timestamp_offset_ns,
    )
}

/// One track's packet of `fourcc`: `data` follows the FourCC (and the track id and size).
fn audio_packet(
    packet_type: u8,
    fourcc: [u8; 4],
    data: Bytes,
    timestamp_offset_ns: u32,
) -> Result<AudioTag, FlvError> {
    let truncated = FlvError::Truncated("enhanced audio tag header");
    let codec = ExAudioCodec::from_fourcc(fourcc);
    match (&fourcc, packet_type, codec) {
        (b"mp4a", EX_SEQUENCE_START, _) => Ok(AudioTag::AacSequenceHeader(data)),
        (b"mp4a", EX_CODED_FRAMES, _) => Ok(AudioTag::AacFrame(data)),
        (b".mp3", EX_CODED_FRAMES, _) => Ok(AudioTag::Mp3 { data }),
        (_, EX_MULTICHANNEL_CONFIG, _) => {
            let (&order, &channels) = data.first().zip(data.get(1)).ok_or(truncated.clone())?;
            let mask = if order == CHANNEL_ORDER_NATIVE {
                let m = data.get(2..6).ok_or(truncated)?;
                Some(u32::from_be_bytes([m[0], m[1], m[2], m[3]]))
            } else {
                None
            };
            Ok(AudioTag::ExMultichannelConfig {
                fourcc,
                order,
                channels,
                mask,
            })
        }
        (_, EX_SEQUENCE_START, Some(codec)) => Ok(AudioTag::ExSequenceStart {
            codec,
            config: data,
        }),
        (_, EX_CODED_FRAMES, Some(codec)) => Ok(AudioTag::ExFrame {
            codec,
            timestamp_offset_ns,
            data,
        }),
        (_, EX_SEQUENCE_END, Some(codec)) => Ok(AudioTag::ExSequenceEnd { codec }),
        _ => Ok(AudioTag::UnsupportedEnhanced {
            packet_type,
            fourcc: Some(fourcc),
        }),
    }
}

/// Caps for AAC from its AudioSpecificConfig: `audio/mpeg, mpegversion=4, stream-format=raw,
/// framed=true, codec_data, rate, channels` (channels omitted for configuration 0).
pub fn aac_caps(asc: &Bytes) -> Result<gst::Caps, FlvError> {
    let config = AudioSpecificConfig::parse(asc)?;
    let rate = i32::try_from(config.sample_rate)
        .map_err(|_| FlvError::InvalidAsc("sampling frequency out of range"))?;
    let mut builder = gst::Caps::builder("audio/mpeg")
        .field("mpegversion", 4i32)
        .field("stream-format", "raw")
        .field("framed", true)
        .field("codec_data", gst::Buffer::from_slice(asc.clone()))
        .field("rate", rate);
    if let Some(channels) = config.channels {
        builder = builder.field("channels", channels as i32);
    }
    if let Some(profile) = config.profile_name() {
        builder = builder.field("profile", profile);
    }
    Ok(builder.build())
}

/// The fields of an MPEG audio frame header (ISO/IEC 11172-3 2.4.1.3, with MPEG-2 and 2.5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mp3Header {
    /// 1 (MPEG-1), 2 (MPEG-2) or 3 (MPEG-2.5), as `mpegaudioversion` in caps.
    pub mpeg_audio_version: u8,
    pub layer: u8,
    pub rate: u32,
    pub channels: u32,
}

impl Mp3Header {
    /// Parses the 4-byte header at the start of `data`.
    pub fn parse(data: &[u8]) -> Result<Mp3Header, FlvError> {
        let h: [u8; 4] = data
            .get(..4)
            .and_then(|h| h.try_into().ok())
            .ok_or(FlvError::InvalidMp3Header("shorter than 4 bytes"))?;
        if h[0] != 0xff || h[1] & 0xe0 != 0xe0 {
            return Err(FlvError::InvalidMp3Header("no frame sync"));
        }
        let (mpeg_audio_version, base_rates) = match (h[1] >> 3) & 3 {
            0 => (3, [11025, 12000, 8000]),
            2 => (2, [22050, 24000, 16000]),
            3 => (1, [44100, 48000, 32000]),
            _ => return Err(FlvError::InvalidMp3Header("reserved version")),
        };
        let layer = match (h[1] >> 1) & 3 {
            1 => 3,
            2 => 2,
            3 => 1,
            _ => return Err(FlvError::InvalidMp3Header("reserved layer")),
        };
        if h[2] >> 4 == 15 {
            return Err(FlvError::InvalidMp3Header("bad bitrate index"));
        }
        let rate = *base_rates
            .get(usize::from((h[2] >> 2) & 3))
            .ok_or(FlvError::InvalidMp3Header("reserved sampling rate"))?;
        let channels = if h[3] >> 6 == 3 { 1 } else { 2 };
        Ok(Mp3Header {
            mpeg_audio_version,
            layer,
            rate,
            channels,
        })
    }

    /// Finds the first valid frame header in `data`, in case a tag starts mid-frame.
    pub fn find(data: &[u8]) -> Result<Mp3Header, FlvError> {
        Self::parse(data).or_else(|first_err| {
            data.iter()
                .enumerate()
                .skip(1)
                .filter(|&(_, &b)| b == 0xff)
                .find_map(|(i, _)| Self::parse(data.get(i..)?).ok())
                .ok_or(first_err)
        })
    }
}

/// Caps for MPEG audio from the first frame of the stream: `audio/mpeg, mpegversion=1,
/// mpegaudioversion, layer, parsed=true, rate, channels`.
pub fn mp3_caps(first_frame: &[u8]) -> Result<gst::Caps, FlvError> {
    let h = Mp3Header::find(first_frame)?;
    Ok(gst::Caps::builder("audio/mpeg")
        .field("mpegversion", 1i32)
        .field("mpegaudioversion", i32::from(h.mpeg_audio_version))
        .field("layer", i32::from(h.layer))
        .field("parsed", true)
        .field("rate", h.rate as i32)
        .field("channels", h.channels as i32)
        .build())
}

#[cfg(test)]
#[path = "audio_tests.rs"]
pub(crate) mod tests;
