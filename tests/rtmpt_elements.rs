//! RTMPT with the elements, both modes: real RTMPT clients (FFmpeg 5.1 and 9, librtmp's
//! rtmpsink, our rtmpsink as caller) publish into `rtmpsrc mode=listener` over
//! `rtmpt://127.0.0.1:PORT/live/KEY` (decoded by avdec_h264 and avdec_aac), and players
//! (FFmpeg 5.1 and 9, rtmpdump, our rtmpsrc as caller) play from `rtmpsink mode=listener` over
//! `rtmpt://`, each decoding every frame from where it joined.

#[path = "rtmpsrc_support/checks.rs"]
mod checks;
mod common;
#[path = "rtmpsrc_support/player.rs"]
mod player;

use std::time::Duration;

use checks::*;
use common::listen::{BusLog, ffmpeg_publish_with, read_bus};
use common::serve::{FPS, Player as ServePlayer, PlayerKind, ServeOptions, ServeStream};
use common::{TempDir, TestFlv, free_port, make_test_flv};
use gst::prelude::*;
use player::{Log, Player};

const TIMEOUT: Duration = Duration::from_secs(30);

/// A listening rtmpsrc on a fresh port: (player, rtmpt:// location to publish to).
fn listening_player(stream: &str) -> (Player, String) {
    let location = format!("rtmpt://127.0.0.1:{}/live/{stream}", free_port());
    let player = Player::new(&location, &[("mode", "listener")]);
    player.play();
    (player, location)
}

fn run_to_eos(player: Player) -> (BusLog, Log) {
    let mut bus = BusLog::default();
    read_bus(&player.pipeline, TIMEOUT, &mut bus, |_| false);
    let log = player.stop();
    (bus, log)
}

fn assert_played(bus: &BusLog, log: &Log, min_video: u64, min_audio: u64) {
    assert!(bus.eos, "no EOS: {bus:?}");
    for (name, min) in [("video", min_video), ("audio", min_audio)] {
        let pad = log.pad(name);
        assert!(pad.last_caps().has_field("codec_data"), "{name}");
        assert_clean_pad(log, name);
        assert!(
            pad.decoded >= min,
            "{name}: {} frames decoded, expected {min}",
            pad.decoded
        );
    }
    assert_eq!(
        bus.named("rtmp-client-connected").len(),
        1,
        "{:?}",
        bus.elements
    );
}

fn ffmpeg_publishes(ffmpeg: &std::ffi::OsStr) {
    let dir = TempDir::new("rtmpt-ffmpeg");
    let flv = dir.join("in.flv");
    make_test_flv(&flv, &TestFlv::default().duration_ms(2000));
    let (player, location) = listening_player("key1");
    let publisher = ffmpeg_publish_with(ffmpeg, &flv, &location, &[]);
    let (bus, log) = run_to_eos(player);
    publisher
        .finish(WAIT)
        .assert_success("ffmpeg publishing over rtmpt");
    assert_h264_caps(&log, 320, 240, 25);
    assert_aac_caps(&log, 48000, 2);
    // 2 s at 25 fps and ~94 AAC frames; FFmpeg's RTMPT close drops its last request's worth.
    assert_played(&bus, &log, 40, 75);
}

#[test]
fn ffmpeg_5_publishes_over_rtmpt_into_a_listening_rtmpsrc() {
    ffmpeg_publishes("ffmpeg".as_ref());
}

#[test]
fn ffmpeg_9_publishes_over_rtmpt_into_a_listening_rtmpsrc() {
    ffmpeg_publishes(common::ffmpeg9().as_os_str());
}

#[test]
fn our_rtmpsink_publishes_over_rtmpt_into_a_listening_rtmpsrc() {
    let (player, location) = listening_player("key2");
    let publisher = gst::parse::launch(&format!(
        "{LIVE_VIDEO} ! rtmpsink name=m location={location} {LIVE_AUDIO} ! m."
    ))
    .unwrap();
    run_publisher(&publisher, TIMEOUT);
    let (bus, log) = run_to_eos(player);
    assert_h264_caps(&log, 320, 240, 25);
    assert_aac_caps(&log, 44100, 2);
    // Our caller sends everything, its stop commands too: all 75 frames, then EOS.
    assert_played(&bus, &log, 70, 95);
}

/// librtmp's rtmpsink (gst-plugins-bad) over rtmpt://, in a process without our plugin.
#[test]
fn librtmp_publishes_over_rtmpt_into_a_listening_rtmpsrc() {
    let (player, location) = listening_player("key3");
    let pipeline = format!(
        "{LIVE_VIDEO} ! flvmux name=m streamable=true ! rtmpsink location={location} {LIVE_AUDIO} ! m."
    );
    let mut cmd = std::process::Command::new("gst-launch-1.0");
    cmd.arg("-q")
        .args(common::gst::split_args(&pipeline))
        .env("GST_PLUGIN_PATH", "")
        .env("GST_REGISTRY", common::gst::registry(false));
    let finished = common::run_with_timeout(&mut cmd, TIMEOUT);
    finished.assert_success("librtmp rtmpsink publishing over rtmpt");
    let (bus, log) = run_to_eos(player);
    assert_h264_caps(&log, 320, 240, 25);
    assert_aac_caps(&log, 44100, 2);
    assert_played(&bus, &log, 60, 80);
}

