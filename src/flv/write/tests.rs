//! What we write, read back with the playing side's parsers, and compared with the bytes
//! FFmpeg 9 (Lavf63.1.102) writes for the same streams (vectors of `flv::codecs::tests`).

use bytes::Bytes;

use super::*;
use crate::flv::codecs::{ExAudioCodec, ExVideoCodec, av1_caps, flac_caps, opus_caps, vp9_caps};
use crate::flv::metadata::StreamMetadata;
use crate::flv::testdata::hex;
use crate::flv::{AudioTag, VideoTag, parse_audio_body, parse_video_body};
use crate::protocol::amf0::{self, Amf0Value};

const HEVC_SEQUENCE_START: &str = concat!(
    "90687663310101600000009000000000003cf000fcfdf8f800000f03200001001840010c01ffff0160000003",
    "0090000003000003003c959809210001002a42010101600000030090000003000003003ca00a080f165959a4",
    "932bc05a02000003000200000300321022000100074401c172b46240",
);
const AV1_SEQUENCE_START: &str = "906176303181000c000a0b0200000561e7fde017c002";
const VP9_SEQUENCE_START: &str = "9076703039010000000014820202020000";
/// opusenc's ID header (mono, 48 kHz input, pre-skip 312).
const OPUS_HEAD: &str = "4f707573486561640101380180bb0000000000";
/// flacparse's first streamheader buffer (Ogg FLAC mapping), mono 44.1 kHz.
const FLAC_OGG_HEADER: &str = concat!(
    "7f464c414301000002664c614300000022120012000000000000000ac4407000000000000000000000",
    "00000000000000000000",
);

fn init() {
    gst::init().unwrap();
}

fn b(s: &str) -> Bytes {
    Bytes::from(hex(s))
}

fn buffer(s: &str) -> gst::Buffer {
    gst::Buffer::from_slice(hex(s))
}

fn video(caps: gst::Caps, mode: LegacyCodecs) -> OutVideo {
    OutVideo::from_caps(&caps, mode).unwrap()
}

fn hevc() -> OutVideo {
    init();
    let caps = gst::Caps::builder("video/x-h265")
        .field("stream-format", "hvc1")
        .field("alignment", "au")
        .field("width", 320)
        .field("height", 240)
        .field("framerate", gst::Fraction::new(25, 1))
        .field(
            "codec_data",
            gst::Buffer::from_slice(b(HEVC_SEQUENCE_START).slice(5..)),
        )
        .build();
    video(caps, LegacyCodecs::Legacy)
}

fn frame_of(prefix: Vec<u8>, data: &[u8]) -> Bytes {
    let mut body = prefix;
    body.extend_from_slice(data);
    Bytes::from(body)
}

#[test]
fn hevc_sequence_start_is_ffmpegs_and_parses_back() {
    let v = hevc();
    let start = v.sequence_start(0).unwrap();
    assert_eq!(start, b(HEVC_SEQUENCE_START));
    let VideoTag::ExSequenceStart { codec, config } = parse_video_body(&start).unwrap() else {
        panic!("not a sequence start")
    };
    assert_eq!(codec, ExVideoCodec::Hevc);
    assert_eq!(config, b(HEVC_SEQUENCE_START).slice(5..));
}

#[test]
fn hevc_frames_carry_composition_time_or_use_coded_frames_x() {
    let v = hevc();
    // FFmpeg's inter frame with a composition time of 120 ms starts a1 'hvc1' 000078.
    assert_eq!(v.frame_header(false, 120, 0), hex("a168766331000078"));
    let body = frame_of(v.frame_header(false, 120, 0), &[0, 0, 0, 1, 0x02]);
    assert_eq!(
        parse_video_body(&body).unwrap(),
        VideoTag::ExFrame {
            codec: ExVideoCodec::Hevc,
            keyframe: false,
            cts_ms: 120,
            timestamp_offset_ns: 0,
            data: Bytes::from_static(&[0, 0, 0, 1, 0x02]),
        }
    );
    // No composition time: CodedFramesX, as FFmpeg writes (a3 for an inter frame, 93 key).
    assert_eq!(v.frame_header(false, 0, 0), hex("a368766331"));
    assert_eq!(v.frame_header(true, 0, 0), hex("9368766331"));
    let body = frame_of(v.frame_header(true, -40, 0), &[7]);
    let VideoTag::ExFrame {
        keyframe, cts_ms, ..
    } = parse_video_body(&body).unwrap()
    else {
        panic!("not a frame")
    };
    assert!(keyframe);
    assert_eq!(cts_ms, -40);
    assert_eq!(
        parse_video_body(&v.sequence_end(0).unwrap()).unwrap(),
        VideoTag::ExSequenceEnd {
            codec: ExVideoCodec::Hevc
        }
    );
}

