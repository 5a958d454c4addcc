//! Helpers shared by the rtmpsrc test binaries: publishing test media, and checks on what the
//! player recorded.
#![allow(dead_code)]

use std::time::Duration;

use gst::prelude::*;

use super::common::{self, Nginx, Probe, TempDir, TestFlv, ffmpeg_publish_file, make_test_flv};
use super::player::{Log, Outcome, Player};

pub const PLAY_TIMEOUT: Duration = Duration::from_secs(20);
pub const WAIT: Duration = Duration::from_secs(10);

/// A file's stream start time in ms (ffprobe's `start_time`).
pub fn start_ms(probe: &Probe, kind: &str) -> f64 {
    let stream = match kind {
        "video" => probe.video(),
        _ => probe.audio(),
    };
    let s = stream.expect("stream").raw["start_time"]
        .as_str()
        .expect("start_time")
        .parse::<f64>()
        .expect("a number");
    s * 1000.0
}

/// Starts the player, waits until nginx has it, publishes `opts` as a file with ffmpeg -re and
/// plays until EOS.
pub fn play_ffmpeg_file(app_stream: &str, opts: &TestFlv) -> (Probe, Outcome, Log, gst::Structure) {
    let nginx = Nginx::start();
    let tmp = TempDir::new("rtmpsrc");
    let flv = tmp.join("in.flv");
    let probe = make_test_flv(&flv, opts);
    let url = nginx.url(app_stream);
    let player = Player::new(&url, &[]);
    player.play();
    let name = app_stream.rsplit('/').next().unwrap();
    nginx.wait_player(name, WAIT);
    let publisher = ffmpeg_publish_file(&flv, &url);
    let outcome = player.run(PLAY_TIMEOUT);
    publisher
        .finish(WAIT)
        .assert_success("ffmpeg publishing the test file");
    let stats = player.stats();
    let log = player.stop();
    (probe, outcome, log, stats)
}

pub fn assert_h264_caps(log: &Log, width: i32, height: i32, fps: i32) {
    let caps = log.pad("video").last_caps();
    assert_eq!(caps.name(), "video/x-h264");
    assert_eq!(caps.get::<&str>("stream-format").unwrap(), "avc");
    assert_eq!(caps.get::<&str>("alignment").unwrap(), "au");
    assert!(caps.has_field("codec_data"), "{caps}");
    assert_eq!(caps.get::<i32>("width").unwrap(), width, "{caps}");
    assert_eq!(caps.get::<i32>("height").unwrap(), height, "{caps}");
    assert_eq!(
        caps.get::<gst::Fraction>("framerate").unwrap(),
        gst::Fraction::new(fps, 1),
        "{caps}"
    );
}

pub fn assert_aac_caps(log: &Log, rate: i32, channels: i32) {
    let caps = log.pad("audio").last_caps();
    assert_eq!(caps.name(), "audio/mpeg");
    assert_eq!(caps.get::<i32>("mpegversion").unwrap(), 4, "{caps}");
    assert_eq!(caps.get::<&str>("stream-format").unwrap(), "raw");
    assert!(caps.get::<bool>("framed").unwrap());
    assert!(caps.has_field("codec_data"), "{caps}");
    assert_eq!(caps.get::<i32>("rate").unwrap(), rate, "{caps}");
    assert_eq!(caps.get::<i32>("channels").unwrap(), channels, "{caps}");
}

/// Every buffer timestamped, DTS monotonic, the first buffer a DISCONT, EOS at the sink.
pub fn assert_clean_pad(log: &Log, name: &str) {
    let pad = log.pad(name);
    assert_eq!(pad.untimed, 0, "{name}: buffers without timestamps");
    pad.assert_monotonic_dts();
    assert!(pad.discont >= 1, "{name}: first buffer not DISCONT");
    assert!(pad.eos, "{name}: no EOS reached the sink");
}

/// The first decoded frames of both streams start together, as in the file.
pub fn assert_av_start_together(probe: &Probe, log: &Log, frame: Duration) {
    let first = |name: &str| log.pad(name).decoded_pts.first().copied().expect("decoded");
    let played = first("video").nseconds() as f64 / 1e6 - first("audio").nseconds() as f64 / 1e6;
    let sent = start_ms(probe, "video") - start_ms(probe, "audio");
    assert!(
        (played - sent).abs() <= frame.as_secs_f64() * 1000.0,
        "A/V start offset {played} ms, file has {sent} ms"
    );
}

/// Counts the buffers entering each sink pad of `element`, by media type ("video", "audio").
pub fn count_sink_buffers(
    element: &gst::Element,
) -> std::collections::BTreeMap<String, std::sync::Arc<std::sync::atomic::AtomicU64>> {
    let mut counters = std::collections::BTreeMap::new();
    for pad in element.sink_pads() {
        // flvmux names its pads sink_N: tell them apart by the template.
        let kind = pad
            .pad_template()
            .map(|t| t.name_template().to_string())
            .unwrap_or_else(|| pad.name().to_string());
        let counter = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let c = counter.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
        counters.insert(kind, counter);
    }
    counters
}

