//! rtmpsink against a real nginx-rtmp: what reached the server is checked with ffprobe/ffmpeg on
//! nginx's recording of the stream (and with a live reader where it matters).

mod common;

use std::time::Duration;

use common::pipeline::{init, run};
use common::{LiveReader, Nginx, decode_errors, probe, video_frame_pts_ms, video_pict_types};
use gst::prelude::*;

const VIDEO_320: &str = "videotestsrc num-buffers=50 ! video/x-raw,width=320,height=240,framerate=25/1 \
     ! x264enc key-int-max=25 speed-preset=ultrafast ! h264parse";

#[test]
fn h264_and_aac_reach_the_server_intact() {
    let nginx = Nginx::start();
    let url = nginx.url("live/av");
    let outcome = run(
        &format!(
            "{VIDEO_320} ! rtmpsink name=s location={url} sync=false \
             audiotestsrc num-buffers=60 samplesperbuffer=1024 ! audio/x-raw,rate=44100,channels=2 \
             ! voaacenc ! aacparse ! s."
        ),
        Duration::from_secs(30),
    );
    outcome.assert_eos();
    let recording = nginx.wait_recording("av", Duration::from_secs(10));
    let probe = probe(&recording);
    let video = probe.video().expect("video stream recorded");
    assert_eq!(video.codec_name, "h264");
    assert_eq!((video.width, video.height), (Some(320), Some(240)));
    assert_eq!(video.nb_read_frames, Some(outcome.buffers["video"]));
    assert_eq!(outcome.buffers["video"], 50);
    let audio = probe.audio().expect("audio stream recorded");
    assert_eq!(audio.codec_name, "aac");
    assert_eq!(audio.sample_rate, Some(44100));
    assert_eq!(audio.channels, Some(2));
    assert_eq!(audio.nb_read_frames, Some(outcome.buffers["audio"]));
    assert_eq!(decode_errors(&recording), "");

    let stats = outcome.stats.expect("stats");
    assert_eq!(stats.get::<u64>("video-messages").unwrap(), 51, "{stats}");
    assert_eq!(
        stats.get::<u64>("audio-messages").unwrap(),
        outcome.buffers["audio"] + 1
    );
    assert_eq!(stats.get::<u32>("out-chunk-size").unwrap(), 4096);
    assert!(stats.get::<u64>("out-bytes-total").unwrap() > 10_000);
}

#[test]
fn b_frames_keep_their_order_and_decode() {
    let nginx = Nginx::start();
    let url = nginx.url("live/bframes");
    let outcome = run(
        &format!(
            "videotestsrc num-buffers=60 ! video/x-raw,width=320,height=240,framerate=30/1 \
             ! x264enc bframes=2 b-adapt=false key-int-max=30 speed-preset=ultrafast ! h264parse \
             ! rtmpsink name=s location={url} sync=false"
        ),
        Duration::from_secs(30),
    );
    outcome.assert_eos();
    let recording = nginx.wait_recording("bframes", Duration::from_secs(10));
    let video = probe(&recording).video().cloned().expect("video");
    assert_eq!(video.nb_read_frames, Some(60));
    assert!(
        video_pict_types(&recording).contains('B'),
        "no B-frames reached the server"
    );
    assert_eq!(decode_errors(&recording), "");
    // FLV timestamps are in ms: at 30 fps, display times step by 33 or 34 ms, in order.
    let pts = video_frame_pts_ms(&recording);
    assert_eq!(pts.len(), 60);
    for pair in pts.windows(2) {
        assert!(
            (33..=34).contains(&(pair[1] - pair[0])),
            "display times {pts:?}"
        );
    }
}

#[test]
fn h264_and_mp3() {
    let nginx = Nginx::start();
    let url = nginx.url("live/mp3");
    let outcome = run(
        &format!(
            "{VIDEO_320} ! rtmpsink name=s location={url} sync=false \
             audiotestsrc num-buffers=40 ! audio/x-raw,rate=44100,channels=1 \
             ! lamemp3enc ! mpegaudioparse ! s."
        ),
        Duration::from_secs(30),
    );
    outcome.assert_eos();
    let recording = nginx.wait_recording("mp3", Duration::from_secs(10));
    let probe = probe(&recording);
    let audio = probe.audio().expect("audio");
    assert_eq!(audio.codec_name, "mp3");
    assert_eq!(audio.sample_rate, Some(44100));
    assert_eq!(audio.channels, Some(1));
    assert_eq!(audio.nb_read_frames, Some(outcome.buffers["audio"]));
    assert_eq!(probe.video().unwrap().nb_read_frames, Some(50));
    assert_eq!(decode_errors(&recording), "");
}