#[test]
fn hevc_byte_stream_and_missing_codec_data_are_refused_with_the_fix() {
    init();
    let caps = gst::Caps::builder("video/x-h265")
        .field("stream-format", "byte-stream")
        .build();
    let err = OutVideo::from_caps(&caps, LegacyCodecs::Legacy).unwrap_err();
    assert!(err.to_string().contains("h265parse"), "{err}");
    let caps = gst::Caps::builder("video/x-h265")
        .field("stream-format", "hvc1")
        .build();
    assert_eq!(
        OutVideo::from_caps(&caps, LegacyCodecs::Legacy).unwrap_err(),
        crate::flv::FlvError::MissingField("codec_data")
    );
    let caps = gst::Caps::builder("video/x-theora").build();
    let err = OutVideo::from_caps(&caps, LegacyCodecs::Legacy).unwrap_err();
    assert!(err.to_string().contains("H.265, AV1 and VP9"), "{err}");
}

#[test]
fn av1c_is_built_from_the_sequence_header_obu_as_ffmpeg_writes_it() {
    // A temporal delimiter, then FFmpeg's sequence header OBU (libsvtav1 320x240).
    let tu = hex("1200 0a0b0200000561e7fde017c002 32021234");
    let av1c = av1::av1c_from_temporal_unit(&tu).unwrap();
    assert_eq!(av1c, b(AV1_SEQUENCE_START).slice(5..));
    init();
    av1_caps(&av1c, &StreamMetadata::default()).unwrap();
    // Without a sequence header there is nothing to build from.
    assert!(av1::av1c_from_temporal_unit(&hex("1200 32021234")).is_none());
    // Truncated OBUs fail without panicking.
    assert!(av1::av1c_from_temporal_unit(&hex("0a0b0200")).is_none());
    assert!(av1::av1c_from_temporal_unit(&hex("0aff")).is_none());
}

#[test]
fn av1_without_codec_data_waits_for_the_first_temporal_unit() {
    init();
    let caps = gst::Caps::builder("video/x-av1")
        .field("stream-format", "obu-stream")
        .field("alignment", "tu")
        .build();
    let mut v = video(caps, LegacyCodecs::Legacy);
    assert!(v.needs_config());
    assert!(v.sequence_start(0).is_none());
    assert!(!v.config_from_frame(&hex("1200 32021234")));
    assert!(v.config_from_frame(&hex("1200 0a0b0200000561e7fde017c002")));
    assert_eq!(v.sequence_start(0).unwrap(), b(AV1_SEQUENCE_START));
    // AV1 frames have no composition time: CodedFrames (FFmpeg: 91 'av01').
    assert_eq!(v.frame_header(true, 33, 0), hex("9161763031"));
    let body = frame_of(v.frame_header(true, 0, 0), &[0x12, 0]);
    assert!(matches!(
        parse_video_body(&body).unwrap(),
        VideoTag::ExFrame {
            codec: ExVideoCodec::Av1,
            keyframe: true,
            cts_ms: 0,
            ..
        }
    ));
}

