//! rtmpsink against a scripted server that misbehaves in each way a real one might: every case
//! must end in a clear error (or EOS where the protocol allows) within the timeout, and a state
//! change to NULL must return at once whatever the server is doing.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::pipeline::{init, run};
use common::rtmp_server::{Conn, ScriptedServer, info};
use gst::prelude::*;
use gstrtmp::protocol::amf0::Amf0Value;
use gstrtmp::protocol::chunk::RawMessage;

const VIDEO: &str = "videotestsrc num-buffers=25 ! video/x-raw,width=160,height=120,framerate=25/1 \
     ! x264enc speed-preset=ultrafast ! h264parse";

/// Publishes 1 s of video to `server` with a 3 s timeout and no reconnecting; returns the
/// outcome and how long it took.
fn publish(server: &ScriptedServer) -> (common::pipeline::Outcome, Duration) {
    publish_with(server, "reconnect-attempts=0")
}

fn publish_with(server: &ScriptedServer, extra: &str) -> (common::pipeline::Outcome, Duration) {
    let start = Instant::now();
    let outcome = run(
        &format!(
            "{VIDEO} ! rtmpsink name=s location={} timeout=3 sync=false {extra}",
            server.url("live/x")
        ),
        Duration::from_secs(30),
    );
    (outcome, start.elapsed())
}

fn assert_error(outcome: &common::pipeline::Outcome, kind: gst::ResourceError, text: &str) {
    assert!(!outcome.eos, "ended with EOS instead of an error");
    let (err, _) = outcome.error.as_ref().expect("an error");
    assert!(err.matches(kind), "{err:?}");
    assert!(
        outcome.error_text().contains(text),
        "{}",
        outcome.error_text()
    );
}

