//! RTMPT on the listener's connection layer (no element): real RTMPT clients (FFmpeg 5.1 and
//! 9) publish into `connection::Listener` over `rtmpt://`, on the port that serves plain RTMP
//! too; malformed HTTP gets a status code; players over `rtmpt://` get what `try_send` queues.

mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gstrtmp::connection::{ClientNotice, ConnectionError, ListenOptions, ListenRole, Listener};
use gstrtmp::protocol::session::{MediaKind, SessionEvent};

use common::listen::ffmpeg_publish_with;
use common::rtmpt::{RawTunnel, framecrc_frames, raw_http, read_flv, serve_tags, video_frames};
use common::{Proc, TempDir, TestFlv, make_test_flv};

fn options(notices: &Arc<Mutex<Vec<ClientNotice>>>) -> ListenOptions {
    let notices = notices.clone();
    ListenOptions {
        host: "127.0.0.1".into(),
        port: 0,
        app: "live".into(),
        stream: "cam".into(),
        stream_key: None,
        role: ListenRole::Publishers,
        max_clients: 1,
        setup_timeout: Duration::from_secs(5),
        tls: None,
        max_outgoing_bytes: 1 << 20,
        max_incoming_bytes: 1 << 20,
        log_id: "test".into(),
        notify: Arc::new(move |n| notices.lock().unwrap().push(n)),
    }
}

/// Counts what an accepted publisher delivers until its connection ends.
fn drain_publisher(
    connection: &gstrtmp::connection::Connection,
) -> (usize, usize, bool, ConnectionError) {
    let (mut video, mut audio, mut eof) = (0, 0, false);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "no end within 20 s");
        match connection.recv(Some(Duration::from_secs(1))) {
            Ok(Some(SessionEvent::Media {
                kind: MediaKind::Video,
                ..
            })) => video += 1,
            Ok(Some(SessionEvent::Media {
                kind: MediaKind::Audio,
                ..
            })) => audio += 1,
            Ok(Some(SessionEvent::StreamEof)) => eof = true,
            Ok(Some(_)) | Ok(None) => {}
            Err(err) => return (video, audio, eof, err),
        }
    }
}

fn ffmpeg_publishes_over_rtmpt(ffmpeg: &std::ffi::OsStr) {
    gst::init().unwrap();
    let dir = TempDir::new("rtmpt-conn");
    let flv = dir.join("in.flv");
    make_test_flv(&flv, &TestFlv::default().duration_ms(1000));
    let notices = Arc::new(Mutex::new(Vec::new()));
    let listener = Listener::bind(options(&notices)).unwrap();
    let port = listener.local_addr().port();
    let publisher = ffmpeg_publish_with(
        ffmpeg,
        &flv,
        &format!("rtmpt://127.0.0.1:{port}/live/cam"),
        &[],
    );
    let accepted = listener
        .accept(Some(Duration::from_secs(10)))
        .unwrap()
        .expect("a publisher within 10 s");
    assert_eq!(accepted.stream, "cam");
    let (video, audio, eof, end) = drain_publisher(&accepted.connection);
    publisher
        .finish(Duration::from_secs(10))
        .assert_success("ffmpeg publish over rtmpt");
    eprintln!("video {video} audio {audio} eof {eof} end {end:?}");
    assert_eq!(end, ConnectionError::Closed);
    // FFmpeg's RTMPT close drops what it buffered since its last request (the last few
    // messages and its FCUnpublish/deleteStream: rtmphttp.c resets its buffer before /close),
    // so neither the whole second nor StreamEof arrive.
    assert!(video >= 20, "video messages: {video}");
    assert!(audio >= 35, "audio messages: {audio}");
    assert!(
        common::wait_until(Duration::from_secs(5), || listener.stats().tunnels == 0),
        "the tunnel session is forgotten: {:?}",
        listener.stats()
    );
}

#[test]
fn ffmpeg51_publishes_over_rtmpt_into_a_listener() {
    ffmpeg_publishes_over_rtmpt("ffmpeg".as_ref());
}

#[test]
fn ffmpeg9_publishes_over_rtmpt_into_a_listener() {
    ffmpeg_publishes_over_rtmpt(common::ffmpeg9().as_os_str());
}

