//! An in-process player for the rtmpsrc tests: `rtmpsrc` with a decoding branch per pad
//! (`h264parse ! avdec_h264`, `avdec_aac` or `avdec_mp3`, each into a `fakesink sync=true`), and
//! a record of what crossed each pad: caps, timestamps and flags of rtmpsrc's buffers, decoded
//! frames, how late they reached the sink, EOS.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gst_base::prelude::BaseSinkExt;

/// One registration per test binary, shared with the publishing helpers of `common`.
pub use crate::common::pipeline::init;

/// What crossed one rtmpsrc pad and its decoding branch.
#[derive(Debug, Default, Clone)]
pub struct PadLog {
    /// Every caps event rtmpsrc sent on the pad.
    pub caps: Vec<gst::Caps>,
    pub buffers: u64,
    pub dts: Vec<gst::ClockTime>,
    pub pts: Vec<gst::ClockTime>,
    /// Buffers without DTS or PTS.
    pub untimed: u64,
    pub discont: u64,
    pub delta: u64,
    /// Frames that reached the sink after decoding.
    pub decoded: u64,
    /// Running times of the decoded frames, in arrival order.
    pub decoded_pts: Vec<gst::ClockTime>,
    /// Decoded frames rendered more than 50 ms after their time (running time + latency).
    pub late: u64,
    pub max_lateness: Duration,
    pub eos: bool,
    pub tags: Vec<gst::TagList>,
}

impl PadLog {
    pub fn last_caps(&self) -> &gst::StructureRef {
        self.caps
            .last()
            .and_then(|c| c.structure(0))
            .expect("pad has caps")
    }

    /// DTS never goes back.
    pub fn assert_monotonic_dts(&self) {
        for pair in self.dts.windows(2) {
            assert!(pair[0] <= pair[1], "DTS went back: {:?}", pair);
        }
    }
}

#[derive(Debug, Default)]
pub struct Log {
    pub pads: BTreeMap<String, PadLog>,
    /// Pad names in the order they were added.
    pub order: Vec<String>,
    pub no_more_pads: bool,
}

impl Log {
    pub fn pad(&self, name: &str) -> &PadLog {
        self.pads
            .get(name)
            .unwrap_or_else(|| panic!("no {name} pad; pads: {:?}", self.order))
    }
}

/// How a run ended, as the application sees it on the bus.
#[derive(Debug, Default)]
pub struct Outcome {
    pub eos: bool,
    pub error: Option<(gst::glib::Error, String)>,
    pub warnings: Vec<String>,
    /// `rtmp-data` element messages.
    pub data: Vec<gst::Structure>,
    /// Names of every element message, in order (e.g. `rtmp-disconnected`).
    pub element_messages: Vec<String>,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn assert_eos(&self) {
        assert!(
            self.eos && self.error.is_none(),
            "no clean EOS after {:?}: {:?}",
            self.elapsed,
            self.error
        );
    }

    pub fn error(&self) -> &gst::glib::Error {
        &self.error.as_ref().expect("an error was expected").0
    }

    pub fn error_text(&self) -> String {
        let (err, debug) = self.error.as_ref().expect("an error was expected");
        format!("{} ({debug})", err.message())
    }
}

pub struct Player {
    pub pipeline: gst::Pipeline,
    pub src: gst::Element,
    log: Arc<Mutex<Log>>,
}

fn branch_description(caps: &gst::StructureRef) -> &'static str {
    match (caps.name().as_str(), caps.get::<i32>("mpegversion").ok()) {
        ("video/x-h264", _) => "queue ! h264parse ! avdec_h264",
        ("audio/mpeg", Some(4)) => "queue ! avdec_aac",
        ("audio/mpeg", Some(1)) => "queue ! avdec_mp3",
        other => panic!("unexpected caps {other:?}"),
    }
}

impl Player {
    /// rtmpsrc playing `location`, with `props` set from strings.
    pub fn new(location: &str, props: &[(&str, &str)]) -> Player {
        init();
        let pipeline = gst::Pipeline::new();
        let src = gst::ElementFactory::make("rtmpsrc")
            .property("location", location)
            .build()
            .expect("rtmpsrc");
        for (name, value) in props {
            src.set_property_from_str(name, value);
        }
        pipeline.add(&src).unwrap();
        let log = Arc::new(Mutex::new(Log::default()));
        let pipeline_weak = pipeline.downgrade();
        let pad_log = log.clone();
        src.connect_pad_added(move |_, pad| {
            let Some(pipeline) = pipeline_weak.upgrade() else {
                return;
            };
            add_branch(&pipeline, pad, &pad_log);
        });
        let nmp_log = log.clone();
        src.connect_no_more_pads(move |_| nmp_log.lock().unwrap().no_more_pads = true);
        Player { pipeline, src, log }
    }

    pub fn play(&self) {
        self.pipeline
            .set_state(gst::State::Playing)
            .expect("set to PLAYING");
    }