#[test]
fn audio_only() {
    let nginx = Nginx::start();
    let url = nginx.url("live/audioonly");
    let outcome = run(
        &format!(
            "audiotestsrc num-buffers=50 samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=1 \
             ! voaacenc ! aacparse ! rtmpsink name=s location={url} sync=false"
        ),
        Duration::from_secs(30),
    );
    outcome.assert_eos();
    let recording = nginx.wait_recording("audioonly", Duration::from_secs(10));
    let probe = probe(&recording);
    assert!(probe.video().is_none());
    let audio = probe.audio().expect("audio");
    assert_eq!((audio.sample_rate, audio.channels), (Some(48000), Some(1)));
    assert_eq!(audio.nb_read_frames, Some(outcome.buffers["audio"]));
}

#[test]
fn video_only_is_playable_live() {
    let nginx = Nginx::start();
    let url = nginx.url("live/videoonly");
    let dir = common::TempDir::new("videoonly");
    // A real player joins before the publisher and records what it plays.
    let reader = LiveReader::start(&url, &dir.join("played.flv"));
    nginx.wait_player("videoonly", Duration::from_secs(10));
    let outcome = run(
        &format!(
            "videotestsrc num-buffers=75 is-live=true ! video/x-raw,width=320,height=240,framerate=25/1 \
             ! x264enc key-int-max=25 tune=zerolatency speed-preset=ultrafast ! h264parse \
             ! rtmpsink name=s location={url}"
        ),
        Duration::from_secs(30),
    );
    outcome.assert_eos();
    let (played, _) = reader.finish(Duration::from_secs(10));
    let video = probe(&played).video().cloned().expect("player saw video");
    assert_eq!((video.width, video.height), (Some(320), Some(240)));
    // The player joined before the first frame, so it saw every one.
    assert_eq!(video.nb_read_frames, Some(75));
    assert_eq!(decode_errors(&played), "");
}

#[test]
fn flvmux_output_is_accepted() {
    let nginx = Nginx::start();
    let url = nginx.url("live/flvmux");
    let outcome = run(
        &format!(
            "flvmux name=m streamable=true ! rtmpsink name=s location={url} sync=false \
             {VIDEO_320} ! m. \
             audiotestsrc num-buffers=60 samplesperbuffer=1024 ! audio/x-raw,rate=44100,channels=2 \
             ! voaacenc ! aacparse ! m."
        ),
        Duration::from_secs(30),
    );
    outcome.assert_eos();
    let recording = nginx.wait_recording("flvmux", Duration::from_secs(10));
    let probe = probe(&recording);
    assert_eq!(probe.video().unwrap().nb_read_frames, Some(50));
    let audio = probe.audio().unwrap();
    assert_eq!(audio.sample_rate, Some(44100));
    // 60 buffers of 1024 samples make 60 AAC frames.
    assert_eq!(audio.nb_read_frames, Some(60));
    assert_eq!(decode_errors(&recording), "");
}

#[test]
fn second_publisher_on_the_same_name_gets_bad_name() {
    let nginx = Nginx::start();
    let url = nginx.url("live/taken");
    init();
    let first = gst::parse::launch(&format!(
        "videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=10/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast ! h264parse ! rtmpsink location={url}"
    ))
    .unwrap();
    first.set_state(gst::State::Playing).unwrap();
    nginx.wait_publisher("taken", Duration::from_secs(10));
    let outcome = run(
        &format!("{VIDEO_320} ! rtmpsink name=s location={url}"),
        Duration::from_secs(20),
    );
    first.set_state(gst::State::Null).unwrap();
    let (err, _) = outcome.error.as_ref().expect("second publisher fails");
    assert!(err.matches(gst::ResourceError::Busy), "{err:?}");
    assert!(
        outcome.error_text().contains("BadName"),
        "{}",
        outcome.error_text()
    );
}

