//! rtmpsink in listener mode at its limits: max-clients, a player asking for another stream, an
//! address in use, stopping with players connected, and serving over rtmps://.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use gst::prelude::*;

use common::rtmp_client::RawClient;
use common::serve::{FPS, Player, PlayerKind, ServeOptions, ServeStream, serve_pipeline};
use common::{TempDir, TestCertificates, free_port, gst_launch, run_with_timeout, wait_listening};

fn ffmpeg_play(url: &str) -> common::Finished {
    run_with_timeout(
        Command::new("ffmpeg")
            .args([
                "-nostdin",
                "-v",
                "error",
                "-rw_timeout",
                "10000000",
                "-i",
                url,
            ])
            .args(["-t", "1", "-f", "null", "-"]),
        Duration::from_secs(30),
    )
}

#[test]
fn the_player_beyond_max_clients_is_refused_until_one_leaves() {
    let stream = ServeStream::start(&ServeOptions {
        frames: 20 * FPS,
        sink_props: "max-clients=2".into(),
        ..ServeOptions::default()
    });
    let mut first = RawClient::connect(stream.port, "live");
    let id = first.create_stream();
    first.play(id, "key", -2.0, 0);
    let mut second = RawClient::connect(stream.port, "live");
    let id2 = second.create_stream();
    second.play(id2, "key", -2.0, 0);
    for client in [&mut first, &mut second] {
        let got = client.recv_until(Duration::from_secs(10), |m| m.is_media());
        assert!(
            got.iter().any(|m| m.is_media()),
            "no media for an accepted player"
        );
    }
    let refused = ffmpeg_play(&stream.url);
    assert!(!refused.success(), "a third player was served: {refused:?}");
    eprintln!("the third player was told: {}", refused.stderr.trim());
    drop(first);
    // Room again once a player left.
    let started = Instant::now();
    let third = loop {
        let attempt = ffmpeg_play(&stream.url);
        if attempt.success() || started.elapsed() > Duration::from_secs(10) {
            break attempt;
        }
    };
    third.assert_success("a player after one left");
    drop(second);
    let sink = stream.kill();
    assert!(
        sink.stdout.contains("rtmp-client-refused"),
        "no refusal message:\n{}",
        sink.stdout
    );
}

#[test]
fn a_player_asking_for_another_stream_is_refused() {
    let stream = ServeStream::start(&ServeOptions {
        frames: 10 * FPS,
        ..ServeOptions::default()
    });
    let other = stream.url.replace("/live/key", "/live/other");
    let refused = ffmpeg_play(&other);
    assert!(!refused.success(), "served another stream: {refused:?}");
    ffmpeg_play(&stream.url).assert_success("the right stream");
    let sink = stream.kill();
    assert!(
        sink.stdout.contains("rtmp-client-refused"),
        "{}",
        sink.stdout
    );
}

#[test]
fn an_address_in_use_fails_the_state_change_with_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let options = ServeOptions {
        frames: FPS,
        ..ServeOptions::default()
    };
    let run = gst_launch(&serve_pipeline(&options, port), Duration::from_secs(20));
    assert!(!run.success(), "started on a port in use");
    let text = format!("{}{}", run.stdout, run.stderr);
    assert!(
        text.contains("could not listen on 127.0.0.1") && text.to_lowercase().contains("in use"),
        "{text}"
    );
}