#[test]
fn closing_during_the_handshake() {
    let server = ScriptedServer::start(|mut c: Conn| {
        c.read_exact(1537);
        c.write(&[3; 700]);
    });
    let (outcome, took) = publish(&server);
    assert_error(
        &outcome,
        gst::ResourceError::OpenWrite,
        "during the handshake",
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn garbage_after_the_handshake() {
    let server = ScriptedServer::start(|mut c: Conn| {
        c.handshake();
        // A continuation chunk on a chunk stream that never started, then noise.
        c.write(&[0xC9, 0xDE, 0xAD, 0xBE, 0xEF, 0x13, 0x37]);
        c.stall(Duration::from_secs(5));
    });
    let (outcome, took) = publish(&server);
    assert_error(&outcome, gst::ResourceError::Write, "invalid chunk stream");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn a_16_mib_message_is_refused_before_it_is_buffered() {
    let server = ScriptedServer::start(|mut c: Conn| {
        c.handshake();
        // Type-0 header on csid 3 claiming 0xFFFFFF bytes, then a little data.
        c.write(&[0x03, 0, 0, 0, 0xFF, 0xFF, 0xFF, 20, 0, 0, 0, 0]);
        c.write(&[0; 128]);
        c.stall(Duration::from_secs(5));
    });
    let (outcome, took) = publish(&server);
    assert_error(&outcome, gst::ResourceError::Write, "exceeds the limit");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn stalling_in_the_middle_of_a_message_times_out() {
    let server = ScriptedServer::start(|mut c: Conn| {
        c.handshake();
        c.expect_command("connect");
        // The first 6 bytes of an 11-byte message header, and nothing more.
        c.write(&[0x03, 0, 0, 0, 0, 0]);
        c.stall(Duration::from_secs(10));
    });
    let (outcome, took) = publish(&server);
    assert_error(&outcome, gst::ResourceError::OpenWrite, "timed out");
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(6),
        "{took:?}"
    );
}

#[test]
fn a_server_that_stops_reading_is_detected() {
    let server = ScriptedServer::start(|mut c: Conn| {
        if c.accept_publish() {
            c.stall(Duration::from_secs(30));
        }
    });
    let start = Instant::now();
    // Incompressible video, as fast as it encodes: the socket buffers fill within seconds.
    let outcome = run(
        &format!(
            "videotestsrc pattern=snow ! video/x-raw,width=1280,height=720 \
             ! x264enc speed-preset=ultrafast bitrate=100000 ! h264parse \
             ! rtmpsink name=s location={} timeout=2 sync=false reconnect-attempts=0",
            server.url("live/x")
        ),
        Duration::from_secs(40),
    );
    assert_error(&outcome, gst::ResourceError::Write, "stopped reading");
    assert!(
        start.elapsed() < Duration::from_secs(25),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_server_that_never_acknowledges_still_gets_the_whole_stream() {
    let server = ScriptedServer::start(|mut c: Conn| {
        if c.accept_publish() {
            c.drain();
        }
    });
    let (outcome, _) = publish(&server);
    outcome.assert_eos();
    let stats = outcome.stats.expect("stats");
    assert_eq!(stats.get::<u64>("video-messages").unwrap(), 26);
    assert_eq!(stats.get::<u64>("out-bytes-acked").unwrap(), 0);
}

#[test]
fn error_answers_to_each_command() {
    let connect_error = ScriptedServer::start(|mut c: Conn| {
        c.handshake();
        if let Some((txn, _)) = c.expect_command("connect") {
            c.command(
                "_error",
                txn,
                0,
                vec![info("error", "NetConnection.Connect.Rejected")],
            );
            c.drain();
        }
    });
    let (outcome, _) = publish(&connect_error);
    assert_error(
        &outcome,
        gst::ResourceError::NotAuthorized,
        "NetConnection.Connect.Rejected",
    );

    let create_error = ScriptedServer::start(|mut c: Conn| {
        if c.accept_connect()
            && let Some((txn, _)) = c.expect_command("createStream")
        {
            c.command(
                "_error",
                txn,
                0,
                vec![info("error", "NetConnection.Call.Failed")],
            );
            c.drain();
        }
    });
    let (outcome, _) = publish(&create_error);
    assert_error(&outcome, gst::ResourceError::OpenWrite, "create a stream");

    let publish_error = ScriptedServer::start(|mut c: Conn| {
        if c.accept_connect() && c.accept_create_stream() && c.expect_command("publish").is_some() {
            c.status(1, "error", "NetStream.Publish.Failed");
            c.drain();
        }
    });
    let (outcome, _) = publish(&publish_error);
    assert_error(
        &outcome,
        gst::ResourceError::OpenWrite,
        "NetStream.Publish.Failed",
    );
}

#[test]
fn closing_in_the_middle_of_the_stream_is_an_error_not_eos() {
    let server = ScriptedServer::start(|mut c: Conn| {
        if c.accept_publish() {
            // Take a few media messages, then hang up.
            for _ in 0..5 {
                c.read_message();
            }
        }
    });
    let (outcome, took) = publish(&server);
    assert_error(&outcome, gst::ResourceError::Write, "");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn a_dropped_connection_is_reconnected_and_resumes_at_a_keyframe() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use gstrtmp::flv::{VideoTag, parse_video_body};
    use gstrtmp::protocol::message::Message;

    let connections = Arc::new(AtomicUsize::new(0));
    let second: Arc<Mutex<Vec<Message>>> = Arc::default();
    let (count, seen) = (connections.clone(), second.clone());
    let server = ScriptedServer::start(move |mut c: Conn| {
        let n = count.fetch_add(1, Ordering::SeqCst);
        if !c.accept_publish() {
            return;
        }
        if n == 0 {
            // Metadata, sequence header and a few frames, then the "server restarts".
            for _ in 0..6 {
                c.read_message();
            }
            return;
        }
        while let Some(message) = c.read_message() {
            seen.lock().unwrap().push(message);
        }
    });
    // Live pace (sync=true) with a keyframe every 5 frames, as a live encoder would send.
    let outcome = run(
        &format!(
            "videotestsrc num-buffers=40 ! video/x-raw,width=160,height=120,framerate=25/1 \
             ! x264enc speed-preset=ultrafast key-int-max=5 ! h264parse \
             ! rtmpsink name=s location={} timeout=3 reconnect-delay=100",
            server.url("live/x")
        ),
        Duration::from_secs(30),
    );
    outcome.assert_eos();
    assert_eq!(connections.load(Ordering::SeqCst), 2);
    let stats = outcome.stats.unwrap();
    assert_eq!(stats.get::<u64>("reconnects").unwrap(), 1, "{stats}");

    // The new publish starts with metadata, then the sequence header, then a keyframe.
    let media: Vec<Message> = second
        .lock()
        .unwrap()
        .iter()
        .filter(|m| matches!(m, Message::Video { .. } | Message::Data { .. }))
        .cloned()
        .collect();
    assert!(matches!(&media[0], Message::Data { values, .. }
        if values.first() == Some(&Amf0Value::String("@setDataFrame".into()))));
    let Message::Video { payload, .. } = &media[1] else {
        panic!("{:?}", media[1])
    };
    assert!(matches!(
        parse_video_body(payload),
        Ok(VideoTag::AvcSequenceHeader(_))
    ));
    let Message::Video { payload, .. } = &media[2] else {
        panic!("{:?}", media[2])
    };
    assert!(
        matches!(
            parse_video_body(payload),
            Ok(VideoTag::AvcFrame { keyframe: true, .. })
        ),
        "the first frame after reconnecting is not a keyframe"
    );
    // Video timestamps keep growing across the reconnection.
    let timestamps: Vec<u32> = media
        .iter()
        .filter_map(|m| match m {
            Message::Video { timestamp, .. } => Some(*timestamp),
            _ => None,
        })
        .collect();
    assert!(
        timestamps.windows(2).all(|w| w[0] <= w[1]),
        "{timestamps:?}"
    );
}

#[test]
fn giving_up_after_the_last_attempt_is_an_error() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let connections = std::sync::Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    let server = ScriptedServer::start(move |mut c: Conn| {
        // The first connection drops mid-stream; every later one is hung up on at once.
        if count.fetch_add(1, Ordering::SeqCst) == 0 && c.accept_publish() {
            c.read_message();
        }
    });
    let start = Instant::now();
    let (outcome, _) = publish_with(
        &server,
        "reconnect-attempts=2 reconnect-delay=100 sync=true",
    );
    assert!(!outcome.eos);
    let (err, _) = outcome
        .error
        .as_ref()
        .expect("an error after the last attempt");
    assert!(err.matches(gst::ResourceError::OpenWrite), "{err:?}");
    assert_eq!(connections.load(Ordering::SeqCst), 3);
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_server_that_accepts_and_drops_every_time_uses_up_the_attempts() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let connections = std::sync::Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    // Every connection gets as far as Publish.Start and is dropped right after (nginx's
    // `deny publish` does that): reconnecting "works" each time but the stream never recovers.
    let server = ScriptedServer::start(move |mut c: Conn| {
        count.fetch_add(1, Ordering::SeqCst);
        if c.accept_publish() {
            c.read_message();
        }
    });
    // 10 s of live-paced video: the attempts must run out long before it ends.
    let start = Instant::now();
    let outcome = run(
        &format!(
            "videotestsrc num-buffers=250 ! video/x-raw,width=160,height=120,framerate=25/1 \
             ! x264enc speed-preset=ultrafast ! h264parse ! rtmpsink name=s location={} \
             timeout=3 reconnect-attempts=3 reconnect-delay=50",
            server.url("live/x")
        ),
        Duration::from_secs(30),
    );
    assert!(!outcome.eos);
    assert!(outcome.error.is_some());
    assert_eq!(connections.load(Ordering::SeqCst), 4);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn server_messages_while_publishing_are_handled() {
    // Pings, a chunk size change, an abort, an unknown user control event and an aggregate of
    // nothing: the publisher answers what needs an answer and carries on.
    let server = ScriptedServer::start(|mut c: Conn| {
        if !c.accept_publish() {
            return;
        }
        use gstrtmp::protocol::message::{Message, UserControlEvent};
        c.send(
            2,
            &Message::UserControl(UserControlEvent::PingRequest(77)),
            0,
        );
        c.send(2, &Message::SetChunkSize(60), 0);
        c.send(2, &Message::Abort(9), 0);
        c.send(
            2,
            &Message::UserControl(UserControlEvent::Other {
                event_type: 31,
                value: 5,
            }),
            0,
        );
        c.send_raw(
            4,
            &RawMessage {
                type_id: 22,
                timestamp: 0,
                stream_id: 1,
                payload: Bytes::new(),
            },
        );
        let mut pong = false;
        while let Some(message) = c.read_message() {
            pong |= message == Message::UserControl(UserControlEvent::PingResponse(77));
        }
        assert!(pong, "no ping response");
    });
    let (outcome, _) = publish(&server);
    outcome.assert_eos();
}

/// The bytes the sink named `s` has written to its socket.
fn out_bytes(pipeline: &gst::Element) -> u64 {
    let sink = pipeline
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("s")
        .unwrap();
    sink.property::<gst::Structure>("stats")
        .get::<u64>("out-bytes-total")
        .unwrap()
}

/// NULL must return at once in every waiting state. Each script tells when it has reached the
/// point where it stalls; only the `set_state(NULL)` call is timed. x264enc (tune=zerolatency:
/// no lookahead threads to wind down) keeps the machine busy meanwhile, so the bound is 1 s:
/// far below the 30 s `timeout` any network wait would run into.
#[test]
fn null_returns_at_once_whatever_the_server_does() {
    init();
    type Script = Box<dyn Fn(Conn, &std::sync::mpsc::Sender<()>) + Send + Sync>;
    let cases: Vec<(&str, Script)> = vec![
        (
            "silent",
            Box::new(|c: Conn, stalled| {
                let _ = stalled.send(());
                c.stall(Duration::from_secs(20));
            }),
        ),
        (
            "stalled mid-handshake",
            Box::new(|mut c: Conn, stalled| {
                c.read_exact(1537);
                c.write(&[3; 100]);
                let _ = stalled.send(());
                c.stall(Duration::from_secs(20));
            }),
        ),
        (
            "never answers connect",
            Box::new(|mut c: Conn, stalled| {
                c.handshake();
                if c.expect_command("connect").is_some() {
                    let _ = stalled.send(());
                }
                c.stall(Duration::from_secs(20));
            }),
        ),
        (
            "stops reading while we publish",
            Box::new(|mut c: Conn, stalled| {
                if c.accept_publish() {
                    let _ = stalled.send(());
                    c.stall(Duration::from_secs(20));
                }
            }),
        ),
    ];
    for (what, script) in cases {
        let (tx, stalled) = std::sync::mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        let server = ScriptedServer::start(move |c: Conn| {
            let tx = tx.lock().unwrap().clone();
            script(c, &tx)
        });
        let pipeline = gst::parse::launch(&format!(
            "videotestsrc ! video/x-raw,width=640,height=480 ! x264enc speed-preset=ultrafast \
             tune=zerolatency bitrate=20000 ! h264parse ! rtmpsink name=s location={} timeout=30 \
             sync=false",
            server.url("live/x")
        ))
        .unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        stalled
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("{what}: the script never reached its stall"));
        if what.starts_with("stops reading") {
            // Wait until the socket is full: the written byte count stops moving.
            let mut last = 0;
            let full = common::wait_until(Duration::from_secs(15), || {
                std::thread::sleep(Duration::from_millis(200));
                let now = out_bytes(&pipeline);
                let stuck = now > 0 && now == last;
                last = now;
                stuck
            });
            assert!(
                full,
                "{what}: the sink never stopped writing ({last} bytes)"
            );
        }
        let start = Instant::now();
        pipeline.set_state(gst::State::Null).unwrap();
        let took = start.elapsed();
        assert!(took < Duration::from_secs(1), "{what}: NULL took {took:?}");
        drop(server);
    }
}

#[test]
fn connect_args_reach_the_server() {
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = ScriptedServer::start(move |mut c: Conn| {
        c.handshake();
        if let Some((_, args)) = c.expect_command("connect") {
            let _ = tx.lock().unwrap().send(args);
        }
    });
    let _ = run(
        &format!(
            "{VIDEO} ! rtmpsink name=s location={} timeout=1 extra-connect-args=\"conn=S:token conn=N:7 conn=B:1\"",
            server.url("live/x")
        ),
        Duration::from_secs(10),
    );
    let args = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("connect seen");
    assert_eq!(
        args,
        vec![
            Amf0Value::String("token".into()),
            Amf0Value::Number(7.0),
            Amf0Value::Boolean(true)
        ]
    );
}

#[test]
fn a_reconnect_request_moves_the_stream_at_a_keyframe() {
    use std::sync::{Arc, Mutex};

    use gstrtmp::flv::{VideoTag, parse_video_body};
    use gstrtmp::protocol::message::Message;

    let on_new: Arc<Mutex<Vec<Message>>> = Arc::default();
    let seen = on_new.clone();
    let new_server = ScriptedServer::start(move |mut c: Conn| {
        if c.accept_publish() {
            while let Some(message) = c.read_message() {
                seen.lock().unwrap().push(message);
            }
        }
    });
    let target = format!("rtmp://127.0.0.1:{}/live", new_server.port);
    let old_server = ScriptedServer::start(move |mut c: Conn| {
        if !c.accept_publish() {
            return;
        }
        for _ in 0..8 {
            c.read_message();
        }
        let mut request = info("status", "NetConnection.Connect.ReconnectRequest");
        if let Amf0Value::Object(fields) = &mut request {
            fields.push(("tcUrl".into(), Amf0Value::String(target.clone())));
        }
        c.command("onStatus", 0.0, 0, vec![request]);
        c.drain();
    });
    let outcome = run(
        &format!(
            "videotestsrc num-buffers=50 ! video/x-raw,width=160,height=120,framerate=25/1 \
             ! x264enc speed-preset=ultrafast key-int-max=10 ! h264parse \
             ! rtmpsink name=s location={} timeout=3",
            old_server.url("live/x")
        ),
        Duration::from_secs(30),
    );
    outcome.assert_eos();
    let moved = outcome
        .element_messages
        .iter()
        .find(|s| s.name() == "rtmp-reconnected")
        .expect("rtmp-reconnected");
    assert_eq!(moved.get::<bool>("requested-by-server").ok(), Some(true));

    let messages = on_new.lock().unwrap().clone();
    let media: Vec<&Message> = messages
        .iter()
        .filter(|m| matches!(m, Message::Video { .. } | Message::Data { .. }))
        .collect();
    assert!(
        media.len() > 10,
        "{} messages on the new server",
        media.len()
    );
    assert!(matches!(media[0], Message::Data { .. }));
    let Message::Video { payload, .. } = media[1] else {
        panic!("{:?}", media[1])
    };
    assert!(matches!(
        parse_video_body(payload),
        Ok(VideoTag::AvcSequenceHeader(_))
    ));
    let Message::Video { payload, .. } = media[2] else {
        panic!("{:?}", media[2])
    };
    assert!(matches!(
        parse_video_body(payload),
        Ok(VideoTag::AvcFrame { keyframe: true, .. })
    ));
    // The stream ended on the new server, with the stop commands.
    assert!(
        messages
            .iter()
            .any(|m| matches!(m, Message::Command { name, .. } if name == "deleteStream"))
    );
}
