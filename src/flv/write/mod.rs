//! Writing Enhanced RTMP (veovera enhanced-rtmp v2) tag bodies for rtmpsink.
//!
//! [`OutVideo::from_caps`] and [`OutAudio::from_caps`] take the caps of rtmpsink's pads and
//! say how the stream goes out: H.264, AAC and MP3 in the legacy FLV headers (unless asked for
//! the extended form), H.265 (`hvc1`), AV1 (`av01`), VP9 (`vp09`), Opus, FLAC, AC-3 and E-AC-3
//! always in the extended header. Each gives the tag bodies of its sequence start, frames and
//! sequence end, for the default track (0) or, as multitrack OneTrack packets, for another
//! track (the form FFmpeg writes: one tag per frame, so a packet never holds several tracks).
//!
//! Configuration records the caps lack are built here: `vpcC` from VP9 caps ([`vp9`]), `av1C`
//! from the sequence header OBU of the first temporal unit ([`av1`]), the Opus ID header from
//! Opus caps fields; the `colorInfo` Metadata packet from HDR caps fields ([`color`]).
//! [`metadata::on_metadata`] writes onMetaData with FourCC codec ids and the
//! per-track info maps.

mod audio;
pub mod av1;
pub mod color;
pub mod metadata;
mod video;
pub mod vp9;

pub use audio::{AudioFormat, OutAudio};
pub use video::{OutVideo, VideoFormat};

/// Whether H.264, AAC and MP3 use the legacy FLV headers or the extended ones (`avc1`, `mp4a`,
/// `.mp3`). Other codecs have only the extended form; tracks other than 0 are always extended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LegacyCodecs {
    #[default]
    Legacy,
    Extended,
}

// Enhanced RTMP packet types (VideoPacketType / AudioPacketType).
pub(crate) const SEQUENCE_START: u8 = 0;
pub(crate) const CODED_FRAMES: u8 = 1;
pub(crate) const SEQUENCE_END: u8 = 2;
pub(crate) const VIDEO_CODED_FRAMES_X: u8 = 3;
pub(crate) const AUDIO_MULTICHANNEL_CONFIG: u8 = 4;
pub(crate) const VIDEO_METADATA: u8 = 4;
const VIDEO_MULTITRACK: u8 = 6;
const AUDIO_MULTITRACK: u8 = 5;
/// AvMultitrackType OneTrack, in the high nibble of the byte after the header.
const MULTITRACK_ONE_TRACK: u8 = 0;

const IS_EX_HEADER: u8 = 0x80;
const SOUND_FORMAT_EX_HEADER: u8 = 9;
pub(crate) const FRAME_TYPE_KEY: u8 = 1;
pub(crate) const FRAME_TYPE_INTER: u8 = 2;
/// Video info/command frame: what FFmpeg marks Metadata packets with.
pub(crate) const FRAME_TYPE_COMMAND: u8 = 5;

/// The start of an extended video tag body: header byte, FourCC and, for track N > 0, the
/// OneTrack multitrack byte and the track id.
pub(crate) fn video_header(frame_type: u8, packet_type: u8, fourcc: [u8; 4], track: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    if track == 0 {
        out.push(IS_EX_HEADER | (frame_type << 4) | packet_type);
        out.extend_from_slice(&fourcc);
    } else {
        out.push(IS_EX_HEADER | (frame_type << 4) | VIDEO_MULTITRACK);
        out.push((MULTITRACK_ONE_TRACK << 4) | packet_type);
        out.extend_from_slice(&fourcc);
        out.push(track);
    }
    out
}

/// The start of an extended audio tag body (SoundFormat 9), as [`video_header`].
pub(crate) fn audio_header(packet_type: u8, fourcc: [u8; 4], track: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(8);
    if track == 0 {
        out.push((SOUND_FORMAT_EX_HEADER << 4) | packet_type);
        out.extend_from_slice(&fourcc);
    } else {
        out.push((SOUND_FORMAT_EX_HEADER << 4) | AUDIO_MULTITRACK);
        out.push((MULTITRACK_ONE_TRACK << 4) | packet_type);
        out.extend_from_slice(&fourcc);
        out.push(track);
    }
    out
}

/// The FourCC an Enhanced RTMP tag body written by us (or flvmux's successors) carries, if it
/// has an extended header: what the connect negotiation checks against the server's list.
pub fn extended_fourcc(is_video: bool, body: &[u8]) -> Option<[u8; 4]> {
    let &first = body.first()?;
    let extended = if is_video {
        first & IS_EX_HEADER != 0
    } else {
        first >> 4 == SOUND_FORMAT_EX_HEADER
    };
    if !extended {
        return None;
    }
    let multitrack = if is_video {
        VIDEO_MULTITRACK
    } else {
        AUDIO_MULTITRACK
    };
    let at = if first & 0x0f == multitrack {
        // ManyTracksManyCodecs (2) has a FourCC per track, right after the multitrack byte.
        2
    } else {
        1
    };
    body.get(at..at + 4)?.try_into().ok()
}

/// The FourCC as onMetaData's `videocodecid`/`audiocodecid` number (big-endian, as FFmpeg 9
/// writes it).
pub fn fourcc_number(fourcc: [u8; 4]) -> f64 {
    f64::from(u32::from_be_bytes(fourcc))
}

#[cfg(test)]
mod tests;