#[test]
fn stopping_with_players_connected_does_not_hang() {
    common::pipeline::init();
    let port = free_port();
    let options = ServeOptions {
        frames: 60 * FPS,
        ..ServeOptions::default()
    };
    let pipeline = gst::parse::launch(&serve_pipeline(&options, port))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    assert!(wait_listening(port, Duration::from_secs(10)));
    let url = format!("rtmp://127.0.0.1:{port}/live/key");
    let dir = TempDir::new("serve-stop");
    let playing = Player::start(PlayerKind::Ffmpeg, &url, &dir, "playing");
    let stopped = Player::start(PlayerKind::Ffmpeg, &url, &dir, "stopped");
    let sink = pipeline.by_name("s").unwrap();
    assert!(common::wait_until(Duration::from_secs(15), || {
        sink.property::<gst::Structure>("stats")
            .get::<u64>("clients-current")
            .unwrap_or(0)
            == 2
    }));
    // Per-player figures in stats while they play.
    assert!(common::wait_until(Duration::from_secs(10), || {
        let stats = sink.property::<gst::Structure>("stats");
        let clients = stats.get::<gst::Array>("clients").unwrap();
        clients.len() == 2
            && clients.iter().all(|c| {
                let c = c.get::<gst::Structure>().unwrap();
                c.get::<u64>("sent-messages").unwrap() > 10
                    && c.get::<&str>("address").unwrap().starts_with("127.0.0.1:")
            })
    }));
    stopped.pause(true);
    std::thread::sleep(Duration::from_secs(1));
    let started = Instant::now();
    pipeline.set_state(gst::State::Null).unwrap();
    let took = started.elapsed();
    eprintln!("stopping with 2 players (one stopped) took {took:?}");
    assert!(took < Duration::from_secs(3), "stopping took {took:?}");
    stopped.pause(false);
    drop((playing, stopped));
}

#[test]
fn players_are_served_over_rtmps() {
    let certs = TestCertificates::generate("localhost");
    let stream = ServeStream::start(&ServeOptions {
        frames: 5 * FPS,
        scheme: "rtmps".into(),
        sink_props: format!(
            "tls-certificate-file={} tls-key-file={}",
            certs.cert.display(),
            certs.key.display()
        ),
        ..ServeOptions::default()
    });
    let dir = TempDir::new("serve-rtmps");
    let ffmpeg = Player::start(PlayerKind::Ffmpeg, &stream.url, &dir, "ffmpeg");
    let sink = stream.finish(Duration::from_secs(30));
    sink.assert_success("rtmpsink over rtmps");
    let watched = ffmpeg.finish(Duration::from_secs(20));
    watched.assert_every_frame("FFmpeg over rtmps");
}

#[test]
fn with_a_stream_key_only_players_that_present_it_are_served() {
    let stream = ServeStream::start(&ServeOptions {
        frames: 10 * FPS,
        sink_props: "stream-key=SECRET".into(),
        ..ServeOptions::default()
    });
    let refused = ffmpeg_play(&stream.url);
    assert!(!refused.success(), "served without the key: {refused:?}");
    let wrong = ffmpeg_play(&format!("{}?key=WRONG", stream.url));
    assert!(!wrong.success(), "served with a wrong key: {wrong:?}");
    ffmpeg_play(&format!("{}?key=SECRET", stream.url)).assert_success("the right key");
    let sink = stream.kill();
    assert_eq!(
        sink.stdout.matches("rtmp-client-refused").count(),
        2,
        "{}",
        sink.stdout
    );
    assert!(
        !sink.stdout.contains("SECRET"),
        "the key was printed:\n{}",
        sink.stdout
    );
}

#[test]
fn players_are_served_on_ipv6() {
    common::pipeline::init();
    let port = free_port();
    let options = ServeOptions {
        frames: 4 * FPS,
        ..ServeOptions::default()
    };
    let description = serve_pipeline(&options, port).replace("127.0.0.1", "[::1]");
    let pipeline = gst::parse::launch(&description)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    // Bound once the state change returns (READY->PAUSED).
    pipeline.set_state(gst::State::Paused).unwrap();
    let dir = TempDir::new("serve-ipv6");
    let url = format!("rtmp://[::1]:{port}/live/key");
    let player = Player::start(PlayerKind::Ffmpeg, &url, &dir, "v6");
    let sink = pipeline.by_name("s").unwrap();
    assert!(common::wait_until(Duration::from_secs(15), || {
        sink.property::<gst::Structure>("stats")
            .get::<u64>("clients-current")
            .unwrap_or(0)
            == 1
    }));
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let end = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(30),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(
        matches!(
            end.as_ref().map(|m| m.view()),
            Some(gst::MessageView::Eos(_))
        ),
        "{end:?}"
    );
    let watched = player.finish(Duration::from_secs(20));
    watched.assert_every_frame("FFmpeg over IPv6");
    assert_eq!(watched.video_ms.len(), (4 * FPS) as usize);
}
