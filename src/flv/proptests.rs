//! Property tests of FLV framing: tags written with [`write_tag`] read back unchanged through
//! [`FlvTagReader`] whatever the pieces the stream arrives in, with file headers at the start
//! and again between tags (as flvmux sends them when caps change).

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::tag::{FlvTag, FlvTagReader, TagType, flv_header, write_tag};

#[derive(Debug, Clone)]
enum Item {
    /// A file header with these audio/video flags.
    Header(bool, bool),
    Tag(FlvTag),
}

fn tag() -> impl Strategy<Value = FlvTag> {
    let tag_type = prop::sample::select(vec![TagType::Audio, TagType::Video, TagType::Script]);
    let timestamp = prop_oneof![
        any::<u32>(),
        0..1000u32,
        0xFF_FFF0..=0x100_0010u32,
        u32::MAX - 10..=u32::MAX
    ];
    let body_len = prop_oneof![8 => 0..64usize, 3 => 0..3000usize, 1 => 0..200_000usize];
    (tag_type, timestamp, body_len).prop_map(|(tag_type, timestamp, len)| FlvTag {
        tag_type,
        timestamp,
        body: Bytes::from((0..len).map(|i| (i * 13 + len) as u8).collect::<Vec<u8>>()),
    })
}

fn items() -> impl Strategy<Value = Vec<Item>> {
    let item = prop_oneof![
        1 => (any::<bool>(), any::<bool>()).prop_map(|(a, v)| Item::Header(a, v)),
        6 => tag().prop_map(Item::Tag),
    ];
    prop::collection::vec(item, 0..12)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn tags_round_trip_at_any_split(
        items in items(),
        pieces in prop::collection::vec(prop_oneof![1..16usize, 1..500usize, 1..300_000usize], 1..8),
    ) {
        let mut stream = BytesMut::new();
        let mut tags = Vec::new();
        let mut flags = None;
        for item in &items {
            match item {
                Item::Header(audio, video) => {
                    stream.extend_from_slice(&flv_header(*audio, *video));
                    flags = Some(u8::from(*audio) << 2 | u8::from(*video));
                }
                Item::Tag(tag) => {
                    write_tag(&mut stream, tag.tag_type, tag.timestamp, &tag.body).unwrap();
                    tags.push(tag.clone());
                }
            }
        }
        let stream = stream.freeze();

        let mut reader = FlvTagReader::new();
        // The same stream through the zero-copy path must give the same bodies.
        let mut parts_reader = FlvTagReader::new();
        let mut read = Vec::new();
        let mut read_parts = Vec::new();
        let mut offset = 0;
        for &piece in pieces.iter().cycle() {
            if offset >= stream.len() {
                break;
            }
            let end = stream.len().min(offset + piece);
            reader.push(stream.slice(offset..end));
            parts_reader.push(stream.slice(offset..end));
            offset = end;
            while let Some(tag) = reader.next_tag().unwrap() {
                read.push(tag);
            }
            while let Some(tag) = parts_reader.next_tag_parts().unwrap() {
                read_parts.push(tag);
            }
        }
        prop_assert_eq!(reader.buffered(), 0);
        prop_assert_eq!(reader.header_flags(), flags);
        prop_assert_eq!(read.len(), tags.len());
        for (got, want) in read.iter().zip(&tags) {
            prop_assert_eq!(
                (got.tag_type, got.timestamp, got.body.len()),
                (want.tag_type, want.timestamp, want.body.len())
            );
            prop_assert!(got.body == want.body);
        }
        prop_assert_eq!(parts_reader.buffered(), 0);
        prop_assert_eq!(read_parts.len(), tags.len());
        for (got, want) in read_parts.iter().zip(&tags) {
            prop_assert_eq!((got.tag_type, got.timestamp), (want.tag_type, want.timestamp));
            prop_assert!(got.body.to_bytes() == want.body);
            // Pieces of any size: never more parts than the copy threshold allows.
            prop_assert!(got.body.parts().len() <= 2 + want.body.len() / 1024);
        }
    }
}