    /// Waits for EOS or an error, at most `timeout`, collecting warnings and data messages.
    pub fn run(&self, timeout: Duration) -> Outcome {
        let bus = self.pipeline.bus().expect("bus");
        let start = Instant::now();
        let deadline = start + timeout;
        let mut outcome = Outcome::default();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(msg) = bus.timed_pop(gst::ClockTime::from_nseconds(left.as_nanos() as u64))
            else {
                break;
            };
            match msg.view() {
                gst::MessageView::Eos(_) => {
                    outcome.eos = true;
                    break;
                }
                gst::MessageView::Error(err) => {
                    outcome.error = Some((err.error(), format!("{:?}", err.debug())));
                    break;
                }
                gst::MessageView::Warning(w) => outcome.warnings.push(w.error().to_string()),
                gst::MessageView::Element(e) => {
                    if let Some(s) = e.structure() {
                        outcome.element_messages.push(s.name().to_string());
                        if s.name() == "rtmp-data" {
                            outcome.data.push(s.to_owned());
                        }
                    }
                }
                _ => {}
            }
        }
        outcome.elapsed = start.elapsed();
        outcome
    }

    pub fn stats(&self) -> gst::Structure {
        self.src.property::<gst::Structure>("stats")
    }

    /// Sets the pipeline to NULL and returns the record.
    pub fn stop(self) -> Log {
        self.pipeline
            .set_state(gst::State::Null)
            .expect("set to NULL");
        std::mem::take(&mut *self.log.lock().unwrap())
    }

    /// Removes the decoding branches (whose sinks would wait forever for a preroll) and
    /// forgets what they recorded, to play again from READY.
    pub fn remove_branches(&self) {
        for child in self.pipeline.children() {
            if child != self.src {
                child.set_state(gst::State::Null).unwrap();
                self.pipeline.remove(&child).unwrap();
            }
        }
        *self.log.lock().unwrap() = Log::default();
    }

    pub fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap()
    }
}

fn add_branch(pipeline: &gst::Pipeline, pad: &gst::Pad, log: &Arc<Mutex<Log>>) {
    let name = pad.name().to_string();
    let caps = pad
        .current_caps()
        .expect("caps are set before the pad is added");
    {
        let mut log = log.lock().unwrap();
        log.order.push(name.clone());
        log.pads.insert(name.clone(), PadLog::default());
    }
    let src_log = log.clone();
    let src_name = name.clone();
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
        move |_, info| {
            let mut log = src_log.lock().unwrap();
            let pad_log = log.pads.get_mut(&src_name).unwrap();
            match &info.data {
                Some(gst::PadProbeData::Buffer(buffer)) => {
                    pad_log.buffers += 1;
                    match (buffer.dts(), buffer.pts()) {
                        (Some(dts), Some(pts)) => {
                            pad_log.dts.push(dts);
                            pad_log.pts.push(pts);
                        }
                        _ => pad_log.untimed += 1,
                    }
                    if buffer.flags().contains(gst::BufferFlags::DISCONT) {
                        pad_log.discont += 1;
                    }
                    if buffer.flags().contains(gst::BufferFlags::DELTA_UNIT) {
                        pad_log.delta += 1;
                    }
                }
                Some(gst::PadProbeData::Event(event)) => match event.view() {
                    gst::EventView::Caps(c) => pad_log.caps.push(c.caps_owned()),
                    gst::EventView::Tag(t) => pad_log.tags.push(t.tag_owned()),
                    _ => {}
                },
                _ => {}
            }
            gst::PadProbeReturn::Ok
        },
    );

    let description = format!(
        "{} ! fakesink name=sink sync=true signal-handoffs=true",
        branch_description(caps.structure(0).unwrap())
    );
    let bin = gst::parse::bin_from_description(&description, true).expect("decoding branch");
    let sink = bin.by_name("sink").unwrap();
    let sink_pad = sink.static_pad("sink").unwrap();
    let eos_log = log.clone();
    let eos_name = name.clone();
    sink_pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        if let Some(gst::PadProbeData::Event(event)) = &info.data
            && event.type_() == gst::EventType::Eos
        {
            eos_log.lock().unwrap().pads.get_mut(&eos_name).unwrap().eos = true;
        }
        gst::PadProbeReturn::Ok
    });
    let handoff_log = log.clone();
    sink.connect("handoff", false, move |args| {
        let sink = args[0].get::<gst::Element>().unwrap();
        let buffer = args[1].get::<gst::Buffer>().unwrap();
        let pad = args[2].get::<gst::Pad>().unwrap();
        let now = sink.current_running_time();
        let latency = sink
            .dynamic_cast_ref::<gst_base::BaseSink>()
            .unwrap()
            .latency();
        let running = pad.sticky_event::<gst::event::Segment>(0).and_then(|s| {
            s.segment()
                .downcast_ref::<gst::ClockTime>()
                .and_then(|s| s.to_running_time(buffer.pts()))
        });
        let mut log = handoff_log.lock().unwrap();
        let pad_log = log.pads.get_mut(&name).unwrap();
        pad_log.decoded += 1;
        if let Some(running) = running {
            pad_log.decoded_pts.push(running);
            if let Some(now) = now {
                let due = running + latency;
                let lateness = now.saturating_sub(due);
                let lateness = Duration::from_nanos(lateness.nseconds());
                pad_log.max_lateness = pad_log.max_lateness.max(lateness);
                if lateness > Duration::from_millis(50) {
                    pad_log.late += 1;
                }
            }
        }
        None
    });
    pipeline.add(&bin).unwrap();
    bin.sync_state_with_parent().unwrap();
    let bin_pad = bin.static_pad("sink").unwrap();
    pad.link(&bin_pad).expect("link rtmpsrc pad to its branch");
}
