//! `rtmpsrc`: plays a live RTMP stream onto elementary-stream pads.
//!
//! The element ([`imp::RtmpSrc`]) owns a [`Connection`](crate::connection::Connection) in play
//! mode and a streaming thread that turns what the server sends into pads, caps, tags and
//! buffers. The mapping itself lives in [`demux`], which knows nothing of pads or sockets so it
//! can be tested on its own.

use gst::glib;
use gst::prelude::*;

mod control;
pub mod demux;
mod demux_text;
mod flv_output;
mod imp;
#[cfg(test)]
mod panic_tests;
mod probe;
mod recorded;
pub mod renditions;
mod stream;
mod time;
mod worker;

glib::wrapper! {
    pub struct RtmpSrc(ObjectSubclass<imp::RtmpSrc>) @extends gst::Element, gst::Object,
        @implements gst::URIHandler;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "rtmpsrc",
        // rtmp2src is PRIMARY + 1 and equal ranks sort by name, so + 2 makes playbin and
        // uridecodebin pick this element for rtmp:// URIs.
        gst::Rank::PRIMARY + 2,
        RtmpSrc::static_type(),
    )
}
