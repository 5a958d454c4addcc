//! Tests for `flv::tag`, with byte excerpts from real captures in `testdata`.

use super::*;
use crate::flv::testdata::{FLV_EXCERPT, hex};

/// (type, timestamp, body length) of the tags in the excerpt.
const EXPECTED: [(TagType, u32, usize); 6] = [
    (TagType::Script, 0, 293),
    (TagType::Video, 0, 51),
    (TagType::Audio, 0, 7),
    (TagType::Video, 240, 33),
    (TagType::Audio, 1078, 7),
    (TagType::Video, 960, 5),
];

fn drain(reader: &mut FlvTagReader) -> Vec<FlvTag> {
    let mut tags = Vec::new();
    while let Some(tag) = reader.next_tag().unwrap() {
        tags.push(tag);
    }
    tags
}

fn check_excerpt_tags(tags: &[FlvTag]) {
    let got: Vec<_> = tags
        .iter()
        .map(|t| (t.tag_type, t.timestamp, t.body.len()))
        .collect();
    assert_eq!(got, EXPECTED);
    assert_eq!(&tags[1].body[..5], &[0x17, 0, 0, 0, 0]);
    assert_eq!(&tags[2].body[..], &hex("af00120856e500")[..]);
    assert_eq!(&tags[5].body[..], &[0x17, 0x02, 0, 0, 0]);
}

#[test]
fn parses_real_stream_in_one_piece() {
    let data = Bytes::from(hex(FLV_EXCERPT));
    let mut reader = FlvTagReader::new();
    reader.push(data);
    let tags = drain(&mut reader);
    check_excerpt_tags(&tags);
    assert_eq!(reader.header_flags(), Some(0x05));
    assert_eq!(reader.buffered(), 0);
}

#[test]
fn parses_real_stream_at_every_split() {
    let data = Bytes::from(hex(FLV_EXCERPT));
    for split in 0..=data.len() {
        let mut reader = FlvTagReader::new();
        reader.push(data.slice(..split));
        let mut tags = drain(&mut reader);
        reader.push(data.slice(split..));
        tags.extend(drain(&mut reader));
        check_excerpt_tags(&tags);
        assert_eq!(reader.buffered(), 0, "split {split}");
    }
}

#[test]
fn parses_real_stream_byte_by_byte() {
    let data = Bytes::from(hex(FLV_EXCERPT));
    let mut reader = FlvTagReader::new();
    let mut tags = Vec::new();
    for i in 0..data.len() {
        reader.push(data.slice(i..i + 1));
        tags.extend(drain(&mut reader));
    }
    check_excerpt_tags(&tags);
}

#[test]
fn bodies_are_slices_of_the_pushed_chunk() {
    let data = Bytes::from(hex(FLV_EXCERPT));
    let range = data.as_ptr() as usize..data.as_ptr() as usize + data.len();
    let mut reader = FlvTagReader::new();
    reader.push(data.clone());
    for tag in drain(&mut reader) {
        assert!(range.contains(&(tag.body.as_ptr() as usize)));
    }
}

#[test]
fn write_tag_matches_ffmpeg_bytes() {
    let data = hex(FLV_EXCERPT);
    // The AAC sequence header tag starts after the header (13), the script tag (11+293+4) and
    // the AVC tag (11+51+4).
    let start = 13 + 308 + 66;
    let mut out = BytesMut::new();
    write_tag(&mut out, TagType::Audio, 0, &hex("af00120856e500")).unwrap();
    assert_eq!(&out[..], &data[start..start + 22]);
    assert_eq!(&FLV_HEADER[..], &data[..13]);
    assert_eq!(flv_header(true, false)[4], 0x04);
    assert_eq!(flv_header(false, true)[4], 0x01);
}

#[test]
fn write_tag_round_trips_32_bit_timestamps() {
    let mut out = BytesMut::new();
    write_tag(&mut out, TagType::Video, 0x1234_5678, b"abc").unwrap();
    write_tag(&mut out, TagType::Script, u32::MAX, b"").unwrap();
    // Extension byte (bits 24..31) comes after the low 24 bits.
    assert_eq!(&out[4..8], &[0x34, 0x56, 0x78, 0x12]);
    let mut reader = FlvTagReader::new();
    reader.push(out.freeze());
    let tags = drain(&mut reader);
    assert_eq!(tags.len(), 2);
    assert_eq!(
        (tags[0].tag_type, tags[0].timestamp, &tags[0].body[..]),
        (TagType::Video, 0x1234_5678, &b"abc"[..])
    );
    assert_eq!((tags[1].timestamp, tags[1].body.len()), (u32::MAX, 0));
}

