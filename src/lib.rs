//! GStreamer RTMP plugin: `rtmpsink` and `rtmpsrc` on a sans-IO RTMP core.
#![allow(clippy::new_without_default)]

use gst::glib;

pub mod connection;
pub mod flv;
pub mod location;
pub mod panics;
pub mod protocol;
pub mod rtmpsink;
pub mod rtmpsrc;
pub mod shared;
pub mod uri;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    rtmpsink::register(plugin)?;
    rtmpsrc::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    rtmp,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    // The origin: "URL to provider of plugin". The project has no public repository yet, so
    // Cargo.toml has none (a placeholder there would be published as real); like GStreamer's own
    // plugins, and gst-plugins-rs through its repository, we name GStreamer's site. Once there is a
    // repository, put it in Cargo.toml and use env!("CARGO_PKG_REPOSITORY") here.
    "https://gstreamer.freedesktop.org",
    env!("BUILD_REL_DATE")
);
