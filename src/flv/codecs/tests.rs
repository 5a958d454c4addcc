//! Enhanced RTMP video tags and caps, with byte vectors from FFmpeg 9 (Lavf63.1.102) writing
//! `testsrc=size=320x240:rate=25 -pix_fmt yuv420p -g 25 -f flv` with libx265 (`info=0`),
//! libsvtav1 and libvpx-vp9.

use bytes::Bytes;

use super::*;
use crate::flv::testdata::hex;
use crate::flv::{FlvError, VideoTag, parse_video_body};

const HEVC_SEQUENCE_START: &str = concat!(
    "90687663310101600000009000000000003cf000fcfdf8f800000f03200001001840010c01ffff0160000003",
    "0090000003000003003c959809210001002a42010101600000030090000003000003003ca00a080f165959a4",
    "932bc05a02000003000200000300321022000100074401c172b46240",
);
/// An inter frame at 40 ms with a composition time of 120 ms (start of the body).
const HEVC_CODED_FRAME: &str = "a168766331000078000000a40201d011";
/// CodedFramesX (no composition time) of an inter frame.
const HEVC_CODED_FRAME_X: &str = "a3687663310000001c0001e0";
/// The Metadata packet FFmpeg sends after every sequence start (colorInfo, frame type 5).
const HEVC_METADATA: &str =
    "d468766331020009636f6c6f72496e666f03000b636f6c6f72436f6e66696703000009000009";
const AV1_SEQUENCE_START: &str = "906176303181000c000a0b0200000561e7fde017c002";
const AV1_CODED_FRAME: &str = "916176303112000a0b0200000561e7fde357cc02";
const VP9_SEQUENCE_START: &str = "9076703039010000000014820202020000";
const VP9_CODED_FRAME: &str = "9176703039824983420013f00ef6";

fn body(s: &str) -> Bytes {
    Bytes::from(hex(s))
}

fn meta_320x240_25() -> StreamMetadata {
    StreamMetadata {
        width: Some(320),
        height: Some(240),
        framerate: Some(gst::Fraction::new(25, 1)),
        ..Default::default()
    }
}

fn sequence_start(s: &str) -> (ExVideoCodec, Bytes) {
    match parse_video_body(&body(s)) {
        Ok(VideoTag::ExSequenceStart { codec, config }) => (codec, config),
        other => panic!("not a sequence start: {other:?}"),
    }
}

fn caps_of(s: &str, meta: &StreamMetadata) -> gst::Caps {
    gst::init().unwrap();
    let (codec, config) = sequence_start(s);
    ex_video_caps(codec, &config, meta).unwrap()
}

fn field<T: for<'a> gst::glib::value::FromValue<'a> + 'static>(c: &gst::Caps, name: &str) -> T {
    c.structure(0).unwrap().get::<T>(name).unwrap()
}

fn text(c: &gst::Caps, name: &str) -> String {
    c.structure(0).unwrap().get::<String>(name).unwrap()
}

#[test]
fn hevc_sequence_start_gives_h265_caps_with_sps_size() {
    let (codec, config) = sequence_start(HEVC_SEQUENCE_START);
    assert_eq!(codec, ExVideoCodec::Hevc);
    assert_eq!(config, body(HEVC_SEQUENCE_START).slice(5..));
    // No metadata: the size can only come from the SPS.
    let caps = caps_of(HEVC_SEQUENCE_START, &StreamMetadata::default());
    let s = caps.structure(0).unwrap();
    assert_eq!(s.name(), "video/x-h265");
    assert_eq!(text(&caps, "stream-format"), "hvc1");
    assert_eq!(text(&caps, "alignment"), "au");
    assert_eq!(text(&caps, "profile"), "main");
    assert_eq!(text(&caps, "tier"), "main");
    assert_eq!(text(&caps, "level"), "2");
    assert_eq!(
        (field::<i32>(&caps, "width"), field::<i32>(&caps, "height")),
        (320, 240)
    );
    let codec_data = field::<gst::Buffer>(&caps, "codec_data");
    assert_eq!(codec_data.map_readable().unwrap().as_slice(), &config[..]);
}

#[test]
fn hevc_frames_carry_composition_time_except_coded_frames_x() {
    let b = body(HEVC_CODED_FRAME);
    assert_eq!(
        parse_video_body(&b),
        Ok(VideoTag::ExFrame {
            codec: ExVideoCodec::Hevc,
            keyframe: false,
            cts_ms: 120,
            timestamp_offset_ns: 0,
            data: b.slice(8..),
        })
    );
    let b = body(HEVC_CODED_FRAME_X);
    assert_eq!(
        parse_video_body(&b),
        Ok(VideoTag::ExFrame {
            codec: ExVideoCodec::Hevc,
            keyframe: false,
            cts_ms: 0,
            timestamp_offset_ns: 0,
            data: b.slice(5..),
        })
    );
}