#[test]
fn plain_rtmp_and_rtmpt_publishers_share_the_port() {
    gst::init().unwrap();
    let dir = TempDir::new("rtmpt-shared-port");
    let flv = dir.join("in.flv");
    make_test_flv(&flv, &TestFlv::default().duration_ms(500));
    let notices = Arc::new(Mutex::new(Vec::new()));
    let listener = Listener::bind(options(&notices)).unwrap();
    let port = listener.local_addr().port();
    for scheme in ["rtmp", "rtmpt", "rtmp"] {
        let url = format!("{scheme}://127.0.0.1:{port}/live/cam");
        let publisher = ffmpeg_publish_with("ffmpeg".as_ref(), &flv, &url, &[]);
        let accepted = listener
            .accept(Some(Duration::from_secs(10)))
            .unwrap()
            .unwrap_or_else(|| panic!("a {scheme} publisher within 10 s"));
        let (video, _, _, end) = drain_publisher(&accepted.connection);
        publisher
            .finish(Duration::from_secs(10))
            .assert_success(&url);
        assert_eq!(end, ConnectionError::Closed, "{scheme}");
        assert!(video >= 8, "{scheme}: {video} video messages");
    }
    assert_eq!(listener.stats().accepted, 3);
}

/// Plays over `rtmpt://` with `ffmpeg`, counting the frames it decodes.
fn ffmpeg_plays_over_rtmpt(ffmpeg: &std::ffi::OsStr) {
    gst::init().unwrap();
    let dir = TempDir::new("rtmpt-play");
    let flv = dir.join("in.flv");
    make_test_flv(&flv, &TestFlv::default());
    let tags = read_flv(&flv);
    assert_eq!(video_frames(&tags), 50);
    let notices = Arc::new(Mutex::new(Vec::new()));
    let mut o = options(&notices);
    o.role = ListenRole::Players;
    let listener = Listener::bind(o).unwrap();
    let port = listener.local_addr().port();
    let url = format!("rtmpt://127.0.0.1:{port}/live/cam");
    let player = Proc::spawn(Command::new(ffmpeg).args([
        "-nostdin",
        "-v",
        "error",
        "-rw_timeout",
        "10000000",
        "-i",
        &url,
        "-map",
        "0:v",
        "-f",
        "framecrc",
        "-",
    ]));
    let accepted = listener
        .accept(Some(Duration::from_secs(10)))
        .unwrap()
        .expect("a player within 10 s");
    serve_tags(&accepted.connection, &tags);
    let finished = player.finish(Duration::from_secs(20));
    assert_eq!(framecrc_frames(&finished.stdout), 50, "{}", finished.stderr);
}

#[test]
fn ffmpeg51_plays_over_rtmpt_from_a_listener() {
    ffmpeg_plays_over_rtmpt("ffmpeg".as_ref());
}

#[test]
fn ffmpeg9_plays_over_rtmpt_from_a_listener() {
    ffmpeg_plays_over_rtmpt(common::ffmpeg9().as_os_str());
}

#[test]
fn rtmpdump_plays_over_rtmpt_from_a_listener() {
    gst::init().unwrap();
    let dir = TempDir::new("rtmpt-rtmpdump");
    let flv = dir.join("in.flv");
    make_test_flv(&flv, &TestFlv::default());
    let tags = read_flv(&flv);
    let notices = Arc::new(Mutex::new(Vec::new()));
    let mut o = options(&notices);
    o.role = ListenRole::Players;
    let listener = Listener::bind(o).unwrap();
    let port = listener.local_addr().port();
    let out = dir.join("out.flv");
    let url = format!("rtmpt://127.0.0.1:{port}/live/cam");
    let player = Proc::spawn(
        Command::new("rtmpdump")
            .args(["-q", "-v", "-m", "20", "-r", &url, "-o"])
            .arg(&out),
    );
    let accepted = listener
        .accept(Some(Duration::from_secs(10)))
        .unwrap()
        .expect("rtmpdump within 10 s");
    serve_tags(&accepted.connection, &tags);
    let finished = player.finish(Duration::from_secs(20));
    assert_eq!(video_frames(&read_flv(&out)), 50, "{}", finished.stderr);
}

