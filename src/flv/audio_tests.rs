//! Tests for `flv::audio`, with byte excerpts from real captures in `testdata`.

use super::*;
use crate::flv::testdata::{
    AAC_SEQUENCE_HEADER_BODY, MP3_22K_STEREO_BODY_START, MP3_44K_MONO_BODY_START, hex,
};

fn asc() -> Bytes {
    Bytes::from(hex(AAC_SEQUENCE_HEADER_BODY)).slice(2..)
}

fn aac_input_caps(asc: &Bytes) -> gst::Caps {
    gst::Caps::builder("audio/mpeg")
        .field("mpegversion", 4i32)
        .field("stream-format", "raw")
        .field("codec_data", gst::Buffer::from_slice(asc.clone()))
        .field("rate", 44100i32)
        .field("channels", 1i32)
        .build()
}

fn mp3_input_caps(rate: i32, channels: i32) -> gst::Caps {
    gst::Caps::builder("audio/mpeg")
        .field("mpegversion", 1i32)
        .field("layer", 3i32)
        .field("rate", rate)
        .field("channels", channels)
        .field("parsed", true)
        .build()
}

#[test]
fn parses_real_asc() {
    let config = AudioSpecificConfig::parse(&asc()).unwrap();
    assert_eq!(
        config,
        AudioSpecificConfig {
            object_type: 2,
            sample_rate: 44100,
            channel_config: 1,
            channels: Some(1),
            extension_sample_rate: None,
        }
    );
    assert_eq!(config.profile_name(), Some("lc"));
}

#[test]
fn asc_variants() {
    // Explicit frequency (index 15, then 24 bits): AAC-LC at 37800 Hz, stereo.
    // 00010 1111 000000001001001110101000 0010 (+ padding).
    let explicit = [0x17, 0x80, 0x49, 0xd4, 0x10];
    let c = AudioSpecificConfig::parse(&explicit).unwrap();
    assert_eq!(
        (c.object_type, c.sample_rate, c.channels),
        (2, 37800, Some(2))
    );
    // Explicit SBR: AOT 5, 24000 Hz core, stereo, 48000 Hz extension, core AOT 2.
    let sbr = [0x2b, 0x11, 0x88, 0x00];
    let c = AudioSpecificConfig::parse(&sbr).unwrap();
    assert_eq!(
        (
            c.object_type,
            c.sample_rate,
            c.channels,
            c.extension_sample_rate
        ),
        (2, 24000, Some(2), Some(48000))
    );
    // Escaped object type 31 -> 32 + 10 = 42 (USAC), 48000 Hz, 5.1.
    let escaped = [0xf9, 0x46, 0xc0];
    let c = AudioSpecificConfig::parse(&escaped).unwrap();
    assert_eq!(
        (c.object_type, c.sample_rate, c.channels),
        (42, 48000, Some(6))
    );
    // Channel configuration 7 is 7.1; 0 means a program config element.
    assert_eq!(
        AudioSpecificConfig::parse(&[0x11, 0xb8]).unwrap().channels,
        Some(8)
    );
    assert_eq!(
        AudioSpecificConfig::parse(&[0x11, 0x80]).unwrap().channels,
        None
    );
}

#[test]
fn bad_asc_is_an_error() {
    let cases: [(&[u8], &str); 7] = [
        (&[], "truncated"),
        // SBR (5) wrapping object type 0: found by the noise test below.
        (&[0x2a, 0x11, 0x80], "audio object type 0"),
        (&[0x12], "truncated"),
        (&[0x17, 0x80, 0x49], "truncated"),
        (&[0x16, 0x88], "reserved sampling frequency index"),
        (&[0x12, 0x40], "reserved channel configuration"),
        (&[0x00, 0x08], "audio object type 0"),
    ];
    for (data, why) in cases {
        assert_eq!(
            AudioSpecificConfig::parse(data),
            Err(FlvError::InvalidAsc(why)),
            "{data:02x?}"
        );
    }
    // Explicit frequency 0 and an SBR wrapper cut short.
    assert_eq!(
        AudioSpecificConfig::parse(&[0x17, 0x80, 0x00, 0x00, 0x10]),
        Err(FlvError::InvalidAsc("sampling frequency 0"))
    );
    assert_eq!(
        AudioSpecificConfig::parse(&[0x2b, 0x11]),
        Err(FlvError::InvalidAsc("truncated"))
    );
}