#[test]
fn write_tag_refuses_oversized_body() {
    let body = vec![0u8; MAX_DATA_SIZE + 1];
    let mut out = BytesMut::new();
    assert!(matches!(
        write_tag(&mut out, TagType::Video, 0, &body),
        Err(FlvError::TagTooLarge { .. })
    ));
    assert!(out.is_empty());
}

#[test]
fn header_is_optional_and_tolerated_between_tags() {
    let mut out = BytesMut::new();
    write_tag(&mut out, TagType::Audio, 1, b"a").unwrap();
    out.extend_from_slice(&flv_header(true, false));
    write_tag(&mut out, TagType::Audio, 2, b"b").unwrap();
    let mut reader = FlvTagReader::new();
    reader.push(out.freeze());
    let tags = drain(&mut reader);
    assert_eq!(tags.iter().map(|t| t.timestamp).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(reader.header_flags(), Some(0x04));
}

#[test]
fn wrong_previous_tag_size_is_tolerated() {
    let mut out = BytesMut::new();
    write_tag(&mut out, TagType::Video, 5, b"xyz").unwrap();
    let len = out.len();
    out[len - 4..].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    write_tag(&mut out, TagType::Video, 6, b"w").unwrap();
    let mut reader = FlvTagReader::new();
    reader.push(out.freeze());
    assert_eq!(drain(&mut reader).len(), 2);
}

#[test]
fn garbage_tag_type_is_an_error_and_sticks() {
    for bad in [0x00u8, 0x07, 0x0a, 0x13, 0x28, 0x46, 0x48, 0xff] {
        let mut reader = FlvTagReader::new();
        let mut out = BytesMut::new();
        write_tag(&mut out, TagType::Audio, 0, b"ok").unwrap();
        out.extend_from_slice(&[bad; 20]);
        reader.push(out.freeze());
        assert!(reader.next_tag().unwrap().is_some());
        let expected = if bad == b'F' {
            FlvError::InvalidHeader("bad signature")
        } else {
            FlvError::InvalidTagType(bad)
        };
        assert_eq!(reader.next_tag(), Err(expected.clone()));
        reader.push(Bytes::from(FLV_HEADER.to_vec()));
        assert_eq!(reader.next_tag(), Err(expected));
    }
}

#[test]
fn bad_file_headers_are_errors() {
    let cases: [(&[u8], &str); 4] = [
        (b"FLX", "bad signature"),
        (b"FL\x00\x01", "bad signature"),
        (b"FLV\x02\x05\x00\x00\x00\x09", "version is not 1"),
        (b"FLV\x01\x05\x00\x00\x00\x0a", "data offset is not 9"),
    ];
    for (data, why) in cases {
        let mut reader = FlvTagReader::new();
        reader.push(Bytes::from_static(data));
        assert_eq!(reader.next_tag(), Err(FlvError::InvalidHeader(why)));
    }
    // A correct partial header just waits.
    let mut reader = FlvTagReader::new();
    reader.push(Bytes::from_static(b"FLV\x01\x05\x00\x00\x00\x09\x00\x00"));
    assert_eq!(reader.next_tag(), Ok(None));
}

#[test]
fn declared_size_is_bounded_and_not_preallocated() {
    // 1 MiB declared, 11 bytes present: nothing happens until the data arrives.
    let header = [9u8, 0x10, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0];
    let mut reader = FlvTagReader::new();
    reader.push(Bytes::copy_from_slice(&header));
    assert_eq!(reader.next_tag(), Ok(None));
    assert_eq!(reader.buffered(), 11);

    let mut reader = FlvTagReader::with_max_tag_size(0x0f_ffff);
    reader.push(Bytes::copy_from_slice(&header));
    assert_eq!(
        reader.next_tag(),
        Err(FlvError::TagTooLarge {
            size: 0x10_0000,
            limit: 0x0f_ffff
        })
    );

    let huge = [9u8, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0];
    let mut reader = FlvTagReader::new();
    reader.push(Bytes::copy_from_slice(&huge));
    assert!(matches!(
        reader.next_tag(),
        Err(FlvError::TagTooLarge {
            size: 0xff_ffff,
            ..
        })
    ));
}

#[test]
fn truncated_stream_waits_for_more() {
    let data = Bytes::from(hex(FLV_EXCERPT));
    for cut in 0..13 + 11 + 293 + 4 {
        let mut reader = FlvTagReader::new();
        reader.push(data.slice(..cut));
        assert_eq!(reader.next_tag(), Ok(None), "cut {cut}");
    }
}

/// A muxer's tag as it arrives in memories: tag header + FLV video header, frame, trailer.
fn tag_in_three_pieces(frame: &[u8]) -> [Bytes; 3] {
    let prefix = [0x27, 0x01, 0, 0, 0];
    let size = (prefix.len() + frame.len()) as u32;
    let mut head = tag_header(TagType::Video, size, 0x0102_0304).to_vec();
    head.extend_from_slice(&prefix);
    let trailer = (TAG_HEADER_LEN as u32 + size).to_be_bytes();
    [
        Bytes::from(head),
        Bytes::copy_from_slice(frame),
        Bytes::copy_from_slice(&trailer),
    ]
}

#[test]
fn a_tag_spanning_pieces_yields_its_body_as_slices_of_them() {
    let frame: Vec<u8> = (0..3000u32).map(|i| (i * 13) as u8).collect();
    let mut reader = FlvTagReader::new();
    reader.push(Bytes::from_static(&FLV_HEADER));
    // Twice: the second tag starts inside the piece after the first one's trailer.
    let mut pieces = Vec::new();
    for _ in 0..2 {
        let tag = tag_in_three_pieces(&frame);
        tag.iter().for_each(|p| reader.push(p.clone()));
        pieces.push(tag);
    }
    for [head, frame_piece, _] in &pieces {
        let tag = reader.next_tag_parts().unwrap().expect("a whole tag");
        assert_eq!((tag.tag_type, tag.timestamp), (TagType::Video, 0x0102_0304));
        let parts = tag.body.parts();
        assert_eq!(parts.len(), 2);
        // The FLV video header, still in the tag header's piece, then the frame as pushed.
        assert_eq!(parts[0].as_ptr(), head[TAG_HEADER_LEN..].as_ptr());
        assert_eq!(&parts[0][..], &[0x27, 0x01, 0, 0, 0]);
        assert_eq!(parts[1].as_ptr(), frame_piece.as_ptr());
        assert_eq!(parts[1].len(), frame.len());
        assert_eq!(tag.body.len(), 5 + frame.len());
    }
    assert_eq!(reader.next_tag_parts().unwrap(), None);
    assert_eq!(reader.buffered(), 0);
}

#[test]
fn a_body_split_inside_a_piece_takes_a_slice_of_it() {
    // Tag and the next tag's start in one piece, the rest of its body in the next.
    let mut stream = BytesMut::new();
    write_tag(&mut stream, TagType::Audio, 7, &[0xAF, 0x01, 1, 2, 3, 4]).unwrap();
    write_tag(&mut stream, TagType::Audio, 8, &[0xAF, 0x01, 5, 6, 7, 8]).unwrap();
    let stream = stream.freeze();
    let cut = stream.len() - 4 - 3;
    let (a, b) = (stream.slice(..cut), stream.slice(cut..));
    let mut reader = FlvTagReader::new();
    reader.push(a.clone());
    reader.push(b.clone());
    let first = reader.next_tag_parts().unwrap().unwrap();
    assert_eq!(first.body.parts().len(), 1);
    assert_eq!(first.body.parts()[0].as_ptr(), a[TAG_HEADER_LEN..].as_ptr());
    let second = reader.next_tag_parts().unwrap().unwrap();
    let parts = second.body.parts();
    assert_eq!(parts.iter().map(Bytes::len).collect::<Vec<_>>(), [3, 3]);
    assert_eq!(parts[0].as_ptr(), a[cut - 3..].as_ptr());
    assert_eq!(parts[1].as_ptr(), b.as_ptr());
    assert_eq!(
        second.body.to_bytes(),
        Bytes::from_static(&[0xAF, 1, 5, 6, 7, 8])
    );
}

#[test]
fn many_small_pieces_are_copied_into_one() {
    // One byte per piece: slices would cost far more than the bytes, so the body is copied.
    let mut stream = BytesMut::new();
    write_tag(&mut stream, TagType::Audio, 0, &[0xAF, 0x01, 9, 9, 9]).unwrap();
    let mut reader = FlvTagReader::new();
    for i in 0..stream.len() {
        reader.push(Bytes::copy_from_slice(&stream[i..=i]));
    }
    let tag = reader.next_tag_parts().unwrap().unwrap();
    assert_eq!(tag.body.parts().len(), 1);
    assert_eq!(tag.body.to_bytes(), Bytes::from_static(&[0xAF, 1, 9, 9, 9]));
    assert_eq!(reader.buffered(), 0);
}