#[test]
fn vp9_vpcc_from_caps_matches_ffmpeg() {
    init();
    let caps = gst::Caps::builder("video/x-vp9")
        .field("profile", "0")
        .field("width", 320)
        .field("height", 240)
        .field("framerate", gst::Fraction::new(25, 1))
        .field("chroma-format", "4:2:0")
        .field("bit-depth-luma", 8u32)
        .field("alignment", "super-frame")
        .build();
    let v = video(caps, LegacyCodecs::Legacy);
    let start = v.sequence_start(0).unwrap();
    assert_eq!(start, b(VP9_SEQUENCE_START));
    let VideoTag::ExSequenceStart { config, .. } = parse_video_body(&start).unwrap() else {
        panic!("not a sequence start")
    };
    let parsed = vp9_caps(&config, &StreamMetadata::default()).unwrap();
    let s = parsed.structure(0).unwrap();
    assert_eq!(s.get::<String>("profile").unwrap(), "0");
    assert_eq!(s.get::<String>("chroma-format").unwrap(), "4:2:0");
}

#[test]
fn vp9_colorimetry_and_depth_reach_the_vpcc() {
    init();
    let caps = gst::Caps::builder("video/x-vp9")
        .field("profile", "2")
        .field("width", 1920)
        .field("height", 1080)
        .field("framerate", gst::Fraction::new(60, 1))
        .field("chroma-format", "4:2:0")
        .field("bit-depth-luma", 10u32)
        .field("colorimetry", "bt2100-pq")
        .build();
    let v = video(caps, LegacyCodecs::Legacy);
    let start = v.sequence_start(0).unwrap();
    // profile 2, level 4.1 (1080p60), 10 bit 4:2:0, BT.2020 primaries, PQ, BT.2020 matrix.
    assert_eq!(&start[5..], &hex("01000000 02 29 a2 09 10 09 0000")[..]);
    let caps = gst::Caps::builder("video/x-vp9")
        .field("profile", "7")
        .build();
    assert!(OutVideo::from_caps(&caps, LegacyCodecs::Legacy).is_err());
}

fn h264_caps() -> gst::Caps {
    gst::Caps::builder("video/x-h264")
        .field("stream-format", "avc")
        .field("alignment", "au")
        .field(
            "codec_data",
            gst::Buffer::from_slice(hex("0142c01effe100046742c01e010003 68ce3c80")),
        )
        .build()
}

#[test]
fn h264_is_legacy_unless_extended_is_asked_for() {
    init();
    let legacy = video(h264_caps(), LegacyCodecs::Legacy);
    let start = legacy.sequence_start(0).unwrap();
    assert_eq!(&start[..5], &hex("1700000000")[..]);
    assert_eq!(legacy.codec_id(), 7.0);
    let ext = video(h264_caps(), LegacyCodecs::Extended);
    let start = ext.sequence_start(0).unwrap();
    assert_eq!(&start[..5], &hex("9061766331")[..]);
    assert!(matches!(
        parse_video_body(&start).unwrap(),
        VideoTag::AvcSequenceHeader(_)
    ));
    let body = frame_of(ext.frame_header(false, 66, 0), &[0, 0, 0, 1, 0x41]);
    assert!(matches!(
        parse_video_body(&body).unwrap(),
        VideoTag::AvcFrame {
            keyframe: false,
            cts_ms: 66,
            ..
        }
    ));
    assert_eq!(ext.codec_id(), fourcc_number(*b"avc1"));
    // Another track is always extended, even in legacy mode.
    assert_eq!(&legacy.sequence_start(1).unwrap()[..7], b"\x96\x00avc1\x01");
}

fn audio(caps: gst::Caps) -> OutAudio {
    OutAudio::from_caps(&caps, LegacyCodecs::Legacy).unwrap()
}

fn header_array(parts: &[&str]) -> gst::Array {
    gst::Array::new(parts.iter().map(|p| {
        let mut buf = buffer(p);
        buf.make_mut().set_flags(gst::BufferFlags::HEADER);
        buf
    }))
}