#[test]
fn server_not_listening_is_a_clear_error() {
    let port = common::free_port();
    let start = std::time::Instant::now();
    let outcome = run(
        &format!("{VIDEO_320} ! rtmpsink name=s location=rtmp://127.0.0.1:{port}/live/x timeout=3"),
        Duration::from_secs(20),
    );
    assert!(start.elapsed() < Duration::from_secs(10));
    let (err, _) = outcome.error.as_ref().expect("error");
    assert!(err.matches(gst::ResourceError::OpenWrite), "{err:?}");
    assert!(
        outcome.error_text().contains("refused"),
        "{}",
        outcome.error_text()
    );
}

#[test]
fn huge_extra_connect_args_are_refused_with_a_clear_error() {
    init();
    let port = common::free_port();
    let pipeline = gst::parse::launch(&format!(
        "{VIDEO_320} ! rtmpsink name=s location=rtmp://127.0.0.1:{port}/live/x timeout=3"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline.by_name("s").unwrap();
    // Beyond what a connect command can carry: refused when set (a warning), and starting fails
    // saying why, before any connection is tried (nothing listens on the port).
    let huge = format!("conn=S:{}", "x".repeat(17 * 1024 * 1024));
    sink.set_property("extra-connect-args", &huge);
    let kept = sink.property::<Option<String>>("extra-connect-args");
    assert_eq!(kept.map(|s| s.len()), None, "extra-connect-args were kept");
    let _ = pipeline.set_state(gst::State::Playing);
    let bus = pipeline.bus().unwrap();
    let message = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(20), &[gst::MessageType::Error])
        .expect("an error");
    let gst::MessageView::Error(err) = message.view() else {
        unreachable!()
    };
    let text = err.error().to_string();
    assert!(err.error().matches(gst::ResourceError::Settings), "{text}");
    assert!(
        text.contains("Invalid extra-connect-args") && text.contains("longer than"),
        "{text}"
    );
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn mixing_flv_and_elementary_pads_is_refused() {
    init();
    let sink = gst::ElementFactory::make("rtmpsink").build().unwrap();
    assert!(sink.request_pad_simple("video").is_some());
    assert!(sink.request_pad_simple("sink").is_none());
    let sink = gst::ElementFactory::make("rtmpsink").build().unwrap();
    assert!(sink.request_pad_simple("sink").is_some());
    assert!(sink.request_pad_simple("audio").is_none());
}

#[test]
fn byte_stream_h264_is_refused_with_a_clear_error() {
    let nginx = Nginx::start();
    let url = nginx.url("live/bytestream");
    init();
    // Force byte-stream caps through a capsfilter that the sink's template does not accept.
    let result = gst::parse::launch(&format!(
        "videotestsrc num-buffers=5 ! x264enc ! video/x-h264,stream-format=byte-stream ! rtmpsink location={url}"
    ));
    assert!(result.is_err(), "byte-stream H.264 linked to rtmpsink");
}

#[test]
fn sync_true_paces_a_non_live_source_in_real_time() {
    let nginx = Nginx::start();
    let url = nginx.url("live/paced");
    let start = std::time::Instant::now();
    // 2 s of video from a non-live source: with sync=true it must take about 2 s, not a burst.
    let outcome = run(
        &format!(
            "videotestsrc num-buffers=50 ! video/x-raw,width=160,height=120,framerate=25/1 \
             ! x264enc speed-preset=ultrafast ! h264parse ! rtmpsink name=s location={url} sync=true"
        ),
        Duration::from_secs(30),
    );
    outcome.assert_eos();
    assert!(
        start.elapsed() >= Duration::from_millis(1800),
        "published 2 s of media in {:?}",
        start.elapsed()
    );
}

#[test]
fn password_never_appears_in_logs_errors_or_location() {
    let port = common::free_port();
    let location = format!("rtmp://alice:s3cr3tpw@127.0.0.1:{port}/live/x");
    let run = common::gst_launch_args_env(
        &[
            "videotestsrc",
            "num-buffers=5",
            "!",
            "x264enc",
            "!",
            "h264parse",
            "!",
            "rtmpsink",
            &format!("location={location}"),
            "timeout=2",
        ],
        &[("GST_DEBUG", "rtmp*:9")],
        Duration::from_secs(30),
    );
    assert!(!run.success(), "publishing to a closed port must fail");
    // Our debug categories at full detail; GStreamer core itself logs pipeline descriptions verbatim.
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("refused"), "{all}");
    assert!(!all.contains("s3cr3tpw"), "password leaked:\n{all}");
    // The logs did name the location, without the password.
    assert!(
        all.contains("publishing to rtmp://alice@127.0.0.1"),
        "{all}"
    );

    init();
    let sink = gst::ElementFactory::make("rtmpsink")
        .property("location", &location)
        .build()
        .unwrap();
    let read_back: String = sink.property("location");
    assert_eq!(read_back, format!("rtmp://alice@127.0.0.1:{port}/live/x"));
    assert_eq!(sink.property::<Option<String>>("password"), None);
    assert!(!format!("{sink:?}").contains("s3cr3tpw"));
}

#[test]
fn rtmp_uris_make_our_sink() {
    init();
    let sink = gst::Element::make_from_uri(
        gst::URIType::Sink,
        "rtmp://example.com:1936/app/inst/key?token=abc",
        None,
    )
    .expect("an element for rtmp://");
    assert_eq!(sink.factory().unwrap().name(), "rtmpsink");
    assert_eq!(sink.property::<String>("host"), "example.com");
    assert_eq!(sink.property::<i32>("port"), 1936);
    assert_eq!(sink.property::<String>("application"), "app/inst");
    assert_eq!(sink.property::<String>("stream"), "key?token=abc");
}

#[test]
fn unknown_host_is_a_clear_error() {
    let outcome = run(
        &format!(
            "{VIDEO_320} ! rtmpsink name=s location=rtmp://no-such-host.invalid/live/x timeout=5"
        ),
        Duration::from_secs(30),
    );
    let (err, _) = outcome.error.as_ref().expect("error");
    assert!(err.matches(gst::ResourceError::NotFound), "{err:?}");
    assert!(
        outcome.error_text().contains("no-such-host.invalid"),
        "{}",
        outcome.error_text()
    );
}

/// A TCP server on a free port that answers its first connection with `reply` (or nothing) and
/// keeps the socket open until the client closes it. The receiver gets the time the client's
/// C0+C1 had arrived (the client then waits for the server's handshake).
fn fake_server(reply: &'static [u8]) -> (u16, std::sync::mpsc::Receiver<std::time::Instant>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((mut socket, _)) = listener.accept() {
            use std::io::{Read, Write};
            let _ = socket.set_read_timeout(Some(Duration::from_secs(30)));
            let mut c0c1 = [0u8; 1537];
            if socket.read_exact(&mut c0c1).is_ok() {
                let _ = tx.send(std::time::Instant::now());
            }
            let _ = socket.write_all(reply);
            while matches!(socket.read(&mut [0u8; 4096]), Ok(n) if n > 0) {}
        }
    });
    (port, rx)
}

