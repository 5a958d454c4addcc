//! Publishes a live test stream (H.264 + AAC) to an RTMP server from a Rust application.
//!
//!     cargo run --example publish -- rtmp://127.0.0.1/live/demo [seconds]
//!
//! The plugin is registered statically, so no GST_PLUGIN_PATH is needed.

use gst::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let location = args
        .next()
        .ok_or("usage: publish rtmp://host/app/stream [seconds]")?;
    let seconds: u32 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(10);

    gst::init()?;
    gstrtmp::plugin_register_static()?;

    let pipeline = gst::Pipeline::new();
    let video_src = gst::ElementFactory::make("videotestsrc")
        .property("is-live", true)
        .property("num-buffers", (seconds * 25) as i32)
        .build()?;
    let video_caps = gst::ElementFactory::make("capsfilter")
        .property(
            "caps",
            gst::Caps::builder("video/x-raw")
                .field("width", 640)
                .field("height", 360)
                .field("framerate", gst::Fraction::new(25, 1))
                .build(),
        )
        .build()?;
    let encoder = gst::ElementFactory::make("x264enc")
        .property_from_str("tune", "zerolatency")
        .property("key-int-max", 50u32)
        .build()?;
    let h264parse = gst::ElementFactory::make("h264parse").build()?;
    let audio_src = gst::ElementFactory::make("audiotestsrc")
        .property("is-live", true)
        .property("num-buffers", (seconds * 44100 / 1024) as i32)
        .property("samplesperbuffer", 1024)
        .build()?;
    let aac = gst::ElementFactory::make("voaacenc").build()?;
    let aacparse = gst::ElementFactory::make("aacparse").build()?;
    let sink = gst::ElementFactory::make("rtmpsink")
        .property("location", &location)
        .build()?;

    pipeline.add_many([
        &video_src,
        &video_caps,
        &encoder,
        &h264parse,
        &audio_src,
        &aac,
        &aacparse,
        &sink,
    ])?;
    gst::Element::link_many([&video_src, &video_caps, &encoder, &h264parse])?;
    h264parse.link_pads(None, &sink, Some("video"))?;
    gst::Element::link_many([&audio_src, &aac, &aacparse])?;
    aacparse.link_pads(None, &sink, Some("audio"))?;

    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().ok_or("pipeline without bus")?;
    let mut result = Ok(());
    for message in bus.iter_timed(gst::ClockTime::NONE) {
        match message.view() {
            gst::MessageView::Eos(_) => {
                // Read back from the element: the location property never shows a password.
                let shown: String = sink.property("location");
                println!("published {seconds} s to {shown}");
                break;
            }
            gst::MessageView::Error(err) => {
                result = Err(format!("{}: {:?}", err.error(), err.debug()).into());
                break;
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null)?;
    result
}
