//! node-media-server 2.x (`tests/common/nms.rs`) as a second real RTMP server beside nginx-rtmp:
//! rtmpsink publishing while rtmpsrc plays, a player joining a running stream from NMS's GOP
//! cache, NMS's signed-URL publish authentication, a second publisher of a taken stream, RTMPS,
//! and ffmpeg publishing to rtmpsrc.

#[path = "rtmpsrc_support/checks.rs"]
mod checks;
mod common;
#[path = "rtmpsrc_support/player.rs"]
mod player;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use checks::*;
use common::nms::{nms_sign, nms_version, unix_time_in};
use common::pipeline::run;
use common::{Nms, NmsOptions, TempDir, TestCertificates, TestFlv, ffmpeg_publish_file};
use gst::prelude::*;
use player::{Player, init};

const SECRET: &str = "nms-test-secret";

/// 25 frames of H.264 (one keyframe) sent as fast as the server takes them.
const SHORT_VIDEO: &str = "videotestsrc num-buffers=25 ! video/x-raw,width=160,height=120,framerate=25/1 \
     ! x264enc speed-preset=ultrafast ! h264parse";

fn publish_short(location: &str, extra: &str) -> (common::pipeline::Outcome, Duration) {
    let start = Instant::now();
    let outcome = run(
        &format!(
            "{SHORT_VIDEO} ! rtmpsink name=s location=\"{location}\" sync=false timeout=5 \
             reconnect-attempts=0 {extra}"
        ),
        Duration::from_secs(20),
    );
    (outcome, start.elapsed())
}

/// Runs the live test sources through rtmpsink to `publish_url` while `player` plays; returns
/// the player's outcome and record, and the video and audio buffers the sink took.
fn publish_live_while_playing(
    player: Player,
    publish_url: &str,
    extra: &str,
) -> (player::Outcome, player::Log, u64, u64) {
    let publisher = gst::parse::launch(&format!(
        "{LIVE_VIDEO} ! rtmpsink name=m location=\"{publish_url}\" reconnect-attempts=0 {extra} \
         {LIVE_AUDIO} ! m."
    ))
    .unwrap();
    let sink = publisher
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("m")
        .unwrap();
    let counters = count_sink_buffers(&sink);
    run_publisher(&publisher, PLAY_TIMEOUT);
    let outcome = player.run(PLAY_TIMEOUT);
    let log = player.stop();
    let sent = |name: &str| counters[name].load(std::sync::atomic::Ordering::Relaxed);
    (outcome, log, sent("video"), sent("audio"))
}

/// Records whether the first buffer on rtmpsrc's pad `name` is a keyframe (no DELTA_UNIT flag).
fn first_buffer_is_keyframe(player: &Player, name: &'static str) -> Arc<Mutex<Option<bool>>> {
    let first = Arc::new(Mutex::new(None));
    let record = first.clone();
    player.src.connect_pad_added(move |_, pad| {
        if pad.name() != name {
            return;
        }
        let record = record.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(gst::PadProbeData::Buffer(buffer)) = &info.data {
                let mut first = record.lock().unwrap();
                if first.is_none() {
                    *first = Some(!buffer.flags().contains(gst::BufferFlags::DELTA_UNIT));
                }
            }
            gst::PadProbeReturn::Ok
        });
    });
    first
}

#[test]
fn the_installed_nms_is_a_2x_release() {
    let version = nms_version();
    assert!(version.starts_with("2."), "node-media-server {version}");
}

#[test]
fn the_sign_helper_matches_the_nms_documentation() {
    // The worked example of NMS's README ("Authentication").
    assert_eq!(
        nms_sign("/live/stream", "nodemedia2017privatekey", 1503458721),
        "1503458721-80c1d1ad2e0c2ab63eebb50eed64201a"
    );
}