const PLAYERS: [PlayerKind; 4] = [
    PlayerKind::Ffmpeg,
    PlayerKind::Ffmpeg9,
    PlayerKind::Rtmpdump,
    PlayerKind::Rtmpsrc,
];

#[test]
fn players_decode_every_frame_from_a_listening_rtmpsink_over_rtmpt() {
    let frames = 6 * FPS;
    let stream = ServeStream::start(&ServeOptions {
        frames,
        scheme: "rtmpt".into(),
        ..ServeOptions::default()
    });
    assert!(stream.url.starts_with("rtmpt://"));
    let dir = TempDir::new("rtmpt-players");
    let players: Vec<ServePlayer> = PLAYERS
        .iter()
        .enumerate()
        .map(|(i, kind)| ServePlayer::start(*kind, &stream.url, &dir, &format!("p{i}")))
        .collect();
    let sink = stream.finish(Duration::from_secs(40));
    sink.assert_success("rtmpsink mode=listener over rtmpt");
    assert_eq!(
        sink.stdout.matches("rtmp-client-connected").count(),
        PLAYERS.len(),
        "{}",
        sink.stdout
    );
    for player in players {
        let kind = player.kind;
        let watched = player.finish(Duration::from_secs(20));
        eprintln!(
            "{kind:?} over rtmpt: {} of {frames} video frames, {} audio frames",
            watched.video_ms.len(),
            watched.audio_frames
        );
        watched.assert_every_frame(&format!("{kind:?}"));
        assert!(
            watched.video_ms.len() >= (frames - 2 * FPS) as usize,
            "{kind:?}: {} of {frames} frames\n{}",
            watched.video_ms.len(),
            watched.output
        );
    }
}

/// RTMPTS (the tunnel in HTTPS): rtmpsink listening on `rtmpts://` with a certificate serves
/// FFmpeg over `rtmpts://` and our rtmpsrc (trusting the test CA) over `rtmpts://localhost`.
#[test]
fn players_decode_every_frame_over_rtmpts() {
    let certs = common::tls::TestCertificates::generate("localhost");
    let frames = 4 * FPS;
    let stream = ServeStream::start(&ServeOptions {
        frames,
        scheme: "rtmpts".into(),
        sink_props: format!(
            "tls-certificate-file={} tls-key-file={}",
            certs.cert.display(),
            certs.key.display()
        ),
        ..ServeOptions::default()
    });
    let dir = TempDir::new("rtmpts-players");
    let ffmpeg = ServePlayer::start(PlayerKind::Ffmpeg, &stream.url, &dir, "ffmpeg");
    let location = format!("rtmpts://localhost:{}/live/key", stream.port);
    let ours = Player::new(
        &location,
        &[("tls-ca-file", &certs.ca.display().to_string())],
    );
    ours.play();
    let (bus, log) = run_to_eos(ours);
    let sink = stream.finish(Duration::from_secs(30));
    sink.assert_success("rtmpsink over rtmpts");
    ffmpeg
        .finish(Duration::from_secs(20))
        .assert_every_frame("FFmpeg over rtmpts");
    assert!(bus.eos, "our rtmpsrc over rtmpts: {bus:?}");
    assert_clean_pad(&log, "video");
    let decoded = log.pad("video").decoded;
    assert!(decoded >= u64::from(frames - 2 * FPS), "{decoded} frames");
}

/// playbin and uridecodebin find our elements for `rtmpt://` and `rtmpts://` (ahead of
/// librtmp's, which also claims them), and the location reads back with the default port left
/// out.
#[test]
fn uri_handlers_take_rtmpt_and_rtmpts() {
    common::pipeline::init();
    for (uri, port) in [
        ("rtmpt://example.com/live/cam", 80),
        ("rtmpts://example.com/live/cam", 443),
        ("rtmpt://example.com:8080/live/cam", 8080),
    ] {
        for (kind, factory) in [
            (gst::URIType::Src, "rtmpsrc"),
            (gst::URIType::Sink, "rtmpsink"),
        ] {
            let element = gst::Element::make_from_uri(kind, uri, None).unwrap();
            let name = element.factory().unwrap().name();
            assert_eq!(name, factory, "{uri}");
            assert_eq!(element.property::<String>("location"), uri);
            assert_eq!(element.property::<i32>("port"), port);
        }
    }
}
