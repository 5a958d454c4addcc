//! Element properties seen where they take effect: on the wire (a scripted server records what
//! the client sent) or at a real nginx-rtmp (its info log, its recording), and caps that change
//! in the middle of a stream on both elements.

mod common;
#[path = "rtmpsrc_support/player.rs"]
mod player;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::pipeline::{init, run};
use common::rtmp_server::{Conn, ScriptedServer};
use common::{Nginx, decode_errors, probe, run_with_timeout, wait_until};
use gst::prelude::*;
use gstrtmp::protocol::message::{Message, UserControlEvent};
use player::Player;

const WAIT: Duration = Duration::from_secs(10);

const VIDEO: &str = "videotestsrc num-buffers=25 ! video/x-raw,width=160,height=120,framerate=25/1 \
     ! x264enc speed-preset=ultrafast ! h264parse";

/// A scripted server that accepts a publish and sends every command name the client sends
/// afterwards (until it goes away) to the returned receiver.
fn recording_publish_server() -> (ScriptedServer, Receiver<String>) {
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    let server = ScriptedServer::start(move |mut c: Conn| {
        let tx: Sender<String> = tx.lock().unwrap().clone();
        if !c.accept_publish() {
            return;
        }
        while let Some(message) = c.read_message() {
            if let Message::Command { name, .. } = message {
                let _ = tx.send(name);
            }
        }
        let _ = tx.send("<closed>".into());
    });
    (server, rx)
}

/// Publishes 1 s of video to `server` with `props` on rtmpsink; returns the commands the server
/// saw after the publish started.
fn commands_after_publish(props: &str) -> Vec<String> {
    let (server, commands) = recording_publish_server();
    let outcome = run(
        &format!(
            "{VIDEO} ! rtmpsink name=s location={} sync=false timeout=3 {props}",
            server.url("live/x")
        ),
        Duration::from_secs(30),
    );
    outcome.assert_eos();
    let mut seen = Vec::new();
    while let Ok(name) = commands.recv_timeout(WAIT) {
        if name == "<closed>" {
            return seen;
        }
        seen.push(name);
    }
    panic!("the connection did not close; commands: {seen:?}");
}

#[test]
fn stop_commands_are_what_the_sink_sends_at_the_end() {
    assert_eq!(
        commands_after_publish(""),
        ["FCUnpublish", "deleteStream"],
        "the default"
    );
    assert_eq!(
        commands_after_publish("stop-commands=fcunpublish+closestream+deletestream"),
        ["FCUnpublish", "closeStream", "deleteStream"]
    );
    assert_eq!(
        commands_after_publish("stop-commands=closestream"),
        ["closeStream"]
    );
    assert_eq!(
        commands_after_publish("stop-commands=0"),
        Vec::<String>::new()
    );
}

/// What nginx logged for the connection that published `name`, up to its disconnect (nginx
/// logs a `deleteStream` of its own after that); `None` until it has disconnected.
fn nginx_log_until_disconnect(nginx: &Nginx, name: &str) -> Option<Vec<String>> {
    let log = nginx.error_log();
    let publish = format!("publish: name='{name}'");
    let id = log
        .lines()
        .find(|l| l.contains(&publish))
        .and_then(|l| l.split_whitespace().find(|w| w.starts_with('*')))?;
    let id = format!(" {id} ");
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(&id)).collect();
    let end = lines.iter().position(|l| l.contains(" disconnect,"))?;
    Some(lines[..end].iter().map(|l| l.to_string()).collect())
}

#[test]
fn stop_commands_reach_nginx() {
    // nginx-rtmp logs closeStream and deleteStream at info level as it handles them (not
    // FCUnpublish, which the scripted-server test above covers).
    let nginx = Nginx::start();
    for (name, flags, expected) in [
        ("all", "fcunpublish+closestream+deletestream", true),
        ("none", "0", false),
    ] {
        let outcome = run(
            &format!(
                "{VIDEO} ! rtmpsink name=s location={} sync=false stop-commands={flags}",
                nginx.url(name)
            ),
            Duration::from_secs(30),
        );
        outcome.assert_eos();
        let mut lines = None;
        let closed = wait_until(WAIT, || {
            lines = nginx_log_until_disconnect(&nginx, name);
            lines.is_some()
        });
        assert!(closed, "{name}: no disconnect\n{}", nginx.error_log());
        let lines = lines.unwrap();
        for command in ["closeStream", "deleteStream"] {
            let sent = lines.iter().any(|l| l.contains(&format!(" {command}, ")));
            assert_eq!(sent, expected, "{name}: {command} in {lines:#?}");
        }
    }
}