#[test]
fn a_server_that_is_not_rtmp_fails_the_handshake() {
    let (port, _) = fake_server(b"HTTP/1.1 400 Bad Request\r\n\r\n");
    let outcome = run(
        &format!("{VIDEO_320} ! rtmpsink name=s location=rtmp://127.0.0.1:{port}/live/x timeout=5"),
        Duration::from_secs(30),
    );
    let (err, _) = outcome.error.as_ref().expect("error");
    assert!(
        err.matches(gst::ResourceError::OpenWrite),
        "{}",
        outcome.error_text()
    );
    assert!(
        outcome
            .error_text()
            .contains("handshake failed: not an RTMP server (it answered with HTTP)"),
        "{}",
        outcome.error_text()
    );
}

#[test]
fn a_silent_server_times_out() {
    let (port, handshake_started) = fake_server(b"");
    let start = std::time::Instant::now();
    let outcome = run(
        &format!("{VIDEO_320} ! rtmpsink name=s location=rtmp://127.0.0.1:{port}/live/x timeout=2"),
        Duration::from_secs(30),
    );
    let ended = std::time::Instant::now();
    let (err, _) = outcome.error.as_ref().expect("error");
    assert!(err.matches(gst::ResourceError::OpenWrite), "{err:?}");
    assert!(
        outcome.error_text().contains("timed out"),
        "{}",
        outcome.error_text()
    );
    // Not before the 2 s timeout (counted from before the pipeline started, so surely no later
    // than the timer's start), and soon after it: measured from the moment the server had the
    // handshake, so a slow pipeline start does not count (the default 5 s would exceed it).
    let waited = ended - handshake_started.try_recv().expect("the sink sent C0+C1");
    assert!(
        ended - start >= Duration::from_secs(2),
        "{:?}",
        ended - start
    );
    assert!(waited < Duration::from_millis(4500), "{waited:?}");
}

