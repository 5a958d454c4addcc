//! FFmpeg 9 publishing Enhanced RTMP into rtmpsrc in listener mode
//! (`mode=listener location=rtmp://127.0.0.1:PORT/live/key`): HEVC, AV1 and VP9, each with
//! Opus, FLAC and AC-3 (and HEVC with E-AC-3), decode in full, and a multitrack publish (two audio tracks) gets
//! `audio` and `audio_1`, both decoded. The listener's connect answer advertises every codec.

mod common;

use std::path::Path;
use std::time::Duration;

use common::ertmp::{
    ExAudio, ExCodec, PlayLog, make_ex_flv, make_two_audio_track_flv, play_and_decode_with,
};
use common::listen::listen_location;
use common::rtmp_client::RawClient;
use common::{Proc, TempDir, ffmpeg9, wait_listening};
use gst::prelude::*;
use gstrtmp::protocol::amf0::Amf0Value;
use gstrtmp::protocol::message::Message;

const FRAMES: u64 = 50;
/// What FRAMES video frames last; the audio is cut to the same.
const DURATION: Duration = Duration::from_secs(2);
const TIMEOUT: Duration = Duration::from_secs(30);

/// Starts a listening rtmpsrc, has FFmpeg 9 publish all of `flv` (every stream) into it in
/// real time, and decodes each pad of `decoders` until the publisher's EOS.
fn publish_into_listener(flv: &Path, decoders: &[(&str, &str)]) -> PlayLog {
    let (port, location) = listen_location("key");
    let (flv, url) = (flv.to_owned(), location.clone());
    // The publisher starts once the listener is bound (read from /proc, so no connection is
    // spent on checking); FFmpeg's `-map 0` keeps every audio track of a multitrack file.
    let publisher = std::thread::spawn(move || {
        wait_listening(port, TIMEOUT).then(|| {
            Proc::spawn(
                std::process::Command::new(ffmpeg9())
                    .args(["-nostdin", "-v", "error", "-re", "-i"])
                    .arg(&flv)
                    .args(["-map", "0", "-c", "copy", "-f", "flv"])
                    .arg(&url),
            )
        })
    });
    let log = play_and_decode_with(&location, decoders, TIMEOUT, &[("mode", "listener")]);
    let publisher = publisher.join().expect("publisher thread");
    let publisher = publisher.expect("rtmpsrc does not listen");
    let finished = publisher.finish(Duration::from_secs(10));
    log.print_pads();
    assert!(finished.success(), "FFmpeg 9 publishing: {finished:?}");
    assert!(
        log.eos && log.error.is_none(),
        "no clean EOS: {:?}, warnings {:?}",
        log.error,
        log.warnings
    );
    assert!(log.warnings.is_empty(), "{:?}", log.warnings);
    let mut pads = log.pad_names.clone();
    pads.sort();
    let mut expected: Vec<&str> = decoders.iter().map(|(pad, _)| *pad).collect();
    expected.sort();
    assert_eq!(pads, expected);
    log
}

/// Every video frame and all of the audio decoded.
fn assert_complete(log: &PlayLog, audio_pads: &[&str]) {
    let v = log.pad("video");
    assert_eq!((v.buffers, v.decoded), (FRAMES, FRAMES), "video");
    for pad in audio_pads {
        let a = log.pad(pad);
        // Opus pre-skip and codec frame sizes make it differ by a few ms, not by frames.
        let decoded = Duration::from_nanos(a.decoded_duration.nseconds());
        assert!(
            a.buffers > 10 && decoded.abs_diff(DURATION) < Duration::from_millis(70),
            "{pad}: decoded {decoded:?} from {} buffers",
            a.buffers
        );
    }
}

/// `video` with each of `audios`, each pair in its own publish into its own listener, all at
/// once (every combination is covered, and the test lasts about as long as one publish).
fn play_each(video: ExCodec, audios: &[ExAudio]) {
    let dir = TempDir::new("ertmp-listener");
    std::thread::scope(|scope| {
        for &audio in audios {
            let dir = &dir;
            scope.spawn(move || {
                let flv = make_ex_flv(dir, Some(video), Some(audio), FRAMES as u32);
                let log = publish_into_listener(
                    &flv,
                    &[("video", video.decoder()), ("audio", audio.decoder())],
                );
                eprintln!("{video:?}/{audio:?} decoded in full");
                assert_complete(&log, &["audio"]);
            });
        }
    });
}

const AUDIO: [ExAudio; 3] = [ExAudio::Opus, ExAudio::Flac, ExAudio::Ac3];

#[test]
fn hevc_with_each_audio_codec_into_listener() {
    play_each(
        ExCodec::Hevc,
        &[ExAudio::Opus, ExAudio::Flac, ExAudio::Ac3, ExAudio::Eac3],
    );
}

