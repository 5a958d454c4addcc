//! The listener's connection layer on its own (no element): a real publisher (FFmpeg) into
//! `connection::Listener`, and what the accepted `Connection` hands out.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gstrtmp::connection::{ClientNotice, ConnectionError, ListenOptions, ListenRole, Listener};
use gstrtmp::protocol::session::{MediaKind, SessionEvent};

use common::rtmp_client::RawClient;
use common::{TempDir, TestFlv, ffmpeg_publish_file, make_test_flv};
use gstrtmp::protocol::amf0::Amf0Value;

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

#[test]
fn ffmpeg_publishes_into_a_listener_and_the_connection_delivers_media_then_eof() {
    gst::init().unwrap();
    let dir = TempDir::new("listen-conn");
    let flv = dir.join("in.flv");
    make_test_flv(&flv, &TestFlv::default().duration_ms(1000));
    let notices = Arc::new(Mutex::new(Vec::new()));
    let listener = Listener::bind(options(&notices)).unwrap();
    let port = listener.local_addr().port();
    let publisher = ffmpeg_publish_file(&flv, &format!("rtmp://127.0.0.1:{port}/live/cam"));
    let accepted = listener
        .accept(Some(Duration::from_secs(10)))
        .unwrap()
        .expect("a publisher within 10 s");
    assert_eq!(accepted.stream, "cam");
    let (mut video, mut audio, mut data, mut eof) = (0, 0, 0, false);
    let deadline = Instant::now() + Duration::from_secs(15);
    let end = loop {
        assert!(Instant::now() < deadline, "no end within 15 s");
        match accepted.connection.recv(Some(Duration::from_secs(1))) {
            Ok(Some(SessionEvent::Media {
                kind: MediaKind::Video,
                ..
            })) => video += 1,
            Ok(Some(SessionEvent::Media {
                kind: MediaKind::Audio,
                ..
            })) => audio += 1,
            Ok(Some(SessionEvent::Data { values, .. })) => {
                assert_eq!(
                    values[0],
                    gstrtmp::protocol::amf0::Amf0Value::String("onMetaData".into())
                );
                data += 1
            }
            Ok(Some(SessionEvent::StreamEof)) => eof = true,
            Ok(Some(other)) => panic!("unexpected {other:?}"),
            Ok(None) => {}
            Err(err) => break err,
        }
    };
    publisher
        .finish(Duration::from_secs(10))
        .assert_success("ffmpeg publish");
    assert_eq!(end, ConnectionError::Closed);
    assert!(eof, "StreamEof before the close");
    // 25 fps for 1 s plus the sequence header; AAC at 48 kHz: ~47 frames plus its header.
    assert!(video >= 26, "video messages: {video}");
    assert!(audio >= 40, "audio messages: {audio}");
    assert_eq!(data, 1);
    assert!(common::wait_until(Duration::from_secs(5), || listener
        .stats()
        .current
        == 0));
    let stats = listener.stats();
    assert_eq!((stats.accepted, stats.refused), (1, 0));
    let notices = notices.lock().unwrap();
    assert!(
        matches!(&notices[0], ClientNotice::Connected { app, stream, .. } if app == "live" && stream == "cam"),
        "{notices:?}"
    );
    assert!(
        matches!(&notices[1], ClientNotice::Disconnected { reason: None, .. }),
        "{notices:?}"
    );
}

fn players_options(notices: &Arc<Mutex<Vec<ClientNotice>>>, max_clients: usize) -> ListenOptions {
    let mut o = options(notices);
    o.role = ListenRole::Players;
    o.max_clients = max_clients;
    o
}

/// A raw player that connected, created a stream and asked to play `name`.
fn raw_player(port: u16, name: &str) -> (common::rtmp_client::RawClient, u32) {
    let mut client = common::rtmp_client::RawClient::connect(port, "live");
    let id = client.create_stream();
    client.play(id, name, -1.0, 0);
    (client, id)
}

#[test]
fn players_get_what_try_send_queues_then_the_end_of_the_stream_on_close() {
    gst::init().unwrap();
    let notices = Arc::new(Mutex::new(Vec::new()));
    let listener = Listener::bind(players_options(&notices, 4)).unwrap();
    let port = listener.local_addr().port();
    let (mut client, _) = raw_player(port, "cam");
    let accepted = listener
        .accept(Some(Duration::from_secs(5)))
        .unwrap()
        .expect("a player");
    let start = client.recv_until(Duration::from_secs(5), |m| {
        m.status_code().as_deref() == Some("NetStream.Play.Start")
    });
    assert!(
        start
            .iter()
            .any(|m| m.status_code().as_deref() == Some("NetStream.Play.Start"))
    );
    // An AVC sequence header and a keyframe, as FLV tag bodies.
    let frames = [
        &[0x17u8, 0, 0, 0, 0, 1, 0x64, 0, 0x1f][..],
        &[0x17, 1, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88],
    ];
    for (i, body) in frames.iter().enumerate() {
        let item = gstrtmp::connection::Outgoing::Video {
            timestamp: i as u32 * 40,
            payload: bytes::Bytes::copy_from_slice(body).into(),
        };
        assert!(accepted.connection.try_send(item).unwrap());
    }
    let got = client.recv_until(Duration::from_secs(5), |m| {
        m.is_media() && m.raw.timestamp == 40
    });
    let media: Vec<_> = got.iter().filter(|m| m.is_media()).collect();
    assert_eq!(media.len(), 2, "{got:?}");
    assert_eq!(&media[1].raw.payload[..], frames[1]);
    accepted.connection.close(Duration::from_secs(2)).unwrap();
    let end = client.recv_for(Duration::from_secs(2));
    assert!(
        end.iter()
            .any(|m| m.status_code().as_deref() == Some("NetStream.Play.UnpublishNotify")),
        "{end:?}"
    );
    assert!(common::wait_until(Duration::from_secs(5), || listener
        .stats()
        .current
        == 0));
}

