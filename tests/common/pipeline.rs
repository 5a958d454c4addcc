//! Runs an in-process pipeline with our plugin registered statically, as an application would,
//! and reports what its bus said and how many buffers entered the rtmpsink named `s`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::prelude::*;

pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        gst::init().expect("gstreamer init");
        gstrtmp::plugin_register_static().expect("register rtmp plugin");
    });
}

/// What a pipeline did, as an application would see it on the bus.
#[derive(Debug)]
pub struct Outcome {
    pub eos: bool,
    pub error: Option<(gst::glib::Error, String)>,
    /// Buffers that entered each rtmpsink pad.
    pub buffers: BTreeMap<String, u64>,
    pub stats: Option<gst::Structure>,
    /// Element messages posted on the bus, in order (e.g. rtmp-disconnected).
    pub element_messages: Vec<gst::Structure>,
}

impl Outcome {
    pub fn assert_eos(&self) {
        assert!(
            self.eos && self.error.is_none(),
            "pipeline did not end with EOS: {:?}",
            self.error
        );
    }

    pub fn error_text(&self) -> String {
        let (err, debug) = self.error.as_ref().expect("an error was expected");
        format!("{} ({debug})", err.message())
    }
}

/// Runs `description` (its rtmpsink named `s`) until EOS or an error, at most `timeout`.
pub fn run(description: &str, timeout: Duration) -> Outcome {
    init();
    let pipeline = gst::parse::launch(description)
        .expect("pipeline parses")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    let sink = pipeline.by_name("s").expect("rtmpsink named s");
    let counters: Arc<Mutex<BTreeMap<String, Arc<AtomicU64>>>> = Default::default();
    for pad in sink.sink_pads() {
        let counter = Arc::new(AtomicU64::new(0));
        counters
            .lock()
            .unwrap()
            .insert(pad.name().to_string(), counter.clone());
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            counter.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    }
    pipeline
        .set_state(gst::State::Playing)
        .expect("set to PLAYING");
    let bus = pipeline.bus().expect("bus");
    let mut outcome = Outcome {
        eos: false,
        error: None,
        buffers: BTreeMap::new(),
        stats: None,
        element_messages: Vec::new(),
    };
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let message = bus.timed_pop_filtered(
            gst::ClockTime::from_nseconds(left.as_nanos() as u64),
            &[
                gst::MessageType::Eos,
                gst::MessageType::Error,
                gst::MessageType::Element,
            ],
        );
        match message.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Eos(_)) => outcome.eos = true,
            Some(gst::MessageView::Error(err)) => {
                outcome.error = Some((err.error(), format!("{:?}", err.debug())));
            }
            Some(gst::MessageView::Element(element)) => {
                if let Some(structure) = element.structure() {
                    outcome.element_messages.push(structure.to_owned());
                }
                continue;
            }
            _ => {}
        }
        break;
    }
    outcome.stats = Some(sink.property::<gst::Structure>("stats"));
    pipeline.set_state(gst::State::Null).expect("set to NULL");
    outcome.buffers = counters
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.load(Ordering::Relaxed)))
        .collect();
    outcome
}
