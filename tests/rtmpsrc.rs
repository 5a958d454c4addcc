//! rtmpsrc against real peers: nginx-rtmp relaying streams published by ffmpeg (generated FLV
//! files played in real time), by our rtmpsink and by `flvmux ! rtmp2sink`. The player is an
//! in-process pipeline that decodes what rtmpsrc gives (see `rtmpsrc_support/player.rs`) and the
//! tests compare frame counts, caps and timestamps with what was sent.

mod common;
#[path = "rtmpsrc_support/player.rs"]
mod player;

use std::time::{Duration, Instant};

use common::{Nginx, Probe, TempDir, TestFlv, ffmpeg_publish_file, make_test_flv};
use gst::prelude::*;
use player::{Log, Outcome, Player, init};

const PLAY_TIMEOUT: Duration = Duration::from_secs(20);
const WAIT: Duration = Duration::from_secs(10);

/// A file's stream start time in ms (ffprobe's `start_time`).
fn start_ms(probe: &Probe, kind: &str) -> f64 {
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
fn play_ffmpeg_file(app_stream: &str, opts: &TestFlv) -> (Probe, Outcome, Log, gst::Structure) {
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

fn assert_h264_caps(log: &Log, width: i32, height: i32, fps: i32) {
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

fn assert_aac_caps(log: &Log, rate: i32, channels: i32) {
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
fn assert_clean_pad(log: &Log, name: &str) {
    let pad = log.pad(name);
    assert_eq!(pad.untimed, 0, "{name}: buffers without timestamps");
    pad.assert_monotonic_dts();
    assert!(pad.discont >= 1, "{name}: first buffer not DISCONT");
    assert!(pad.eos, "{name}: no EOS reached the sink");
}

/// The first decoded frames of both streams start together, as in the file.
fn assert_av_start_together(probe: &Probe, log: &Log, frame: Duration) {
    let first = |name: &str| log.pad(name).decoded_pts.first().copied().expect("decoded");
    let played = first("video").nseconds() as f64 / 1e6 - first("audio").nseconds() as f64 / 1e6;
    let sent = start_ms(probe, "video") - start_ms(probe, "audio");
    assert!(
        (played - sent).abs() <= frame.as_secs_f64() * 1000.0,
        "A/V start offset {played} ms, file has {sent} ms"
    );
}

#[test]
fn h264_and_aac_from_ffmpeg() {
    let (probe, outcome, log, stats) =
        play_ffmpeg_file("live/av", &TestFlv::default().duration_ms(3000));
    outcome.assert_eos();
    assert!(log.no_more_pads);
    let video = log.pad("video");
    let audio = log.pad("audio");
    assert_h264_caps(&log, 320, 240, 25);
    assert_aac_caps(&log, 48000, 2);
    assert_eq!(Some(video.decoded), probe.video().unwrap().nb_read_frames);
    assert_eq!(Some(audio.decoded), probe.audio().unwrap().nb_read_frames);
    assert_clean_pad(&log, "video");
    assert_clean_pad(&log, "audio");
    assert_av_start_together(&probe, &log, Duration::from_millis(40));
    // Live: sync=true sinks got every frame in time.
    assert_eq!(
        video.late, 0,
        "late video frames (max {:?})",
        video.max_lateness
    );
    assert_eq!(
        audio.late, 0,
        "late audio frames (max {:?})",
        audio.max_lateness
    );
    // The sequence header (and ffmpeg's end-of-sequence) are messages but not buffers.
    assert!(
        stats.get::<u64>("video-messages").unwrap() > video.buffers,
        "{stats}"
    );
    assert_eq!(
        stats.get::<u64>("audio-messages").unwrap(),
        audio.buffers + 1,
        "{stats}"
    );
    assert!(
        stats.get::<u64>("in-bytes-total").unwrap() > 50_000,
        "{stats}"
    );
    assert_eq!(stats.get::<u32>("in-chunk-size").unwrap(), 4096, "{stats}");
}

#[test]
fn h264_with_b_frames() {
    let (probe, outcome, log, _) =
        play_ffmpeg_file("live/bframes", &TestFlv::default().b_frames(2));
    outcome.assert_eos();
    let video = log.pad("video");
    assert_eq!(Some(video.decoded), probe.video().unwrap().nb_read_frames);
    assert_eq!(
        Some(log.pad("audio").decoded),
        probe.audio().unwrap().nb_read_frames
    );
    // Composition offsets reached the buffers, and the decoder put frames in display order.
    let reordered = video
        .dts
        .iter()
        .zip(&video.pts)
        .filter(|(d, p)| d != p)
        .count();
    assert!(reordered > 10, "only {reordered} buffers with PTS != DTS");
    for pair in video.decoded_pts.windows(2) {
        assert!(pair[0] < pair[1], "decoded PTS not increasing: {pair:?}");
    }
    assert_clean_pad(&log, "video");
    assert_clean_pad(&log, "audio");
    assert_av_start_together(&probe, &log, Duration::from_millis(40));
    assert_eq!(
        video.late, 0,
        "late video frames (max {:?})",
        video.max_lateness
    );
}

#[test]
fn h264_and_mp3_from_ffmpeg() {
    let (probe, outcome, log, _) = play_ffmpeg_file("live/mp3", &TestFlv::default().mp3());
    outcome.assert_eos();
    let caps = log.pad("audio").last_caps();
    assert_eq!(caps.name(), "audio/mpeg");
    assert_eq!(caps.get::<i32>("mpegversion").unwrap(), 1, "{caps}");
    assert_eq!(caps.get::<i32>("layer").unwrap(), 3, "{caps}");
    assert!(caps.get::<bool>("parsed").unwrap(), "{caps}");
    assert_eq!(caps.get::<i32>("rate").unwrap(), 44100, "{caps}");
    assert_eq!(caps.get::<i32>("channels").unwrap(), 2, "{caps}");
    assert_eq!(
        Some(log.pad("audio").decoded),
        probe.audio().unwrap().nb_read_frames
    );
    assert_eq!(
        Some(log.pad("video").decoded),
        probe.video().unwrap().nb_read_frames
    );
    assert_clean_pad(&log, "audio");
    assert_clean_pad(&log, "video");
}

#[test]
fn aac_44k_mono_from_ffmpeg() {
    let (probe, outcome, log, _) = play_ffmpeg_file("live/mono", &TestFlv::default().mono_44k());
    outcome.assert_eos();
    // Rate and channels come from the AudioSpecificConfig (FLV's header says 44 kHz stereo-less).
    assert_aac_caps(&log, 44100, 1);
    assert_eq!(
        Some(log.pad("audio").decoded),
        probe.audio().unwrap().nb_read_frames
    );
    assert_clean_pad(&log, "audio");
}

#[test]
fn audio_only_from_ffmpeg() {
    let (probe, outcome, log, _) = play_ffmpeg_file("live/audio", &TestFlv::default().audio_only());
    outcome.assert_eos();
    assert_eq!(log.order, ["audio"]);
    assert!(log.no_more_pads, "onMetaData says there is no video");
    assert_aac_caps(&log, 48000, 2);
    assert_eq!(
        Some(log.pad("audio").decoded),
        probe.audio().unwrap().nb_read_frames
    );
    assert_clean_pad(&log, "audio");
}

#[test]
fn video_only_from_ffmpeg() {
    let (probe, outcome, log, _) = play_ffmpeg_file("live/video", &TestFlv::default().video_only());
    outcome.assert_eos();
    assert_eq!(log.order, ["video"]);
    assert!(log.no_more_pads);
    assert_h264_caps(&log, 320, 240, 25);
    assert_eq!(
        Some(log.pad("video").decoded),
        probe.video().unwrap().nb_read_frames
    );
    assert_clean_pad(&log, "video");
}

/// Counts the buffers entering each sink pad of `element`, by media type ("video", "audio").
fn count_sink_buffers(
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
fn run_publisher(publisher: &gst::Element, timeout: Duration) {
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

const LIVE_VIDEO: &str = "videotestsrc is-live=true num-buffers=75 \
    ! video/x-raw,width=320,height=240,framerate=25/1 \
    ! x264enc tune=zerolatency key-int-max=25 speed-preset=ultrafast ! h264parse";
const LIVE_AUDIO: &str = "audiotestsrc is-live=true num-buffers=100 samplesperbuffer=1024 \
    ! audio/x-raw,rate=44100,channels=2 ! voaacenc ! aacparse";

/// Plays `stream` while `publisher` (its muxer or sink named `m`) publishes live test sources.
fn play_gst_publisher(nginx: &Nginx, stream: &str, publisher: &str) -> (Outcome, Log, u64, u64) {
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

#[test]
fn live_test_sources_from_our_rtmpsink() {
    init();
    let nginx = Nginx::start();
    let (outcome, log, video_sent, audio_sent) = play_gst_publisher(
        &nginx,
        "ours",
        &format!("{LIVE_VIDEO} ! rtmpsink name=m location={{url}} {LIVE_AUDIO} ! m."),
    );
    outcome.assert_eos();
    assert_eq!(video_sent, 75);
    assert_eq!(log.pad("video").decoded, video_sent);
    assert_eq!(log.pad("audio").decoded, audio_sent);
    assert_h264_caps(&log, 320, 240, 25);
    assert_aac_caps(&log, 44100, 2);
    assert_clean_pad(&log, "video");
    assert_clean_pad(&log, "audio");
    assert_eq!(log.pad("video").late, 0);
}

#[test]
fn live_test_sources_from_flvmux_and_rtmp2sink() {
    init();
    let nginx = Nginx::start();
    let (outcome, log, video_sent, audio_sent) = play_gst_publisher(
        &nginx,
        "rtmp2",
        &format!(
            "flvmux name=m streamable=true ! rtmp2sink location={{url}} \
             {LIVE_VIDEO} ! m.video {LIVE_AUDIO} ! m.audio"
        ),
    );
    outcome.assert_eos();
    assert_eq!(video_sent, 75);
    assert_eq!(log.pad("video").decoded, video_sent);
    assert_eq!(log.pad("audio").decoded, audio_sent);
    assert_h264_caps(&log, 320, 240, 25);
    assert_aac_caps(&log, 44100, 2);
    assert_clean_pad(&log, "video");
    assert_clean_pad(&log, "audio");
}

/// A fakesink that counts what it renders.
fn counting_sink() -> (gst::Element, std::sync::Arc<std::sync::atomic::AtomicU64>) {
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

#[test]
fn playbin_plays_an_rtmp_uri_with_rtmpsrc() {
    init();
    let nginx = Nginx::start();
    let tmp = TempDir::new("playbin");
    let flv = tmp.join("in.flv");
    let probe = make_test_flv(&flv, &TestFlv::default());
    let url = nginx.url("playbin");
    let (video_sink, video_frames) = counting_sink();
    let (audio_sink, audio_frames) = counting_sink();
    let playbin = gst::ElementFactory::make("playbin")
        .property("uri", &url)
        .property("video-sink", &video_sink)
        .property("audio-sink", &audio_sink)
        .build()
        .unwrap();
    let source_type = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let st = source_type.clone();
    playbin.connect("source-setup", false, move |args| {
        let source = args[1].get::<gst::Element>().unwrap();
        *st.lock().unwrap() = source.type_().name().to_owned();
        None
    });
    playbin.set_state(gst::State::Playing).unwrap();
    nginx.wait_player("playbin", WAIT);
    let publisher = ffmpeg_publish_file(&flv, &url);
    let bus = playbin.bus().unwrap();
    let msg = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(20),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    publisher.finish(WAIT).assert_success("ffmpeg publish");
    playbin.set_state(gst::State::Null).unwrap();
    assert!(
        matches!(
            msg.as_ref().map(|m| m.view()),
            Some(gst::MessageView::Eos(_))
        ),
        "{msg:?}"
    );
    assert_eq!(*source_type.lock().unwrap(), "GstRsRtmpSrc");
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        Some(load(&video_frames)),
        probe.video().unwrap().nb_read_frames
    );
    assert_eq!(
        Some(load(&audio_frames)),
        probe.audio().unwrap().nb_read_frames
    );
}

#[test]
fn gst_launch_playbin_picks_rtmpsrc_from_the_registry() {
    let nginx = Nginx::start();
    let tmp = TempDir::new("gst-launch");
    let flv = tmp.join("in.flv");
    make_test_flv(&flv, &TestFlv::default().duration_ms(1000));
    let url = nginx.url("launch");
    let gst_launch = std::thread::spawn({
        let url = url.clone();
        move || {
            common::gst_launch(
                &format!("-v playbin uri={url} video-sink=fakesink audio-sink=fakesink"),
                Duration::from_secs(20),
            )
        }
    });
    nginx.wait_player("launch", WAIT);
    ffmpeg_publish_file(&flv, &url)
        .finish(WAIT)
        .assert_success("ffmpeg publish");
    let run = gst_launch.join().unwrap();
    run.assert_success("gst-launch-1.0 playbin");
    assert!(
        run.stdout.contains("GstRsRtmpSrc"),
        "playbin did not use our rtmpsrc:\n{}",
        run.stdout
    );
    assert!(run.stdout.contains("Got EOS"), "{}", run.stdout);
}

#[test]
fn a_publisher_that_starts_after_the_player() {
    let nginx = Nginx::start();
    let tmp = TempDir::new("late");
    let flv = tmp.join("in.flv");
    let probe = make_test_flv(&flv, &TestFlv::default());
    // `plain` answers play at once; the publisher comes later than `timeout`, which only bounds
    // connecting and starting to play.
    let url = nginx.url("plain/late");
    let player = Player::new(&url, &[("timeout", "2")]);
    player.play();
    nginx.wait_player("late", WAIT);
    std::thread::sleep(Duration::from_secs(3));
    let publisher = ffmpeg_publish_file(&flv, &url);
    let outcome = player.run(PLAY_TIMEOUT);
    publisher.finish(WAIT).assert_success("ffmpeg publish");
    let log = player.stop();
    // nginx's default live application ends with StreamEOF + UnpublishNotify.
    outcome.assert_eos();
    assert_eq!(
        Some(log.pad("video").decoded),
        probe.video().unwrap().nb_read_frames
    );
    assert_eq!(
        Some(log.pad("audio").decoded),
        probe.audio().unwrap().nb_read_frames
    );
    assert_clean_pad(&log, "video");
}

#[test]
fn a_missing_recording_is_stream_not_found() {
    let nginx = Nginx::start();
    let player = Player::new(&nginx.url("vod/missing.flv"), &[]);
    player.play();
    let outcome = player.run(PLAY_TIMEOUT);
    player.stop();
    assert!(
        outcome.error().matches(gst::ResourceError::NotFound),
        "{:?}",
        outcome.error
    );
    let text = outcome.error_text();
    assert!(text.contains("'missing.flv'"), "{text}");
    assert!(text.contains("StreamNotFound"), "{text}");
}

#[test]
fn a_live_stream_nobody_publishes() {
    let nginx = Nginx::start();
    // nginx's live application accepts any name and just sends nothing: idle-timeout ends the
    // wait with an error naming the stream.
    let player = Player::new(&nginx.url("plain/nobody"), &[("idle-timeout", "2")]);
    player.play();
    let outcome = player.run(PLAY_TIMEOUT);
    player.stop();
    assert!(
        outcome.error().matches(gst::ResourceError::NotFound),
        "{:?}",
        outcome.error
    );
    let text = outcome.error_text();
    assert!(text.contains("'nobody'"), "{text}");
    assert!(
        outcome.elapsed >= Duration::from_secs(2) && outcome.elapsed < Duration::from_secs(5),
        "{:?}",
        outcome.elapsed
    );
    // With `play_restart on` nginx does not even start the play before a publisher comes:
    // `timeout` bounds that wait.
    let player = Player::new(&nginx.url("live/nobody"), &[("timeout", "2")]);
    player.play();
    let outcome = player.run(PLAY_TIMEOUT);
    player.stop();
    assert!(
        outcome.error().matches(gst::ResourceError::OpenRead),
        "{:?}",
        outcome.error
    );
    assert!(
        outcome.error_text().contains("timed out"),
        "{}",
        outcome.error_text()
    );
    assert!(
        outcome.elapsed < Duration::from_secs(5),
        "{:?}",
        outcome.elapsed
    );
}

#[test]
fn connection_refused_is_a_clear_error() {
    let port = common::free_port();
    let player = Player::new(&format!("rtmp://127.0.0.1:{port}/live/x"), &[]);
    player.play();
    let outcome = player.run(PLAY_TIMEOUT);
    player.stop();
    assert!(outcome.error().matches(gst::ResourceError::OpenRead));
    assert!(
        outcome.error_text().contains("refused"),
        "{}",
        outcome.error_text()
    );
    assert!(outcome.elapsed < Duration::from_secs(3));
}

/// Sets the player to NULL after `after` and returns how long that took.
fn time_to_null(player: Player, after: Duration) -> Duration {
    std::thread::sleep(after);
    let start = Instant::now();
    player.stop();
    start.elapsed()
}

#[test]
fn null_during_connect_handshake_or_play_returns_promptly() {
    // A server that accepts TCP (the kernel completes it) but never answers the handshake.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let player = Player::new(
        &format!("rtmp://127.0.0.1:{port}/live/x"),
        &[("timeout", "30")],
    );
    player.play();
    let took = time_to_null(player, Duration::from_millis(500));
    assert!(
        took < Duration::from_secs(1),
        "NULL took {took:?} in the handshake"
    );

    // Without a TCP answer at all: connecting to a listener whose backlog is full is not
    // portable, so cover the wait for Play.Start instead (nginx with play_restart on).
    let nginx = Nginx::start();
    let player = Player::new(&nginx.url("live/waiting"), &[("timeout", "30")]);
    player.play();
    nginx.wait_player("waiting", WAIT);
    let took = time_to_null(player, Duration::from_millis(200));
    assert!(
        took < Duration::from_secs(1),
        "NULL took {took:?} waiting for play"
    );

    // READY -> NULL straight after starting, while still connecting.
    let player = Player::new(&nginx.url("live/quick"), &[]);
    player.play();
    let took = time_to_null(player, Duration::ZERO);
    assert!(
        took < Duration::from_secs(1),
        "NULL took {took:?} while connecting"
    );
    drop(silent);
}

/// A live publisher (our rtmpsink) that runs until stopped.
fn endless_publisher(url: &str) -> gst::Element {
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
fn wait_decoded(player: &Player) {
    let ok = common::wait_until(WAIT, || {
        player
            .log()
            .pads
            .get("video")
            .is_some_and(|p| p.decoded >= 10)
    });
    assert!(ok, "no video decoded");
}

#[test]
fn live_source_reports_latency_and_ends_on_application_eos() {
    init();
    let nginx = Nginx::start();
    let url = nginx.url("plain/eos");
    let player = Player::new(&url, &[("latency", "300")]);
    player.play();
    nginx.wait_player("eos", WAIT);
    let publisher = endless_publisher(&url);
    wait_decoded(&player);
    let mut query = gst::query::Latency::new();
    assert!(player.pipeline.query(&mut query));
    let (live, min, _) = query.result();
    assert!(live);
    assert!(min >= gst::ClockTime::from_mseconds(300), "{min}");
    // gst-launch -e does this on Ctrl-C: the source must end the stream.
    player.pipeline.send_event(gst::event::Eos::new());
    let outcome = player.run(Duration::from_secs(5));
    publisher.set_state(gst::State::Null).unwrap();
    outcome.assert_eos();
    assert!(
        outcome.elapsed < Duration::from_secs(2),
        "{:?}",
        outcome.elapsed
    );
    player.stop();
}

#[test]
fn idle_timeout_ends_a_stalled_stream_with_eos() {
    init();
    let nginx = Nginx::start();
    let url = nginx.url("plain/stall");
    let player = Player::new(&url, &[("idle-timeout", "2")]);
    player.play();
    nginx.wait_player("stall", WAIT);
    let publisher = endless_publisher(&url);
    wait_decoded(&player);
    // The live sources stop producing; the publisher stays connected.
    publisher.set_state(gst::State::Paused).unwrap();
    let outcome = player.run(Duration::from_secs(10));
    publisher.set_state(gst::State::Null).unwrap();
    player.stop();
    outcome.assert_eos();
    assert!(
        outcome.elapsed >= Duration::from_millis(1500) && outcome.elapsed < Duration::from_secs(5),
        "{:?}",
        outcome.elapsed
    );
}

/// Plays from a live publisher, then kills nginx: the socket closes without StreamEOF.
fn server_dies(no_eof_is_error: bool) -> Outcome {
    init();
    let nginx = Nginx::start();
    let url = nginx.url("plain/dies");
    let value = if no_eof_is_error { "true" } else { "false" };
    let player = Player::new(&url, &[("no-eof-is-error", value)]);
    player.play();
    nginx.wait_player("dies", WAIT);
    let publisher = endless_publisher(&url);
    wait_decoded(&player);
    drop(nginx);
    let outcome = player.run(Duration::from_secs(10));
    publisher.set_state(gst::State::Null).unwrap();
    player.stop();
    outcome
}

#[test]
fn a_closed_connection_is_eos_by_default() {
    server_dies(false).assert_eos();
}

#[test]
fn no_eof_is_error_makes_a_closed_connection_an_error() {
    let outcome = server_dies(true);
    assert!(
        outcome.error().matches(gst::ResourceError::Read),
        "{:?}",
        outcome.error
    );
    assert!(
        outcome.error_text().contains("without end of stream"),
        "{}",
        outcome.error_text()
    );
}
