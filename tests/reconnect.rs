//! A live publish rides out a restart of the real server: rtmpsink reconnects, resumes at a
//! keyframe with fresh metadata and sequence headers, and a player that joins afterwards
//! decodes the continued stream.

mod common;
#[path = "rtmpsrc_support/player.rs"]
mod player;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::pipeline::run;
use common::{LiveReader, Nginx, decode_errors, probe};

#[test]
fn publishing_survives_a_server_restart() {
    let nginx = Arc::new(Mutex::new(Nginx::start()));
    let url = nginx.lock().unwrap().url("live/restart");
    let dir = common::TempDir::new("restart");
    let played = dir.join("after-restart.flv");

    let restarter = {
        let nginx = nginx.clone();
        let played = played.clone();
        let url = url.clone();
        std::thread::spawn(move || {
            // Restart once media is flowing: nginx has the publish and records frames.
            {
                let nginx = nginx.lock().unwrap();
                nginx.wait_publisher("restart", Duration::from_secs(15));
                let recording = nginx.recording("restart");
                let flowing = common::wait_until(Duration::from_secs(15), || {
                    std::fs::metadata(&recording).is_ok_and(|m| m.len() > 20_000)
                });
                assert!(flowing, "no media recorded before the restart");
            }
            nginx.lock().unwrap().restart();
            // A player joining the restarted server, once our publisher is back.
            nginx
                .lock()
                .unwrap()
                .wait_publisher("restart", Duration::from_secs(15));
            LiveReader::start(&url, &played)
        })
    };
    // 8 s of live video (keyframe each second) and audio.
    let outcome = run(
        &format!(
            "videotestsrc is-live=true num-buffers=200 ! video/x-raw,width=320,height=240,framerate=25/1 \
             ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 ! h264parse \
             ! rtmpsink name=s location={url} reconnect-delay=500 \
             audiotestsrc is-live=true num-buffers=340 samplesperbuffer=1024 ! voaacenc ! aacparse ! s."
        ),
        Duration::from_secs(40),
    );
    outcome.assert_eos();
    let reader = restarter.join().expect("restart thread");
    let (played, _) = reader.finish(Duration::from_secs(10));

    let names: Vec<&str> = outcome
        .element_messages
        .iter()
        .map(|s| s.name().as_str())
        .collect();
    assert!(names.contains(&"rtmp-disconnected"), "{names:?}");
    assert!(names.contains(&"rtmp-reconnected"), "{names:?}");
    assert_eq!(
        outcome
            .stats
            .as_ref()
            .unwrap()
            .get::<u64>("reconnects")
            .unwrap(),
        1
    );

    // The player that joined after the restart saw several seconds of clean video and audio.
    let probe = probe(&played);
    let video = probe.video().expect("video after the restart");
    assert_eq!((video.width, video.height), (Some(320), Some(240)));
    assert!(video.nb_read_frames.unwrap() >= 50, "{video:?}");
    assert!(probe.audio().is_some());
    assert_eq!(decode_errors(&played), "");
}

#[test]
fn playing_rides_out_a_server_restart_when_asked() {
    let nginx = Arc::new(Mutex::new(Nginx::start()));
    let url = nginx.lock().unwrap().url("live/both");
    // The player first, so that it sees the stream from its start.
    let player = player::Player::new(
        &url,
        &[("reconnect-attempts", "5"), ("reconnect-delay", "300")],
    );
    player.play();
    nginx
        .lock()
        .unwrap()
        .wait_player("both", Duration::from_secs(10));
    let publisher = {
        let url = url.clone();
        std::thread::spawn(move || {
            run(
                &format!(
                    "videotestsrc is-live=true num-buffers=200 ! video/x-raw,width=320,height=240,framerate=25/1 \
                     ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 ! h264parse \
                     ! rtmpsink name=s location={url} reconnect-delay=300"
                ),
                Duration::from_secs(40),
            )
        })
    };
    // Restart once the player has decoded a second of video (the bus keeps what is posted
    // meanwhile for `run`).
    let decoded = common::wait_until(Duration::from_secs(15), || {
        player
            .log()
            .pads
            .get("video")
            .is_some_and(|p| p.decoded >= 25)
    });
    assert!(decoded, "no video played before the restart");
    nginx.lock().unwrap().restart();
    let outcome = player.run(Duration::from_secs(40));
    publisher.join().unwrap().assert_eos();
    let log = player.stop();

    outcome.assert_eos();
    let names = &outcome.element_messages;
    assert!(names.iter().any(|n| n == "rtmp-disconnected"), "{names:?}");
    assert!(names.iter().any(|n| n == "rtmp-reconnected"), "{names:?}");
    let video = log.pad("video");
    video.assert_monotonic_dts();
    // Frames from before and after the restart (8 s sent; the outage costs a second or two).
    assert!(video.decoded >= 120, "{} frames decoded", video.decoded);
    // The first buffer, and the first one after the reconnection.
    assert!(video.discont >= 2, "{} DISCONT buffers", video.discont);
}

/// Plays a live stream from nginx until video arrives, then kills nginx; returns how the
/// player ended.
fn play_and_lose_the_server(props: &[(&str, &str)]) -> player::Outcome {
    let dir = common::TempDir::new("lose");
    let flv = dir.join("in.flv");
    common::make_test_flv(&flv, &common::TestFlv::default().duration_ms(20_000));
    let mut nginx = Some(Nginx::start());
    let url = nginx.as_ref().unwrap().url("plain/lost");
    let _publisher = common::ffmpeg_publish_file(&flv, &url);
    nginx
        .as_ref()
        .unwrap()
        .wait_publisher("lost", Duration::from_secs(10));
    let player = player::Player::new(&url, props);
    player.play();
    let arrived = common::wait_until(Duration::from_secs(10), || {
        player
            .log()
            .pads
            .get("video")
            .is_some_and(|pad| pad.buffers > 0)
    });
    assert!(arrived, "no video before the server went away");
    // The server dies: no StreamEOF, no status, the socket just closes.
    nginx.take();
    let outcome = player.run(Duration::from_secs(20));
    player.stop();
    outcome
}

#[test]
fn losing_the_server_is_a_warning_before_the_eos() {
    let outcome = play_and_lose_the_server(&[]);
    outcome.assert_eos();
    assert!(
        outcome
            .warnings
            .iter()
            .any(|w| w.contains("ended without end of stream")),
        "an application must be able to tell a loss from the end: {:?}",
        outcome.warnings
    );
}

#[test]
fn losing_the_server_for_good_is_an_error_once_the_attempts_run_out() {
    let outcome =
        play_and_lose_the_server(&[("reconnect-attempts", "2"), ("reconnect-delay", "100")]);
    assert!(!outcome.eos, "not a plain EOS");
    let text = outcome.error_text();
    assert!(
        text.contains("Lost the connection") && text.contains("2 attempt(s)"),
        "{text}"
    );
    assert!(
        outcome
            .element_messages
            .iter()
            .any(|m| m == "rtmp-disconnected"),
        "{:?}",
        outcome.element_messages
    );
}