#[test]
fn opus_sequence_start_carries_the_id_header_from_the_streamheader() {
    init();
    let caps = gst::Caps::builder("audio/x-opus")
        .field("rate", 48000)
        .field("channels", 1)
        .field("channel-mapping-family", 0)
        .field(
            "streamheader",
            header_array(&[OPUS_HEAD, "4f707573546167730000000000000000"]),
        )
        .build();
    let a = audio(caps);
    let start = a.sequence_start(0).unwrap();
    assert_eq!(&start[..5], b"\x90Opus");
    let AudioTag::ExSequenceStart { codec, config } = parse_audio_body(&start).unwrap() else {
        panic!("not a sequence start")
    };
    assert_eq!(codec, ExAudioCodec::Opus);
    assert_eq!(config, b(OPUS_HEAD));
    assert_eq!(
        parse_audio_body(&a.multichannel_config(0).unwrap()).unwrap(),
        AudioTag::ExMultichannelConfig {
            fourcc: *b"Opus",
            order: 1,
            channels: 1,
            mask: Some(0x4),
        }
    );
    let body = frame_of(a.frame_header(0), &[0xf8, 0xff]);
    assert_eq!(
        parse_audio_body(&body).unwrap(),
        AudioTag::ExFrame {
            codec: ExAudioCodec::Opus,
            timestamp_offset_ns: 0,
            data: Bytes::from_static(&[0xf8, 0xff]),
        }
    );
    assert_eq!(
        parse_audio_body(&a.sequence_end(0).unwrap()).unwrap(),
        AudioTag::ExSequenceEnd {
            codec: ExAudioCodec::Opus
        }
    );
    assert_eq!(a.codec_id(), fourcc_number(*b"Opus"));
}

#[test]
fn opus_without_streamheader_gets_an_id_header_from_the_caps_fields() {
    init();
    let caps = gst::Caps::builder("audio/x-opus")
        .field("rate", 48000)
        .field("channels", 2)
        .field("channel-mapping-family", 0)
        .build();
    let a = audio(caps);
    let AudioTag::ExSequenceStart { config, .. } =
        parse_audio_body(&a.sequence_start(0).unwrap()).unwrap()
    else {
        panic!("not a sequence start")
    };
    let caps = opus_caps(&config).unwrap();
    let s = caps.structure(0).unwrap();
    assert_eq!(s.get::<i32>("channels").unwrap(), 2);
    assert_eq!(s.get::<i32>("coupled-count").unwrap(), 1);
}

#[test]
fn flac_streaminfo_comes_from_the_ogg_mapping_header() {
    init();
    let caps = gst::Caps::builder("audio/x-flac")
        .field("framed", true)
        .field("rate", 44100)
        .field("channels", 1)
        .field("streamheader", header_array(&[FLAC_OGG_HEADER]))
        .build();
    let a = audio(caps);
    let AudioTag::ExSequenceStart { codec, config } =
        parse_audio_body(&a.sequence_start(0).unwrap()).unwrap()
    else {
        panic!("not a sequence start")
    };
    assert_eq!(codec, ExAudioCodec::Flac);
    // The bare 34-byte STREAMINFO, as FFmpeg writes it.
    assert_eq!(config.len(), 34);
    let caps = flac_caps(&config).unwrap();
    let s = caps.structure(0).unwrap();
    assert_eq!(s.get::<i32>("rate").unwrap(), 44100);
    assert_eq!(s.get::<i32>("channels").unwrap(), 1);
    // The "fLaC" + block form gives the same.
    let block = format!("80000022{}", &FLAC_OGG_HEADER[34..]);
    let caps = gst::Caps::builder("audio/x-flac")
        .field("streamheader", header_array(&["664c6143", &block]))
        .build();
    assert_eq!(audio(caps).sequence_start(0), a.sequence_start(0));
    let caps = gst::Caps::builder("audio/x-flac").build();
    let err = OutAudio::from_caps(&caps, LegacyCodecs::Legacy).unwrap_err();
    assert!(err.to_string().contains("flacparse"), "{err}");
}

