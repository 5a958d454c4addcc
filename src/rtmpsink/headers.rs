//! The tags that carry decoder state rather than media: `onMetaData`, and per track the
//! sequence start, the video Metadata packet (`colorInfo`) and the audio MultichannelConfig.
//!
//! A player that joins late (listener mode) and a server reached again after a reconnect
//! (caller mode) need the latest of each, for every track of a multitrack stream, before any
//! media. [`Headers`] keeps them, numbered so that a fan-out knows which a player already has.

use std::collections::BTreeMap;

use super::link::Tag;
use crate::flv::TagType;

/// Which piece of decoder state a tag carries. The order is the order they are sent in: the
/// metadata, then each video track's `colorInfo` (FFmpeg sends it before the sequence start)
/// and sequence start, then each audio track's sequence start, then the channel layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HeaderKey {
    Metadata,
    VideoMetadata(u8),
    VideoStart(u8),
    AudioStart(u8),
    AudioChannels(u8),
}

impl HeaderKey {
    pub fn is_video(self) -> bool {
        matches!(self, HeaderKey::VideoMetadata(_) | HeaderKey::VideoStart(_))
    }
}

// Enhanced RTMP packet types (video / audio).
const VIDEO_SEQUENCE_START: u8 = 0;
const VIDEO_METADATA: u8 = 4;
const VIDEO_MPEG2TS_SEQUENCE_START: u8 = 5;
const VIDEO_MULTITRACK: u8 = 6;
const AUDIO_SEQUENCE_START: u8 = 0;
const AUDIO_MULTICHANNEL_CONFIG: u8 = 4;
const AUDIO_MULTITRACK: u8 = 5;

impl Tag {
    /// The state this tag sets, if it is not media. Multitrack packets are read as rtmpsink and
    /// FFmpeg write state packets: OneTrack, the track id after the FourCC.
    pub(super) fn header_key(&self) -> Option<HeaderKey> {
        let first = self.body.first()?;
        let extended = |multitrack: u8| -> Option<(u8, u8)> {
            let packet_type = first & 0x0F;
            if packet_type != multitrack {
                return Some((packet_type, 0));
            }
            let inner = self.body.get(1)?;
            if inner >> 4 != 0 {
                return None;
            }
            Some((inner & 0x0F, self.body.get(6)?))
        };
        match self.tag_type {
            TagType::Script => Some(HeaderKey::Metadata),
            TagType::Video if first & 0x80 != 0 => match extended(VIDEO_MULTITRACK)? {
                (VIDEO_SEQUENCE_START | VIDEO_MPEG2TS_SEQUENCE_START, track) => {
                    Some(HeaderKey::VideoStart(track))
                }
                (VIDEO_METADATA, track) => Some(HeaderKey::VideoMetadata(track)),
                _ => None,
            },
            TagType::Video => (first & 0x0F == 7 && self.body.get(1) == Some(0))
                .then_some(HeaderKey::VideoStart(0)),
            TagType::Audio if first >> 4 == 9 => match extended(AUDIO_MULTITRACK)? {
                (AUDIO_SEQUENCE_START, track) => Some(HeaderKey::AudioStart(track)),
                (AUDIO_MULTICHANNEL_CONFIG, track) => Some(HeaderKey::AudioChannels(track)),
                _ => None,
            },
            TagType::Audio => (first >> 4 == 10 && self.body.get(1) == Some(0))
                .then_some(HeaderKey::AudioStart(0)),
        }
    }
}

/// The latest tag of each [`HeaderKey`], each with a generation number that grows with every
/// header remembered (a player that has generation `n` of a key has that very tag).
#[derive(Debug, Clone, Default)]
pub struct Headers {
    slots: BTreeMap<HeaderKey, (Tag, u64)>,
    generation: u64,
}

impl Headers {
    /// Keeps `tag` if it is a header; returns its key and generation then.
    pub fn remember(&mut self, tag: &Tag) -> Option<(HeaderKey, u64)> {
        let key = tag.header_key()?;
        if let HeaderKey::AudioStart(track) = key {
            // A new sequence start comes with its own channel layout, if any.
            self.slots.remove(&HeaderKey::AudioChannels(track));
        }
        self.generation += 1;
        self.slots.insert(key, (tag.clone(), self.generation));
        Some((key, self.generation))
    }

    /// Every header kept, in the order a new connection or player needs them.
    pub fn iter(&self) -> impl Iterator<Item = (HeaderKey, &Tag, u64)> {
        self.slots.iter().map(|(key, (tag, g))| (*key, tag, *g))
    }