/// A scripted server that only counts connections (and keeps each open, silent).
fn counting_server() -> (ScriptedServer, Arc<AtomicUsize>) {
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    let server = ScriptedServer::start(move |mut c: Conn| {
        count.fetch_add(1, Ordering::SeqCst);
        c.drain();
    });
    (server, connections)
}

/// How long a PAUSED pipeline is watched for a connection that must not come. A connect on
/// loopback takes milliseconds: the async-connect=true control case shows it within this time.
const NO_CONNECTION_FOR: Duration = Duration::from_secs(1);

#[test]
fn rtmpsink_without_async_connect_connects_on_the_first_buffer() {
    init();
    let sink_pipeline = |server: &ScriptedServer, async_connect: bool| {
        // A live source produces nothing while PAUSED: the sink gets no buffer there.
        gst::parse::launch(&format!(
            "videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=25/1 \
             ! x264enc tune=zerolatency speed-preset=ultrafast ! h264parse \
             ! rtmpsink location={} async-connect={async_connect} timeout=3",
            server.url("live/x")
        ))
        .unwrap()
    };
    // The control: with async-connect (the default) the sink connects when starting.
    let (server, connections) = counting_server();
    let pipeline = sink_pipeline(&server, true);
    pipeline.set_state(gst::State::Paused).unwrap();
    assert!(
        wait_until(NO_CONNECTION_FOR, || connections.load(Ordering::SeqCst)
            == 1),
        "async-connect=true did not connect while PAUSED"
    );
    pipeline.set_state(gst::State::Null).unwrap();

    let (server, connections) = counting_server();
    let pipeline = sink_pipeline(&server, false);
    pipeline.set_state(gst::State::Paused).unwrap();
    std::thread::sleep(NO_CONNECTION_FOR);
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "connected before any buffer, still PAUSED after {NO_CONNECTION_FOR:?}"
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    assert!(
        wait_until(WAIT, || connections.load(Ordering::SeqCst) == 1),
        "no connection once buffers flowed"
    );
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn rtmpsrc_without_async_connect_connects_at_playing() {
    init();
    let src_pipeline = |server: &ScriptedServer, async_connect: bool| {
        let pipeline = gst::Pipeline::new();
        let src = gst::ElementFactory::make("rtmpsrc")
            .property("location", server.url("live/x"))
            .property("async-connect", async_connect)
            .property("timeout", 3u32)
            .build()
            .unwrap();
        pipeline.add(&src).unwrap();
        pipeline
    };
    let (server, connections) = counting_server();
    let pipeline = src_pipeline(&server, true);
    pipeline.set_state(gst::State::Paused).unwrap();
    assert!(
        wait_until(NO_CONNECTION_FOR, || connections.load(Ordering::SeqCst)
            == 1),
        "async-connect=true did not connect while PAUSED"
    );
    pipeline.set_state(gst::State::Null).unwrap();

    let (server, connections) = counting_server();
    let pipeline = src_pipeline(&server, false);
    pipeline.set_state(gst::State::Paused).unwrap();
    std::thread::sleep(NO_CONNECTION_FOR);
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "connected while PAUSED (still after {NO_CONNECTION_FOR:?})"
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    assert!(
        wait_until(WAIT, || connections.load(Ordering::SeqCst) == 1),
        "no connection at PLAYING"
    );
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn rtmpsrc_buffer_length_is_sent_as_set_buffer_length() {
    init();
    let (tx, lengths) = channel();
    let tx = Mutex::new(tx);
    let server = ScriptedServer::start(move |mut c: Conn| {
        let tx: Sender<(u32, u32)> = tx.lock().unwrap().clone();
        if !(c.accept_connect() && c.accept_create_stream()) {
            return;
        }
        while let Some(message) = c.read_message() {
            match message {
                Message::UserControl(UserControlEvent::SetBufferLength {
                    stream_id,
                    buffer_ms,
                }) => {
                    let _ = tx.send((stream_id, buffer_ms));
                }
                Message::Command { name, .. } if name == "play" => {
                    c.status(1, "status", "NetStream.Play.Start");
                }
                _ => {}
            }
        }
    });
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("rtmpsrc")
        .property("location", server.url("live/x"))
        .property("buffer-length", 4321u32)
        .build()
        .unwrap();
    pipeline.add(&src).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let got = lengths.recv_timeout(WAIT);
    pipeline.set_state(gst::State::Null).unwrap();
    let (stream_id, buffer_ms) = got.expect("no SetBufferLength sent");
    assert_eq!(buffer_ms, 4321);
    // For the stream it plays (createStream's answer).
    assert_eq!(stream_id, 1);
}

#[test]
fn flash_version_is_connects_flashver() {
    init();
    let nginx = Nginx::start();
    let outcome = run(
        &format!(
            "{VIDEO} ! rtmpsink name=s location={} sync=false \
             flash-version=\"FMLE/3.0 (rtmpsink test)\"",
            nginx.url("live/fv")
        ),
        Duration::from_secs(30),
    );
    outcome.assert_eos();
    nginx.wait_log("flashver='FMLE/3.0 (rtmpsink test)'", WAIT);

    let player = Player::new(
        &nginx.url("plain/fv"),
        &[("flash-version", "LNX 9,0,124,2")],
    );
    player.play();
    nginx.wait_log("flashver='LNX 9,0,124,2'", WAIT);
    player.stop();

    // Unset, it is left out of connect: nginx logs an empty one.
    let outcome = run(
        &format!(
            "{VIDEO} ! rtmpsink name=s location={} sync=false",
            nginx.url("live/nofv")
        ),
        Duration::from_secs(30),
    );
    outcome.assert_eos();
    nginx.wait_log("flashver=''", WAIT);
}

#[test]
fn max_queue_bytes_drops_the_oldest_gop_while_reconnecting() {
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    let second: Arc<Mutex<Vec<Message>>> = Arc::default();
    let seen = second.clone();
    let server = ScriptedServer::start(move |mut c: Conn| {
        let n = count.fetch_add(1, Ordering::SeqCst);
        if !c.accept_publish() {
            return;
        }
        if n == 0 {
            // Drop the first connection after a few messages: the sink reconnects (after its
            // reconnect-delay), queueing what upstream produces meanwhile.
            for _ in 0..5 {
                c.read_message();
            }
            return;
        }
        while let Some(message) = c.read_message() {
            seen.lock().unwrap().push(message);
        }
    });
    // Non-live, unsynchronised: upstream produces the whole 6 s stream (~1.5 MB) within the
    // 1 s reconnect-delay, far beyond a 100 kB queue.
    let outcome = run(
        &format!(
            "videotestsrc num-buffers=150 ! video/x-raw,width=320,height=240,framerate=25/1 \
             ! x264enc speed-preset=ultrafast bitrate=2000 key-int-max=10 ! h264parse \
             ! rtmpsink name=s location={} sync=false timeout=3 max-queue-bytes=100000 \
             reconnect-delay=1000",
            server.url("live/x")
        ),
        Duration::from_secs(30),
    );
    outcome.assert_eos();
    let reconnected = outcome
        .element_messages
        .iter()
        .find(|s| s.name() == "rtmp-reconnected")
        .expect("rtmp-reconnected");
    let dropped = reconnected.get::<u64>("dropped-bytes").unwrap();
    assert!(dropped > 0, "{reconnected}");
    // What the second server got starts again with metadata, sequence header and a keyframe,
    // and lacks what was dropped: fewer than the 150 frames.
    let messages = second.lock().unwrap();
    let video: Vec<&bytes::Bytes> = messages
        .iter()
        .filter_map(|m| match m {
            Message::Video { payload, .. } => Some(payload),
            _ => None,
        })
        .collect();
    assert!(video.len() >= 3, "{} video messages", video.len());
    assert_eq!(video[0][..2], [0x17, 0x00], "AVC sequence header first");
    assert_eq!(video[1][..2], [0x17, 0x01], "then a keyframe");
    assert!(
        video.len() < 150,
        "{} video messages: nothing dropped",
        video.len()
    );
}

/// Stats field `name` of the element.
fn stat<T: for<'a> gst::glib::value::FromValue<'a> + 'static>(
    element: &gst::Element,
    name: &str,
) -> T {
    element
        .property::<gst::Structure>("stats")
        .get::<T>(name)
        .unwrap_or_else(|e| panic!("stats {name}: {e}"))
}

/// Waits for EOS (or panics with the error) on `pipeline`'s bus.
fn wait_eos(pipeline: &gst::Element, timeout: Duration) {
    let bus = pipeline.bus().unwrap();
    let msg = bus.timed_pop_filtered(
        gst::ClockTime::from_nseconds(timeout.as_nanos() as u64),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    match msg.as_ref().map(|m| m.view()) {
        Some(gst::MessageView::Eos(_)) => {}
        other => panic!("no EOS: {other:?}"),
    }
}

#[test]
fn chunk_size_changes_while_playing() {
    init();
    let nginx = Nginx::start();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true num-buffers=50 ! video/x-raw,width=320,height=240,framerate=25/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 ! h264parse \
         ! rtmpsink name=s location={}",
        nginx.url("live/chunks")
    ))
    .unwrap();
    let sink = pipeline
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("s")
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    assert!(
        wait_until(WAIT, || stat::<u64>(&sink, "video-messages") >= 10),
        "no video sent"
    );
    assert_eq!(stat::<u32>(&sink, "out-chunk-size"), 4096);
    sink.set_property("chunk-size", 300u32);
    assert!(
        wait_until(WAIT, || stat::<u32>(&sink, "out-chunk-size") == 300),
        "out-chunk-size is still {}",
        stat::<u32>(&sink, "out-chunk-size")
    );
    let sent_after = stat::<u64>(&sink, "video-messages");
    wait_eos(&pipeline, Duration::from_secs(20));
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(sent_after < 50, "the change came too late to matter");
    // nginx reassembled both chunk sizes: every frame recorded, all decodable.
    let recording = nginx.wait_recording("chunks", WAIT);
    assert_eq!(probe(&recording).video().unwrap().nb_read_frames, Some(50));
    assert_eq!(decode_errors(&recording), "");
}

