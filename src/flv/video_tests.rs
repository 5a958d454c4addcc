//! Tests for `flv::video`, with byte excerpts from real captures in `testdata`.

use super::*;
use crate::flv::testdata::{
    AVC_B_FRAME_BODY_START, AVC_SEQUENCE_HEADER_330X190_BODY, AVC_SEQUENCE_HEADER_BODY, hex,
};

fn avcc_444() -> Bytes {
    Bytes::from(hex(AVC_SEQUENCE_HEADER_BODY)).slice(5..)
}

fn h264_caps(avcc: &Bytes) -> gst::Caps {
    gst::Caps::builder("video/x-h264")
        .field("stream-format", "avc")
        .field("alignment", "au")
        .field("codec_data", gst::Buffer::from_slice(avcc.clone()))
        .field("width", 320i32)
        .field("height", 240i32)
        .field("framerate", gst::Fraction::new(25, 1))
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
        .build()
}

#[test]
fn config_from_caps_round_trips_sequence_header() {
    gst::init().unwrap();
    let body = Bytes::from(hex(AVC_SEQUENCE_HEADER_BODY));
    let config = VideoConfig::from_caps(&h264_caps(&avcc_444())).unwrap();
    assert_eq!((config.width, config.height), (Some(320), Some(240)));
    assert_eq!(config.framerate, Some(gst::Fraction::new(25, 1)));
    assert_eq!(config.pixel_aspect_ratio, Some(gst::Fraction::new(1, 1)));
    // Byte-for-byte what ffmpeg wrote.
    assert_eq!(config.sequence_header(), body);
    assert_eq!(
        parse_video_body(&config.sequence_header()),
        Ok(VideoTag::AvcSequenceHeader(avcc_444()))
    );
}

#[test]
fn from_caps_explains_what_is_wrong() {
    gst::init().unwrap();
    let avcc = avcc_444();
    let bytestream = gst::Caps::builder("video/x-h264")
        .field("stream-format", "byte-stream")
        .field("alignment", "au")
        .build();
    let err = VideoConfig::from_caps(&bytestream).unwrap_err();
    assert!(
        matches!(&err, FlvError::UnsupportedCaps(m) if m.contains("h264parse")),
        "{err}"
    );

    let nal = gst::Caps::builder("video/x-h264")
        .field("stream-format", "avc")
        .field("alignment", "nal")
        .field("codec_data", gst::Buffer::from_slice(avcc.clone()))
        .build();
    assert!(matches!(
        VideoConfig::from_caps(&nal),
        Err(FlvError::UnsupportedCaps(m)) if m.contains("alignment=nal")
    ));

    let no_codec_data = gst::Caps::builder("video/x-h264")
        .field("stream-format", "avc")
        .field("alignment", "au")
        .build();
    assert_eq!(
        VideoConfig::from_caps(&no_codec_data),
        Err(FlvError::MissingField("codec_data"))
    );

    let vp8 = gst::Caps::builder("video/x-vp8").build();
    assert!(matches!(
        VideoConfig::from_caps(&vp8),
        Err(FlvError::UnsupportedCaps(m)) if m.contains("video/x-vp8")
    ));
    assert!(VideoConfig::from_caps(&gst::Caps::new_empty()).is_err());

    for (bad, why) in [
        (
            &b"\x00\x64\x00\x1f\xff\xe1\x00"[..],
            "configurationVersion is not 1",
        ),
        (&b"\x01\x64\x00\x1f\xff\xe1"[..], "shorter than 7 bytes"),
        (&b""[..], "empty"),
    ] {
        let caps = h264_caps(&Bytes::from_static(bad));
        assert_eq!(
            VideoConfig::from_caps(&caps),
            Err(FlvError::InvalidAvcC(why))
        );
    }
}

#[test]
fn frame_headers() {
    assert_eq!(video_frame_header(true, 0), [0x17, 0x01, 0, 0, 0]);
    assert_eq!(video_frame_header(false, 40), [0x27, 0x01, 0, 0, 0x28]);
    assert_eq!(
        video_frame_header(false, -40),
        [0x27, 0x01, 0xff, 0xff, 0xd8]
    );
    // Clamped to the SI24 range rather than wrapped.
    assert_eq!(
        video_frame_header(false, i32::MAX),
        [0x27, 1, 0x7f, 0xff, 0xff]
    );
    assert_eq!(
        video_frame_header(false, i32::MIN),
        [0x27, 1, 0x80, 0x00, 0x00]
    );
    assert_eq!(&VideoConfig::end_of_sequence()[..], &[0x17, 0x02, 0, 0, 0]);
}

