//! A live publish rides out a restart of the real server: rtmpsink reconnects, resumes at a
//! keyframe with fresh metadata and sequence headers, and a player that joins afterwards
//! decodes the continued stream.

mod common;

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
            std::thread::sleep(Duration::from_secs(2));
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