#[test]
fn aac_config_round_trips_sequence_header() {
    gst::init().unwrap();
    let body = Bytes::from(hex(AAC_SEQUENCE_HEADER_BODY));
    let config = AudioConfig::from_caps(&aac_input_caps(&asc())).unwrap();
    assert_eq!((config.rate(), config.channels()), (44100, 1));
    assert_eq!(config.flags(), 0xaf);
    assert_eq!(config.sound_format(), SOUND_FORMAT_AAC);
    assert_eq!(config.frame_header(), &[0xaf, 0x01]);
    assert_eq!(config.sequence_header(), Some(body.clone()));
    assert_eq!(
        parse_audio_body(&body),
        Ok(AudioTag::AacSequenceHeader(asc()))
    );
    let frame = Bytes::from_static(&[0xaf, 0x01, 0x01, 0x18, 0x81, 0xb4, 0x70]);
    assert_eq!(
        parse_audio_body(&frame),
        Ok(AudioTag::AacFrame(frame.slice(2..)))
    );
}

#[test]
fn aac_from_caps_errors() {
    gst::init().unwrap();
    let adts = gst::Caps::builder("audio/mpeg")
        .field("mpegversion", 4i32)
        .field("stream-format", "adts")
        .build();
    assert!(matches!(
        AudioConfig::from_caps(&adts),
        Err(FlvError::UnsupportedCaps(m)) if m.contains("aacparse")
    ));
    let no_codec_data = gst::Caps::builder("audio/mpeg")
        .field("mpegversion", 4i32)
        .field("stream-format", "raw")
        .build();
    assert_eq!(
        AudioConfig::from_caps(&no_codec_data),
        Err(FlvError::MissingField("codec_data"))
    );
    let opus = gst::Caps::builder("audio/x-opus").build();
    assert!(matches!(
        AudioConfig::from_caps(&opus),
        Err(FlvError::UnsupportedCaps(m)) if m.contains("audio/x-opus")
    ));
    let mp2 = gst::Caps::builder("audio/mpeg")
        .field("mpegversion", 1i32)
        .field("layer", 2i32)
        .build();
    assert!(matches!(
        AudioConfig::from_caps(&mp2),
        Err(FlvError::UnsupportedCaps(m)) if m.contains("layer 2")
    ));
    let bad_asc = aac_input_caps(&Bytes::from_static(&[0x12]));
    assert_eq!(
        AudioConfig::from_caps(&bad_asc),
        Err(FlvError::InvalidAsc("truncated"))
    );
    // mpegversion=2 AAC is accepted like 4.
    let mpeg2 = gst::Caps::builder("audio/mpeg")
        .field("mpegversion", 2i32)
        .field("stream-format", "raw")
        .field("codec_data", gst::Buffer::from_slice(asc()))
        .build();
    assert_eq!(AudioConfig::from_caps(&mpeg2).unwrap().flags(), 0xaf);
}

