//! The recording side of the streaming thread: carrying out seeks, pausing and resuming the
//! server with the pipeline, the duration; and a live stream's pause (the live edge after it).

use gst::prelude::*;

use super::{Flow, Streamer};
use crate::connection::{Connection, Outgoing};
use crate::rtmpsrc::demux::{LiveClock, StreamKind};
use crate::rtmpsrc::imp::CAT;
use crate::rtmpsrc::recorded::{SeekRequest, SeekStart};
use crate::rtmpsrc::worker::Item;

impl Streamer {
    pub(super) fn set_duration(&mut self, ms: u64) {
        if self.recorded && self.playback.set_duration_ms(ms) {
            gst::info!(CAT, obj = self.element, "duration {ms} ms");
            self.control.set_duration(gst::ClockTime::from_mseconds(ms));
            let _ = self.element.post_message(
                gst::message::DurationChanged::builder()
                    .src(&self.element)
                    .build(),
            );
        }
    }

    /// A flushing seek of a recording: the pads already flush; what is queued is from before.
    pub(super) fn start_seek(&mut self, request: SeekRequest, connection: &Connection) -> Flow {
        gst::info!(
            CAT,
            obj = self.element,
            "seeking to {} ({:?})",
            request.segment.start().display(),
            request.snap
        );
        for (_, queue) in &self.queues {
            queue.clear();
            if !queue.push(Item::FlushStop(request.seqnum)) {
                return Flow::Break(());
            }
        }
        self.imp().reset_flows();
        self.demux.restart_after_seek();
        self.ended = false;
        if !self.control.is_playing() {
            // A seek while paused prerolls again: the server must send, and is not paused
            // again until the pipeline has played.
            self.played = false;
        }
        match self.playback.start_seek(request, self.started.elapsed()) {
            SeekStart::Send(ms) => {
                let _ = connection.send_control(Outgoing::Seek(ms));
                if !self.server_playing {
                    let _ = connection.send_control(Outgoing::Pause { pause: false, ms });
                    self.server_playing = true;
                }
                Flow::Continue(())
            }
            SeekStart::Done(actions) => self.apply(actions),
        }
    }

    /// Recordings: PLAYING->PAUSED pauses the server, PAUSED->PLAYING resumes it where the
    /// received media ends (a seek there, as nginx-rtmp restarts FLV files on unpause).
    pub(super) fn follow_pause(&mut self, playing: bool, connection: &Connection) {
        if playing {
            if !self.server_playing {
                let position = self.playback.position_ms();
                if let Some(ms) = self.playback.start_resume(
                    self.started.elapsed(),
                    self.demux.has_pad(StreamKind::Video),
                ) {
                    let _ = connection.send_control(Outgoing::Seek(ms));
                }
                gst::debug!(CAT, obj = self.element, "resuming at {position} ms");
                let _ = connection.send_control(Outgoing::Pause {
                    pause: false,
                    ms: position,
                });
                self.server_playing = true;
            }
            self.played = true;
        } else if self.played && self.server_playing && !self.ended {
            let ms = self.playback.position_ms();
            gst::debug!(CAT, obj = self.element, "pausing at {ms} ms");
            let _ = connection.send_control(Outgoing::Pause { pause: true, ms });
            self.server_playing = false;
        }
    }

    /// Live streams: nothing flows while paused, and playing again starts at the live edge
    /// (the next keyframe, placed at its arrival) instead of seconds behind it.
    pub(super) fn follow_live_pause(&mut self, playing: bool) {
        if !playing && !self.live_paused {
            gst::debug!(CAT, obj = self.element, "paused: dropping live media");
            self.live_paused = true;
        } else if playing && self.live_paused {
            gst::debug!(CAT, obj = self.element, "playing again from the live edge");
            self.live_paused = false;
            self.demux.restart_timelines();
            self.clock = LiveClock::default();
        }
    }
}
