//! How the streaming thread ends a stream: EOS (or an error when no pad exists to carry it),
//! a connection that ended without the server saying so, the idle timeout, a failed
//! connection.

use std::time::Duration;

use gst::prelude::*;

use super::Streamer;
use crate::connection::ConnectionError;
use crate::protocol::session::SessionError;
use crate::rtmpsrc::imp::CAT;
use crate::shared::connect::{self, Direction};

impl Streamer {
    /// EOS downstream, or an error when no pad exists to carry it.
    pub(super) fn end_of_stream(&mut self, why: &str) {
        if self.imp().pads().all().is_empty() {
            let stream = self.settings.common.location.redacted_stream().into_owned();
            gst::element_error!(
                self.element,
                gst::StreamError::Failed,
                ("Stream '{stream}' ended before any audio or video arrived"),
                ["{why}"]
            );
            return;
        }
        if !self.demux.no_more_pads_sent() {
            self.element.no_more_pads();
        }
        self.push_eos();
    }

    /// The connection ended without the server saying the stream did: an error with
    /// `no-eof-is-error`, else a warning (so an application can tell it from a clean end)
    /// and EOS.
    pub(super) fn closed_without_eof(&mut self, why: &str) {
        let uri = self.settings.common.location.to_redacted_uri();
        if self.settings.no_eof_is_error {
            gst::element_error!(
                self.element,
                gst::ResourceError::Read,
                ("Connection to {uri} ended without end of stream: {why}")
            );
            self.push_eos();
        } else {
            gst::element_warning!(
                self.element,
                gst::ResourceError::Read,
                ("Connection to {uri} ended without end of stream: {why}"),
                ["ending the stream with EOS; reconnect-attempts plays on instead"]
            );
            self.end_of_stream(why);
        }
    }

    pub(super) fn idle(&mut self, idle: Duration) {
        let stream = self.settings.common.location.redacted_stream().into_owned();
        if self.imp().pads().all().is_empty() {
            gst::element_error!(
                self.element,
                gst::ResourceError::NotFound,
                (
                    "No audio or video arrived from stream '{stream}' within {} s: is it being published?",
                    idle.as_secs()
                )
            );
        } else {
            gst::info!(CAT, obj = self.element, "no data for {idle:?}: EOS");
            self.end_of_stream("idle timeout");
        }
    }

    pub(super) fn fail_connection(&mut self, err: &ConnectionError) {
        let location = &self.settings.common.location;
        let uri = location.to_redacted_uri();
        let code = connect::resource_error(err, Direction::Play);
        match err {
            ConnectionError::Session(session)
                if matches!(session.as_ref(), SessionError::StreamNotFound(_)) =>
            {
                let stream = location.redacted_stream();
                let app = location.redacted_application();
                gst::element_error!(
                    self.element,
                    code,
                    ("Stream '{stream}' not found in application '{app}': {err}"),
                    ["{uri}"]
                );
            }
            _ => {
                gst::element_error!(self.element, code, ("Could not play {uri}: {err}"));
            }
        }
        self.push_eos();
    }
}
