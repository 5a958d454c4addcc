//! rtmpsrc in listener mode taking real publishers: FFmpeg 5.1 and 9, FFmpeg with OBS's connect
//! fields, `flvmux ! rtmp2sink`, our rtmpsink in caller mode and librtmp (gst-plugins-bad's old
//! rtmpsink, in a process without our plugin). Each publishes into
//! `rtmpsrc mode=listener location=rtmp://127.0.0.1:PORT/live/KEY`, decoded by avdec_h264 and
//! avdec_aac: frames decoded, caps with codec_data, timestamps increasing, EOS when it stops.

#[path = "rtmpsrc_support/checks.rs"]
mod checks;
mod common;
#[path = "rtmpsrc_support/player.rs"]
mod player;

use std::time::Duration;

use checks::*;
use common::listen::{BusLog, ffmpeg_publish_with, listen_location, read_bus};
use common::{TempDir, TestFlv, make_test_flv};
use player::{Log, Player};

const TIMEOUT: Duration = Duration::from_secs(30);

/// A listening rtmpsrc on a fresh port: (player, location to publish to).
fn listening_player(stream: &str, props: &[(&str, &str)]) -> (Player, String) {
    let (_, location) = listen_location(stream);
    let mut all = vec![("mode", "listener")];
    all.extend_from_slice(props);
    let player = Player::new(&location, &all);
    player.play();
    (player, location)
}

/// Plays until EOS; returns the bus record and the pad record.
fn run_to_eos(player: Player) -> (BusLog, Log) {
    let mut bus = BusLog::default();
    read_bus(&player.pipeline, TIMEOUT, &mut bus, |_| false);
    let log = player.stop();
    (bus, log)
}

/// What every publisher must give: decoded H.264 and AAC with codec_data, increasing
/// timestamps, EOS on both pads, and a connected then disconnected client message.
fn assert_played(bus: &BusLog, log: &Log, min_video: u64, min_audio: u64) {
    assert!(bus.eos, "no EOS: {bus:?}");
    for name in ["video", "audio"] {
        let pad = log.pad(name);
        let caps = pad.last_caps();
        assert!(caps.has_field("codec_data"), "{name}: {caps}");
        assert_clean_pad(log, name);
        let decoded = pad.decoded;
        let min = if name == "video" {
            min_video
        } else {
            min_audio
        };
        assert!(
            decoded >= min,
            "{name}: {decoded} frames decoded, expected {min}"
        );
        assert!(pad.decoded_pts.windows(2).all(|w| w[0] <= w[1]) || name == "video");
    }
    let connected = bus.named("rtmp-client-connected");
    assert_eq!(connected.len(), 1, "{:?}", bus.elements);
    let address = connected[0].get::<String>("address").unwrap();
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    assert_eq!(connected[0].get::<String>("application").unwrap(), "live");
    assert_eq!(
        bus.named("rtmp-client-disconnected").len(),
        1,
        "{:?}",
        bus.elements
    );
}

fn publish_ffmpeg(ffmpeg: &std::ffi::OsStr, extra: &[&str]) {
    let dir = TempDir::new("listen-ffmpeg");
    let flv = dir.join("in.flv");
    make_test_flv(&flv, &TestFlv::default().duration_ms(2000));
    let (player, location) = listening_player("key1", &[]);
    let publisher = ffmpeg_publish_with(ffmpeg, &flv, &location, extra);
    let (bus, log) = run_to_eos(player);
    publisher.finish(WAIT).assert_success("ffmpeg publishing");
    assert_h264_caps(&log, 320, 240, 25);
    assert_aac_caps(&log, 48000, 2);
    // 2 s at 25 fps; AAC at 48 kHz is ~94 frames.
    assert_played(&bus, &log, 45, 80);
}

#[test]
fn ffmpeg_5_publishes_into_a_listening_rtmpsrc() {
    publish_ffmpeg("ffmpeg".as_ref(), &[]);
}

#[test]
fn ffmpeg_9_publishes_into_a_listening_rtmpsrc() {
    publish_ffmpeg(common::ffmpeg9().as_os_str(), &[]);
}

#[test]
fn ffmpeg_with_obs_connect_fields_publishes() {
    publish_ffmpeg(
        "ffmpeg".as_ref(),
        &["-rtmp_flashver", "FMLE/3.0 (compatible; FMSc/1.0)"],
    );
}

/// A GStreamer publishing pipeline (live test sources) run to EOS in this process; `{url}` is
/// replaced by the listener's location.
fn publish_gst(description: &str) {
    let (player, location) = listening_player("key2", &[]);
    let publisher = gst::parse::launch(&description.replace("{url}", &location)).unwrap();
    run_publisher(&publisher, TIMEOUT);
    let (bus, log) = run_to_eos(player);
    assert_h264_caps(&log, 320, 240, 25);
    assert_aac_caps(&log, 44100, 2);
    // 75 video frames and 100 AAC frames sent; the first ones may go before the keyframe.
    assert_played(&bus, &log, 60, 80);
}

#[test]
fn flvmux_and_rtmp2sink_publish_into_a_listening_rtmpsrc() {
    publish_gst(&format!(
        "{LIVE_VIDEO} ! flvmux name=m streamable=true ! rtmp2sink location={{url}} {LIVE_AUDIO} ! m."
    ));
}

#[test]
fn our_rtmpsink_in_caller_mode_publishes_into_a_listening_rtmpsrc() {
    publish_gst(&format!(
        "{LIVE_VIDEO} ! rtmpsink name=m location={{url}} {LIVE_AUDIO} ! m."
    ));
}

/// librtmp's rtmpsink (gst-plugins-bad) in a gst-launch process that does not see our plugin
/// (which has the same element name): the system plugins' registry.
#[test]
fn librtmp_publishes_into_a_listening_rtmpsrc() {
    let (player, location) = listening_player("key3", &[]);
    let pipeline = format!(
        "{LIVE_VIDEO} ! flvmux name=m streamable=true ! rtmpsink location={location} {LIVE_AUDIO} ! m."
    );
    let mut cmd = std::process::Command::new("gst-launch-1.0");
    cmd.arg("-q")
        .args(common::gst::split_args(&pipeline))
        .env("GST_PLUGIN_PATH", "")
        .env("GST_REGISTRY", common::gst::registry(false));
    let finished = common::run_with_timeout(&mut cmd, TIMEOUT);
    finished.assert_success("librtmp rtmpsink publishing");
    let (bus, log) = run_to_eos(player);
    assert_h264_caps(&log, 320, 240, 25);
    assert_aac_caps(&log, 44100, 2);
    assert_played(&bus, &log, 60, 80);
}
