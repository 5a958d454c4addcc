//! Tests of the integration-test harness itself against real peers (nginx-rtmp, ffmpeg, ffprobe,
//! gst-launch-1.0), so that later element tests can trust it.

mod common;

use common::*;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

const PUBLISH_TIMEOUT: Duration = Duration::from_secs(15);

/// Frame counts per media stream (nginx's vod adds a data stream, which is left out).
fn counts(p: &Probe) -> Vec<(String, Option<u64>)> {
    p.streams
        .iter()
        .filter(|s| s.codec_type == "audio" || s.codec_type == "video")
        .map(|s| (s.codec_type.clone(), s.nb_read_frames))
        .collect()
}

#[test]
fn nginx_accepts_connections_and_dies_on_drop() {
    let nginx = Nginx::start();
    let port = nginx.port;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect(addr).expect("nginx accepts connections");
    assert!(
        nginx.error_log().contains("nginx/"),
        "{}",
        nginx.error_log()
    );
    assert_eq!(
        nginx.url("abc"),
        format!("rtmp://127.0.0.1:{port}/live/abc")
    );
    assert_eq!(
        nginx.url("vod/x.flv"),
        format!("rtmp://127.0.0.1:{port}/vod/x.flv")
    );
    let dir = nginx.dir().to_path_buf();
    drop(nginx);
    assert!(
        TcpStream::connect(addr).is_err(),
        "nginx still listening after drop"
    );
    assert!(!dir.exists(), "temp dir not removed");
}

#[test]
fn generated_flv_has_what_was_asked() {
    let tmp = TempDir::new("selftest");
    let p = make_test_flv(&tmp.join("av.flv"), &TestFlv::default());
    let v = p.video().expect("video stream");
    assert_eq!(
        (v.codec_name.as_str(), v.width, v.height),
        ("h264", Some(320), Some(240))
    );
    assert_eq!(v.nb_read_frames, Some(50), "2 s at 25 fps");
    let a = p.audio().expect("audio stream");
    assert_eq!(
        (a.codec_name.as_str(), a.sample_rate, a.channels),
        ("aac", Some(48000), Some(2))
    );
    // 2 s at 48 kHz is 93.75 frames of 1024 samples; the encoder's priming adds one more.
    let n = a.nb_read_frames.expect("audio frames counted");
    assert!((94..=96).contains(&n), "aac frames {n}");
    assert!(!video_pict_types(tmp.join("av.flv")).contains('B'));
    assert_eq!(decode_errors(tmp.join("av.flv")), "");

    let bf = tmp.join("bframes.flv");
    make_test_flv(&bf, &TestFlv::default().b_frames(2).video_only());
    assert!(
        video_pict_types(&bf).contains('B'),
        "{}",
        video_pict_types(&bf)
    );

    let p = make_test_flv(&tmp.join("mp3.flv"), &TestFlv::default().mp3().audio_only());
    assert_eq!(p.streams.len(), 1);
    let a = p.audio().expect("audio stream");
    assert_eq!((a.codec_name.as_str(), a.sample_rate), ("mp3", Some(44100)));

    let p = make_test_flv(
        &tmp.join("mono.flv"),
        &TestFlv::default().mono_44k().audio_only(),
    );
    let a = p.audio().expect("audio stream");
    assert_eq!(
        (a.codec_name.as_str(), a.sample_rate, a.channels),
        ("aac", Some(44100), Some(1))
    );
    assert!(p.video().is_none());

    let p = make_test_flv(&tmp.join("v.flv"), &TestFlv::default().video_only());
    assert!(p.audio().is_none());
    assert_eq!(p.video().and_then(|v| v.nb_read_frames), Some(50));
}

#[test]
fn ffmpeg_publish_is_recorded_frame_exact() {
    let tmp = TempDir::new("selftest");
    let src = tmp.join("src.flv");
    let generated = make_test_flv(&src, &TestFlv::default());
    let nginx = Nginx::start();
    ffmpeg_publish_file(&src, &nginx.url("rec1"))
        .finish(PUBLISH_TIMEOUT)
        .assert_success("ffmpeg publish");
    let rec = nginx.wait_recording("rec1", Duration::from_secs(5));
    let got = probe(&rec);
    let v = got.video().expect("recorded video");
    assert_eq!(
        (v.codec_name.as_str(), v.width, v.height),
        ("h264", Some(320), Some(240))
    );
    let a = got.audio().expect("recorded audio");
    assert_eq!(
        (a.codec_name.as_str(), a.sample_rate, a.channels),
        ("aac", Some(48000), Some(2))
    );
    assert_eq!(counts(&got), counts(&generated));
    assert_eq!(decode_errors(&rec), "");
}

#[test]
fn live_reader_plays_the_live_stream() {
    let tmp = TempDir::new("selftest");
    let src = tmp.join("src.flv");
    let generated = make_test_flv(&src, &TestFlv::default());
    let nginx = Nginx::start();
    let reader = LiveReader::start(&nginx.url("live1"), &tmp.join("played.flv"));
    // Waiting for the play command makes the reader receive the stream from its first frame.
    nginx.wait_player("live1", Duration::from_secs(5));
    ffmpeg_publish_file(&src, &nginx.url("live1"))
        .finish(PUBLISH_TIMEOUT)
        .assert_success("ffmpeg publish");
    // play_restart on the live application ends the player when the publisher stops.
    let (played, run) = reader.finish(Duration::from_secs(3));
    run.assert_success("ffmpeg live reader");
    let got = probe(&played);
    assert_eq!(counts(&got), counts(&generated), "{}", nginx.error_log());
    assert_eq!(decode_errors(&played), "");
}