#[test]
fn malformed_http_gets_a_status_and_the_listener_goes_on() {
    gst::init().unwrap();
    let notices = Arc::new(Mutex::new(Vec::new()));
    let listener = Listener::bind(options(&notices)).unwrap();
    let port = listener.local_addr().port();
    let cases: &[(&[u8], &str)] = &[
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "405"),
        (b"POST /open/1 HTTP/1.1\r\n\r\n", "411"),
        (
            b"POST /idle/0123456789abcdef/0 HTTP/1.1\r\nContent-Length: 1\r\n\r\n\0",
            "404",
        ),
        (
            b"POST /send/nope/0 HTTP/1.1\r\nContent-Length: 1\r\n\r\n\0",
            "404",
        ),
        (
            b"POST /open/1 HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
            "413",
        ),
        (
            b"POST /open/1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "501",
        ),
        (b"PUT\x00\x01\x02 garbage\r\n\r\n", "400"),
    ];
    for (request, status) in cases {
        let answer = raw_http(port, request);
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{:?} -> {answer:?}",
            String::from_utf8_lossy(request)
        );
    }
    // A header that never ends is cut off at 8 KiB.
    let mut huge = b"POST /open/1 HTTP/1.1\r\nX: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 9000));
    assert!(raw_http(port, &huge).starts_with("HTTP/1.1 431 "));
    // A real open still works, and the session id is 32 hex digits.
    let answer = raw_http(
        port,
        b"POST /open/1 HTTP/1.0\r\nContent-Length: 1\r\n\r\n\0",
    );
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    let id = answer.rsplit("\r\n\r\n").next().unwrap().trim();
    assert_eq!(id.len(), 32, "{answer:?}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(common::wait_until(Duration::from_secs(2), || listener
        .stats()
        .tunnels
        == 1));
    // And plain RTMP is still served.
    let mut client = common::rtmp_client::RawClient::connect(port, "live");
    let stream_id = client.create_stream();
    assert!(stream_id > 0);
}

/// Many tunnel sessions at once each get their own handshake answer; silent ones expire.
#[test]
fn many_tunnel_sessions_at_once_and_silent_ones_expire() {
    gst::init().unwrap();
    let notices = Arc::new(Mutex::new(Vec::new()));
    let mut o = options(&notices);
    o.setup_timeout = Duration::from_secs(4);
    let listener = Listener::bind(o).unwrap();
    let port = listener.local_addr().port();
    let mut tunnels: Vec<(RawTunnel, Vec<u8>)> = (0..50u8)
        .map(|i| {
            let mut c0c1 = vec![3u8];
            c0c1.extend((0..1536).map(|j| (j as u8).wrapping_mul(i).wrapping_add(i)));
            let mut tunnel = RawTunnel::open(port);
            let (status, _) = tunnel.exchange(&c0c1);
            assert_eq!(status, 200);
            (tunnel, c0c1)
        })
        .collect();
    let ids: std::collections::HashSet<String> =
        tunnels.iter().map(|(t, _)| t.id.clone()).collect();
    assert_eq!(ids.len(), 50, "ids are unique");
    assert!(
        common::wait_until(Duration::from_secs(2), || listener.stats().tunnels == 50),
        "{:?} {:?}",
        listener.stats(),
        notices.lock().unwrap().first()
    );
    for (tunnel, c0c1) in &mut tunnels {
        let mut answer = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while answer.len() < 3073 && Instant::now() < deadline {
            let (status, bytes) = tunnel.exchange(&[]);
            assert_eq!(status, 200);
            answer.extend(bytes);
        }
        assert_eq!(answer.len(), 3073, "S0+S1+S2");
        assert_eq!(answer[0], 3);
        assert_eq!(&answer[1537..], &c0c1[1..], "S2 echoes this session's C1");
    }
    // Nobody goes on: the RTMP sides time out in setup, the sessions expire.
    assert!(
        common::wait_until(Duration::from_secs(15), || listener.stats().tunnels == 0),
        "{:?}",
        listener.stats()
    );
    let (status, _) = tunnels[0].0.exchange(&[]);
    assert_eq!(status, 404, "an expired session is unknown");
}

/// A 404 for our session, or another HTTP error, ends our caller's connection as a close
/// (so reconnecting applies as for TCP).
#[test]
fn our_caller_takes_a_404_as_a_closed_connection() {
    use gstrtmp::connection::{
        ConnectOptions, Connection, DEFAULT_MAX_INCOMING_BYTES, DEFAULT_MAX_OUTGOING_BYTES,
        TunnelOptions,
    };
    use gstrtmp::protocol::session::{ClientConfig, SessionMode, StopCommands};
    gst::init().unwrap();
    for (status, expected) in [(404u16, "server closed the connection"), (503, "HTTP 503")] {
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let fake = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut socket, _) = server.accept().unwrap();
            let mut buf = vec![0u8; 8192];
            let _ = socket.read(&mut buf).unwrap();
            socket
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabc\n")
                .unwrap();
            let _ = socket.read(&mut buf).unwrap();
            let reply = format!("HTTP/1.1 {status} No\r\nContent-Length: 0\r\n\r\n");
            socket.write_all(reply.as_bytes()).unwrap();
            let _ = socket.read(&mut buf);
        });
        let mode = SessionMode::Play {
            stream: "cam".into(),
            start: -2.0,
            buffer_ms: 1000,
        };
        let options = ConnectOptions {
            host: "127.0.0.1".into(),
            port,
            timeout: Duration::from_secs(5),
            session: ClientConfig::new("live", &format!("rtmpt://127.0.0.1:{port}/live"), mode),
            tls: None,
            tunnel: Some(TunnelOptions::default()),
            stop_commands: StopCommands::default(),
            max_outgoing_bytes: DEFAULT_MAX_OUTGOING_BYTES,
            max_incoming_bytes: DEFAULT_MAX_INCOMING_BYTES,
            send_low_watermark: None,
            in_flight_budget: None,
            log_id: "test".into(),
        };
        let started = Instant::now();
        let connection = Connection::start(options).unwrap();
        let err = connection.wait_ready().unwrap_err();
        assert!(err.to_string().contains(expected), "{status}: {err}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        drop(connection);
        fake.join().unwrap();
    }
}