#[test]
fn parses_real_b_frame() {
    let body = Bytes::from(hex(AVC_B_FRAME_BODY_START));
    assert_eq!(
        parse_video_body(&body),
        Ok(VideoTag::AvcFrame {
            keyframe: false,
            cts_ms: 40,
            data: body.slice(5..),
        })
    );
}

#[test]
fn composition_time_sign_extends() {
    for cts in [-1, -40, -0x80_0000, 0x7f_ffff, 0, 1, 1000, -1000] {
        let mut body = video_frame_header(cts >= 0, cts).to_vec();
        body.extend_from_slice(&[0, 0, 0, 1, 0x65]);
        let body = Bytes::from(body);
        assert_eq!(
            parse_video_body(&body),
            Ok(VideoTag::AvcFrame {
                keyframe: cts >= 0,
                cts_ms: cts,
                data: body.slice(5..)
            })
        );
    }
    let body = Bytes::from_static(&[0x27, 0x01, 0xff, 0xff, 0xd8]);
    assert!(matches!(
        parse_video_body(&body),
        Ok(VideoTag::AvcFrame { cts_ms: -40, .. })
    ));
}

#[test]
fn parses_other_legacy_bodies() {
    let eos = VideoConfig::end_of_sequence();
    assert_eq!(parse_video_body(&eos), Ok(VideoTag::AvcEndOfSequence));
    assert_eq!(
        parse_video_body(&Bytes::from_static(&[0x22, 0x00, 0x84])),
        Ok(VideoTag::Unsupported { codec_id: 2 })
    );
    assert_eq!(
        parse_video_body(&Bytes::from_static(&[0x57, 0x00])),
        Ok(VideoTag::Command)
    );
    // Generated keyframes (type 4) are decodable on their own.
    assert!(matches!(
        parse_video_body(&Bytes::from_static(&[0x47, 0x01, 0, 0, 0])),
        Ok(VideoTag::AvcFrame { keyframe: true, .. })
    ));
}

#[test]
fn garbage_and_truncated_bodies_are_errors() {
    assert_eq!(
        parse_video_body(&Bytes::new()),
        Err(FlvError::Truncated("video tag body"))
    );
    for len in 1..5 {
        let body = Bytes::from(hex(AVC_B_FRAME_BODY_START)).slice(..len);
        assert_eq!(
            parse_video_body(&body),
            Err(FlvError::Truncated("AVC video tag header"))
        );
    }
    assert_eq!(
        parse_video_body(&Bytes::from_static(&[0x17, 0x03, 0, 0, 0])),
        Err(FlvError::UnknownAvcPacketType(3))
    );
    // Every prefix of every real body, and some noise, parses or fails without panicking.
    let mut inputs = vec![
        hex(AVC_SEQUENCE_HEADER_BODY),
        hex(AVC_B_FRAME_BODY_START),
        hex("9f0000"),
        hex("97ff01"),
    ];
    let mut state = 7u32;
    for _ in 0..200 {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let len = (state >> 24) as usize % 24;
        let noise = (0..len)
            .map(|i| (state.rotate_left(i as u32) >> 3) as u8)
            .collect();
        inputs.push(noise);
    }
    let (mut tags, mut configs) = (0, 0);
    for input in inputs {
        for len in 0..=input.len() {
            let body = Bytes::copy_from_slice(&input[..len]);
            if let Ok(tag) = parse_video_body(&body) {
                tags += 1;
                check_video_tag(&body, &tag);
            }
            // Both the whole body and what follows a tag header, where an avcC would be.
            for avcc in [body.clone(), body.slice(len.min(5)..)] {
                if let Ok(config) = AvcDecoderConfig::parse(&avcc) {
                    configs += 1;
                    check_avcc(&avcc, &config);
                }
            }
        }
    }
    // The real bodies' prefixes parse, so the checks above ran on real results.
    assert!(tags > 20 && configs > 5, "{tags} tags, {configs} configs");
}

