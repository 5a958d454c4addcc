//! rtmpsrc playing Enhanced RTMP from FFmpeg 9 acting as the server (`-listen 1`): HEVC, AV1
//! and VP9 get a `video` pad, Opus, FLAC, AC-3 and E-AC-3 an `audio` pad, with the caps their
//! parsers and decoders take, and everything FFmpeg encoded is decoded.

mod common;

use std::time::Duration;

use common::TempDir;
use common::ertmp::{ExAudio, ExCodec, PlayLog, ffmpeg9_server, make_ex_flv_with, play_and_decode};

const FRAMES: u64 = 50;
/// What FRAMES video frames last; the audio is cut to the same.
const DURATION: Duration = Duration::from_secs(2);

fn play(video: Option<ExCodec>, audio: Option<ExAudio>) -> PlayLog {
    play_with(video, audio, &[])
}

/// Plays what FFmpeg 9 encoded with `extra` output options.
fn play_with(video: Option<ExCodec>, audio: Option<ExAudio>, extra: &[&str]) -> PlayLog {
    let dir = TempDir::new("ertmp-play");
    let flv = make_ex_flv_with(&dir, video, audio, FRAMES as u32, extra);
    let (url, server) = ffmpeg9_server(&flv);
    let mut decoders = Vec::new();
    if let Some(video) = video {
        decoders.push(("video", video.decoder()));
    }
    if let Some(audio) = audio {
        decoders.push(("audio", audio.decoder()));
    }
    let log = play_and_decode(&url, &decoders, Duration::from_secs(30));
    drop(server);
    let what = format!("{video:?}/{audio:?}");
    for (pad, p) in &log.pads {
        eprintln!(
            "{what} {pad}: {} buffers, {} decoded ({:?})",
            p.buffers, p.decoded, p.decoded_duration
        );
    }
    assert!(
        log.eos && log.error.is_none(),
        "{what}: no clean EOS: {:?}, warnings {:?}",
        log.error,
        log.warnings
    );
    // FFmpeg closes the connection without StreamEOF, which rtmpsrc reports as a warning; any
    // other warning (an unsupported codec above all) is a failure.
    let unexpected: Vec<_> = log
        .warnings
        .iter()
        .filter(|w| !w.contains("ended without end of stream"))
        .collect();
    assert!(unexpected.is_empty(), "{what}: {unexpected:?}");
    let expected: Vec<&str> = decoders.iter().map(|(pad, _)| *pad).collect();
    let mut pads = log.pad_names.clone();
    pads.sort();
    let mut sorted = expected.clone();
    sorted.sort();
    assert_eq!(pads, sorted, "{what}");
    if video.is_some() {
        let v = log.pad("video");
        assert_eq!(v.buffers, FRAMES, "{what}: video buffers out of rtmpsrc");
        assert_eq!(v.decoded, FRAMES, "{what}: decoded video frames");
    }
    if audio.is_some() {
        let a = log.pad("audio");
        assert!(a.buffers > 10, "{what}: {} audio buffers", a.buffers);
        // All of the sine came out of the decoder (Opus pre-skip and codec frame sizes make it
        // differ by a few ms, not by frames).
        let decoded = Duration::from_nanos(a.decoded_duration.nseconds());
        assert!(
            decoded.abs_diff(DURATION) < Duration::from_millis(70),
            "{what}: decoded {decoded:?} of audio from {} buffers",
            a.buffers
        );
    }
    log
}

fn first_caps<'a>(log: &'a PlayLog, pad: &str) -> &'a gst::StructureRef {
    log.pad(pad)
        .caps
        .first()
        .and_then(|c| c.structure(0))
        .expect("caps on the pad")
}

fn assert_size(s: &gst::StructureRef) {
    assert_eq!(s.get::<i32>("width"), Ok(320), "{s}");
    assert_eq!(s.get::<i32>("height"), Ok(240), "{s}");
    assert_eq!(
        s.get::<gst::Fraction>("framerate"),
        Ok(gst::Fraction::new(25, 1)),
        "{s}"
    );
}

fn codec_data_starts(s: &gst::StructureRef, prefix: &[u8]) {
    let data = s.get::<gst::Buffer>("codec_data").expect("codec_data");
    let map = data.map_readable().unwrap();
    assert!(map.starts_with(prefix), "codec_data {:02x?}", &map[..]);
}

