//! Adaptive bitrate: the video encoder upstream of rtmpsink, and its bitrate in its own unit.
//!
//! The encoder is found by walking upstream from the bin's video pad (or the FLV pad, through
//! flvmux's video pad) across parsers, queues, capsfilters and bins, to the first element whose
//! factory is in [`ENCODERS`]. An encoder not in the table is no error: the writer's
//! `rtmp-bitrate-changed` message gives the application the target to apply itself.

use gst::glib;
use gst::prelude::*;

/// How an encoder takes its bitrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A numeric property in kbit/s.
    Kbps(&'static str),
    /// A numeric property in bit/s.
    Bps(&'static str),
    /// V4L2 stateful encoders: the `video_bitrate` control (bit/s) in `extra-controls`.
    V4l2Controls,
}

/// Encoders by factory name (checked in GStreamer's documentation and `gst-inspect-1.0`).
pub const ENCODERS: &[(&str, Unit)] = &[
    ("x264enc", Unit::Kbps("bitrate")),
    ("x265enc", Unit::Kbps("bitrate")),
    ("vp8enc", Unit::Bps("target-bitrate")),
    ("vp9enc", Unit::Bps("target-bitrate")),
    ("av1enc", Unit::Kbps("target-bitrate")),
    ("svtav1enc", Unit::Kbps("target-bitrate")),
    ("rav1enc", Unit::Bps("bitrate")),
    ("openh264enc", Unit::Bps("bitrate")),
    // VA-API (va plugin, and the older gstreamer-vaapi).
    ("vah264enc", Unit::Kbps("bitrate")),
    ("vah265enc", Unit::Kbps("bitrate")),
    ("vah264lpenc", Unit::Kbps("bitrate")),
    ("vah265lpenc", Unit::Kbps("bitrate")),
    ("vaapih264enc", Unit::Kbps("bitrate")),
    ("vaapih265enc", Unit::Kbps("bitrate")),
    // NVIDIA: NVENC (desktop) in kbit/s; Jetson's V4L2-based encoders in bit/s.
    ("nvh264enc", Unit::Kbps("bitrate")),
    ("nvh265enc", Unit::Kbps("bitrate")),
    ("nvcudah264enc", Unit::Kbps("bitrate")),
    ("nvcudah265enc", Unit::Kbps("bitrate")),
    ("nvautogpuh264enc", Unit::Kbps("bitrate")),
    ("nvautogpuh265enc", Unit::Kbps("bitrate")),
    ("nvv4l2h264enc", Unit::Bps("bitrate")),
    ("nvv4l2h265enc", Unit::Bps("bitrate")),
    // Intel Quick Sync (qsv) and Media SDK (msdk).
    ("qsvh264enc", Unit::Kbps("bitrate")),
    ("qsvh265enc", Unit::Kbps("bitrate")),
    ("msdkh264enc", Unit::Kbps("bitrate")),
    ("msdkh265enc", Unit::Kbps("bitrate")),
    // Stateful V4L2 encoders (Raspberry Pi, i.MX, ...).
    ("v4l2h264enc", Unit::V4l2Controls),
    ("v4l2h265enc", Unit::V4l2Controls),
];

/// Elements the walk looks through.
const MAX_HOPS: usize = 16;

/// The unit of a known encoder factory.
pub fn unit_of(factory: &str) -> Option<Unit> {
    ENCODERS
        .iter()
        .find(|(name, _)| *name == factory)
        .map(|(_, unit)| *unit)
}

/// kbit/s into the property's value (saturating).
pub fn to_property(unit: Unit, kbps: u32) -> u64 {
    match unit {
        Unit::Kbps(_) => u64::from(kbps),
        Unit::Bps(_) | Unit::V4l2Controls => u64::from(kbps) * 1000,
    }
}

/// The property's value in kbit/s.
pub fn from_property(unit: Unit, value: u64) -> u32 {
    let kbps = match unit {
        Unit::Kbps(_) => value,
        Unit::Bps(_) | Unit::V4l2Controls => value / 1000,
    };
    u32::try_from(kbps).unwrap_or(u32::MAX)
}

/// A video encoder found upstream.
#[derive(Debug, Clone)]
pub struct Encoder {
    pub element: gst::Element,
    pub unit: Unit,
}

impl Encoder {
    /// The encoder upstream of `pad` (a sink pad of rtmpsink), if a known one is there.
    pub fn find(pad: &gst::Pad) -> Option<Encoder> {
        let mut pad = pad.clone();
        for _ in 0..MAX_HOPS {
            let element = upstream_element(&pad)?;
            let factory = element.factory().map(|f| f.name());
            if let Some(unit) = factory.as_deref().and_then(unit_of) {
                return Some(Encoder { element, unit });
            }
            pad = video_sink_pad(&element)?;
        }
        None
    }

    pub fn name(&self) -> String {
        self.element.name().to_string()
    }

    /// The bitrate in force, in kbit/s (`None`: unreadable, or 0 meaning "automatic").
    pub fn bitrate_kbps(&self) -> Option<u32> {
        let value = match self.unit {
            Unit::Kbps(name) | Unit::Bps(name) => numeric(&self.element.property_value(name))?,
            Unit::V4l2Controls => {
                let controls = self
                    .element
                    .property::<Option<gst::Structure>>("extra-controls")?;
                numeric(&controls.value("video_bitrate").ok()?.clone())?
            }
        };
        Some(from_property(self.unit, value)).filter(|kbps| *kbps > 0)
    }

    /// Sets the bitrate; false when the property refuses it (type or range).
    pub fn set_bitrate_kbps(&self, kbps: u32) -> bool {
        let wanted = to_property(self.unit, kbps);
        match self.unit {
            Unit::Kbps(name) | Unit::Bps(name) => {
                let Some(pspec) = self.element.find_property(name) else {
                    return false;
                };
                let Some(value) = numeric_value(&pspec, wanted) else {
                    return false;
                };
                self.element.set_property_from_value(name, &value);
                true
            }
            Unit::V4l2Controls => {
                let mut controls = self
                    .element
                    .property::<Option<gst::Structure>>("extra-controls")
                    .unwrap_or_else(|| gst::Structure::new_empty("controls"));
                controls.set("video_bitrate", i32::try_from(wanted).unwrap_or(i32::MAX));
                self.element.set_property("extra-controls", controls);
                true
            }
        }
    }
}

/// The element feeding `pad`, looking into bins through their ghost pads.
fn upstream_element(pad: &gst::Pad) -> Option<gst::Element> {
    let mut peer = pad.peer()?;
    for _ in 0..MAX_HOPS {
        match peer
            .downcast_ref::<gst::GhostPad>()
            .and_then(|g| g.target())
        {
            Some(target) => peer = target,
            None => break,
        }
    }
    // The peer of an inner element's pad may be the internal proxy of a ghost pad.
    if let Some(ghost) = peer
        .parent()
        .and_then(|p| p.downcast::<gst::GhostPad>().ok())
    {
        return ghost.parent_element();
    }
    peer.parent_element()
}

/// The sink pad to walk on through: the only one, or the video one of a muxer (flvmux).
fn video_sink_pad(element: &gst::Element) -> Option<gst::Pad> {
    let pads = element.sink_pads();
    if let [only] = pads.as_slice() {
        return Some(only.clone());
    }
    pads.into_iter().find(|pad| {
        pad.name().starts_with("video")
            || pad
                .current_caps()
                .and_then(|caps| caps.structure(0).map(|s| s.name().starts_with("video/")))
                .unwrap_or(false)
    })
}

fn numeric(value: &glib::Value) -> Option<u64> {
    if let Ok(v) = value.get::<u32>() {
        return Some(u64::from(v));
    }
    if let Ok(v) = value.get::<i32>() {
        return u64::try_from(v).ok();
    }
    if let Ok(v) = value.get::<u64>() {
        return Some(v);
    }
    value.get::<i64>().ok().and_then(|v| u64::try_from(v).ok())
}

/// `wanted` as a value of the property's type, clamped into its range.
fn numeric_value(pspec: &glib::ParamSpec, wanted: u64) -> Option<glib::Value> {
    if let Some(p) = pspec.downcast_ref::<glib::ParamSpecUInt>() {
        let v = u32::try_from(wanted).unwrap_or(u32::MAX);
        return Some(v.clamp(p.minimum(), p.maximum()).to_value());
    }
    if let Some(p) = pspec.downcast_ref::<glib::ParamSpecInt>() {
        let v = i32::try_from(wanted).unwrap_or(i32::MAX);
        return Some(v.clamp(p.minimum(), p.maximum()).to_value());
    }
    if let Some(p) = pspec.downcast_ref::<glib::ParamSpecUInt64>() {
        return Some(wanted.clamp(p.minimum(), p.maximum()).to_value());
    }
    if let Some(p) = pspec.downcast_ref::<glib::ParamSpecInt64>() {
        let v = i64::try_from(wanted).unwrap_or(i64::MAX);
        return Some(v.clamp(p.minimum(), p.maximum()).to_value());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_encoder_gets_its_own_unit() {
        let kbps = 1500;
        let expect = [
            ("x264enc", "bitrate", 1500),
            ("x265enc", "bitrate", 1500),
            ("vp8enc", "target-bitrate", 1_500_000),
            ("vp9enc", "target-bitrate", 1_500_000),
            ("av1enc", "target-bitrate", 1500),
            ("openh264enc", "bitrate", 1_500_000),
            ("vah264enc", "bitrate", 1500),
            ("vaapih265enc", "bitrate", 1500),
            ("nvh264enc", "bitrate", 1500),
            ("nvv4l2h264enc", "bitrate", 1_500_000),
            ("qsvh265enc", "bitrate", 1500),
        ];
        for (factory, property, value) in expect {
            let unit = unit_of(factory).unwrap_or_else(|| panic!("{factory} is known"));
            let (Unit::Kbps(name) | Unit::Bps(name)) = unit else {
                panic!("{factory}: a plain property");
            };
            assert_eq!(name, property, "{factory}");
            assert_eq!(to_property(unit, kbps), value, "{factory}");
            assert_eq!(from_property(unit, value), kbps, "{factory}");
        }
        let v4l2 = unit_of("v4l2h264enc").unwrap();
        assert_eq!(v4l2, Unit::V4l2Controls);
        assert_eq!(to_property(v4l2, kbps), 1_500_000);
        assert_eq!(unit_of("myenc"), None);
    }

    fn make(factory: &str) -> Option<gst::Element> {
        gst::ElementFactory::make(factory).build().ok()
    }

    #[test]
    fn found_through_parser_queue_capsfilter_and_flvmux_and_set_in_its_unit() {
        gst::init().unwrap();
        let (Some(enc), Some(parse), Some(queue), Some(mux), Some(sink)) = (
            make("x264enc"),
            make("h264parse"),
            make("queue"),
            make("flvmux"),
            make("fakesink"),
        ) else {
            eprintln!("skipping: x264enc, h264parse or flvmux missing");
            return;
        };
        let caps = make("capsfilter").unwrap();
        let pipeline = gst::Pipeline::new();
        pipeline
            .add_many([&enc, &parse, &queue, &caps, &mux, &sink])
            .unwrap();
        gst::Element::link_many([&enc, &parse, &queue, &caps]).unwrap();
        let video = mux.request_pad_simple("video").unwrap();
        caps.static_pad("src").unwrap().link(&video).unwrap();
        mux.link(&sink).unwrap();
        let found = Encoder::find(&sink.static_pad("sink").unwrap()).expect("x264enc found");
        assert_eq!(found.element, enc);
        assert_eq!(found.bitrate_kbps(), Some(2048));
        assert!(found.set_bitrate_kbps(1234));
        assert_eq!(enc.property::<u32>("bitrate"), 1234);
        // Beyond the property's range: clamped, not refused.
        assert!(found.set_bitrate_kbps(u32::MAX));
        assert_eq!(enc.property::<u32>("bitrate"), 2_048_000);
    }

    #[test]
    fn bit_per_second_encoders_are_set_in_bits() {
        gst::init().unwrap();
        let (Some(enc), Some(sink)) = (make("vp8enc"), make("fakesink")) else {
            eprintln!("skipping: vp8enc missing");
            return;
        };
        let pipeline = gst::Pipeline::new();
        pipeline.add_many([&enc, &sink]).unwrap();
        enc.link(&sink).unwrap();
        let found = Encoder::find(&sink.static_pad("sink").unwrap()).expect("vp8enc found");
        assert!(found.set_bitrate_kbps(900));
        assert_eq!(enc.property::<i32>("target-bitrate"), 900_000);
        assert_eq!(found.bitrate_kbps(), Some(900));
    }

    #[test]
    fn an_unknown_encoder_is_not_found() {
        gst::init().unwrap();
        let src = make("videotestsrc").unwrap();
        let sink = make("fakesink").unwrap();
        let pipeline = gst::Pipeline::new();
        pipeline.add_many([&src, &sink]).unwrap();
        src.link(&sink).unwrap();
        assert!(Encoder::find(&sink.static_pad("sink").unwrap()).is_none());
    }
}