    /// The stream has a video track (it has a sequence start or metadata for one).
    pub fn has_video(&self) -> bool {
        self.slots.keys().any(|k| k.is_video())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::chunk::Payload;
    use bytes::Bytes;

    fn tag(tag_type: TagType, body: &'static [u8]) -> Tag {
        Tag {
            tag_type,
            timestamp: 0,
            body: Payload::from(Bytes::from_static(body)),
        }
    }

    fn key(tag_type: TagType, body: &'static [u8]) -> Option<HeaderKey> {
        tag(tag_type, body).header_key()
    }

    #[test]
    fn state_packets_of_every_track_are_headers() {
        use HeaderKey::*;
        use TagType::{Audio, Script, Video};
        assert_eq!(key(Script, b"\x02\x00\x0aonMetaData"), Some(Metadata));
        // Legacy AVC and AAC sequence headers.
        assert_eq!(key(Video, b"\x17\x00\0\0\0\x01"), Some(VideoStart(0)));
        assert_eq!(key(Audio, b"\xaf\x00\x12\x10"), Some(AudioStart(0)));
        // Extended: SequenceStart, Metadata (colorInfo), MultichannelConfig.
        assert_eq!(key(Video, b"\x90hvc1\x01"), Some(VideoStart(0)));
        assert_eq!(key(Video, b"\x94hvc1\x02"), Some(VideoMetadata(0)));
        assert_eq!(key(Audio, b"\x90Opus\x01"), Some(AudioStart(0)));
        assert_eq!(key(Audio, b"\x94Opus\x01\x02"), Some(AudioChannels(0)));
        // OneTrack multitrack packets carrying them for tracks 1 and 2.
        assert_eq!(key(Video, b"\x96\x00hvc1\x01\x01"), Some(VideoStart(1)));
        assert_eq!(key(Video, b"\x96\x04hvc1\x01\x02"), Some(VideoMetadata(1)));
        assert_eq!(key(Audio, b"\x95\x00Opus\x02OpusHead"), Some(AudioStart(2)));
        assert_eq!(
            key(Audio, b"\x95\x04Opus\x02\x01\x02"),
            Some(AudioChannels(2))
        );
    }

    #[test]
    fn media_is_not_a_header() {
        use TagType::{Audio, Video};
        assert_eq!(key(Video, b"\x17\x01\0\0\0\xaa"), None);
        assert_eq!(key(Video, b"\x91hvc1\0\0\0\x01"), None);
        assert_eq!(key(Video, b"\x92hvc1"), None);
        assert_eq!(key(Video, b"\x96\x01hvc1\x01\0\0\0"), None);
        assert_eq!(key(Audio, b"\xaf\x01\x21"), None);
        assert_eq!(key(Audio, b"\x2f\x00\x01"), None);
        assert_eq!(key(Audio, b"\x91Opus\xf8"), None);
        assert_eq!(key(Audio, b"\x95\x01Opus\x02\xf8"), None);
        // ManyTracks packets are media here (rtmpsink sends state one track at a time).
        assert_eq!(key(Audio, b"\x95\x10Opus\x01"), None);
        // Truncated bodies.
        assert_eq!(key(Audio, b""), None);
        assert_eq!(key(Audio, b"\x95\x00Op"), None);
    }

    #[test]
    fn headers_come_out_per_track_in_sending_order() {
        let mut headers = Headers::default();
        let tags = [
            tag(TagType::Audio, b"\x95\x00Opus\x01OpusHead"),
            tag(TagType::Audio, b"\x95\x04Opus\x01\x01\x02"),
            tag(TagType::Audio, b"\x90Opus\x01"),
            tag(TagType::Video, b"\x90hvc1\x01"),
            tag(TagType::Video, b"\x94hvc1\x02"),
            tag(TagType::Script, b"\x02"),
            tag(TagType::Audio, b"\x91Opus\xf8"),
        ];
        for t in &tags {
            headers.remember(t);
        }
        let keys: Vec<_> = headers.iter().map(|(k, _, _)| k).collect();
        use HeaderKey::*;
        assert_eq!(
            keys,
            [
                Metadata,
                VideoMetadata(0),
                VideoStart(0),
                AudioStart(0),
                AudioStart(1),
                AudioChannels(1)
            ]
        );
        assert!(headers.has_video());
        // A new sequence start of track 1 drops its old channel layout until the next one.
        let (_, generation) = headers
            .remember(&tag(TagType::Audio, b"\x95\x00Opus\x01OpusHead"))
            .unwrap();
        assert!(headers.iter().all(|(k, _, _)| k != AudioChannels(1)));
        let (_, tag1, g) = headers
            .iter()
            .find(|(k, _, _)| *k == AudioStart(1))
            .unwrap();
        assert_eq!((g, tag1.body.len()), (generation, 15));
    }
}