#[test]
fn a_full_player_queue_makes_try_send_refuse_without_blocking() {
    gst::init().unwrap();
    let notices = Arc::new(Mutex::new(Vec::new()));
    let mut o = players_options(&notices, 1);
    o.max_outgoing_bytes = 64 * 1024;
    let listener = Listener::bind(o).unwrap();
    let (_client, _) = raw_player(listener.local_addr().port(), "cam");
    let accepted = listener
        .accept(Some(Duration::from_secs(5)))
        .unwrap()
        .expect("a player");
    // The client reads nothing: the kernel's buffers, the session's and then the queue fill.
    let big = bytes::Bytes::from(vec![0x27u8; 32 * 1024]);
    let started = Instant::now();
    let mut refused = false;
    for ts in 0..2000u32 {
        let item = gstrtmp::connection::Outgoing::Video {
            timestamp: ts,
            payload: big.clone().into(),
        };
        if !accepted.connection.try_send(item).unwrap() {
            refused = true;
            break;
        }
    }
    assert!(refused, "a player that reads nothing must fill its queue");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "try_send blocked"
    );
    assert!(accepted.connection.queued_bytes() >= 32 * 1024);
}

#[test]
fn more_players_than_max_clients_are_refused_and_memory_per_player_is_bounded() {
    gst::init().unwrap();
    let notices = Arc::new(Mutex::new(Vec::new()));
    let listener = Listener::bind(players_options(&notices, 50)).unwrap();
    let port = listener.local_addr().port();
    let before = common::listen::rss_kib();
    let mut players = Vec::new();
    let mut accepted = Vec::new();
    for _ in 0..50 {
        players.push(raw_player(port, "cam"));
        accepted.push(
            listener
                .accept(Some(Duration::from_secs(5)))
                .unwrap()
                .expect("a player"),
        );
    }
    let after = common::listen::rss_kib();
    let per_player = (after.saturating_sub(before)) * 1024 / 50;
    eprintln!(
        "50 accepted players: RSS +{} KiB, {per_player} B each",
        after - before
    );
    assert_eq!(listener.stats().current, 50);
    let (mut extra, _) = raw_player(port, "cam");
    let answer = extra.recv_until(Duration::from_secs(5), |m| m.status_code().is_some());
    assert!(
        answer
            .iter()
            .any(|m| m.status_code().as_deref() == Some("NetStream.Play.Failed")),
        "{answer:?}"
    );
    let refused_at = Instant::now();
    while extra.recv(Duration::from_secs(3)).is_some() {}
    eprintln!(
        "a refused player was closed {:?} after its answer",
        refused_at.elapsed()
    );
    assert!(common::wait_until(Duration::from_secs(2), || {
        notices.lock().unwrap().iter().any(
            |n| matches!(n, ClientNotice::Refused { reason, .. } if reason == "too many players"),
        )
    }));
    // Generous: a thread's touched stack, the session and the read buffer.
    assert!(per_player < 512 * 1024, "{per_player} B per player");
}

/// FFmpeg ends a publish with FCUnpublish, then deleteStream, then closes. rtmpsrc posts EOS at
/// FCUnpublish and an application stops at EOS: the connection must not be reset under the
/// closing commands (FFmpeg would exit with "Broken pipe").
#[test]
fn a_publisher_that_unpublished_is_not_reset_when_the_element_closes_and_stops() {
    unpublished_publisher_when_the_element_stops(true);
}

#[test]
fn a_publisher_that_unpublished_is_not_reset_when_the_element_just_stops() {
    unpublished_publisher_when_the_element_stops(false);
}

/// `close_first`: the element closes the connection before dropping it (as rtmpsrc does at
/// EOS), or only drops it (stopping).
fn unpublished_publisher_when_the_element_stops(close_first: bool) {
    gst::init().unwrap();
    let notices = Arc::new(Mutex::new(Vec::new()));
    let listener = Listener::bind(options(&notices)).unwrap();
    let port = listener.local_addr().port();
    let mut client = RawClient::connect(port, "live");
    let name = || vec![Amf0Value::String("cam".into())];
    let stream_id = client.create_stream();
    client.command(
        stream_id,
        "publish",
        None,
        vec![
            Amf0Value::String("cam".into()),
            Amf0Value::String("live".into()),
        ],
    );
    let accepted = listener
        .accept(Some(Duration::from_secs(10)))
        .unwrap()
        .expect("a publisher within 10 s");
    client.try_notify(0, "FCUnpublish", name()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(Instant::now() < deadline, "no StreamEof");
        if let Ok(Some(SessionEvent::StreamEof)) =
            accepted.connection.recv(Some(Duration::from_millis(100)))
        {
            break;
        }
    }
    let stopping = std::thread::spawn(move || {
        if close_first {
            let _ = accepted.connection.close(Duration::from_secs(1));
        }
        drop(accepted)
    });
    client
        .read_to_close(Duration::from_secs(5))
        .expect("the server closes its side");
    // FFmpeg's closing command after that, and its close: neither is met with a reset.
    let delete = client.try_notify(
        stream_id,
        "deleteStream",
        vec![Amf0Value::Number(f64::from(stream_id))],
    );
    std::thread::sleep(Duration::from_millis(100));
    let again = client.try_notify(0, "FCUnpublish", name());
    assert!(delete.is_ok() && again.is_ok(), "{delete:?} {again:?}");
    drop(client);
    stopping.join().unwrap();
}