#[test]
fn two_nginx_instances_run_in_parallel() {
    let tmp = TempDir::new("selftest");
    let av = tmp.join("av.flv");
    let v = tmp.join("v.flv");
    make_test_flv(&av, &TestFlv::default().duration_ms(1000));
    make_test_flv(&v, &TestFlv::default().duration_ms(1000).video_only());
    let a = Nginx::start();
    let b = Nginx::start();
    assert_ne!(a.port, b.port);
    assert_ne!(a.dir(), b.dir());
    // Same stream name on both at the same time: each server must keep only its own publish.
    let pa = ffmpeg_publish_file(&av, &a.url("same"));
    let pb = ffmpeg_publish_file(&v, &b.url("same"));
    pa.finish(PUBLISH_TIMEOUT).assert_success("publish to a");
    pb.finish(PUBLISH_TIMEOUT).assert_success("publish to b");
    let ra = probe(a.wait_recording("same", Duration::from_secs(5)));
    let rb = probe(b.wait_recording("same", Duration::from_secs(5)));
    assert_eq!(ra.streams.len(), 2);
    assert!(ra.audio().is_some());
    assert_eq!(rb.streams.len(), 1);
    assert!(rb.audio().is_none());
    assert_eq!(rb.video().and_then(|s| s.nb_read_frames), Some(25));
}

#[test]
fn plain_application_keeps_players_waiting() {
    let tmp = TempDir::new("selftest");
    let src = tmp.join("src.flv");
    make_test_flv(&src, &TestFlv::default().duration_ms(1000));
    let nginx = Nginx::start();
    let mut reader = LiveReader::start(&nginx.url("plain/p1"), &tmp.join("played.flv"));
    nginx.wait_player("p1", Duration::from_secs(5));
    ffmpeg_publish_file(&src, &nginx.url("plain/p1"))
        .finish(PUBLISH_TIMEOUT)
        .assert_success("ffmpeg publish");
    // Without play_restart the player is not told that the stream ended and keeps waiting.
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        reader.is_running(),
        "reader ended by itself on the plain application"
    );
}

#[test]
fn vod_application_serves_files() {
    let nginx = Nginx::start();
    let file = nginx.vod_dir().join("clip.flv");
    let generated = make_test_flv(&file, &TestFlv::default().duration_ms(1000));
    let got = probe(nginx.url("vod/clip.flv"));
    assert_eq!(counts(&got), counts(&generated));
}

#[test]
fn run_with_timeout_kills_and_reports() {
    let start = Instant::now();
    let out = run_with_timeout(Command::new("sleep").arg("30"), Duration::from_millis(200));
    assert!(out.timed_out);
    assert!(!out.success());
    assert!(start.elapsed() < Duration::from_secs(5));

    let out = run_with_timeout(
        Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
        Duration::from_secs(10),
    );
    assert!(!out.timed_out);
    assert_eq!(out.status.and_then(|s| s.code()), Some(3));
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("out\n", "err\n")
    );
}

#[test]
fn split_args_handles_quotes() {
    assert_eq!(
        common::gst::split_args(r#"a ! caps="video/x-raw, width=4" ! b 'c d'  e\ f"#),
        vec![
            "a",
            "!",
            "caps=video/x-raw, width=4",
            "!",
            "b",
            "c d",
            "e f"
        ]
    );
    assert_eq!(common::gst::split_args("  "), Vec::<String>::new());
    assert_eq!(common::gst::split_args(r#"x="""#), vec!["x="]);
}

#[test]
fn gst_tools_use_the_built_plugin() {
    let dir = gst_plugin_path();
    let out = gst_inspect("rtmp");
    out.assert_success("gst-inspect-1.0 rtmp");
    // Our build must shadow the system's librtmp plugin of the same name.
    let ours = dir.join("libgstrtmp.so");
    assert!(
        out.stdout.contains(&ours.display().to_string()),
        "plugin 'rtmp' is not ours:\n{}",
        out.stdout
    );
}

#[test]
fn gst_launch_publishes_to_nginx() {
    let nginx = Nginx::start();
    let url = nginx.url("gst1");
    let out = gst_launch(
        &format!(
            "videotestsrc num-buffers=25 ! video/x-raw,width=160,height=120,framerate=25/1 \
             ! x264enc tune=zerolatency key-int-max=25 ! h264parse \
             ! flvmux streamable=true ! rtmp2sink location=\"{url}\""
        ),
        Duration::from_secs(15),
    );
    out.assert_success("gst-launch rtmp2sink");
    let got = probe(nginx.wait_recording("gst1", Duration::from_secs(5)));
    let v = got.video().expect("video");
    assert_eq!(
        (v.width, v.height, v.nb_read_frames),
        (Some(160), Some(120), Some(25))
    );
}
