//! rtmpsink as an application sees it: errors on the bus, property changes while running,
//! gst-inspect-visible properties and bandwidth limiting.

mod common;

use std::time::Duration;

use common::pipeline::init;
use gst::prelude::*;

const VIDEO_320: &str = "videotestsrc num-buffers=50 ! video/x-raw,width=320,height=240,framerate=25/1 \
     ! x264enc key-int-max=25 speed-preset=ultrafast ! h264parse";

/// An ERROR message as seen on the pipeline's bus.
#[derive(Debug)]
struct Posted {
    src: String,
    error: gst::glib::Error,
}

fn posted(message: &gst::Message) -> Option<Posted> {
    let gst::MessageView::Error(err) = message.view() else {
        return None;
    };
    Some(Posted {
        src: message
            .src()
            .map(|s| s.path_string().to_string())
            .unwrap_or_default(),
        error: err.error(),
    })
}

/// Starts `description` (its rtmpsink named `s`) and collects its ERROR messages: those
/// posted until `until` says enough (or `timeout` passes), then, once the pipeline is shut
/// down (which joins every streaming thread), whatever else was posted. In bus order.
fn errors_of(
    description: &str,
    timeout: Duration,
    until: impl Fn(&[Posted]) -> bool,
) -> Vec<Posted> {
    init();
    let pipeline = gst::parse::launch(description)
        .expect("pipeline parses")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    let bus = pipeline.bus().expect("bus");
    let _ = pipeline.set_state(gst::State::Playing);
    let deadline = std::time::Instant::now() + timeout;
    let mut errors = Vec::new();
    while !until(&errors) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Some(message) = bus.timed_pop_filtered(
            gst::ClockTime::from_nseconds(left.as_nanos() as u64),
            &[gst::MessageType::Error],
        ) else {
            break;
        };
        errors.extend(posted(&message));
    }
    pipeline.set_state(gst::State::Null).expect("set to NULL");
    while let Some(message) = bus.pop_filtered(&[gst::MessageType::Error]) {
        errors.extend(posted(&message));
    }
    errors
}

/// Whether `path` is the rtmpsink named `s` or one of its children.
fn in_rtmpsink(path: &str) -> bool {
    path.ends_with("/GstRsRtmpSink:s") || path.contains("/GstRsRtmpSink:s/")
}

/// The one error of rtmpsink among `errors`: posted by the bin itself, first on the bus, and
/// nothing from its children.
fn the_sink_error(errors: &[Posted]) -> &gst::glib::Error {
    let ours: Vec<&Posted> = errors.iter().filter(|e| in_rtmpsink(&e.src)).collect();
    assert_eq!(ours.len(), 1, "{errors:#?}");
    assert!(ours[0].src.ends_with("/GstRsRtmpSink:s"), "{errors:#?}");
    assert!(in_rtmpsink(&errors[0].src), "{errors:#?}");
    &ours[0].error
}

#[test]
fn a_refused_connection_is_one_error_from_rtmpsink() {
    let port = common::free_port();
    // A live source that keeps pushing until our flow error reaches it: its "Internal data
    // stream error" (GStreamer's usual report of a downstream failure, outside our bin) marks
    // the point where everything our failure causes has happened.
    let errors = errors_of(
        &format!(
            "videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=25/1 \
             ! x264enc tune=zerolatency speed-preset=ultrafast ! h264parse \
             ! rtmpsink name=s location=rtmp://127.0.0.1:{port}/live/x timeout=3"
        ),
        Duration::from_secs(20),
        |errors| errors.iter().any(|e| !in_rtmpsink(&e.src)),
    );
    let err = the_sink_error(&errors);
    assert!(err.matches(gst::ResourceError::OpenWrite), "{err:?}");
    assert!(err.message().contains("refused"), "{err:?}");
    // Anything else comes from upstream, after ours, as GStreamer's generic flow error.
    for other in errors.iter().filter(|e| !in_rtmpsink(&e.src)) {
        assert!(other.error.matches(gst::StreamError::Failed), "{errors:#?}");
    }
}

#[test]
fn an_empty_host_is_one_error_from_rtmpsink_naming_it() {
    // The location is refused when set (a warning); starting then fails saying why, and base
    // sink's fallback "state change failed" error is not posted on top.
    let errors = errors_of(
        &format!("{VIDEO_320} ! rtmpsink name=s location=rtmp:// timeout=3"),
        Duration::from_secs(20),
        |errors| !errors.is_empty(),
    );
    let err = the_sink_error(&errors);
    assert!(err.matches(gst::ResourceError::Settings), "{err:?}");
    assert!(err.message().contains("no host name"), "{err:?}");
    assert_eq!(errors.len(), 1, "{errors:#?}");
}