/// What holds for any parsed tag: payloads are the tail of the body, times fit an SI24.
fn check_video_tag(body: &Bytes, tag: &VideoTag) {
    match tag {
        VideoTag::AvcSequenceHeader(data) => {
            assert!(data.len() < body.len() && body.ends_with(data), "{tag:?}");
        }
        VideoTag::AvcFrame { cts_ms, data, .. } => {
            assert!(data.len() < body.len() && body.ends_with(data), "{tag:?}");
            assert!((CTS_MIN..=CTS_MAX).contains(cts_ms), "{tag:?}");
        }
        VideoTag::Unsupported { codec_id } => assert_ne!(*codec_id, CODEC_ID_AVC),
        VideoTag::Multitrack(tracks) => {
            for (_, track) in tracks {
                assert!(!matches!(track, VideoTag::Multitrack(_)), "{tag:?}");
                if let VideoTag::ExFrame { data, .. } | VideoTag::AvcFrame { data, .. } = track {
                    assert!(crate::flv::audio::tests::within(body, data), "{tag:?}");
                }
            }
        }
        VideoTag::UnsupportedEnhanced { fourcc, .. } => {
            assert_ne!(fourcc.as_ref(), Some(b"avc1"), "{tag:?}");
        }
        VideoTag::ExSequenceStart { config: data, .. } | VideoTag::ExMetadata { data, .. } => {
            assert!(data.len() < body.len() && body.ends_with(data), "{tag:?}");
        }
        VideoTag::ExFrame { cts_ms, data, .. } => {
            assert!(data.len() < body.len() && body.ends_with(data), "{tag:?}");
            assert!((CTS_MIN..=CTS_MAX).contains(cts_ms), "{tag:?}");
        }
        VideoTag::AvcEndOfSequence | VideoTag::Command | VideoTag::ExSequenceEnd { .. } => {}
    }
}

/// What holds for any accepted avcC: the fixed part is there, the SPS lies inside it and any
/// size read from it is a real picture size.
fn check_avcc(body: &Bytes, config: &AvcDecoderConfig) {
    assert_eq!(config.as_bytes(), body);
    assert!(body.len() >= 7 && body[0] == 1);
    assert!((1..=4).contains(&config.nal_length_size()));
    if let Some(sps) = config.first_sps() {
        assert!(sps.len() + 8 <= body.len());
    }
    if let Some(info) = config.sps_info() {
        assert!((1..=16384).contains(&info.width) && (1..=16384).contains(&info.height));
    }
}

#[test]
fn enhanced_rtmp_bodies() {
    // avc1 SequenceStart, CodedFrames (SI24 cts), CodedFramesX (no cts), SequenceEnd.
    let mut seq = b"\x90avc1".to_vec();
    seq.extend_from_slice(&avcc_444());
    assert_eq!(
        parse_video_body(&Bytes::from(seq)),
        Ok(VideoTag::AvcSequenceHeader(avcc_444()))
    );
    let coded = Bytes::from_static(b"\xa1avc1\xff\xff\xf6\x00\x00\x00\x02\x01\x9e");
    assert_eq!(
        parse_video_body(&coded),
        Ok(VideoTag::AvcFrame {
            keyframe: false,
            cts_ms: -10,
            data: coded.slice(8..)
        })
    );
    let coded_x = Bytes::from_static(b"\x93avc1\x00\x00\x00\x01\x65");
    assert_eq!(
        parse_video_body(&coded_x),
        Ok(VideoTag::AvcFrame {
            keyframe: true,
            cts_ms: 0,
            data: coded_x.slice(5..)
        })
    );
    assert_eq!(
        parse_video_body(&Bytes::from_static(b"\x92avc1")),
        Ok(VideoTag::AvcEndOfSequence)
    );
    // Other FourCCs are reported, not misread.
    assert_eq!(
        parse_video_body(&Bytes::from_static(b"\x90vvc1\x01\x02")),
        Ok(VideoTag::UnsupportedEnhanced {
            packet_type: 0,
            fourcc: Some(*b"vvc1")
        })
    );
    // ModEx (7) with 1 byte of data, then CodedFramesX.
    assert_eq!(
        parse_video_body(&Bytes::from_static(b"\x97\x00\x2a\x03av01\x12")),
        Ok(VideoTag::ExFrame {
            codec: crate::flv::ExVideoCodec::Av1,
            keyframe: true,
            cts_ms: 0,
            timestamp_offset_ns: 0,
            data: Bytes::from_static(b"\x12"),
        })
    );
    // Multitrack, OneTrack of hvc1.
    assert_eq!(
        parse_video_body(&Bytes::from_static(b"\x96\x00hvc1\x01")),
        Ok(VideoTag::Multitrack(vec![(
            1,
            VideoTag::ExSequenceStart {
                codec: crate::flv::ExVideoCodec::Hevc,
                config: Bytes::new()
            }
        )]))
    );
    assert_eq!(
        parse_video_body(&Bytes::from_static(b"\x90av")),
        Err(FlvError::Truncated("enhanced video tag header"))
    );
    assert_eq!(
        parse_video_body(&Bytes::from_static(b"\x91avc1\x00")),
        Err(FlvError::Truncated("enhanced video tag header"))
    );
    assert_eq!(
        parse_video_body(&Bytes::from_static(b"\x97\xff\x01")),
        Err(FlvError::Truncated("enhanced video tag header"))
    );
}