#[test]
fn rtmpsink_publishes_and_rtmpsrc_plays() {
    init();
    let nms = Nms::start(NmsOptions::default());
    let url = nms.url("live");
    let player = Player::new(&url, &[]);
    player.play();
    // NMS answers play at once and holds the player until the publisher comes.
    nms.wait_player("live", WAIT);
    let (outcome, log, video_sent, audio_sent) = publish_live_while_playing(player, &url, "");
    // NMS ends the play with UnpublishNotify and StreamEOF, keeping the connection.
    outcome.assert_eos();
    assert_eq!(video_sent, 75);
    assert_eq!(log.pad("video").decoded, video_sent);
    assert_eq!(log.pad("audio").decoded, audio_sent);
    assert_h264_caps(&log, 320, 240, 25);
    assert_aac_caps(&log, 44100, 2);
    assert_clean_pad(&log, "video");
    assert_clean_pad(&log, "audio");
    assert_in_time(log.pad("video"), "video");
    assert_in_time(log.pad("audio"), "audio");
    nms.wait_event("donePublish", "live", WAIT);
}

#[test]
fn a_late_player_starts_from_the_gop_cache() {
    init();
    let nms = Nms::start(NmsOptions {
        gop_cache: true,
        ..Default::default()
    });
    let url = nms.url("running");
    // A keyframe every 3 s, so that a join in the middle of a group of pictures is easy to hit.
    let publisher = gst::parse::launch(&format!(
        "videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=25/1 \
         ! x264enc tune=zerolatency key-int-max=75 speed-preset=ultrafast ! h264parse \
         ! rtmpsink name=m location={url} \
         audiotestsrc is-live=true samplesperbuffer=1024 ! voaacenc ! aacparse ! m."
    ))
    .unwrap();
    let sink = publisher
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("m")
        .unwrap();
    // Frames entering the publisher's video pad since its last keyframe.
    let since_key = Arc::new(Mutex::new(None::<u64>));
    let video_pad = sink
        .sink_pads()
        .into_iter()
        .find(|p| p.name().starts_with("video"))
        .expect("video pad");
    let count = since_key.clone();
    video_pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(gst::PadProbeData::Buffer(buffer)) = &info.data {
            let mut n = count.lock().unwrap();
            *n = match (*n, buffer.flags().contains(gst::BufferFlags::DELTA_UNIT)) {
                (_, false) => Some(0),
                (Some(n), true) => Some(n + 1),
                (None, true) => None,
            };
        }
        gst::PadProbeReturn::Ok
    });
    let sent = || {
        sink.property::<gst::Structure>("stats")
            .get::<u64>("video-messages")
            .unwrap()
    };
    publisher.set_state(gst::State::Playing).unwrap();
    nms.wait_publisher("running", WAIT);
    // Join in the middle of a group of pictures: 15 to 25 frames after a keyframe, 2 s before
    // the next one.
    let mid_gop = common::wait_until(Duration::from_secs(10), || {
        since_key
            .lock()
            .unwrap()
            .is_some_and(|n| (15..=25).contains(&n))
    });
    assert!(mid_gop, "no keyframe seen: {:?}", since_key.lock().unwrap());
    let sent_before_join = sent();
    let player = Player::new(&url, &[]);
    let first_video_is_key = first_buffer_is_keyframe(&player, "video");
    player.play();
    nms.wait_event("postPlay", "running", WAIT);
    let played = common::wait_until(WAIT, || {
        player
            .log()
            .pads
            .get("video")
            .is_some_and(|p| p.decoded >= 40)
    });
    assert!(played, "the late player did not play");
    // Stop the publisher cleanly (EOS: rtmpsink unpublishes); the player sees the end.
    publisher.send_event(gst::event::Eos::new());
    let bus = publisher.bus().unwrap();
    let msg = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(10),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    let sent_in_all = sent();
    publisher.set_state(gst::State::Null).unwrap();
    assert!(
        matches!(
            msg.as_ref().map(|m| m.view()),
            Some(gst::MessageView::Eos(_))
        ),
        "{msg:?}"
    );
    let outcome = player.run(PLAY_TIMEOUT);
    let log = player.stop();
    outcome.assert_eos();
    let video = log.pad("video");
    // The cached GOP starts with a keyframe: the first buffer is one, and all decode.
    assert_eq!(*first_video_is_key.lock().unwrap(), Some(true));
    // And it came from the cache: the player got the frames sent after it asked to play plus
    // those of the running group of pictures sent before (at least 15 when it was asked for;
    // without the cache it could get none of them).
    let sent_after_join = sent_in_all - sent_before_join;
    assert!(
        video.buffers >= sent_after_join + 5,
        "{} video buffers, {sent_after_join} frames sent after the player joined",
        video.buffers
    );
    assert_eq!(video.decoded, video.buffers, "every video buffer decoded");
    assert_clean_pad(&log, "video");
    assert_clean_pad(&log, "audio");
    assert_h264_caps(&log, 160, 120, 25);
    assert_in_time(video, "video");
    assert_in_time(log.pad("audio"), "audio");
}