/// Runs a publishing pipeline to EOS (or panics with its error).
pub fn run_publisher(publisher: &gst::Element, timeout: Duration) {
    publisher.set_state(gst::State::Playing).unwrap();
    let bus = publisher.bus().unwrap();
    let msg = bus.timed_pop_filtered(
        gst::ClockTime::from_nseconds(timeout.as_nanos() as u64),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    match msg.as_ref().map(|m| m.view()) {
        Some(gst::MessageView::Eos(_)) => {}
        other => panic!("publisher did not finish: {other:?}"),
    }
    publisher.set_state(gst::State::Null).unwrap();
}

pub const LIVE_VIDEO: &str = "videotestsrc is-live=true num-buffers=75 \
    ! video/x-raw,width=320,height=240,framerate=25/1 \
    ! x264enc tune=zerolatency key-int-max=25 speed-preset=ultrafast ! h264parse";
pub const LIVE_AUDIO: &str = "audiotestsrc is-live=true num-buffers=100 samplesperbuffer=1024 \
    ! audio/x-raw,rate=44100,channels=2 ! voaacenc ! aacparse";

/// Plays `stream` while `publisher` (its muxer or sink named `m`) publishes live test sources.
pub fn play_gst_publisher(
    nginx: &Nginx,
    stream: &str,
    publisher: &str,
) -> (Outcome, Log, u64, u64) {
    let url = nginx.url(stream);
    let player = Player::new(&url, &[]);
    player.play();
    nginx.wait_player(stream, WAIT);
    let publisher = gst::parse::launch(&publisher.replace("{url}", &url)).unwrap();
    let counted = publisher
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("m")
        .unwrap();
    let counters = count_sink_buffers(&counted);
    run_publisher(&publisher, PLAY_TIMEOUT);
    let outcome = player.run(PLAY_TIMEOUT);
    let log = player.stop();
    let sent = |name: &str| counters[name].load(std::sync::atomic::Ordering::Relaxed);
    (outcome, log, sent("video"), sent("audio"))
}

/// A fakesink that counts what it renders.
pub fn counting_sink() -> (gst::Element, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    let sink = gst::ElementFactory::make("fakesink")
        .property("sync", true)
        .property("signal-handoffs", true)
        .build()
        .unwrap();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let c = count.clone();
    sink.connect("handoff", false, move |_| {
        c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        None
    });
    (sink, count)
}

/// A live publisher (our rtmpsink) that runs until stopped.
pub fn endless_publisher(url: &str) -> gst::Element {
    let publisher = gst::parse::launch(&format!(
        "videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=25/1 \
         ! x264enc tune=zerolatency key-int-max=25 speed-preset=ultrafast ! h264parse \
         ! rtmpsink name=m location={url} \
         audiotestsrc is-live=true samplesperbuffer=1024 ! voaacenc ! aacparse ! m."
    ))
    .unwrap();
    publisher.set_state(gst::State::Playing).unwrap();
    publisher
}

/// Waits until the player has rendered some video.
pub fn wait_decoded(player: &Player) {
    let ok = common::wait_until(WAIT, || {
        player
            .log()
            .pads
            .get("video")
            .is_some_and(|p| p.decoded >= 10)
    });
    assert!(ok, "no video decoded");
}

/// Whether something listens on 127.0.0.1:`port` (read from /proc, since connecting would take
/// the single connection an `ffmpeg -listen 1` server accepts).
pub fn listening(port: u16) -> bool {
    let needle = format!("0100007F:{port:04X} 00000000:0000 0A");
    std::fs::read_to_string("/proc/net/tcp").is_ok_and(|t| t.contains(&needle))
}

/// ffmpeg as the RTMP server (`-listen 1`): it waits for one player and streams `flv` to it in
/// real time, then closes the connection.
pub fn ffmpeg_server(flv: &std::path::Path) -> (String, common::Proc) {
    let port = common::free_port();
    let url = format!("rtmp://127.0.0.1:{port}/app/stream");
    let server = common::Proc::spawn(
        std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-re", "-i"])
            .arg(flv)
            .args(["-map", "0", "-c", "copy", "-f", "flv", "-listen", "1"])
            .arg(&url),
    );
    assert!(
        common::wait_until(WAIT, || listening(port)),
        "ffmpeg does not listen"
    );
    (url, server)
}

/// A sync=true sink rendered the frames on time: at most one in 5 more than 50 ms late. Wrong
/// timestamps or latency make nearly all of them late; a machine busy with parallel tests
/// delays a burst of a few (one in 20 flaked: 4 of 75 late, 174 ms at most).
pub fn assert_in_time(pad: &super::player::PadLog, name: &str) {
    assert!(pad.decoded > 0, "{name}: nothing decoded");
    assert!(
        pad.late * 5 <= pad.decoded,
        "{name}: {} of {} frames late (max {:?})",
        pad.late,
        pad.decoded,
        pad.max_lateness
    );
}