#[test]
fn caps_from_real_sequence_header() {
    gst::init().unwrap();
    let caps = video_caps(&avcc_444(), &StreamMetadata::default()).unwrap();
    let s = caps.structure(0).unwrap();
    assert_eq!(s.name(), "video/x-h264");
    assert_eq!(s.get::<&str>("stream-format").unwrap(), "avc");
    assert_eq!(s.get::<&str>("alignment").unwrap(), "au");
    assert_eq!(s.get::<i32>("width").unwrap(), 320);
    assert_eq!(s.get::<i32>("height").unwrap(), 240);
    assert_eq!(
        s.get::<gst::Fraction>("framerate").unwrap(),
        gst::Fraction::new(25, 1)
    );
    assert_eq!(
        s.get::<gst::Fraction>("pixel-aspect-ratio").unwrap(),
        gst::Fraction::new(1, 1)
    );
    assert_eq!(s.get::<&str>("profile").unwrap(), "high-4:4:4");
    assert_eq!(s.get::<&str>("level").unwrap(), "1.3");
    let codec_data = s.get::<gst::Buffer>("codec_data").unwrap();
    assert_eq!(
        codec_data.map_readable().unwrap().as_slice(),
        &avcc_444()[..]
    );

    // Cropped 330x190, High 4:2:0; metadata frame rate wins over the SPS's.
    let avcc = Bytes::from(hex(AVC_SEQUENCE_HEADER_330X190_BODY)).slice(5..);
    let meta = StreamMetadata {
        framerate: Some(gst::Fraction::new(30000, 1001)),
        width: Some(640),
        ..StreamMetadata::default()
    };
    let caps = video_caps(&avcc, &meta).unwrap();
    let s = caps.structure(0).unwrap();
    assert_eq!(s.get::<i32>("width").unwrap(), 330);
    assert_eq!(s.get::<i32>("height").unwrap(), 190);
    assert_eq!(
        s.get::<gst::Fraction>("framerate").unwrap(),
        gst::Fraction::new(30000, 1001)
    );
    assert_eq!(s.get::<&str>("profile").unwrap(), "high");
}

#[test]
fn caps_fall_back_to_metadata_without_a_parsable_sps() {
    gst::init().unwrap();
    // Baseline, constraint_set1 (constrained), level 3.1, no SPS in the list.
    let avcc = Bytes::from_static(&[0x01, 0x42, 0xc0, 0x1f, 0xff, 0xe0, 0x00]);
    let meta = StreamMetadata {
        width: Some(1280),
        height: Some(720),
        pixel_aspect_ratio: Some(gst::Fraction::new(4, 3)),
        ..StreamMetadata::default()
    };
    let caps = video_caps(&avcc, &meta).unwrap();
    let s = caps.structure(0).unwrap();
    assert_eq!(s.get::<i32>("width").unwrap(), 1280);
    assert_eq!(s.get::<i32>("height").unwrap(), 720);
    assert!(!s.has_field("framerate"));
    assert_eq!(
        s.get::<gst::Fraction>("pixel-aspect-ratio").unwrap(),
        gst::Fraction::new(4, 3)
    );
    assert_eq!(s.get::<&str>("profile").unwrap(), "constrained-baseline");
    assert_eq!(s.get::<&str>("level").unwrap(), "3.1");

    assert_eq!(
        video_caps(&Bytes::from_static(&[2, 0, 0, 0, 0, 0, 0]), &meta),
        Err(FlvError::InvalidAvcC("configurationVersion is not 1"))
    );
}

#[test]
fn level_names() {
    let level = |profile: u8, compat: u8, level: u8| {
        AvcDecoderConfig::parse(&Bytes::copy_from_slice(&[
            1, profile, compat, level, 0xff, 0xe0, 0,
        ]))
        .unwrap()
        .level_name()
    };
    assert_eq!(level(66, 0x10, 11), Some("1b"));
    assert_eq!(level(100, 0x10, 11), Some("1.1"));
    assert_eq!(level(100, 0, 9), Some("1b"));
    assert_eq!(level(100, 0, 40), Some("4"));
    assert_eq!(level(100, 0, 52), Some("5.2"));
    assert_eq!(level(100, 0, 99), None);
}
