//! Tests for `flv::metadata`, with byte excerpts from real captures in `testdata`.

use super::*;
use crate::flv::testdata::{
    AAC_SEQUENCE_HEADER_BODY, AVC_SEQUENCE_HEADER_BODY, hex, on_metadata_body,
};

fn configs() -> (VideoConfig, AudioConfig) {
    let avcc = Bytes::from(hex(AVC_SEQUENCE_HEADER_BODY)).slice(5..);
    let video_caps = gst::Caps::builder("video/x-h264")
        .field("stream-format", "avc")
        .field("alignment", "au")
        .field("codec_data", gst::Buffer::from_slice(avcc))
        .field("width", 320i32)
        .field("height", 240i32)
        .field("framerate", gst::Fraction::new(30000, 1001))
        .build();
    let asc = Bytes::from(hex(AAC_SEQUENCE_HEADER_BODY)).slice(2..);
    let audio_caps = gst::Caps::builder("audio/mpeg")
        .field("mpegversion", 4i32)
        .field("stream-format", "raw")
        .field("codec_data", gst::Buffer::from_slice(asc))
        .build();
    (
        VideoConfig::from_caps(&video_caps).unwrap(),
        AudioConfig::from_caps(&audio_caps).unwrap(),
    )
}

fn names(props: &[(String, Amf0Value)]) -> Vec<&str> {
    props.iter().map(|(k, _)| k.as_str()).collect()
}

#[test]
fn writes_on_metadata_in_flvmux_order() {
    gst::init().unwrap();
    let (mut video, mut audio) = configs();
    video.bitrate = Some(2_500_000);
    audio.bitrate = Some(128_000);
    let body = on_metadata(Some(&video), Some(&audio), "gst-plugin-rtmp");
    // "onMetaData" as an AMF0 string, then an ECMA array.
    assert!(body.starts_with(b"\x02\x00\x0aonMetaData\x08"));
    let values = amf0::decode_all(&body).unwrap();
    assert_eq!(values.len(), 2);
    let props = values[1].properties().unwrap();
    assert!(matches!(values[1], Amf0Value::EcmaArray(_)));
    assert_eq!(
        names(props),
        [
            "duration",
            "videocodecid",
            "width",
            "height",
            "framerate",
            "videodatarate",
            "audiocodecid",
            "audiodatarate",
            "audiosamplerate",
            "audiosamplesize",
            "stereo",
            "encoder"
        ]
    );
    let get = |k| values[1].get(k).unwrap();
    assert_eq!(get("duration").as_number(), Some(0.0));
    assert_eq!(get("videocodecid").as_number(), Some(7.0));
    assert_eq!(get("width").as_number(), Some(320.0));
    assert_eq!(get("height").as_number(), Some(240.0));
    assert!((get("framerate").as_number().unwrap() - 29.97).abs() < 0.001);
    assert_eq!(get("videodatarate").as_number(), Some(2500.0));
    assert_eq!(get("audiocodecid").as_number(), Some(10.0));
    assert_eq!(get("audiodatarate").as_number(), Some(128.0));
    assert_eq!(get("audiosamplerate").as_number(), Some(44100.0));
    assert_eq!(get("audiosamplesize").as_number(), Some(16.0));
    assert_eq!(get("stereo").as_bool(), Some(false));
    assert_eq!(get("encoder").as_str(), Some("gst-plugin-rtmp"));

    // And it reads back.
    let meta = StreamMetadata::from_amf(&values).unwrap();
    assert_eq!((meta.width, meta.height), (Some(320), Some(240)));
    assert_eq!(meta.framerate, Some(gst::Fraction::new(30000, 1001)));
    assert_eq!(
        (meta.video_codec_id, meta.audio_codec_id),
        (Some(7), Some(10))
    );
    assert_eq!(meta.audio_sample_rate, Some(44100));
    assert_eq!(meta.stereo, Some(false));
    assert_eq!(meta.duration, None);
}

