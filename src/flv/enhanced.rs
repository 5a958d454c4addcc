//! Enhanced RTMP (veovera enhanced-rtmp v2) video tag headers.
//!
//! An extended video tag body starts `UB[1] IsExHeader=1, UB[3] FrameType, UB[4] PacketType`,
//! then any ModEx prefixes (sized modifier data, e.g. TimestampOffsetNano), then a FourCC and
//! the packet's data. CodedFrames of `avc1` and `hvc1` carry an SI24 composition time before
//! the frame; other codecs (and CodedFramesX) have none. Codec configuration records are
//! interpreted per codec in [`super::codecs`].
//!
//! Multitrack (video packet type 6, audio 5): a byte of `UB[4] AvMultitrackType, UB[4]
//! PacketType`, the FourCC unless each track has its own (ManyTracksManyCodecs), then per
//! track `[FourCC] UI8 trackId [UI24 size]` and the track's packet data; OneTrack has no size
//! and takes the rest of the body.

use bytes::Bytes;

use super::FlvError;
use super::codecs::ExVideoCodec;
use super::video::{FRAME_TYPE_COMMAND, VideoTag, is_keyframe, read_si24};

// Enhanced RTMP VideoPacketType values.
pub(super) const EX_SEQUENCE_START: u8 = 0;
pub(super) const EX_CODED_FRAMES: u8 = 1;
pub(super) const EX_SEQUENCE_END: u8 = 2;
pub(super) const EX_CODED_FRAMES_X: u8 = 3;
pub(super) const EX_METADATA: u8 = 4;
pub(super) const EX_MULTITRACK: u8 = 6;
/// Enhanced RTMP's ModEx packet type (audio and video alike).
pub(super) const EX_MOD_EX: u8 = 7;
/// ModEx type whose data is a UI24 of nanoseconds added to the tag's millisecond timestamp.
const MOD_EX_TIMESTAMP_OFFSET_NANO: u8 = 0;

/// The packet type after any ModEx prefixes, where its payload continues, and the
/// TimestampOffsetNano they carried (0 without one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ModEx {
    pub packet_type: u8,
    pub pos: usize,
    pub timestamp_offset_ns: u32,
}

/// Reads Enhanced RTMP ModEx prefixes: while the packet type is ModEx, sized modifier data
/// follows (UI8 size-1, or 0xFF then UI16 size-1), then a byte holding the ModEx type (high
/// nibble) and the next packet type (low nibble). Each round consumes at least two bytes, so the
/// loop ends with the body.
pub(super) fn read_mod_ex(
    body: &[u8],
    mut packet_type: u8,
    mut pos: usize,
    truncated: &FlvError,
) -> Result<ModEx, FlvError> {
    let mut timestamp_offset_ns = 0;
    while packet_type == EX_MOD_EX {
        let size = match body.get(pos) {
            Some(0xff) => {
                let b = body.get(pos + 1..pos + 3).ok_or(truncated.clone())?;
                pos += 3;
                usize::from(u16::from_be_bytes([b[0], b[1]])) + 1
            }
            Some(&n) => {
                pos += 1;
                usize::from(n) + 1
            }
            None => return Err(truncated.clone()),
        };
        let data = body.get(pos..pos + size).ok_or(truncated.clone())?;
        pos += size;
        let &next = body.get(pos).ok_or(truncated.clone())?;
        pos += 1;
        if next >> 4 == MOD_EX_TIMESTAMP_OFFSET_NANO
            && let [a, b, c, ..] = *data
        {
            timestamp_offset_ns = u32::from_be_bytes([0, a, b, c]);
        }
        packet_type = next & 0x0f;
    }
    Ok(ModEx {
        packet_type,
        pos,
        timestamp_offset_ns,
    })
}

/// AvMultitrackType values.
const ONE_TRACK: u8 = 0;
const MANY_TRACKS_MANY_CODECS: u8 = 2;

/// One track of a multitrack packet: its id, FourCC and packet data (after the track header).
pub(super) struct RawTrack {
    pub id: u8,
    pub fourcc: [u8; 4],
    pub data: Bytes,
}

/// Reads a multitrack packet from `pos` (just after the packet type): the packet type every
/// track shares and the tracks. A reserved AvMultitrackType gives `Ok(None)`. Each track
/// header takes at least one byte, so the tracks are bounded by the body's length.
pub(super) fn read_multitrack(
    body: &Bytes,
    mut pos: usize,
    truncated: &FlvError,
) -> Result<Option<(u8, Vec<RawTrack>)>, FlvError> {
    let &mt = body.get(pos).ok_or(truncated.clone())?;
    pos += 1;
    let (multitrack_type, packet_type) = (mt >> 4, mt & 0x0f);
    if multitrack_type > MANY_TRACKS_MANY_CODECS {
        return Ok(None);
    }
    let read_fourcc = |pos: &mut usize| -> Result<[u8; 4], FlvError> {
        let f = body
            .get(*pos..*pos + 4)
            .and_then(|f| <[u8; 4]>::try_from(f).ok())
            .ok_or(truncated.clone())?;
        *pos += 4;
        Ok(f)
    };
    let shared = if multitrack_type == MANY_TRACKS_MANY_CODECS {
        None
    } else {
        Some(read_fourcc(&mut pos)?)
    };
    let mut tracks = Vec::new();
    loop {
        let fourcc = match shared {
            Some(f) => f,
            None => read_fourcc(&mut pos)?,
        };
        let &id = body.get(pos).ok_or(truncated.clone())?;
        pos += 1;
        if multitrack_type == ONE_TRACK {
            tracks.push(RawTrack {
                id,
                fourcc,
                data: body.slice(pos..),
            });
            break;
        }
        let size = body.get(pos..pos + 3).ok_or(truncated.clone())?;
        let size = u32::from_be_bytes([0, size[0], size[1], size[2]]) as usize;
        pos += 3;
        if body.len() < pos + size {
            return Err(truncated.clone());
        }
        tracks.push(RawTrack {
            id,
            fourcc,
            data: body.slice(pos..pos + size),
        });
        pos += size;
        if pos >= body.len() {
            break;
        }
    }
    Ok(Some((packet_type, tracks)))
}

