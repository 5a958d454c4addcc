//! rtmpsrc's pads answer queries (latency, seeking, duration) and take seeks: checked here,
//! the pads flushed, carried out by the streaming thread (the RTMP seek and the new segment).

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::{CAT, RtmpSrc};
use crate::rtmpsrc::recorded::{SeekRequest, Snap};

impl RtmpSrc {
    pub(super) fn src_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        let control = self.control();
        let recorded = control.as_ref().is_some_and(|c| c.is_recorded());
        let duration = control.as_ref().and_then(|c| c.duration());
        match query.view_mut() {
            gst::QueryViewMut::Latency(q) => {
                if recorded {
                    q.set(false, gst::ClockTime::ZERO, gst::ClockTime::NONE);
                } else {
                    let latency = gst::ClockTime::from_mseconds(u64::from(self.settings().latency));
                    q.set(true, latency, gst::ClockTime::NONE);
                }
                true
            }
            gst::QueryViewMut::Seeking(q) => {
                let format = q.format();
                let flv = self.pads().flv.is_some();
                if recorded && !flv && format == gst::Format::Time {
                    q.set(true, gst::ClockTime::ZERO, duration);
                } else {
                    q.set(
                        false,
                        gst::GenericFormattedValue::none_for_format(format),
                        gst::GenericFormattedValue::none_for_format(format),
                    );
                }
                true
            }
            gst::QueryViewMut::Duration(q) if q.format() == gst::Format::Time => match duration {
                Some(duration) if recorded => {
                    q.set(duration);
                    true
                }
                _ => false,
            },
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }

    pub(super) fn src_event(&self, _pad: &gst::Pad, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::Seek(seek) => self.seek(&event, seek),
            // Reconfigure, QoS, latency, navigation: nothing to do for a network source.
            _ => true,
        }
    }

    /// A seek in a recording: checked here, the pads flushed, carried out by the streaming
    /// thread (which sends the RTMP seek and the new segment).
    fn seek(&self, event: &gst::Event, seek: &gst::event::Seek) -> bool {
        let (rate, flags, start_type, start, stop_type, stop) = seek.get();
        let refuse = |why: &str| {
            gst::debug!(CAT, imp = self, "refusing seek: {why}");
            false
        };
        let Some(control) = self.control() else {
            return refuse("not started");
        };
        if !control.is_recorded() {
            return refuse("live streams cannot seek (stream-type=recorded makes it a recording)");
        }
        if self.pads().flv.is_some() {
            return refuse("the FLV output (src pad) cannot seek");
        }
        if rate != 1.0 {
            return refuse("only rate 1.0 is supported");
        }
        if flags.contains(gst::SeekFlags::SEGMENT) {
            return refuse("segment seeks are not supported");
        }
        if !flags.contains(gst::SeekFlags::FLUSH) {
            return refuse("only flushing seeks are supported");
        }
        if start_type != gst::SeekType::Set {
            return refuse("the start position must be set");
        }
        let (gst::GenericFormattedValue::Time(start), gst::GenericFormattedValue::Time(stop)) =
            (start, stop)
        else {
            return refuse("only TIME seeks are supported");
        };
        let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
        segment.set_duration(control.duration());
        if segment
            .do_seek(rate, flags, start_type, start, stop_type, stop)
            .is_none()
        {
            return refuse("invalid positions");
        }
        let snap = if flags.contains(gst::SeekFlags::ACCURATE)
            || !flags.contains(gst::SeekFlags::KEY_UNIT)
        {
            Snap::Accurate
        } else if flags.contains(gst::SeekFlags::SNAP_AFTER)
            && !flags.contains(gst::SeekFlags::SNAP_BEFORE)
        {
            Snap::KeyAfter
        } else {
            Snap::KeyBefore
        };
        let seqnum = event.seqnum();
        if !control.note_seek(seqnum) {
            // playbin sends a seek to every sink: it reaches each of our pads.
            gst::debug!(CAT, imp = self, "seek {seqnum:?} already handled");
            return true;
        }
        gst::debug!(CAT, imp = self, "seek to {} ({snap:?})", start.display());
        let pads = self.pads().all();
        for pad in &pads {
            pad.push_event(gst::event::FlushStart::builder().seqnum(seqnum).build());
        }
        let request = SeekRequest {
            segment,
            snap,
            seqnum,
        };
        if !control.request_seek(request) {
            for pad in &pads {
                pad.push_event(gst::event::FlushStop::builder(true).seqnum(seqnum).build());
            }
            return refuse("the stream has ended");
        }
        // As a base source, the flush is over when the seek returns (the new segment and data
        // follow from the streaming thread).
        if !control.wait_flushed(seqnum) {
            gst::warning!(
                CAT,
                imp = self,
                "the flush of seek {seqnum:?} did not end in time"
            );
        }
        true
    }
}
