//! Secrets stay out of everything GStreamer prints: with every debug category at level 6
//! (`GST_DEBUG=*:6`, set in-process), the stream key in the query string, a token in
//! `extra-connect-args`, the `secure-token` and the password appear in no log line, bus message
//! or error, while the server does get them.
//!
//! The pipeline runs in-process and the secrets are set through the properties, not a pipeline
//! description: GStreamer's parser logs descriptions verbatim, which no element can prevent.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Nginx;
use common::pipeline::init;
use gst::prelude::*;

const KEY: &str = "SECRET123";
const TOKEN: &str = "TOKEN456";
const SECURE_TOKEN: &str = "SECURE789";
const PASSWORD: &str = "PASS321";

/// Every debug message of every category at level 6 and below, from now on.
fn capture_debug_log() -> Arc<Mutex<String>> {
    let log = Arc::new(Mutex::new(String::new()));
    let sink = log.clone();
    gst::log::remove_default_log_function();
    gst::log::add_log_function(
        move |category, level, file, function, line, object, message| {
            let object = object.map(|o| o.to_string()).unwrap_or_default();
            let text = message.get().map(|m| m.to_string()).unwrap_or_default();
            let mut log = sink.lock().unwrap();
            log.push_str(&format!(
                "{level:?} {} {file}:{line}:{function}:<{object}> {text}\n",
                category.name()
            ));
        },
    );
    gst::log::set_threshold_from_string("*:6", true);
    log
}

/// Publishes a few frames with the secrets set on rtmpsink; returns what the bus said (errors,
/// warnings, element messages) as text, and whether the pipeline reached EOS.
fn publish(location: &str) -> (String, bool) {
    let pipeline = gst::parse::launch(
        "videotestsrc num-buffers=15 ! video/x-raw,width=160,height=120,framerate=30/1 \
         ! x264enc speed-preset=ultrafast tune=zerolatency ! h264parse ! rtmpsink name=s sync=false timeout=3",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline.by_name("s").unwrap();
    sink.set_property("location", location);
    sink.set_property("extra-connect-args", format!("conn=S:{TOKEN} conn=B:1"));
    sink.set_property("secure-token", SECURE_TOKEN);
    // Reading back gives the query (it must round-trip) but never the password or secure token.
    let read_back: String = sink.property("location");
    assert!(read_back.ends_with(&format!("?key={KEY}")), "{read_back}");
    assert!(!read_back.contains(PASSWORD), "{read_back}");
    assert_eq!(sink.property::<Option<String>>("secure-token"), None);

    let mut said = String::new();
    let mut eos = false;
    if pipeline.set_state(gst::State::Playing).is_ok() {
        let bus = pipeline.bus().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Some(message) = bus.timed_pop(gst::ClockTime::from_mseconds(
            deadline
                .saturating_duration_since(Instant::now())
                .as_millis() as u64,
        )) {
            match message.view() {
                gst::MessageView::Eos(_) => {
                    eos = true;
                    break;
                }
                gst::MessageView::Error(err) => {
                    said.push_str(&format!("error: {} ({:?})\n", err.error(), err.debug()));
                    break;
                }
                gst::MessageView::Warning(w) => {
                    said.push_str(&format!("warning: {} ({:?})\n", w.error(), w.debug()));
                }
                _ => {}
            }
            if let Some(s) = message.structure() {
                said.push_str(&format!("{s}\n"));
            }
        }
    } else {
        said.push_str("could not start\n");
    }
    pipeline.set_state(gst::State::Null).unwrap();
    (said, eos)
}

/// Plays with the secrets set on rtmpsrc until its first error or EOS; returns what the bus
/// said.
fn play(location: &str) -> String {
    let pipeline = gst::parse::launch("rtmpsrc name=s timeout=3 ! fakesink")
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let src = pipeline.by_name("s").unwrap();
    src.set_property("location", location);
    src.set_property("extra-connect-args", format!("conn=S:{TOKEN} conn=B:1"));
    src.set_property("secure-token", SECURE_TOKEN);
    let _ = pipeline.set_state(gst::State::Playing);
    let bus = pipeline.bus().unwrap();
    let mut said = String::new();
    while let Some(message) = bus.timed_pop(gst::ClockTime::from_seconds(10)) {
        match message.view() {
            gst::MessageView::Error(err) => {
                said.push_str(&format!("error: {} ({:?})\n", err.error(), err.debug()));
                break;
            }
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Warning(w) => {
                said.push_str(&format!("warning: {} ({:?})\n", w.error(), w.debug()));
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    said
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in [KEY, TOKEN, SECURE_TOKEN, PASSWORD] {
        if let Some(at) = text.find(secret) {
            let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
            panic!(
                "{secret} leaked into the {what}:\n{}",
                &text[line_start..line_end]
            );
        }
    }
}

#[test]
fn secrets_stay_out_of_debug_logs_and_errors_of_both_elements() {
    init();
    let log = capture_debug_log();

    // Published for real: nginx gets the key, our logs name the location without it.
    let nginx = Nginx::start();
    let location = format!(
        "rtmp://alice:{PASSWORD}@127.0.0.1:{}/live/stream?key={KEY}",
        nginx.port
    );
    let (said, eos) = publish(&location);
    assert!(eos, "publishing did not end with EOS: {said}");
    nginx.wait_publisher("stream", Duration::from_secs(10));
    assert!(
        nginx.error_log().contains(&format!("key={KEY}")),
        "the server did not get the key:\n{}",
        nginx.error_log()
    );
    assert_no_secret("bus messages", &said);

    // A failure: the error message names the location too, without the key.
    let port = common::free_port();
    let refused = format!("rtmp://alice:{PASSWORD}@127.0.0.1:{port}/live/stream?key={KEY}");
    let (said, eos) = publish(&refused);
    assert!(!eos && said.contains("error:"), "{said}");
    assert_no_secret("error message", &said);

    // The player: a recording that does not exist, so the error names the location.
    let player_location = format!(
        "rtmp://alice:{PASSWORD}@127.0.0.1:{}/vod/missing.flv?key={KEY}",
        nginx.port
    );
    let said = play(&player_location);
    assert!(said.contains("not found"), "{said}");
    assert_no_secret("player's error message", &said);
    assert!(
        nginx.error_log().contains(&format!("args='key={KEY}'")),
        "the server did not get the player's key:\n{}",
        nginx.error_log()
    );

    gst::log::set_threshold_from_string("*:0", true);
    let log = log.lock().unwrap().clone();
    assert!(
        log.contains(&format!(
            "playing rtmp://alice@127.0.0.1:{}/vod/missing.flv?key=<redacted>",
            nginx.port
        )),
        "no playing line in the log"
    );
    assert_no_secret("debug log", &log);
    // The capture did see our lines, so the absence of secrets means something.
    assert!(
        log.contains(&format!(
            "publishing to rtmp://alice@127.0.0.1:{}/live/stream?key=<redacted>",
            nginx.port
        )),
        "no publishing line in {} bytes of log",
        log.len()
    );
    assert!(
        log.lines().count() > 1000,
        "{} log lines",
        log.lines().count()
    );
}
