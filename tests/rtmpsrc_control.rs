//! rtmpsrc's errors, cancellation and ends of streams against real peers: stream not found,
//! refused connections, silent servers, NULL during every wait, latency, application EOS, idle
//! timeout, and a server that goes away (with and without `no-eof-is-error`).

#[path = "rtmpsrc_support/checks.rs"]
mod checks;
mod common;
#[path = "rtmpsrc_support/player.rs"]
mod player;

use std::time::{Duration, Instant};

use checks::*;
use common::Nginx;
use gst::prelude::*;
use player::{Outcome, Player, init};

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

/// Sets the player to NULL and returns how long that call took.
fn time_to_null(player: Player) -> Duration {
    let start = Instant::now();
    player.stop();
    start.elapsed()
}

#[test]
fn null_during_connect_handshake_or_play_returns_promptly() {
    // A server that accepts TCP but never answers the handshake: it tells when it has read C0+C1,
    // so the player is then waiting for S0+S1.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let (read_c0c1, in_handshake) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        use std::io::Read;
        let (mut socket, _) = silent.accept().unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut c0c1 = [0u8; 1537];
        socket.read_exact(&mut c0c1).unwrap();
        read_c0c1.send(()).unwrap();
        // Hold the socket until the player closes it.
        let _ = socket.read(&mut [0u8; 1]);
    });
    let player = Player::new(
        &format!("rtmp://127.0.0.1:{port}/live/x"),
        &[("timeout", "30")],
    );
    player.play();
    in_handshake
        .recv_timeout(WAIT)
        .expect("the player sends C0+C1");
    let took = time_to_null(player);
    assert!(
        took < Duration::from_secs(1),
        "NULL took {took:?} in the handshake"
    );

    // Without a TCP answer at all: connecting to a listener whose backlog is full is not
    // portable, so cover the wait for Play.Start instead (nginx with play_restart on).
    let nginx = Nginx::start();
    let player = Player::new(&nginx.url("live/waiting"), &[("timeout", "30")]);
    player.play();
    // nginx logs the play command when it has it: the player then waits for Play.Start.
    nginx.wait_player("waiting", WAIT);
    let took = time_to_null(player);
    assert!(
        took < Duration::from_secs(1),
        "NULL took {took:?} waiting for play"
    );

    // READY -> NULL straight after starting, while still connecting.
    let player = Player::new(&nginx.url("live/quick"), &[]);
    player.play();
    let took = time_to_null(player);
    assert!(
        took < Duration::from_secs(1),
        "NULL took {took:?} while connecting"
    );
    server.join().expect("the silent server saw the close");
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

#[test]
fn a_server_that_is_not_rtmp_fails_the_handshake() {
    // An HTTP server on the RTMP port: its answer's first byte is not RTMP version 3.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Ok((mut socket, _)) = listener.accept() {
            let mut c0c1 = [0u8; 1537];
            let _ = socket.read_exact(&mut c0c1);
            let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            // Keep the socket open until the player closes it, so the failure comes from the
            // bytes, not from a close.
            let _ = socket.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = socket.read(&mut [0u8; 1]);
        }
    });
    let player = Player::new(&format!("rtmp://127.0.0.1:{port}/live/x"), &[]);
    player.play();
    let outcome = player.run(PLAY_TIMEOUT);
    player.stop();
    assert!(
        outcome.error().matches(gst::ResourceError::OpenRead),
        "{:?}",
        outcome.error
    );
    let text = outcome.error_text();
    assert!(text.contains("handshake"), "{text}");
    assert!(
        outcome.elapsed < Duration::from_secs(2),
        "{:?}",
        outcome.elapsed
    );
    server.join().unwrap();
}

#[test]
fn the_element_plays_again_after_ready() {
    init();
    let nginx = Nginx::start();
    let url = nginx.url("plain/again");
    let publisher = endless_publisher(&url);
    nginx.wait_publisher("again", WAIT);
    let player = Player::new(&url, &[]);
    player.play();
    wait_decoded(&player);
    // READY removes the pads; PLAYING connects again and adds new ones.
    player.pipeline.set_state(gst::State::Ready).unwrap();
    assert!(player.src.src_pads().is_empty(), "pads left after READY");
    let first_run = player.log().pads["video"].decoded;
    player.remove_branches();
    player.play();
    wait_decoded(&player);
    let stats = player.stats();
    let second = player.stop();
    publisher.set_state(gst::State::Null).unwrap();
    assert!(first_run >= 10);
    assert!(second.pads["video"].decoded >= 10);
    assert!(second.pads["video"].discont >= 1);
    // Counters restart with each connection.
    assert!(
        stats.get::<u64>("video-messages").unwrap() < 1000,
        "{stats}"
    );
}