#[test]
fn mp3_flag_bytes() {
    gst::init().unwrap();
    let cases = [
        (44100, 1, 0x2e),
        (44100, 2, 0x2f),
        (22050, 1, 0x2a),
        (22050, 2, 0x2b),
        (11025, 2, 0x27),
        (5512, 1, 0x22),
        (8000, 1, 0xe2),
        (8000, 2, 0xe3),
        // Rates FLV cannot name get the nearest one.
        (48000, 2, 0x2f),
        (32000, 1, 0x2a),
        (16000, 1, 0x26),
        (24000, 2, 0x2b),
    ];
    for (rate, channels, flags) in cases {
        let config = AudioConfig::from_caps(&mp3_input_caps(rate, channels)).unwrap();
        assert_eq!(config.flags(), flags, "{rate} Hz, {channels} ch");
        assert_eq!(config.frame_header(), &[flags]);
        assert_eq!(config.sequence_header(), None);
        assert_eq!(
            (config.rate(), config.channels()),
            (rate as u32, channels as u32)
        );
    }
    // Matches what ffmpeg wrote in the captures.
    assert_eq!(hex(MP3_44K_MONO_BODY_START)[0], 0x2e);
    assert_eq!(hex(MP3_22K_STEREO_BODY_START)[0], 0x2b);
    assert!(matches!(
        AudioConfig::from_caps(&mp3_input_caps(44100, 6)),
        Err(FlvError::UnsupportedCaps(_))
    ));
    let no_rate = gst::Caps::builder("audio/mpeg")
        .field("mpegversion", 1i32)
        .field("layer", 3i32)
        .field("channels", 2i32)
        .build();
    assert_eq!(
        AudioConfig::from_caps(&no_rate),
        Err(FlvError::MissingField("rate"))
    );
}

#[test]
fn parses_mp3_bodies() {
    let body = Bytes::from(hex(MP3_44K_MONO_BODY_START));
    assert_eq!(
        parse_audio_body(&body),
        Ok(AudioTag::Mp3 {
            data: body.slice(1..)
        })
    );
    let body_8k = Bytes::from_static(&[0xe2, 0xff, 0xe3]);
    assert!(matches!(
        parse_audio_body(&body_8k),
        Ok(AudioTag::Mp3 { .. })
    ));
    assert_eq!(
        parse_audio_body(&Bytes::from_static(&[0x72, 0x00])),
        Ok(AudioTag::Unsupported { sound_format: 7 })
    );
}

#[test]
fn mp3_caps_from_frame_headers() {
    gst::init().unwrap();
    let check = |frame: &[u8], version: i32, rate: i32, channels: i32| {
        let caps = mp3_caps(frame).unwrap();
        let s = caps.structure(0).unwrap();
        assert_eq!(s.name(), "audio/mpeg");
        assert_eq!(s.get::<i32>("mpegversion").unwrap(), 1);
        assert_eq!(s.get::<i32>("mpegaudioversion").unwrap(), version);
        assert_eq!(s.get::<i32>("layer").unwrap(), 3);
        assert!(s.get::<bool>("parsed").unwrap());
        assert_eq!(s.get::<i32>("rate").unwrap(), rate);
        assert_eq!(s.get::<i32>("channels").unwrap(), channels);
    };
    check(&hex(MP3_44K_MONO_BODY_START)[1..], 1, 44100, 1);
    check(&hex(MP3_22K_STEREO_BODY_START)[1..], 2, 22050, 2);
    // MPEG-2.5 at 8 kHz, mono; MPEG-1 at 48 kHz, stereo.
    check(&[0xff, 0xe3, 0x28, 0xc4], 3, 8000, 1);
    check(&[0xff, 0xfb, 0x94, 0x04], 1, 48000, 2);
    // A frame header after leading junk is found.
    check(&[0x00, 0xff, 0x12, 0xff, 0xfb, 0x50, 0xc4], 1, 44100, 1);

    for (bad, why) in [
        (&[0xffu8, 0xfb, 0x50][..], "shorter than 4 bytes"),
        (&[0xfe, 0xfb, 0x50, 0xc4][..], "no frame sync"),
        (&[0xff, 0xeb, 0x50, 0xc4][..], "reserved version"),
        (&[0xff, 0xf9, 0x50, 0xc4][..], "reserved layer"),
        (&[0xff, 0xfb, 0xf0, 0xc4][..], "bad bitrate index"),
        (&[0xff, 0xfb, 0x5c, 0xc4][..], "reserved sampling rate"),
    ] {
        assert_eq!(
            mp3_caps(bad),
            Err(FlvError::InvalidMp3Header(why)),
            "{bad:02x?}"
        );
    }
}

