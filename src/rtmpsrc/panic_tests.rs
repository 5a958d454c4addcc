//! A panic in a thread rtmpsrc owns becomes an error on the bus, from rtmpsrc, naming the
//! thread, instead of a pipeline that waits for ever. The panics are injected by name (see
//! `crate::panics::inject`).

use gst::prelude::*;

use super::worker::{self, Item, PadQueue};

fn init() {
    gst::init().unwrap();
    // A second registration in the same process fails harmlessly.
    let _ = crate::plugin_register_static();
}

/// Runs `pipeline` to PLAYING and returns the first error's source name and message.
fn first_error(pipeline: &gst::Element) -> (String, String) {
    let bus = pipeline.bus().unwrap();
    let _ = pipeline.set_state(gst::State::Playing);
    let message = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(10),
            &[gst::MessageType::Error, gst::MessageType::Eos],
        )
        .expect("an error within 10 s, not a silent stop");
    let _ = pipeline.set_state(gst::State::Null);
    let gst::MessageView::Error(err) = message.view() else {
        panic!("EOS instead of an error");
    };
    let source = message
        .src()
        .map(|s| s.name().to_string())
        .unwrap_or_default();
    (source, err.error().message().to_owned())
}

fn rtmpsrc_pipeline(name: &str, location: &str) -> gst::Element {
    init();
    gst::parse::launch(&format!(
        "rtmpsrc name={name} location={location} stream-type=live timeout=2 ! fakesink"
    ))
    .unwrap()
}

#[test]
fn a_panic_in_the_io_thread_is_an_error() {
    let pipeline = rtmpsrc_pipeline("src", "rtmp://inject-panic-io/live/x");
    let (source, message) = first_error(&pipeline);
    assert_eq!(source, "src");
    assert!(
        message.contains("I/O thread panicked: panic injected at io"),
        "{message}"
    );
}

#[test]
fn a_panic_in_the_streaming_thread_is_an_error() {
    // Nothing listens there: without the injection the error would be "connection refused".
    let pipeline = rtmpsrc_pipeline("inject-panic-streaming", "rtmp://127.0.0.1:9/live/x");
    let (source, message) = first_error(&pipeline);
    assert_eq!(source, "inject-panic-streaming");
    assert!(
        message.contains("streaming thread panicked: panic injected at streaming"),
        "{message}"
    );
}

#[test]
fn a_panic_in_a_pad_thread_is_an_error() {
    init();
    let pipeline = gst::Pipeline::new();
    let element = gst::ElementFactory::make("identity")
        .name("inject-panic-pad")
        .build()
        .unwrap();
    pipeline.add(&element).unwrap();
    let pad = gst::Pad::builder(gst::PadDirection::Src)
        .name("video")
        .build();
    element.add_pad(&pad).unwrap();
    let queue = std::sync::Arc::new(PadQueue::default());
    let thread = worker::spawn(pad, queue.clone(), |_, _| {}).unwrap();
    // The thread ends after the panic, and shuts its queue so that nobody waits on it.
    thread.join().unwrap();
    assert!(!queue.push(Item::Event(gst::event::Eos::new())));
    let bus = pipeline.bus().unwrap();
    let message = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(1), &[gst::MessageType::Error])
        .expect("an error");
    let gst::MessageView::Error(err) = message.view() else {
        unreachable!()
    };
    assert_eq!(message.src().unwrap().name(), "inject-panic-pad");
    assert!(
        err.error()
            .message()
            .contains("video pad thread panicked: panic injected at pad"),
        "{}",
        err.error()
    );
}
