//! Listener mode: the connection is a publisher the element's listener accepted, not one it
//! dials. The first publisher is awaited for as long as it takes (a state change ends the
//! wait); when it stops, the stream ends with EOS, or with `keep-listening` the next publisher
//! continues it: timelines start over (each pad's next buffer is a DISCONT, video waits for a
//! keyframe), the live clock places its media at its arrival, and a new segment goes first.

use std::sync::Arc;

use super::{CLOSE_TIMEOUT, ConnectionSlot, Streamer, TICK};
use crate::connection::{Connection, ConnectionError};
use crate::rtmpsrc::demux::LiveClock;
use crate::rtmpsrc::imp::CAT;

impl Streamer {
    pub(super) fn is_listening(&self) -> bool {
        self.control.listener().is_some()
    }

    /// Waits for a publisher; `None` on shutdown, an EOS request, or a listener failure (posted).
    pub(super) fn accept_publisher(&mut self) -> Option<Arc<Connection>> {
        let listener = self.control.listener()?;
        loop {
            if self.control.is_shutdown() {
                return None;
            }
            if self.control.take_eos_request() {
                gst::info!(
                    CAT,
                    obj = self.element,
                    "EOS requested while waiting for a publisher"
                );
                self.end_of_stream("the application asked for EOS");
                return None;
            }
            match listener.accept(Some(TICK)) {
                Ok(Some(accepted)) => {
                    gst::info!(
                        CAT,
                        obj = self.element,
                        "publisher {} on stream {}",
                        accepted.addr,
                        crate::protocol::redact::redact_query(&accepted.stream)
                    );
                    let connection = Arc::new(accepted.connection);
                    if !self.control.store(connection.clone()) {
                        return None;
                    }
                    return Some(connection);
                }
                Ok(None) => {}
                Err(ConnectionError::Flushing) => return None,
                Err(err) => {
                    self.fail_connection(&err);
                    return None;
                }
            }
        }
    }

    /// The publisher stopped (`why`) or its connection was lost (`lost`): the next publisher
    /// when `keep-listening` is set, else `None` after ending the stream as caller mode does.
    pub(super) fn publisher_gone(
        &mut self,
        connection: &Arc<Connection>,
        why: &str,
        lost: bool,
    ) -> Option<Arc<Connection>> {
        if !self.settings.keep_listening {
            match lost {
                true => self.closed_without_eof(why),
                false => self.end_of_stream(why),
            }
            return None;
        }
        gst::info!(
            CAT,
            obj = self.element,
            "{why}: waiting for the next publisher"
        );
        self.flush_queues();
        // The old publisher's socket goes now; its stats stay until the next one's replace them.
        self.imp().remember_stats(connection.stats());
        let _ = self.control.release();
        let _ = connection.close(CLOSE_TIMEOUT);
        let next = self.accept_publisher()?;
        self.demux.restart_after_seek();
        self.clock = LiveClock::default();
        let (segment, _) = self.playback.segment();
        let segment = gst::event::Segment::new(segment);
        self.push_event_all(&segment);
        Some(next)
    }
}