#[test]
fn av1_with_each_audio_codec_into_listener() {
    play_each(ExCodec::Av1, &AUDIO);
}

#[test]
fn vp9_with_each_audio_codec_into_listener() {
    play_each(ExCodec::Vp9, &AUDIO);
}

#[test]
fn two_audio_tracks_into_listener_get_two_pads() {
    let dir = TempDir::new("ertmp-listener-mt");
    let hevc = ["-c:v", "libx265", "-x265-params", "log-level=none:info=0"];
    let flv = make_two_audio_track_flv(&dir, FRAMES, &hevc, ["libopus", "flac"]);
    let log = publish_into_listener(
        &flv,
        &[
            ("video", ExCodec::Hevc.decoder()),
            ("audio", ExAudio::Opus.decoder()),
            ("audio_1", ExAudio::Flac.decoder()),
        ],
    );
    let caps = |pad: &str| log.first_caps_name(pad);
    assert_eq!(caps("audio").as_deref(), Some("audio/x-opus"));
    assert_eq!(caps("audio_1").as_deref(), Some("audio/x-flac"));
    assert_complete(&log, &["audio", "audio_1"]);
}

/// The FourCCs a connect answer lists, from whichever of its two objects holds them.
fn listed(answer: &Message, field: &str) -> Vec<(String, f64)> {
    let Message::Command {
        command_object,
        args,
        ..
    } = answer
    else {
        return Vec::new();
    };
    std::iter::once(command_object)
        .chain(args)
        .filter_map(|o| o.get(field))
        .flat_map(|v| match v {
            Amf0Value::Object(pairs) | Amf0Value::EcmaArray(pairs) => pairs
                .iter()
                .map(|(k, v)| (k.clone(), v.as_number().unwrap_or(0.0)))
                .collect::<Vec<_>>(),
            Amf0Value::StrictArray(items) => items
                .iter()
                .filter_map(|i| i.as_str().map(|s| (s.to_owned(), 0.0)))
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

#[test]
fn listener_connect_answer_advertises_every_codec() {
    common::pipeline::init();
    let (port, location) = listen_location("key");
    let src = gst::ElementFactory::make("rtmpsrc")
        .property_from_str("location", &location)
        .property_from_str("mode", "listener")
        .build()
        .expect("rtmpsrc");
    let pipeline = gst::Pipeline::new();
    let sink = gst::ElementFactory::make("fakesink").build().unwrap();
    pipeline.add_many([&src, &sink]).unwrap();
    pipeline.set_state(gst::State::Playing).expect("PLAYING");
    assert!(wait_listening(port, TIMEOUT), "rtmpsrc does not listen");
    let client = RawClient::connect(port, "live");
    pipeline.set_state(gst::State::Null).expect("NULL");
    let answer = client
        .log
        .iter()
        .map(|m| m.message())
        .find(|m| matches!(m, Message::Command { name, .. } if name == "_result"))
        .expect("connect _result");
    let video = listed(&answer, "videoFourCcInfoMap");
    let audio = listed(&answer, "audioFourCcInfoMap");
    let list: Vec<String> = listed(&answer, "fourCcList")
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    eprintln!("fourCcList {list:?}\nvideo {video:?}\naudio {audio:?}");
    for fourcc in ["avc1", "hvc1", "av01", "vp09"] {
        assert!(
            list.iter().any(|f| f == fourcc),
            "fourCcList lacks {fourcc}"
        );
        // CanDecode (1): a listening rtmpsrc takes what it is sent.
        let flags = video.iter().find(|(f, _)| f == fourcc).map(|(_, n)| *n);
        assert!(
            flags.is_some_and(|n| n as u32 & 1 == 1),
            "{fourcc}: {flags:?}"
        );
    }
    for fourcc in ["mp4a", ".mp3", "Opus", "fLaC", "ac-3", "ec-3"] {
        assert!(
            list.iter().any(|f| f == fourcc),
            "fourCcList lacks {fourcc}"
        );
        let flags = audio.iter().find(|(f, _)| f == fourcc).map(|(_, n)| *n);
        assert!(
            flags.is_some_and(|n| n as u32 & 1 == 1),
            "{fourcc}: {flags:?}"
        );
    }
    // capsEx says multitrack (2) is understood.
    let caps_ex = match &answer {
        Message::Command {
            command_object,
            args,
            ..
        } => std::iter::once(command_object)
            .chain(args)
            .find_map(|o| o.get("capsEx").and_then(Amf0Value::as_number)),
        _ => None,
    };
    assert!(
        caps_ex.is_some_and(|c| c as u32 & 2 == 2),
        "capsEx {caps_ex:?}"
    );
}