#[test]
fn on_metadata_for_single_streams() {
    gst::init().unwrap();
    let (video, audio) = configs();
    let values = amf0::decode_all(&on_metadata(Some(&video), None, "x")).unwrap();
    let props = values[1].properties().unwrap();
    assert_eq!(
        names(props),
        [
            "duration",
            "videocodecid",
            "width",
            "height",
            "framerate",
            "encoder"
        ]
    );
    let values = amf0::decode_all(&on_metadata(None, Some(&audio), "x")).unwrap();
    let props = values[1].properties().unwrap();
    assert_eq!(
        names(props),
        [
            "duration",
            "audiocodecid",
            "audiosamplerate",
            "audiosamplesize",
            "stereo",
            "encoder"
        ]
    );
}

#[test]
fn set_data_frame_round_trip() {
    gst::init().unwrap();
    let (video, audio) = configs();
    let body = on_metadata(Some(&video), Some(&audio), "enc");
    let framed = set_data_frame(&body);
    assert_eq!(&framed[..16], b"\x02\x00\x0d@setDataFrame");
    let values = amf0::decode_all(&framed).unwrap();
    assert_eq!(values[0].as_str(), Some("@setDataFrame"));
    assert_eq!(values[1].as_str(), Some("onMetaData"));
    // from_amf takes either form.
    assert_eq!(
        StreamMetadata::from_amf(&values),
        StreamMetadata::from_amf(&amf0::decode_all(&body).unwrap())
    );
    assert_eq!(strip_set_data_frame(&framed), body);
    assert_eq!(strip_set_data_frame(&body), body);
    assert_eq!(strip_set_data_frame(&Bytes::new()), Bytes::new());
}

#[test]
fn reads_ffmpeg_on_metadata() {
    gst::init().unwrap();
    let values = amf0::decode_all(&on_metadata_body()).unwrap();
    let meta = StreamMetadata::from_amf(&values).unwrap();
    assert_eq!((meta.width, meta.height), (Some(320), Some(240)));
    assert_eq!(meta.framerate, Some(gst::Fraction::new(25, 1)));
    assert_eq!(meta.video_codec_id, Some(7));
    assert_eq!(meta.audio_codec_id, Some(10));
    assert_eq!(meta.audio_sample_rate, Some(44100));
    assert_eq!(meta.audio_sample_size, Some(16));
    assert_eq!(meta.stereo, Some(false));
    assert_eq!(meta.video_data_rate, None); // ffmpeg wrote 0
    assert!((meta.audio_data_rate.unwrap() - 67.3828125).abs() < 1e-9);
    assert_eq!(meta.duration, Some(1.08));
    assert_eq!(
        meta.tags.get::<gst::tags::Encoder>().unwrap().get(),
        "Lavf59.27.100"
    );
    assert_eq!(
        meta.tags.get::<gst::tags::Duration>().unwrap().get(),
        gst::ClockTime::from_mseconds(1080)
    );
    assert_eq!(
        meta.audio_tags()
            .get::<gst::tags::NominalBitrate>()
            .unwrap()
            .get(),
        67382
    );
    assert_eq!(meta.video_tags().n_tags(), 0);
}

