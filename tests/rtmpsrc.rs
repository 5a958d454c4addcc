//! rtmpsrc playing real streams: nginx-rtmp relaying what ffmpeg (generated FLV files played in
//! real time), our rtmpsink and `flvmux ! rtmp2sink` publish, ffmpeg as the server itself, and
//! playbin picking rtmpsrc for rtmp:// URIs. The player is an in-process pipeline that decodes
//! what rtmpsrc gives (`rtmpsrc_support/player.rs`); the tests compare frame counts, caps and
//! timestamps with what was sent. Errors, cancellation and the end of streams are in
//! `rtmpsrc_control.rs`.

#[path = "rtmpsrc_support/checks.rs"]
mod checks;
mod common;
#[path = "rtmpsrc_support/player.rs"]
mod player;

use std::time::Duration;

use checks::*;
use common::{Nginx, TempDir, TestFlv, ffmpeg_publish_file, make_test_flv};
use gst::prelude::*;
use player::{Player, init};

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
    assert_in_time(video, "video");
    assert_in_time(audio, "audio");
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
    assert_in_time(video, "video");
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
    assert_in_time(log.pad("video"), "video");
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
fn text_data_and_media_from_an_ffmpeg_server() {
    let tmp = TempDir::new("ffmpeg-server");
    let flv = tmp.join("in.flv");
    let probe = make_test_flv(&flv, &TestFlv::default());
    let srt = tmp.join("subs.srt");
    std::fs::write(
        &srt,
        "1\n00:00:00,500 --> 00:00:01,000\nhello world\n\n2\n00:00:01,200 --> 00:00:01,800\nsecond cue\n",
    )
    .unwrap();
    let with_text = tmp.join("text.flv");
    common::run_with_timeout(
        std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-y", "-i"])
            .arg(&flv)
            .arg("-i")
            .arg(&srt)
            .args(["-map", "0", "-map", "1", "-c:v", "copy", "-c:a", "copy"])
            .args(["-c:s", "text", "-f", "flv"])
            .arg(&with_text),
        WAIT,
    )
    .assert_success("ffmpeg adding subtitles");
    let (url, server) = ffmpeg_server(&with_text);
    let player = Player::new(&url, &[]);
    player.play();
    let outcome = player.run(PLAY_TIMEOUT);
    let log = player.stop();
    server.finish(WAIT);
    // ffmpeg closes the connection at the end of the file, which is EOS by default.
    outcome.assert_eos();
    let texts: Vec<(String, String)> = outcome
        .data
        .iter()
        .map(|s| {
            (
                s.get::<String>("name").unwrap(),
                s.get::<String>("values").unwrap(),
            )
        })
        .collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert_eq!(texts[0].0, "onTextData");
    assert!(texts[0].1.contains("\"hello world\""), "{texts:?}");
    assert!(texts[1].1.contains("\"second cue\""), "{texts:?}");
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
fn an_unsupported_video_codec_is_skipped_with_a_warning() {
    let tmp = TempDir::new("flv1");
    let flv = tmp.join("flv1.flv");
    // Sorenson H.263 (FLV codec 2) video with AAC audio.
    common::run_with_timeout(
        std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-y"])
            .args([
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=320x240:rate=25:duration=2",
            ])
            .args(["-f", "lavfi", "-i", "sine=sample_rate=44100:duration=2"])
            .args(["-c:v", "flv1", "-c:a", "aac", "-f", "flv"])
            .arg(&flv),
        WAIT,
    )
    .assert_success("ffmpeg making an flv1 file");
    let audio_frames = common::probe(&flv).audio().unwrap().nb_read_frames;
    let (url, server) = ffmpeg_server(&flv);
    let player = Player::new(&url, &[]);
    player.play();
    let outcome = player.run(PLAY_TIMEOUT);
    let log = player.stop();
    server.finish(WAIT);
    outcome.assert_eos();
    assert_eq!(log.order, ["audio"]);
    assert!(log.no_more_pads, "the skipped stream settles the layout");
    // One for the codec; FFmpeg's server also closes without StreamEOF, which warns too.
    let codec: Vec<_> = outcome
        .warnings
        .iter()
        .filter(|w| w.contains("cannot play"))
        .collect();
    assert_eq!(codec.len(), 1, "{:?}", outcome.warnings);
    assert!(codec[0].contains("Sorenson"), "{:?}", outcome.warnings);
    assert_eq!(Some(log.pad("audio").decoded), audio_frames);
}

#[test]
fn rtmps_through_a_tls_proxy() {
    let nginx = Nginx::start();
    let certs = common::TestCertificates::generate("localhost");
    let proxy = common::TlsProxy::start(nginx.port, &certs.cert, &certs.key);
    let tmp = TempDir::new("rtmps");
    let flv = tmp.join("in.flv");
    let probe = make_test_flv(&flv, &TestFlv::default().duration_ms(1000));
    let ca = certs.ca.display().to_string();
    let player = Player::new(
        &format!("rtmps://localhost:{}/live/secure", proxy.port),
        &[("tls-ca-file", ca.as_str())],
    );
    player.play();
    nginx.wait_player("secure", WAIT);
    // The publisher talks plain RTMP to nginx directly.
    let publisher = ffmpeg_publish_file(&flv, &nginx.url("secure"));
    let outcome = player.run(PLAY_TIMEOUT);
    publisher.finish(WAIT).assert_success("ffmpeg publish");
    let log = player.stop();
    outcome.assert_eos();
    assert_eq!(
        Some(log.pad("video").decoded),
        probe.video().unwrap().nb_read_frames
    );
    assert_eq!(
        Some(log.pad("audio").decoded),
        probe.audio().unwrap().nb_read_frames
    );
}

/// The pipeline written for the librtmp rtmpsrc this element replaces: `rtmpsrc ! flvdemux`
/// links through the `src` request pad, which carries the stream as FLV, and every frame
/// decodes.
#[test]
fn rtmpsrc_links_to_flvdemux_through_its_flv_pad() {
    init();
    let nginx = Nginx::start();
    let tmp = TempDir::new("rtmpsrc-flv");
    let flv = tmp.join("in.flv");
    let probe = make_test_flv(&flv, &TestFlv::default().duration_ms(3000));
    let url = nginx.url("live/flvout");
    // gst-launch-1.0's own parser does the linking, as on the command line.
    let pipeline = gst::parse::launch(&format!(
        "rtmpsrc name=s location={url} ! flvdemux name=d \
         d.video ! queue ! h264parse ! avdec_h264 ! fakesink name=v \
         d.audio ! queue ! avdec_aac ! fakesink name=a"
    ))
    .expect("rtmpsrc ! flvdemux links")
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = pipeline.by_name("s").unwrap();
    let pads: Vec<String> = src
        .src_pads()
        .iter()
        .map(|p| p.name().to_string())
        .collect();
    assert_eq!(pads, ["src"], "the FLV pad, and no elementary pads");
    let counts: Vec<std::sync::Arc<std::sync::atomic::AtomicU64>> = ["v", "a"]
        .iter()
        .map(|name| {
            let count = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let c = count.clone();
            pipeline
                .by_name(name)
                .unwrap()
                .static_pad("sink")
                .unwrap()
                .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                    c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    gst::PadProbeReturn::Ok
                });
            count
        })
        .collect();
    pipeline.set_state(gst::State::Playing).unwrap();
    nginx.wait_player("flvout", WAIT);
    let publisher = ffmpeg_publish_file(&flv, &url);
    let bus = pipeline.bus().unwrap();
    let message = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(20),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("the stream ends");
    pipeline.set_state(gst::State::Null).unwrap();
    publisher.finish(WAIT).assert_success("ffmpeg publishing");
    assert!(
        matches!(message.view(), gst::MessageView::Eos(_)),
        "{message:?}"
    );
    let video = probe.video().unwrap().nb_read_frames.unwrap();
    let audio = probe.audio().unwrap().nb_read_frames.unwrap();
    let decoded = |i: usize| counts[i].load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(decoded(0), video, "video frames decoded through flvdemux");
    // AAC decoders may hold back the last frame.
    assert!(
        decoded(1) + 1 >= audio,
        "{} of {audio} audio frames",
        decoded(1)
    );
}