#[test]
fn aac_caps_from_asc() {
    gst::init().unwrap();
    let caps = aac_caps(&asc()).unwrap();
    let s = caps.structure(0).unwrap();
    assert_eq!(s.name(), "audio/mpeg");
    assert_eq!(s.get::<i32>("mpegversion").unwrap(), 4);
    assert_eq!(s.get::<&str>("stream-format").unwrap(), "raw");
    assert!(s.get::<bool>("framed").unwrap());
    assert_eq!(s.get::<i32>("rate").unwrap(), 44100);
    assert_eq!(s.get::<i32>("channels").unwrap(), 1);
    assert_eq!(s.get::<&str>("profile").unwrap(), "lc");
    let codec_data = s.get::<gst::Buffer>("codec_data").unwrap();
    assert_eq!(codec_data.map_readable().unwrap().as_slice(), &asc()[..]);

    // The rate comes from the ASC (explicit 37800 Hz), not from the FLV flags.
    let caps = aac_caps(&Bytes::from_static(&[0x17, 0x80, 0x49, 0xd4, 0x10])).unwrap();
    assert_eq!(
        caps.structure(0).unwrap().get::<i32>("rate").unwrap(),
        37800
    );
    assert!(aac_caps(&Bytes::new()).is_err());
}

#[test]
fn garbage_and_truncated_audio_bodies() {
    assert_eq!(
        parse_audio_body(&Bytes::new()),
        Err(FlvError::Truncated("audio tag body"))
    );
    assert_eq!(
        parse_audio_body(&Bytes::from_static(&[0xaf])),
        Err(FlvError::Truncated("AAC audio tag header"))
    );
    assert_eq!(
        parse_audio_body(&Bytes::from_static(&[0xaf, 0x02, 0x00])),
        Err(FlvError::UnknownAacPacketType(2))
    );
    let mut state = 99u32;
    let mut parsed = [0; 3];
    for _ in 0..300 {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let len = (state >> 24) as usize % 16;
        let data: Vec<u8> = (0..len)
            .map(|i| (state.rotate_left(i as u32 * 3) >> 5) as u8)
            .collect();
        for cut in 0..=data.len() {
            let body = Bytes::copy_from_slice(&data[..cut]);
            let mut ex = vec![0x90 | (state as u8 & 0x0f)];
            ex.extend_from_slice(&body);
            for body in [body.clone(), Bytes::from(ex)] {
                if let Ok(tag) = parse_audio_body(&body) {
                    parsed[0] += 1;
                    check_audio_tag(&body, &tag);
                }
            }
            if let Ok(asc) = AudioSpecificConfig::parse(&body) {
                parsed[1] += 1;
                check_asc(&asc);
            }
            if let Ok(header) = Mp3Header::find(&body) {
                parsed[2] += 1;
                check_mp3_header(&header);
            }
        }
    }
    // Noise parses often enough that the checks ran on real results.
    assert!(parsed.iter().all(|&n| n > 0), "{parsed:?}");
}

/// What holds for any parsed tag: payloads are the tail of the body.
fn check_audio_tag(body: &Bytes, tag: &AudioTag) {
    match tag {
        AudioTag::AacSequenceHeader(data)
        | AudioTag::AacFrame(data)
        | AudioTag::Mp3 { data }
        | AudioTag::ExSequenceStart { config: data, .. }
        | AudioTag::ExFrame { data, .. } => {
            assert!(data.len() < body.len() && body.ends_with(data), "{tag:?}");
        }
        AudioTag::ExSequenceEnd { .. } | AudioTag::ExMultichannelConfig { .. } => {}
        AudioTag::Unsupported { sound_format } => {
            assert!(
                ![SOUND_FORMAT_AAC, SOUND_FORMAT_MP3, SOUND_FORMAT_MP3_8K].contains(sound_format)
            );
        }
        AudioTag::UnsupportedEnhanced { .. } => {}
        // Each track's payload lies within the body; tracks do not nest.
        AudioTag::Multitrack(tracks) => {
            for (_, track) in tracks {
                assert!(!matches!(track, AudioTag::Multitrack(_)), "{tag:?}");
                if let AudioTag::AacFrame(data) | AudioTag::ExFrame { data, .. } = track {
                    assert!(within(body, data), "{tag:?}");
                }
            }
        }
    }
}