#[test]
fn ac3_and_eac3_have_an_empty_sequence_start_and_a_channel_count() {
    init();
    for (name, fourcc, codec) in [
        ("audio/x-ac3", *b"ac-3", ExAudioCodec::Ac3),
        ("audio/x-eac3", *b"ec-3", ExAudioCodec::Eac3),
    ] {
        let caps = gst::Caps::builder(name)
            .field("rate", 48000)
            .field("channels", 6)
            .field("framed", true)
            .build();
        let a = audio(caps);
        assert_eq!(
            parse_audio_body(&a.sequence_start(0).unwrap()).unwrap(),
            AudioTag::ExSequenceStart {
                codec,
                config: Bytes::new()
            }
        );
        // 5.1 without a channel-mask: the order is unspecified, the count is there.
        assert_eq!(
            parse_audio_body(&a.multichannel_config(0).unwrap()).unwrap(),
            AudioTag::ExMultichannelConfig {
                fourcc,
                order: 0,
                channels: 6,
                mask: None,
            }
        );
    }
    // With GStreamer's 5.1 mask: FL FR FC LFE RL RR -> the same WAVE bits.
    let caps = gst::Caps::builder("audio/x-ac3")
        .field("rate", 48000)
        .field("channels", 6)
        .field("channel-mask", gst::Bitmask::new(0x3f))
        .build();
    let AudioTag::ExMultichannelConfig { mask, .. } =
        parse_audio_body(&audio(caps).multichannel_config(0).unwrap()).unwrap()
    else {
        panic!("not a multichannel config")
    };
    assert_eq!(mask, Some(0x3f));
}

fn aac_caps() -> gst::Caps {
    gst::Caps::builder("audio/mpeg")
        .field("mpegversion", 4)
        .field("stream-format", "raw")
        .field("rate", 44100)
        .field("channels", 1)
        .field("codec_data", buffer("1208"))
        .build()
}

#[test]
fn aac_is_legacy_unless_extended_and_mp4a_parses_back() {
    init();
    let legacy = audio(aac_caps());
    assert_eq!(legacy.sequence_start(0).unwrap(), b("af001208"));
    assert_eq!(legacy.frame_header(0), hex("af01"));
    assert!(legacy.sequence_end(0).is_none());
    assert!(legacy.multichannel_config(0).is_none());
    assert_eq!(legacy.codec_id(), 10.0);
    let ext = OutAudio::from_caps(&aac_caps(), LegacyCodecs::Extended).unwrap();
    let start = ext.sequence_start(0).unwrap();
    assert_eq!(start, b("906d7034611208"));
    assert_eq!(
        parse_audio_body(&start).unwrap(),
        AudioTag::AacSequenceHeader(b("1208"))
    );
    let body = frame_of(ext.frame_header(0), &[0x21]);
    assert_eq!(
        parse_audio_body(&body).unwrap(),
        AudioTag::AacFrame(Bytes::from_static(&[0x21]))
    );
}

#[test]
fn other_tracks_are_one_track_multitrack_packets() {
    init();
    let caps = gst::Caps::builder("audio/x-opus")
        .field("rate", 48000)
        .field("channels", 1)
        .field("streamheader", header_array(&[OPUS_HEAD]))
        .build();
    let a = audio(caps);
    // Multitrack (5), OneTrack + SequenceStart, FourCC, track id 1, then the ID header.
    let start = a.sequence_start(1).unwrap();
    assert_eq!(&start[..7], b"\x95\x00Opus\x01");
    assert_eq!(start.slice(7..), b(OPUS_HEAD));
    assert_eq!(a.frame_header(2), b"\x95\x01Opus\x02");
    assert_eq!(extended_fourcc(false, &start), Some(*b"Opus"));
    // The parser reads it back as track 1's Opus sequence start.
    assert!(
        matches!(
            &parse_audio_body(&start).unwrap(),
            AudioTag::Multitrack(tracks)
                if matches!(&tracks[..], [(1, AudioTag::ExSequenceStart { .. })])
        ),
        "{:?}",
        parse_audio_body(&start)
    );
    // AAC on track 1 is extended even in legacy mode.
    let aac = audio(aac_caps());
    assert_eq!(aac.frame_header(1), b"\x95\x01mp4a\x01");
    let v = hevc();
    assert_eq!(v.frame_header(true, 0, 1), b"\x96\x03hvc1\x01");
    assert_eq!(v.frame_header(false, 80, 1), hex("a601 68766331 01 000050"));
    assert_eq!(
        extended_fourcc(true, &v.frame_header(true, 0, 1)),
        Some(*b"hvc1")
    );
    assert_eq!(extended_fourcc(true, &hex("1701000000")), None);
    assert_eq!(extended_fourcc(false, &hex("af01")), None);
}