/// Parses an extended video tag body (the caller checked IsExHeader).
pub(super) fn parse_enhanced_video(body: &Bytes) -> Result<VideoTag, FlvError> {
    let truncated = FlvError::Truncated("enhanced video tag header");
    let &first = body.first().ok_or(FlvError::Truncated("video tag body"))?;
    let frame_type = (first >> 4) & 0x07;
    let ModEx {
        packet_type,
        pos,
        timestamp_offset_ns,
    } = read_mod_ex(body, first & 0x0f, 1, &truncated)?;

    if frame_type == FRAME_TYPE_COMMAND && packet_type != EX_METADATA {
        return Ok(VideoTag::Command);
    }
    if packet_type == EX_MULTITRACK {
        let Some((packet_type, tracks)) = read_multitrack(body, pos, &truncated)? else {
            return Ok(VideoTag::UnsupportedEnhanced {
                packet_type,
                fourcc: None,
            });
        };
        let tracks = tracks
            .into_iter()
            .map(|t| {
                let header = Header {
                    frame_type,
                    packet_type,
                    fourcc: t.fourcc,
                    timestamp_offset_ns,
                };
                Ok((t.id, video_packet(header, &t.data)?))
            })
            .collect::<Result<Vec<_>, FlvError>>()?;
        return Ok(VideoTag::Multitrack(tracks));
    }
    let fourcc: [u8; 4] = body
        .get(pos..pos + 4)
        .and_then(|f| f.try_into().ok())
        .ok_or(truncated.clone())?;
    let header = Header {
        frame_type,
        packet_type,
        fourcc,
        timestamp_offset_ns,
    };
    video_packet(header, &body.slice(pos + 4..))
}

/// What the tag (or multitrack) header says about one track's packet.
#[derive(Debug, Clone, Copy)]
struct Header {
    frame_type: u8,
    packet_type: u8,
    fourcc: [u8; 4],
    timestamp_offset_ns: u32,
}

/// One track's packet: `body` is the data after the FourCC (and the track id and size).
fn video_packet(header: Header, body: &Bytes) -> Result<VideoTag, FlvError> {
    let Header {
        frame_type,
        packet_type,
        fourcc,
        timestamp_offset_ns,
    } = header;
    let truncated = FlvError::Truncated("enhanced video tag header");
    let pos = 0;
    let rest = |from: usize| body.get(from..).map(|_| body.slice(from..));
    let keyframe = is_keyframe(frame_type);
    let composition_time = |pos: usize| -> Result<(i32, Bytes), FlvError> {
        let b = body.get(pos..pos + 3).ok_or(truncated.clone())?;
        Ok((
            read_si24([b[0], b[1], b[2]]),
            rest(pos + 3).ok_or(truncated.clone())?,
        ))
    };

    if &fourcc == b"avc1" {
        // H.264 in the extended header maps onto the legacy AVC variants.
        return match packet_type {
            EX_SEQUENCE_START => Ok(VideoTag::AvcSequenceHeader(rest(pos).ok_or(truncated)?)),
            EX_CODED_FRAMES => {
                let (cts_ms, data) = composition_time(pos)?;
                Ok(VideoTag::AvcFrame {
                    keyframe,
                    cts_ms,
                    data,
                })
            }
            EX_CODED_FRAMES_X => Ok(VideoTag::AvcFrame {
                keyframe,
                cts_ms: 0,
                data: rest(pos).ok_or(truncated)?,
            }),
            EX_SEQUENCE_END => Ok(VideoTag::AvcEndOfSequence),
            other => Ok(VideoTag::UnsupportedEnhanced {
                packet_type: other,
                fourcc: Some(fourcc),
            }),
        };
    }
    let Some(codec) = ExVideoCodec::from_fourcc(fourcc) else {
        return Ok(VideoTag::UnsupportedEnhanced {
            packet_type,
            fourcc: Some(fourcc),
        });
    };
    match packet_type {
        EX_SEQUENCE_START => Ok(VideoTag::ExSequenceStart {
            codec,
            config: rest(pos).ok_or(truncated)?,
        }),
        EX_CODED_FRAMES | EX_CODED_FRAMES_X => {
            let (cts_ms, data) = if packet_type == EX_CODED_FRAMES && codec.has_composition_time() {
                composition_time(pos)?
            } else {
                (0, rest(pos).ok_or(truncated)?)
            };
            Ok(VideoTag::ExFrame {
                codec,
                keyframe,
                cts_ms,
                timestamp_offset_ns,
                data,
            })
        }
        EX_SEQUENCE_END => Ok(VideoTag::ExSequenceEnd { codec }),
        EX_METADATA => Ok(VideoTag::ExMetadata {
            codec,
            data: rest(pos).ok_or(truncated)?,
        }),
        other => Ok(VideoTag::UnsupportedEnhanced {
            packet_type: other,
            fourcc: Some(fourcc),
        }),
    }
}