#[test]
fn null_during_connect_returns_at_once() {
    init();
    let (port, handshake_started) = fake_server(b"");
    let pipeline = gst::parse::launch(&format!(
        "{VIDEO_320} ! rtmpsink location=rtmp://127.0.0.1:{port}/live/x timeout=30"
    ))
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    // The sink has sent C0+C1 and waits for the server's answer.
    handshake_started
        .recv_timeout(Duration::from_secs(10))
        .expect("the sink connects");
    let start = std::time::Instant::now();
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn denied_publish_is_an_error_not_eos() {
    let nginx = Nginx::start_with("application closed { live on; deny publish all; }");
    let url = nginx.url("closed/x");
    let outcome = run(
        &format!("{VIDEO_320} ! rtmpsink name=s location={url} timeout=5 reconnect-attempts=0"),
        Duration::from_secs(30),
    );
    // nginx-rtmp answers `deny publish` with NetStream.Publish.Start and then drops the
    // connection (or resets it), so all a client can tell is that the server went away.
    assert!(!outcome.eos, "{outcome:?}");
    let (err, _) = outcome.error.as_ref().expect("error");
    assert!(err.matches(gst::ResourceError::Write), "{err:?}");
    let text = outcome.error_text();
    assert!(text.contains("closed") || text.contains("reset"), "{text}");
}

#[test]
fn small_chunks_as_fast_as_possible_end_cleanly_with_every_frame() {
    // Chunk size 128 makes many small writes: the I/O thread must keep sending while media is
    // queued, and the close must not reset the connection before nginx has read the end.
    let nginx = Nginx::start();
    let url = nginx.url("live/smallchunks");
    let start = std::time::Instant::now();
    let outcome = run(
        &format!(
            "videotestsrc num-buffers=150 ! video/x-raw,width=640,height=360,framerate=30/1 \
             ! x264enc speed-preset=ultrafast bitrate=4000 ! h264parse \
             ! rtmpsink name=s location={url} sync=false chunk-size=128"
        ),
        Duration::from_secs(30),
    );
    outcome.assert_eos();
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
    let recording = nginx.wait_recording("smallchunks", Duration::from_secs(10));
    assert_eq!(probe(&recording).video().unwrap().nb_read_frames, Some(150));
    assert_eq!(
        outcome.stats.unwrap().get::<u32>("out-chunk-size").unwrap(),
        128
    );
}

/// A syncing sink normally holds each buffer until its running time plus the pipeline latency.
/// rtmpsink sends at the running time: with a live source (whose buffers arrive after their
/// running time) frames go out as they are encoded, however large the pipeline latency.
#[test]
fn live_input_is_sent_without_waiting_for_the_pipeline_latency() {
    init();
    let nginx = Nginx::start();
    let url = nginx.url("live/nowait");
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=25/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 ! h264parse \
         ! rtmpsink name=s location={url}"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    // What a pipeline with a slow live element (or a large jitter buffer) would configure. Large,
    // so that a busy machine's slow start stays far below it.
    let latency = Duration::from_secs(8);
    pipeline.set_latency(gst::ClockTime::from_nseconds(latency.as_nanos() as u64));
    let sink = pipeline.by_name("s").unwrap();
    let start = std::time::Instant::now();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut first_sent = None;
    while start.elapsed() < latency + Duration::from_secs(2) {
        let stats = sink.property::<gst::Structure>("stats");
        if stats.get::<u64>("video-messages").unwrap() > 0 {
            first_sent = Some(start.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let first_sent = first_sent.expect("no video was sent");
    // Connecting to a local nginx and encoding the first frame take well under a second; waiting
    // for the latency would take 8 s.
    assert!(
        first_sent < latency / 2,
        "first video frame sent after {first_sent:?} with a pipeline latency of {latency:?}"
    );
}

/// FFmpeg as the server answers FCPublish with a bare `onFCPublish` (a name and nothing else):
/// the publish goes on, and FFmpeg records every frame.
#[test]
fn publishes_to_ffmpeg_acting_as_the_server() {
    let dir = common::TempDir::new("ffmpeg-server");
    let server = common::FfmpegServer::start(&dir);
    let outcome = run(
        &format!(
            "{VIDEO_320} ! rtmpsink name=s location={} sync=false \
             audiotestsrc num-buffers=40 samplesperbuffer=1024 ! audio/x-raw,rate=44100,channels=2 \
             ! voaacenc ! aacparse ! s.",
            server.url
        ),
        Duration::from_secs(30),
    );
    outcome.assert_eos();
    let (recording, finished) = server.finish(Duration::from_secs(10));
    finished.assert_success("ffmpeg -listen 1");
    let probe = probe(&recording);
    assert_eq!(probe.video().and_then(|v| v.nb_read_frames), Some(50));
    assert_eq!(
        probe.audio().and_then(|a| a.nb_read_frames),
        Some(outcome.buffers["audio"])
    );
    assert_eq!(decode_errors(&recording), "");
}

/// The publish command's type argument, as a scripted server receives it, for each
/// `publish-type` (unset: the default).
#[test]
fn publish_type_is_the_publish_commands_second_argument() {
    use common::rtmp_server::{Conn, ScriptedServer};
    use gstrtmp::protocol::amf0::Amf0Value;
    use std::sync::{Arc, Mutex};

    let seen: Arc<Mutex<Vec<Vec<Amf0Value>>>> = Arc::default();
    let log = seen.clone();
    let server = ScriptedServer::start(move |mut c: Conn| {
        if !(c.accept_connect() && c.accept_create_stream()) {
            return;
        }
        let Some((_, args)) = c.expect_command("publish") else {
            return;
        };
        log.lock().unwrap().push(args);
        c.status(1, "status", "NetStream.Publish.Start");
        c.drain();
    });
    let url = server.url("live/key");
    for (property, expected) in [
        ("", "live"),
        ("publish-type=record", "record"),
        ("publish-type=append", "append"),
        ("publish-type=live", "live"),
    ] {
        let outcome = run(
            &format!(
                "videotestsrc num-buffers=5 ! video/x-raw,width=160,height=120,framerate=25/1 \
                 ! x264enc speed-preset=ultrafast ! h264parse \
                 ! rtmpsink name=s location={url} sync=false {property}"
            ),
            Duration::from_secs(20),
        );
        outcome.assert_eos();
        let args = seen.lock().unwrap().pop().expect("a publish command");
        assert_eq!(
            args,
            vec![
                Amf0Value::String("key".into()),
                Amf0Value::String(expected.into())
            ],
            "{property:?}"
        );
    }

    init();
    let sink = gst::ElementFactory::make("rtmpsink").build().unwrap();
    let nick = |sink: &gst::Element| {
        let value = sink.property_value("publish-type");
        gst::glib::EnumValue::from_value(&value)
            .map(|(_, v)| v.nick().to_owned())
            .unwrap()
    };
    assert_eq!(nick(&sink), "live");
    sink.set_property_from_str("publish-type", "append");
    assert_eq!(nick(&sink), "append");
}

/// nginx-rtmp logs the type it got with each publish (`publish: name='x' args='' type=record`).
#[test]
fn nginx_sees_the_publish_type() {
    let nginx = Nginx::start();
    for publish_type in ["record", "append"] {
        let name = format!("pt-{publish_type}");
        let url = nginx.url(&name);
        let outcome = run(
            &format!(
                "videotestsrc num-buffers=5 ! video/x-raw,width=160,height=120,framerate=25/1 \
                 ! x264enc speed-preset=ultrafast ! h264parse \
                 ! rtmpsink name=s location={url} sync=false publish-type={publish_type}"
            ),
            Duration::from_secs(20),
        );
        outcome.assert_eos();
        nginx.wait_log(
            &format!("publish: name='{name}' args='' type={publish_type} silent=0"),
            Duration::from_secs(5),
        );
    }
}

#[test]
fn gst_inspect_shows_publish_type() {
    let out = common::gst_inspect("rtmpsink");
    out.assert_success("gst-inspect-1.0 rtmpsink");
    let at = out
        .stdout
        .find("publish-type")
        .unwrap_or_else(|| panic!("no publish-type in:\n{}", out.stdout));
    let entry = &out.stdout[at..];
    for needle in [
        "GstRsRtmpPublishType",
        "Default: 0, \"live\"",
        "(1): record",
        "(2): append",
    ] {
        assert!(entry.contains(needle), "{needle:?} missing in:\n{entry}");
    }
}