#[test]
fn metadata_packets_are_recognised_not_commands() {
    let b = body(HEVC_METADATA);
    assert_eq!(
        parse_video_body(&b),
        Ok(VideoTag::ExMetadata {
            codec: ExVideoCodec::Hevc,
            data: b.slice(5..),
        })
    );
}

#[test]
fn mod_ex_timestamp_offset_nano_is_read() {
    // Keyframe, ModEx; 3 bytes of data (100000 ns); ModEx type 0 and CodedFrames; hvc1, cts 2.
    let b = body("97 02 0186a0 01 68766331 000002 00000001ff");
    assert_eq!(
        parse_video_body(&b),
        Ok(VideoTag::ExFrame {
            codec: ExVideoCodec::Hevc,
            keyframe: true,
            cts_ms: 2,
            timestamp_offset_ns: 100_000,
            data: b.slice(13..),
        })
    );
    // Another ModEx type is skipped without an offset.
    let b = body("97 02 0186a0 11 68766331 000002 00000001ff");
    assert!(matches!(
        parse_video_body(&b),
        Ok(VideoTag::ExFrame {
            timestamp_offset_ns: 0,
            ..
        })
    ));
    // Modifier data running past the body is truncation.
    assert!(matches!(
        parse_video_body(&body("97 05 0186")),
        Err(FlvError::Truncated(_))
    ));
}

#[test]
fn av1_sequence_start_gives_obu_stream_caps() {
    let caps = caps_of(AV1_SEQUENCE_START, &meta_320x240_25());
    assert_eq!(caps.structure(0).unwrap().name(), "video/x-av1");
    assert_eq!(text(&caps, "stream-format"), "obu-stream");
    assert_eq!(text(&caps, "alignment"), "tu");
    assert_eq!(text(&caps, "profile"), "main");
    assert_eq!(
        (field::<i32>(&caps, "width"), field::<i32>(&caps, "height")),
        (320, 240)
    );
    assert_eq!(
        field::<gst::Fraction>(&caps, "framerate"),
        gst::Fraction::new(25, 1)
    );
    let codec_data = field::<gst::Buffer>(&caps, "codec_data");
    assert_eq!(codec_data.map_readable().unwrap()[0], 0x81);
}

#[test]
fn av1_coded_frames_have_no_composition_time() {
    let b = body(AV1_CODED_FRAME);
    let Ok(VideoTag::ExFrame {
        codec,
        keyframe,
        cts_ms,
        data,
        ..
    }) = parse_video_body(&b)
    else {
        panic!("not a frame");
    };
    assert_eq!((codec, keyframe, cts_ms), (ExVideoCodec::Av1, true, 0));
    // The temporal delimiter OBU starts the frame.
    assert_eq!(&data[..2], &[0x12, 0x00]);
}

#[test]
fn vp9_sequence_start_gives_vp9_caps_with_vpcc() {
    let caps = caps_of(VP9_SEQUENCE_START, &meta_320x240_25());
    assert_eq!(caps.structure(0).unwrap().name(), "video/x-vp9");
    assert_eq!(text(&caps, "profile"), "0");
    assert_eq!(text(&caps, "chroma-format"), "4:2:0");
    assert_eq!(field::<u32>(&caps, "bit-depth-luma"), 8);
    assert_eq!(
        (field::<i32>(&caps, "width"), field::<i32>(&caps, "height")),
        (320, 240)
    );
    let b = body(VP9_CODED_FRAME);
    assert!(matches!(
        parse_video_body(&b),
        Ok(VideoTag::ExFrame { codec: ExVideoCodec::Vp9, keyframe: true, cts_ms: 0, data, .. })
            if data == b.slice(5..)
    ));
}

#[test]
fn malformed_records_are_errors_not_panics() {
    gst::init().unwrap();
    let meta = StreamMetadata::default();
    for codec in [ExVideoCodec::Hevc, ExVideoCodec::Av1, ExVideoCodec::Vp9] {
        for len in 0..8 {
            let config = Bytes::from(vec![0u8; len]);
            assert!(
                matches!(
                    ex_video_caps(codec, &config, &meta),
                    Err(FlvError::InvalidCodecConfig { .. })
                ),
                "{codec:?} {len}"
            );
        }
    }
    // Every prefix of a real hvcC either is refused or gives caps (the SPS is optional).
    let (_, hvcc) = sequence_start(HEVC_SEQUENCE_START);
    for len in 0..hvcc.len() {
        let _ = ex_video_caps(ExVideoCodec::Hevc, &hvcc.slice(..len), &meta);
    }
}

#[test]
fn unknown_fourccs_stay_unsupported() {
    assert_eq!(
        parse_video_body(&body("90 61626364 00")),
        Ok(VideoTag::UnsupportedEnhanced {
            packet_type: 0,
            fourcc: Some(*b"abcd"),
        })
    );
    assert_eq!(
        ExVideoCodec::from_fourcc(*b"hvc1").map(ExVideoCodec::fourcc),
        Some(*b"hvc1")
    );
}