/// A player that stops polling (FFmpeg, SIGSTOPped): what waits for it is bounded (the
/// player's queue, the tunnel's buffer, the socket pair), `try_send` refuses without blocking,
/// and once it has sent no request for the setup timeout its session expires and the
/// connection ends.
#[test]
fn a_player_that_stops_polling_is_bounded_then_expires() {
    gst::init().unwrap();
    let dir = TempDir::new("rtmpt-stopped");
    let flv = dir.join("in.flv");
    make_test_flv(&flv, &TestFlv::default().duration_ms(1000));
    let tags = read_flv(&flv);
    let notices = Arc::new(Mutex::new(Vec::new()));
    let mut o = options(&notices);
    o.role = ListenRole::Players;
    o.setup_timeout = Duration::from_secs(2);
    o.max_outgoing_bytes = 1 << 20;
    let listener = Listener::bind(o).unwrap();
    let port = listener.local_addr().port();
    let url = format!("rtmpt://127.0.0.1:{port}/live/cam");
    let player = Proc::spawn(Command::new("ffmpeg").args([
        "-nostdin", "-v", "error", "-i", &url, "-map", "0:v", "-f", "null", "-",
    ]));
    let accepted = listener
        .accept(Some(Duration::from_secs(10)))
        .unwrap()
        .expect("a player within 10 s");
    // The start of the stream, so FFmpeg is past its probing and polling steadily.
    for tag in tags.iter().filter(|t| t.kind == 9).take(10) {
        let item = gstrtmp::connection::Outgoing::Video {
            timestamp: tag.timestamp,
            payload: tag.body.clone().into(),
        };
        assert!(accepted.connection.try_send(item).unwrap());
    }
    std::thread::sleep(Duration::from_millis(500));
    unsafe { libc::kill(player.id() as i32, libc::SIGSTOP) };
    let before = common::listen::rss_kib();
    let big = bytes::Bytes::from(vec![0x27u8; 32 * 1024]);
    let started = Instant::now();
    let mut sent = 0usize;
    let mut refused = false;
    for ts in 0..2000u32 {
        let item = gstrtmp::connection::Outgoing::Video {
            timestamp: 1000 + ts,
            payload: big.clone().into(),
        };
        match accepted.connection.try_send(item) {
            Ok(true) => sent += big.len(),
            Ok(false) => {
                refused = true;
                break;
            }
            Err(err) => panic!("ended before filling: {err}"),
        }
        // Let the gateway and the socket pair take what they will.
        if ts % 32 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let grown = common::listen::rss_kib().saturating_sub(before);
    eprintln!(
        "stopped player: {} KiB taken before try_send refused, RSS +{grown} KiB",
        sent / 1024
    );
    assert!(refused, "a player that polls no more must fill its queue");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "try_send blocked"
    );
    assert!(sent < 16 << 20, "{sent} bytes taken for a stopped player");
    assert!(grown < 32 * 1024, "RSS grew {grown} KiB");
    // No request for 2 s: the session expires, the player's connection ends.
    let ended = common::wait_until(Duration::from_secs(10), || {
        let item = gstrtmp::connection::Outgoing::Video {
            timestamp: 5000,
            payload: bytes::Bytes::from_static(&[0x27, 1, 0, 0, 0]).into(),
        };
        accepted.connection.try_send(item).is_err()
    });
    unsafe { libc::kill(player.id() as i32, libc::SIGCONT) };
    assert!(ended, "the expired session's connection did not end");
    let _ = player.terminate(Duration::from_secs(2));
    assert!(common::wait_until(Duration::from_secs(5), || listener
        .stats()
        .tunnels
        == 0));
}