#[test]
fn on_metadata_has_fourcc_codec_ids_and_track_maps() {
    let v = hevc();
    let opus = audio(
        gst::Caps::builder("audio/x-opus")
            .field("rate", 48000)
            .field("channels", 2)
            .build(),
    );
    let ac3 = audio(
        gst::Caps::builder("audio/x-ac3")
            .field("rate", 48000)
            .field("channels", 6)
            .build(),
    );
    let body = metadata::on_metadata(&[(0, &v)], &[(0, &opus), (1, &ac3)], "test");
    let values = amf0::decode_all(&body).unwrap();
    let meta = StreamMetadata::from_amf(&values).unwrap();
    assert_eq!(meta.video_codec_id, Some(u32::from_be_bytes(*b"hvc1")));
    assert_eq!(meta.audio_codec_id, Some(u32::from_be_bytes(*b"Opus")));
    assert_eq!((meta.width, meta.height), (Some(320), Some(240)));
    assert_eq!(meta.audio_sample_rate, Some(48000));
    let map = values[1].get("audioTrackIdInfoMap").unwrap();
    let track = map.get("1").unwrap();
    assert_eq!(
        track.get("audiocodecid").and_then(Amf0Value::as_number),
        Some(fourcc_number(*b"ac-3"))
    );
    assert_eq!(
        track.get("channels").and_then(Amf0Value::as_number),
        Some(6.0)
    );
    assert!(values[1].get("videoTrackIdInfoMap").is_none());
}

#[test]
fn hdr_caps_add_a_color_info_packet_before_the_sequence_start() {
    init();
    let hdr = |name: &str, extra: &[(&str, &str)]| {
        let mut caps = match name {
            "video/x-h264" => h264_caps(),
            _ => gst::Caps::builder("video/x-h265")
                .field("stream-format", "hvc1")
                .field("alignment", "au")
                .field(
                    "codec_data",
                    gst::Buffer::from_slice(b(HEVC_SEQUENCE_START).slice(5..)),
                )
                .build(),
        };
        let s = caps.make_mut().structure_mut(0).unwrap();
        for (k, v) in extra {
            s.set(*k, *v);
        }
        caps
    };
    assert_eq!(hevc().metadata_packet(0), None, "SDR caps: no colorInfo");
    let fields = [
        ("colorimetry", "bt2100-pq"),
        ("content-light-level", "1000:400"),
    ];
    let v = video(hdr("video/x-h265", &fields), LegacyCodecs::Legacy);
    let packet = v.metadata_packet(0).expect("colorInfo for HDR caps");
    // IsExHeader | info/command frame (5) | Metadata (4), as FFmpeg writes it.
    assert_eq!(&packet[..5], b"\xd4hvc1");
    let VideoTag::ExMetadata { data, .. } = parse_video_body(&packet).unwrap() else {
        panic!("not a Metadata packet");
    };
    let info = crate::flv::ColorInfo::parse(&data).expect("colorInfo");
    assert_eq!(
        (info.transfer, info.content_light),
        (Some(16), Some((1000, 400)))
    );
    // Track 1: a OneTrack multitrack packet.
    assert_eq!(&v.metadata_packet(1).unwrap()[..7], b"\xd6\x04hvc1\x01");
    // Legacy AVC has no extended header to carry it; `avc1` does.
    let legacy = video(hdr("video/x-h264", &fields), LegacyCodecs::Legacy);
    assert_eq!(legacy.metadata_packet(0), None);
    let ext = video(hdr("video/x-h264", &fields), LegacyCodecs::Extended);
    assert_eq!(&ext.metadata_packet(0).unwrap()[..5], b"\xd4avc1");
}
