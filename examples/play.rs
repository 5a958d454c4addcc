//! Plays an RTMP stream with `rtmpsrc` from a Rust application, printing the caps of each stream
//! and how many frames were decoded.
//!
//!     cargo run --example play -- rtmp://127.0.0.1/live/demo [--show]
//!
//! Without `--show` video and audio are decoded into fakesinks (synchronised to the clock, as a
//! real player would); with it they go to autovideosink and autoaudiosink. The plugin is
//! registered statically, so no GST_PLUGIN_PATH is needed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gst::prelude::*;

fn branch(caps: &gst::StructureRef, show: bool) -> Result<String, String> {
    let decoder = match (caps.name().as_str(), caps.get::<i32>("mpegversion").ok()) {
        ("video/x-h264", _) => "h264parse ! avdec_h264",
        ("audio/mpeg", Some(4)) => "avdec_aac",
        ("audio/mpeg", Some(1)) => "avdec_mp3",
        (name, _) => return Err(format!("no decoder for {name}")),
    };
    let video = caps.name().starts_with("video/");
    let sink = match (show, video) {
        (true, true) => "videoconvert ! autovideosink",
        (true, false) => "audioconvert ! audioresample ! autoaudiosink",
        (false, _) => "fakesink sync=true",
    };
    Ok(format!("queue ! {decoder} name=decoder ! {sink}"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let show = args.iter().any(|a| a == "--show");
    let location = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .ok_or("usage: play rtmp://host/app/stream [--show]")?
        .clone();

    gst::init()?;
    gstrtmp::plugin_register_static()?;

    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("rtmpsrc")
        .property("location", &location)
        .build()?;
    pipeline.add(&src)?;

    let video_frames = Arc::new(AtomicU64::new(0));
    let audio_frames = Arc::new(AtomicU64::new(0));
    let pipeline_weak = pipeline.downgrade();
    let (vf, af) = (video_frames.clone(), audio_frames.clone());
    src.connect_pad_added(move |_, pad| {
        let Some(pipeline) = pipeline_weak.upgrade() else {
            return;
        };
        let Some(caps) = pad.current_caps() else {
            return;
        };
        let Some(structure) = caps.structure(0) else {
            return;
        };
        println!("{}: {caps}", pad.name());
        let description = match branch(structure, show) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{}: {e}", pad.name());
                return;
            }
        };
        let bin = match gst::parse::bin_from_description(&description, true) {
            Ok(bin) => bin,
            Err(e) => {
                eprintln!("{}: cannot build `{description}`: {e}", pad.name());
                return;
            }
        };
        // Count decoded frames at the decoder's output.
        let counter = if pad.name() == "video" {
            vf.clone()
        } else {
            af.clone()
        };
        if let Some(decoder_src) = bin.by_name("decoder").and_then(|d| d.static_pad("src")) {
            decoder_src.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                counter.fetch_add(1, Ordering::Relaxed);
                gst::PadProbeReturn::Ok
            });
        }
        let linked = pipeline
            .add(&bin)
            .map_err(|e| e.to_string())
            .and_then(|_| bin.sync_state_with_parent().map_err(|e| e.to_string()))
            .and_then(|_| {
                let sink = bin.static_pad("sink").ok_or("branch has no sink pad")?;
                pad.link(&sink).map(|_| ()).map_err(|e| e.to_string())
            });
        if let Err(e) = linked {
            eprintln!("{}: cannot link: {e}", pad.name());
        }
    });

    pipeline.set_state(gst::State::Playing)?;
    println!("playing {location} (Ctrl-C to stop)");
    let bus = pipeline.bus().ok_or("pipeline without bus")?;
    let mut last_report = Instant::now();
    let result = loop {
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            println!(
                "decoded: {} video frames, {} audio frames",
                video_frames.load(Ordering::Relaxed),
                audio_frames.load(Ordering::Relaxed)
            );
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(200)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => {
                println!("end of stream");
                break Ok(());
            }
            gst::MessageView::Error(err) => {
                break Err(format!("{} ({:?})", err.error(), err.debug()));
            }
            gst::MessageView::Warning(w) => eprintln!("warning: {}", w.error()),
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure().filter(|s| s.name() == "rtmp-data") {
                    println!("data message: {s}");
                }
            }
            _ => {}
        }
    };
    pipeline.set_state(gst::State::Null)?;
    println!(
        "total: {} video frames, {} audio frames",
        video_frames.load(Ordering::Relaxed),
        audio_frames.load(Ordering::Relaxed)
    );
    // Give sinks a moment to close their windows/devices before exiting.
    std::thread::sleep(Duration::from_millis(50));
    result.map_err(Into::into)
}
