//! FLV output: the stream on the `src` request pad as one FLV byte stream, for
//! `rtmpsrc ! flvdemux` ([`crate::rtmpsrc::flv_output`] lays out the tags).

use std::sync::Arc;

use gst::prelude::*;

use super::{Flow, Streamer};
use crate::protocol::session::SessionEvent;
use crate::rtmpsrc::demux::{Action, EndReason};
use crate::rtmpsrc::worker::{Item, PadQueue};

impl Streamer {
    /// Starts the FLV pad's thread with its first events and the FLV header.
    pub(super) fn start_flv(&mut self) -> Flow {
        let Some(pad) = self.flv_pad.clone() else {
            return Flow::Continue(());
        };
        let queue = Arc::new(PadQueue::default());
        self.start_pad_thread(pad.clone(), &queue)?;
        let stream_id = pad.create_stream_id(&self.element, Some("src"));
        let events = [
            gst::event::StreamStart::builder(&stream_id)
                .group_id(self.group_id)
                .build(),
            gst::event::Caps::new(&gst::Caps::builder("video/x-flv").build()),
            gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new()),
        ];
        for event in events {
            queue.push(Item::Event(event));
        }
        let mut header = crate::rtmpsrc::flv_output::header();
        header
            .get_mut()
            .expect("a new buffer is writable")
            .set_flags(gst::BufferFlags::DISCONT);
        queue.push(Item::Buffer(header));
        self.flv = Some(queue);
        Flow::Continue(())
    }

    /// FLV output: each message becomes a tag; the end of the stream is found as the demuxer
    /// finds it.
    pub(super) fn handle_flv(&mut self, event: SessionEvent) -> Vec<Action> {
        let end = match &event {
            SessionEvent::StreamEof => Some(Action::Eos(EndReason::StreamEof)),
            SessionEvent::ServerClosed => Some(Action::ServerClosed),
            SessionEvent::Status(status)
                if matches!(
                    status.code.as_str(),
                    "NetStream.Play.UnpublishNotify"
                        | "NetStream.Play.Stop"
                        | "NetStream.Play.Complete"
                ) =>
            {
                Some(Action::Eos(EndReason::Status(status.code.clone())))
            }
            _ => None,
        };
        if let Some(end) = end {
            return vec![end];
        }
        if let (Some(queue), Some(buffer)) = (&self.flv, crate::rtmpsrc::flv_output::tag_of(&event))
            && !queue.push_deferred(Item::Buffer(buffer))
        {
            // Shut down.
            self.flv_stopped = true;
        }
        Vec::new()
    }
}