#[test]
fn hevc_from_ffmpeg9() {
    let log = play(Some(ExCodec::Hevc), None);
    let s = first_caps(&log, "video");
    assert_eq!(s.name(), "video/x-h265");
    assert_eq!(s.get::<&str>("stream-format"), Ok("hvc1"));
    assert_eq!(s.get::<&str>("alignment"), Ok("au"));
    assert_eq!(s.get::<&str>("profile"), Ok("main"));
    codec_data_starts(s, &[1]);
    // Width and height from the hvcC's SPS.
    assert_size(s);
    // x265 uses B-frames: composition times reached the buffers.
    let reordered = log.pad("video").reordered;
    assert!(reordered > 10, "only {reordered} buffers with PTS != DTS");
}

#[test]
fn av1_from_ffmpeg9() {
    let log = play(Some(ExCodec::Av1), None);
    let s = first_caps(&log, "video");
    assert_eq!(s.name(), "video/x-av1");
    assert_eq!(s.get::<&str>("stream-format"), Ok("obu-stream"));
    assert_eq!(s.get::<&str>("alignment"), Ok("tu"));
    assert_eq!(s.get::<&str>("profile"), Ok("main"));
    codec_data_starts(s, &[0x81]);
    assert_size(s);
}

#[test]
fn vp9_from_ffmpeg9() {
    let log = play(Some(ExCodec::Vp9), None);
    let s = first_caps(&log, "video");
    assert_eq!(s.name(), "video/x-vp9");
    assert_eq!(s.get::<&str>("profile"), Ok("0"));
    assert_eq!(s.get::<&str>("chroma-format"), Ok("4:2:0"));
    assert_eq!(s.get::<u32>("bit-depth-luma"), Ok(8));
    codec_data_starts(s, &[1, 0, 0, 0]);
    assert_size(s);
}

#[test]
fn hevc_with_opus_from_ffmpeg9() {
    let log = play(Some(ExCodec::Hevc), Some(ExAudio::Opus));
    let s = first_caps(&log, "audio");
    assert_eq!(s.name(), "audio/x-opus");
    assert_eq!(s.get::<i32>("channels"), Ok(2));
    assert_eq!(s.get::<i32>("channel-mapping-family"), Ok(0));
    assert!(s.has_field("streamheader"), "{s}");
    // FFmpeg's MultichannelConfig after the sequence start: front left and right.
    let last = log.pad("audio").caps.last().unwrap().structure(0).unwrap();
    assert_eq!(
        last.get::<gst::Bitmask>("channel-mask").map(|m| m.0),
        Ok(0x3),
        "{last}"
    );
}

#[test]
fn av1_with_flac_from_ffmpeg9() {
    let log = play(Some(ExCodec::Av1), Some(ExAudio::Flac));
    let s = first_caps(&log, "audio");
    assert_eq!(s.name(), "audio/x-flac");
    assert_eq!(s.get::<i32>("rate"), Ok(48000));
    assert_eq!(s.get::<i32>("channels"), Ok(2));
}

#[test]
fn vp9_with_ac3_from_ffmpeg9() {
    let log = play(Some(ExCodec::Vp9), Some(ExAudio::Ac3));
    assert_eq!(first_caps(&log, "audio").name(), "audio/x-ac3");
}

#[test]
fn eac3_from_ffmpeg9() {
    let log = play(None, Some(ExAudio::Eac3));
    assert_eq!(first_caps(&log, "audio").name(), "audio/x-eac3");
}

/// FFmpeg 9 sends a Metadata packet (`colorInfo`) before the first HEVC frame: the caps carry
/// the colorimetry it names, the one the decoder then reads from the bitstream's VUI.
#[test]
fn hevc_color_info_from_ffmpeg9_reaches_the_caps() {
    let pq = "setparams=color_primaries=bt2020:color_trc=smpte2084:colorspace=bt2020nc:range=tv";
    let log = play_with(Some(ExCodec::Hevc), None, &["-vf", pq]);
    let v = log.pad("video");
    let last = v.caps.last().and_then(|c| c.structure(0)).expect("caps");
    assert_eq!(last.get::<&str>("colorimetry"), Ok("bt2100-pq"), "{last}");
    let decoded = v.decoded_caps.as_ref().expect("decoded caps");
    let decoded = decoded.structure(0).unwrap();
    assert_eq!(
        decoded.get::<&str>("colorimetry"),
        Ok("bt2100-pq"),
        "{decoded}"
    );
    // The colour arrived before any frame: the caps changed at most once, before buffers.
    assert!(v.caps.len() <= 2, "{:?}", v.caps);
}

#[test]
fn av1_color_info_from_ffmpeg9_reaches_the_caps() {
    let bt709 = "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv";
    let log = play_with(Some(ExCodec::Av1), None, &["-vf", bt709]);
    let v = log.pad("video");
    let last = v.caps.last().and_then(|c| c.structure(0)).expect("caps");
    assert_eq!(last.get::<&str>("colorimetry"), Ok("bt709"), "{last}");
}