#[test]
fn reads_object_form_and_odd_values() {
    gst::init().unwrap();
    let n = Amf0Value::Number;
    let s = |v: &str| Amf0Value::String(v.to_owned());
    let props = vec![
        ("width".to_owned(), n(-5.0)),
        ("height".to_owned(), s("720")),
        ("framerate".to_owned(), n(f64::NAN)),
        ("videocodecid".to_owned(), s("hvc1")),
        ("audiocodecid".to_owned(), s("Opus")),
        ("AspectRatioX".to_owned(), n(16.0)),
        ("AspectRatioY".to_owned(), n(11.0)),
        ("title".to_owned(), s("A title")),
        ("creator".to_owned(), s("Someone")),
        ("metadatacreator".to_owned(), s("obs")),
        ("stereo".to_owned(), Amf0Value::Boolean(true)),
        ("duration".to_owned(), n(f64::INFINITY)),
    ];
    let values = [
        Amf0Value::String("@setDataFrame".into()),
        Amf0Value::String("onMetaData".into()),
        Amf0Value::Object(props),
    ];
    let meta = StreamMetadata::from_amf(&values).unwrap();
    assert_eq!(
        (meta.width, meta.height, meta.framerate),
        (None, None, None)
    );
    assert_eq!(meta.video_codec_id, Some(u32::from_be_bytes(*b"hvc1")));
    assert_eq!(meta.audio_codec_id, Some(u32::from_be_bytes(*b"Opus")));
    assert_eq!(meta.pixel_aspect_ratio, Some(gst::Fraction::new(16, 11)));
    assert_eq!(meta.stereo, Some(true));
    assert_eq!(meta.duration, None);
    assert_eq!(
        meta.tags.get::<gst::tags::Title>().unwrap().get(),
        "A title"
    );
    assert_eq!(
        meta.tags.get::<gst::tags::Artist>().unwrap().get(),
        "Someone"
    );
    assert_eq!(
        meta.tags.get::<gst::tags::ApplicationName>().unwrap().get(),
        "obs"
    );
}

#[test]
fn text_with_nul_ends_there() {
    // Found by the flv_tags fuzz target: an interior NUL made glib panic (fuzz/regressions).
    gst::init().unwrap();
    let s = |v: &str| Amf0Value::String(v.to_owned());
    let props = vec![
        ("encoder".to_owned(), s("Lavf\0junk")),
        ("title".to_owned(), s("\0only junk")),
    ];
    let meta = StreamMetadata::from_amf(&[s("onMetaData"), Amf0Value::EcmaArray(props)]).unwrap();
    assert_eq!(meta.tags.get::<gst::tags::Encoder>().unwrap().get(), "Lavf");
    assert!(meta.tags.get::<gst::tags::Title>().is_none());
}

#[test]
fn ignores_other_script_data() {
    gst::init().unwrap();
    let s = |v: &str| Amf0Value::String(v.to_owned());
    let arr = Amf0Value::EcmaArray(vec![]);
    assert!(StreamMetadata::from_amf(&[]).is_none());
    assert!(StreamMetadata::from_amf(&[s("onCuePoint"), arr.clone()]).is_none());
    assert!(StreamMetadata::from_amf(&[s("onMetaData")]).is_none());
    assert!(StreamMetadata::from_amf(&[s("onMetaData"), Amf0Value::Null]).is_none());
    assert!(StreamMetadata::from_amf(&[s("@setDataFrame")]).is_none());
    assert_eq!(
        StreamMetadata::from_amf(&[s("onMetaData"), arr]),
        Some(StreamMetadata::default())
    );
}

#[test]
fn frame_rates_become_exact_fractions() {
    let f = |x| fraction_from_f64(x).map(|f| (f.numer(), f.denom()));
    assert_eq!(f(25.0), Some((25, 1)));
    assert_eq!(f(29.97), Some((30000, 1001)));
    assert_eq!(f(30000.0 / 1001.0), Some((30000, 1001)));
    assert_eq!(f(23.976), Some((24000, 1001)));
    assert_eq!(f(59.94), Some((60000, 1001)));
    assert_eq!(f(12.5), Some((25, 2)));
    assert_eq!(f(0.0), None);
    assert_eq!(f(-25.0), None);
    assert_eq!(f(f64::NAN), None);
    assert_eq!(f(1e12), None);
    // Found by the flv_tags fuzz target (fuzz/regressions): tiny rates became 0/1.
    assert_eq!(f(1.2e-33), None);
    assert_eq!(f(0.0004), None);
    assert_eq!(f(0.002), Some((1, 500)));
}