#[test]
fn publish_authentication_with_signed_urls() {
    init();
    let nms = Nms::start(NmsOptions {
        publish_secret: Some(SECRET.into()),
        ..Default::default()
    });

    // Correctly signed: publishes, and a player (play is not protected) gets every frame.
    let player = Player::new(&nms.url("signed"), &[]);
    player.play();
    nms.wait_player("signed", WAIT);
    let signed = nms.signed_url("signed", SECRET, unix_time_in(60));
    let (outcome, log, video_sent, audio_sent) = publish_live_while_playing(player, &signed, "");
    outcome.assert_eos();
    assert_eq!(video_sent, 75);
    assert_eq!(log.pad("video").decoded, video_sent);
    assert_eq!(log.pad("audio").decoded, audio_sent);

    let refused = |location: &str, stream: &str| {
        let (outcome, took) = publish_short(location, "");
        let (err, _) = outcome
            .error
            .as_ref()
            .unwrap_or_else(|| panic!("{location}: publishing must fail: {outcome:?}"));
        let text = outcome.error_text();
        // NMS's own code (`NetStream.publish.Unauthorized`, level error) is reported as an
        // authorization error, naming the code.
        assert!(
            text.contains("NetStream.publish.Unauthorized"),
            "{location}: {text}"
        );
        assert!(
            err.matches(gst::ResourceError::NotAuthorized),
            "{location}: {err:?}"
        );
        // NMS answers at once (and keeps the connection open): no waiting for a timeout.
        assert!(took < Duration::from_secs(4), "{location}: took {took:?}");
        let refused_by_nms = common::wait_until(Duration::from_secs(2), || {
            nms.log().lines().any(|l| {
                l.contains("[rtmp publish] Unauthorized.")
                    && l.contains(&format!("streamPath=/live/{stream} "))
            })
        });
        assert!(refused_by_nms, "NMS did not check {stream}:\n{}", nms.log());
        // The sink hung up after the error: NMS itself would have kept the connection.
        let session = nms
            .log()
            .lines()
            .find(|l| l.contains(&format!("streamPath=/live/{stream} ")))
            .and_then(|l| l.split("id=").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
            .expect("session id in the NMS log");
        nms.wait_log(&format!("[rtmp disconnect] id={session}\n"), WAIT);
        assert!(
            !nms.log()
                .contains(&format!("[event] postPublish /live/{stream}\n")),
            "{stream} was published"
        );
    };
    refused(&nms.url("unsigned"), "unsigned");
    refused(
        &nms.signed_url("wrongkey", "not-the-secret", unix_time_in(60)),
        "wrongkey",
    );
    // Signed for another stream.
    let other = nms_sign("/live/other", SECRET, unix_time_in(60));
    refused(&nms.url(&format!("stolen?sign={other}")), "stolen");
    refused(
        &nms.signed_url("expired", SECRET, unix_time_in(-60)),
        "expired",
    );
}

#[test]
fn rtmps_is_validated_and_works_with_a_trusted_ca() {
    init();
    // The certificate names "localhost" only.
    let certs = TestCertificates::generate("localhost");
    let nms = Nms::start(NmsOptions {
        tls: Some((certs.cert.clone(), certs.key.clone())),
        ..Default::default()
    });

    let (outcome, _) = publish_short(&nms.rtmps_url("localhost", "untrusted"), "");
    let (err, _) = outcome
        .error
        .as_ref()
        .expect("an unknown CA must be refused");
    assert!(err.matches(gst::ResourceError::OpenWrite), "{err:?}");
    let text = outcome.error_text();
    assert!(
        text.contains("TLS") && text.contains("UnknownIssuer"),
        "{text}"
    );

    // Trusting the test CA: publish and play, both over RTMPS.
    let ca = certs.ca.display().to_string();
    let player = Player::new(
        &nms.rtmps_url("localhost", "secure"),
        &[("tls-ca-file", ca.as_str())],
    );
    player.play();
    nms.wait_player("secure", WAIT);
    let (outcome, log, video_sent, audio_sent) = publish_live_while_playing(
        player,
        &nms.rtmps_url("localhost", "secure"),
        &format!("tls-ca-file={ca}"),
    );
    outcome.assert_eos();
    assert_eq!(video_sent, 75);
    assert_eq!(log.pad("video").decoded, video_sent);
    assert_eq!(log.pad("audio").decoded, audio_sent);
    assert_h264_caps(&log, 320, 240, 25);
}

#[test]
fn ffmpeg_publishes_and_rtmpsrc_plays() {
    init();
    let nms = Nms::start(NmsOptions::default());
    let tmp = TempDir::new("nms-ffmpeg");
    let flv = tmp.join("in.flv");
    let probe = common::make_test_flv(&flv, &TestFlv::default());
    let url = nms.url("ffmpeg");
    let player = Player::new(&url, &[]);
    player.play();
    nms.wait_player("ffmpeg", WAIT);
    let publisher = ffmpeg_publish_file(&flv, &url);
    let outcome = player.run(PLAY_TIMEOUT);
    publisher
        .finish(WAIT)
        .assert_success("ffmpeg publishing the test file");
    let log = player.stop();
    outcome.assert_eos();
    assert_h264_caps(&log, 320, 240, 25);
    assert_aac_caps(&log, 48000, 2);
    assert_eq!(
        Some(log.pad("video").decoded),
        probe.video().unwrap().nb_read_frames
    );
    assert_eq!(
        Some(log.pad("audio").decoded),
        probe.audio().unwrap().nb_read_frames
    );
    assert_clean_pad(&log, "video");
    assert_clean_pad(&log, "audio");
    assert_av_start_together(&probe, &log, Duration::from_millis(40));
    // No timing check here: NMS 2.x forwards to players in batches of 10 messages on a corked
    // socket, and with ffmpeg publishing it was seen holding a second of media and then sending
    // it at once (to ffmpeg as a player too), so frames reach the sinks late.
}

#[test]
fn a_second_publisher_of_the_same_stream_fails_without_hanging() {
    init();
    let nms = Nms::start(NmsOptions::default());
    let url = nms.url("taken");
    let first = endless_publisher(&url);
    nms.wait_publisher("taken", WAIT);
    let (outcome, took) = publish_short(&url, "");
    first.set_state(gst::State::Null).unwrap();
    // NMS closes the connection before it sends NetStream.Publish.BadName, so the sink only
    // sees the server hang up while starting to publish.
    let (err, _) = outcome
        .error
        .as_ref()
        .unwrap_or_else(|| panic!("the second publish must fail: {outcome:?}"));
    assert!(err.matches(gst::ResourceError::OpenWrite), "{err:?}");
    assert!(took < Duration::from_secs(4), "took {took:?}");
    let text = outcome.error_text();
    assert!(text.contains("closed the connection"), "{text}");
    nms.wait_log("[rtmp publish] Already has a stream.", WAIT);
}