/// `part` is a sub-slice of `body`.
pub(crate) fn within(body: &Bytes, part: &Bytes) -> bool {
    let start = body.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    part.is_empty() || (p >= start && p + part.len() <= start + body.len())
}

fn check_asc(asc: &AudioSpecificConfig) {
    assert_ne!(asc.object_type, 0, "{asc:?}");
    // A table rate or an explicit 24-bit one, never 0.
    for rate in std::iter::once(asc.sample_rate).chain(asc.extension_sample_rate) {
        assert!((1..1 << 24).contains(&rate), "{asc:?}");
    }
    match asc.channels {
        None => assert_eq!(asc.channel_config, 0),
        Some(n) => assert!((1..=24).contains(&n), "{asc:?}"),
    }
}

fn check_mp3_header(h: &Mp3Header) {
    assert!((1..=3).contains(&h.mpeg_audio_version) && (1..=3).contains(&h.layer));
    assert!([8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000].contains(&h.rate));
    assert!(h.channels == 1 || h.channels == 2);
}

#[test]
fn enhanced_audio_bodies() {
    let mut seq = b"\x90mp4a".to_vec();
    seq.extend_from_slice(&asc());
    assert_eq!(
        parse_audio_body(&Bytes::from(seq)),
        Ok(AudioTag::AacSequenceHeader(asc()))
    );
    let frame = Bytes::from_static(b"\x91mp4a\x01\x18");
    assert_eq!(
        parse_audio_body(&frame),
        Ok(AudioTag::AacFrame(frame.slice(5..)))
    );
    let mp3 = Bytes::from_static(b"\x91.mp3\xff\xfb\x50\xc4");
    assert_eq!(
        parse_audio_body(&mp3),
        Ok(AudioTag::Mp3 {
            data: mp3.slice(5..)
        })
    );
    assert_eq!(
        parse_audio_body(&Bytes::from_static(b"\x90Opus\x01")),
        Ok(AudioTag::ExSequenceStart {
            codec: crate::flv::ExAudioCodec::Opus,
            config: Bytes::from_static(b"\x01")
        })
    );
    assert_eq!(
        parse_audio_body(&Bytes::from_static(b"\x90dtsc\x01")),
        Ok(AudioTag::UnsupportedEnhanced {
            packet_type: 0,
            fourcc: Some(*b"dtsc")
        })
    );
    // ModEx with 2 bytes of data (another type than TimestampOffsetNano), then CodedFrames of
    // fLaC.
    assert_eq!(
        parse_audio_body(&Bytes::from_static(b"\x97\x01\x00\x00\x11fLaC")),
        Ok(AudioTag::ExFrame {
            codec: crate::flv::ExAudioCodec::Flac,
            timestamp_offset_ns: 0,
            data: Bytes::new()
        })
    );
    // Multitrack, OneTrack: an ac-3 sequence start of track 0.
    assert_eq!(
        parse_audio_body(&Bytes::from_static(b"\x95\x00ac-3\x00")),
        Ok(AudioTag::Multitrack(vec![(
            0,
            AudioTag::ExSequenceStart {
                codec: crate::flv::ExAudioCodec::Ac3,
                config: Bytes::new()
            }
        )]))
    );
    assert_eq!(
        parse_audio_body(&Bytes::from_static(b"\x91mp")),
        Err(FlvError::Truncated("enhanced audio tag header"))
    );
}