/// The width of every decoded video frame of `path`, in order.
fn frame_widths(path: &std::path::Path) -> Vec<u32> {
    let out = run_with_timeout(
        std::process::Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v", "-show_entries"])
            .args(["frame=width", "-of", "csv=p=0"])
            .arg(path),
        Duration::from_secs(30),
    );
    out.assert_success("ffprobe frame widths");
    out.stdout
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect()
}

/// What crossed rtmpsrc's video pad, in order.
#[derive(Debug, PartialEq)]
enum Seen {
    Caps(i32, i32),
    Buffer { keyframe: bool },
}

#[test]
fn caps_change_mid_stream_on_both_elements() {
    init();
    let nginx = Nginx::start();
    let url = nginx.url("live/resize");
    // The player first, so that it sees the whole stream.
    let player = Player::new(&url, &[]);
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let record = seen.clone();
    player.src.connect_pad_added(move |_, pad| {
        if pad.name() != "video" {
            return;
        }
        // The pad's first caps are set before pad-added.
        if let Some(caps) = pad.current_caps() {
            let s = caps.structure(0).unwrap();
            record.lock().unwrap().push(Seen::Caps(
                s.get("width").unwrap(),
                s.get("height").unwrap(),
            ));
        }
        let record = record.clone();
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |_, info| {
                let mut record = record.lock().unwrap();
                match &info.data {
                    Some(gst::PadProbeData::Buffer(b)) => record.push(Seen::Buffer {
                        keyframe: !b.flags().contains(gst::BufferFlags::DELTA_UNIT),
                    }),
                    Some(gst::PadProbeData::Event(e)) => {
                        if let gst::EventView::Caps(c) = e.view() {
                            let s = c.caps().structure(0).unwrap();
                            record.push(Seen::Caps(
                                s.get("width").unwrap(),
                                s.get("height").unwrap(),
                            ));
                        }
                    }
                    _ => {}
                }
                gst::PadProbeReturn::Ok
            },
        );
    });
    player.play();
    nginx.wait_player("resize", WAIT);

    // 4 s of live video; after a second the capsfilter asks for another size: videotestsrc
    // renegotiates, x264enc starts again with a new SPS, h264parse sends new caps.
    let publisher = gst::parse::launch(&format!(
        "videotestsrc is-live=true num-buffers=100 \
         ! capsfilter name=cf caps=video/x-raw,width=320,height=240,framerate=25/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 ! h264parse \
         ! rtmpsink name=s location={url}"
    ))
    .unwrap();
    let bin = publisher.downcast_ref::<gst::Bin>().unwrap();
    let sink = bin.by_name("s").unwrap();
    publisher.set_state(gst::State::Playing).unwrap();
    assert!(
        wait_until(WAIT, || stat::<u64>(&sink, "video-messages") >= 25),
        "no video sent"
    );
    bin.by_name("cf").unwrap().set_property(
        "caps",
        gst::Caps::builder("video/x-raw")
            .field("width", 480)
            .field("height", 272)
            .field("framerate", gst::Fraction::new(25, 1))
            .build(),
    );
    wait_eos(&publisher, Duration::from_secs(20));
    publisher.set_state(gst::State::Null).unwrap();
    let outcome = player.run(Duration::from_secs(20));
    let log = player.stop();
    outcome.assert_eos();

    // rtmpsink: nginx recorded both sizes, in order, every frame decodable.
    let recording = nginx.wait_recording("resize", WAIT);
    let widths = frame_widths(&recording);
    assert_eq!(widths.len(), 100, "{widths:?}");
    let first_new = widths
        .iter()
        .position(|&w| w == 480)
        .expect("480 wide frames");
    assert!(first_new >= 25, "{widths:?}");
    assert!(widths[..first_new].iter().all(|&w| w == 320), "{widths:?}");
    assert!(widths[first_new..].iter().all(|&w| w == 480), "{widths:?}");
    assert_eq!(decode_errors(&recording), "");

    // rtmpsrc: the new caps come before the first buffer of the new size (a keyframe), and the
    // decoder followed.
    let seen = seen.lock().unwrap();
    let caps: Vec<(usize, &Seen)> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s, Seen::Caps(..)))
        .collect();
    assert_eq!(
        caps.first().map(|c| c.1),
        Some(&Seen::Caps(320, 240)),
        "{seen:?}"
    );
    let (at, last) = caps.last().copied().unwrap();
    assert_eq!(last, &Seen::Caps(480, 272), "{seen:?}");
    assert_eq!(
        seen.get(at + 1),
        Some(&Seen::Buffer { keyframe: true }),
        "{seen:?}"
    );
    let buffers = |s: &[Seen]| {
        s.iter()
            .filter(|s| matches!(s, Seen::Buffer { .. }))
            .count()
    };
    assert_eq!(
        buffers(&seen[at..]),
        100 - first_new,
        "frames after the change"
    );
    let video = log.pad("video");
    assert_eq!(video.decoded, 100);
    assert!(
        matches!(
            video
                .caps
                .last()
                .map(|c| c.structure(0).unwrap().get::<i32>("width")),
            Some(Ok(480))
        ),
        "{:?}",
        video.caps
    );
}

