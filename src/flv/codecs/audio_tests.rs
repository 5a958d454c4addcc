//! Enhanced RTMP audio tags and caps, with byte vectors from FFmpeg 9 (Lavf63.1.102) writing a
//! 48 kHz stereo sine with libopus, flac, ac3 and eac3 (`-f flv`).

use bytes::Bytes;

use super::*;
use crate::flv::testdata::hex;
use crate::flv::{AudioTag, FlvError, parse_audio_body};

const OPUS_SEQUENCE_START: &str = "904f7075734f707573486561640102380180bb0000000000";
/// MultichannelConfig after each sequence start: native order, 2 channels, FL|FR.
const OPUS_MULTICHANNEL: &str = "944f707573010200000003";
const OPUS_CODED_FRAMES: &str = "914f707573fc7e0299e7f9";
const FLAC_SEQUENCE_START: &str =
    "90664c6143040004000000000010980bb802f00000000000000000000000000000000000000000";
const AC3_SEQUENCE_START: &str = "9061632d33";
const EAC3_CODED_FRAMES: &str = "9165632d330b77017f3487c0";

fn body(s: &str) -> Bytes {
    Bytes::from(hex(s))
}

fn caps_of(s: &str) -> gst::Caps {
    gst::init().unwrap();
    match parse_audio_body(&body(s)) {
        Ok(AudioTag::ExSequenceStart { codec, config }) => {
            ex_audio_caps(codec, &config, &StreamMetadata::default()).unwrap()
        }
        other => panic!("not a sequence start: {other:?}"),
    }
}

fn int(c: &gst::Caps, name: &str) -> i32 {
    c.structure(0).unwrap().get::<i32>(name).unwrap()
}

fn headers(c: &gst::Caps) -> Vec<Vec<u8>> {
    let array = c
        .structure(0)
        .unwrap()
        .get::<gst::Array>("streamheader")
        .unwrap();
    array
        .iter()
        .map(|v| {
            let buffer = v.get::<gst::Buffer>().unwrap();
            assert!(buffer.flags().contains(gst::BufferFlags::HEADER));
            buffer.map_readable().unwrap().to_vec()
        })
        .collect()
}

#[test]
fn opus_sequence_start_gives_opus_caps_with_id_header() {
    let caps = caps_of(OPUS_SEQUENCE_START);
    assert_eq!(caps.structure(0).unwrap().name(), "audio/x-opus");
    assert_eq!(int(&caps, "rate"), 48000);
    assert_eq!(int(&caps, "channels"), 2);
    assert_eq!(int(&caps, "channel-mapping-family"), 0);
    assert_eq!(
        (int(&caps, "stream-count"), int(&caps, "coupled-count")),
        (1, 1)
    );
    let headers = headers(&caps);
    assert_eq!(headers[0], body(OPUS_SEQUENCE_START)[5..]);
    assert!(headers[1].starts_with(b"OpusTags"));
}

#[test]
fn opus_frames_and_multichannel_config() {
    let b = body(OPUS_CODED_FRAMES);
    assert_eq!(
        parse_audio_body(&b),
        Ok(AudioTag::ExFrame {
            codec: ExAudioCodec::Opus,
            timestamp_offset_ns: 0,
            data: b.slice(5..),
        })
    );
    assert_eq!(
        parse_audio_body(&body(OPUS_MULTICHANNEL)),
        Ok(AudioTag::ExMultichannelConfig {
            fourcc: *b"Opus",
            order: 1,
            channels: 2,
            mask: Some(3),
        })
    );
    // Unspecified order: no mask. A native order without its mask is truncated.
    assert!(matches!(
        parse_audio_body(&body("944f707573 0006")),
        Ok(AudioTag::ExMultichannelConfig {
            order: 0,
            channels: 6,
            mask: None,
            ..
        })
    ));
    assert!(matches!(
        parse_audio_body(&body("944f707573 010200")),
        Err(FlvError::Truncated(_))
    ));
}

#[test]
fn flac_sequence_start_gives_flac_caps_with_streamheader() {
    let caps = caps_of(FLAC_SEQUENCE_START);
    assert_eq!(caps.structure(0).unwrap().name(), "audio/x-flac");
    assert_eq!((int(&caps, "rate"), int(&caps, "channels")), (48000, 2));
    let headers = headers(&caps);
    assert_eq!(headers[0], b"fLaC");
    assert_eq!(&headers[1][..4], &[0x80, 0, 0, 34]);
    assert_eq!(headers[1][4..], body(FLAC_SEQUENCE_START)[5..]);
    // The same STREAMINFO after a fLaC marker and block header is accepted too.
    let mut prefixed = b"fLaC\x80\x00\x00\x22".to_vec();
    prefixed.extend_from_slice(&body(FLAC_SEQUENCE_START)[5..]);
    let again = flac_caps(&Bytes::from(prefixed)).unwrap();
    assert_eq!(headers, self::headers(&again));
}

#[test]
fn ac3_and_eac3() {
    let caps = caps_of(AC3_SEQUENCE_START);
    assert_eq!(caps.structure(0).unwrap().name(), "audio/x-ac3");
    let b = body(EAC3_CODED_FRAMES);
    let Ok(AudioTag::ExFrame { codec, data, .. }) = parse_audio_body(&b) else {
        panic!("not a frame");
    };
    assert_eq!(codec, ExAudioCodec::Eac3);
    // The sync word starts the payload.
    assert_eq!(&data[..2], &[0x0b, 0x77]);
    let meta = StreamMetadata {
        audio_sample_rate: Some(48000),
        ..Default::default()
    };
    let caps = ex_audio_caps(ExAudioCodec::Eac3, &Bytes::new(), &meta).unwrap();
    assert_eq!(caps.structure(0).unwrap().name(), "audio/x-eac3");
    assert_eq!(int(&caps, "rate"), 48000);
}

#[test]
fn malformed_audio_configs_are_errors_not_panics() {
    gst::init().unwrap();
    let meta = StreamMetadata::default();
    let opus = body(OPUS_SEQUENCE_START).slice(5..);
    let flac = body(FLAC_SEQUENCE_START).slice(5..);
    for (codec, config) in [(ExAudioCodec::Opus, &opus), (ExAudioCodec::Flac, &flac)] {
        for len in 0..config.len() {
            assert!(
                matches!(
                    ex_audio_caps(codec, &config.slice(..len), &meta),
                    Err(FlvError::InvalidCodecConfig { .. })
                ),
                "{codec:?} {len}"
            );
        }
    }
    // Mapping family 1 with its table cut short, and more channels than family 0 allows.
    let mut family1 = opus.to_vec();
    family1[18] = 1;
    assert!(opus_caps(&Bytes::from(family1.clone())).is_err());
    family1.extend_from_slice(&[1, 1, 0, 1]);
    let caps = opus_caps(&Bytes::from(family1)).unwrap();
    assert_eq!(int(&caps, "channel-mapping-family"), 1);
    let mut six = opus.to_vec();
    six[9] = 6;
    assert!(opus_caps(&Bytes::from(six)).is_err());
}
