//! Refusing, once an element has started, changes of the properties that apply only when
//! starting (the connection set of `location.rs` and each element's own such properties).

use std::sync::atomic::{AtomicBool, Ordering};

use gst::glib;
use gst::prelude::*;

/// Whether a change of `pspec` can only take effect when the element starts: its flags say it
/// is changeable in NULL and READY only (`mutable_ready`; gst-inspect shows "changeable only in
/// NULL or READY state"). The ParamSpec flags are the one list of such properties.
pub fn applies_when_starting(pspec: &glib::ParamSpec) -> bool {
    let flags = pspec.flags();
    flags.contains(glib::ParamFlags::WRITABLE)
        && flags.contains(gst::PARAM_FLAG_MUTABLE_READY)
        && !flags.intersects(gst::PARAM_FLAG_MUTABLE_PAUSED | gst::PARAM_FLAG_MUTABLE_PLAYING)
}

/// Whether an element has started (from READY->PAUSED until it is back in READY), for refusing
/// changes of the properties that apply only when starting, as reqwesthttpsrc refuses a new
/// location once started: a change accepted then would read back changed and be ignored (a
/// reconnection would still use the old stream).
///
/// The element calls [`set_started`](Self::set_started) in `change_state` (true before
/// READY->PAUSED, false after PAUSED->READY or a failed READY->PAUSED) and asks
/// [`refuse`](Self::refuse) first thing in `set_property`, and [`check_uri`](Self::check_uri) in
/// `set_uri`.
#[derive(Debug, Default)]
pub struct StartGate(AtomicBool);

impl StartGate {
    pub fn set_started(&self, started: bool) {
        self.0.store(started, Ordering::SeqCst);
    }

    pub fn is_started(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Whether the change of `pspec` must be refused (the element keeps the old value). Then it
    /// has been logged in `cat` and posted as a WARNING message (LIBRARY/SETTINGS) from
    /// `element`. The text names the property, never the value (it may hold a secret).
    pub fn refuse(
        &self,
        cat: gst::DebugCategory,
        element: &gst::Element,
        pspec: &glib::ParamSpec,
    ) -> bool {
        if !self.is_started() || !applies_when_starting(pspec) {
            return false;
        }
        let text = format!(
            "Cannot change '{}' while {} is running: it applies when starting \
             (set it in the NULL or READY state); keeping the old value",
            pspec.name(),
            element_kind(element)
        );
        gst::warning!(cat, obj = element, "{text}");
        let message = gst::message::Warning::builder(gst::LibraryError::Settings, &text)
            .src(element)
            .build();
        let _ = element.post_message(message);
        true
    }

    /// For `GstURIHandler::set_uri`: a new URI is refused once started.
    pub fn check_uri(&self, element: &gst::Element) -> Result<(), glib::Error> {
        if self.is_started() {
            return Err(glib::Error::new(
                gst::URIError::BadState,
                &format!(
                    "Changing the location of a running {} is not supported",
                    element_kind(element)
                ),
            ));
        }
        Ok(())
    }
}

/// `rtmpsink` or `rtmpsrc` (the factory name), for messages.
fn element_kind(element: &gst::Element) -> String {
    element
        .factory()
        .map(|f| f.name().to_string())
        .unwrap_or_else(|| element.type_().name().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shared_property_applies_when_starting_and_the_flags_say_so() {
        gst::init().unwrap();
        for pspec in crate::location::properties() {
            assert!(applies_when_starting(&pspec), "{}", pspec.name());
        }
        let live = glib::ParamSpecUInt::builder("chunk-size")
            .mutable_playing()
            .build();
        assert!(!applies_when_starting(&live));
        let read_only = glib::ParamSpecUInt::builder("x").read_only().build();
        assert!(!applies_when_starting(&read_only));
    }
}