/// rtmpsrc, like rtmpsink, refuses changes of what applies when starting once it runs (the
/// value reads back unchanged, a warning says so) and takes those that apply at once; its
/// stats have the sink's fields.
#[test]
fn rtmpsrc_refuses_start_only_properties_while_playing() {
    init();
    let nginx = Nginx::start();
    let url = nginx.url("plain/refuse");
    let player = Player::new(&url, &[("stream-type", "live")]);
    player.play();
    nginx.wait_player("refuse", WAIT);
    let src = player.src.clone();
    src.set_property("location", nginx.url("plain/other"));
    src.set_property("buffer-length", 4321u32);
    src.set_property("latency", 350u32);
    assert_eq!(src.property::<String>("location"), url);
    assert_eq!(src.property::<u32>("buffer-length"), 1000);
    assert_eq!(
        src.property::<u32>("latency"),
        350,
        "latency applies while playing"
    );
    let uri_handler = src.dynamic_cast_ref::<gst::URIHandler>().unwrap();
    assert!(uri_handler.set_uri(&nginx.url("plain/other")).is_err());
    let bus = player.pipeline.bus().unwrap();
    let mut refused = Vec::new();
    while let Some(message) = bus.timed_pop_filtered(
        gst::ClockTime::from_mseconds(500),
        &[gst::MessageType::Warning],
    ) {
        if let gst::MessageView::Warning(w) = message.view() {
            refused.push(w.error().to_string());
        }
    }
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused[0].contains("'location'"), "{refused:?}");
    assert!(refused[1].contains("'buffer-length'"), "{refused:?}");
    let stats = player.stats();
    for field in [
        "data-bytes",
        "reconnects",
        "data-messages",
        "in-bytes-total",
    ] {
        assert!(stats.has_field(field), "{field} missing from {stats}");
    }
    player.stop();
    // Stopped: changeable again.
    src.set_property("location", nginx.url("plain/other"));
    assert_eq!(src.property::<String>("location"), nginx.url("plain/other"));
}
