//! Timestamps of a played stream: 32-bit RTMP milliseconds extended to 64 bits per stream with
//! flvdemux's resync rule ([`Timeline`]), then placed on the pipeline's running time
//! ([`LiveClock`]).

/// A DTS this far behind the previous one is a restart of the timeline, not reordering.
pub const RESYNC_THRESHOLD_MS: i64 = 2000;
/// A DTS this far ahead of the previous one means data is missing: the buffer is a DISCONT.
pub const GAP_THRESHOLD_MS: i64 = 5000;

const WRAP: i64 = 1 << 32;
const HALF_WRAP: i64 = 1 << 31;

/// Extends 32-bit RTMP millisecond timestamps to 64 bits and absorbs backward jumps.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// The last raw timestamp, extended to 64 bits.
    last_ext: Option<i64>,
    /// Added to every extended timestamp since the last resync.
    offset: i64,
    last_out: Option<i64>,
    /// A recording's timestamps are positions: no offset ever moves them (seeks restart the
    /// timeline instead).
    recorded: bool,
}

/// A timestamp placed on a [`Timeline`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapped {
    pub ms: i64,
    /// The timeline jumped back and was resynchronised.
    pub resync: bool,
    /// The timeline jumped ahead by [`GAP_THRESHOLD_MS`] or more.
    pub gap: bool,
}

impl Timeline {
    pub fn recorded() -> Self {
        Timeline {
            recorded: true,
            ..Default::default()
        }
    }

    /// Forgets the previous timestamps (a new connection or a seek), keeping the kind.
    pub fn restart(&mut self) {
        *self = Timeline {
            recorded: self.recorded,
            ..Default::default()
        };
    }

    pub fn map(&mut self, ts: u32) -> Mapped {
        let raw = i64::from(ts);
        let ext = match self.last_ext {
            None => raw,
            Some(last) => {
                // Put the value in the same 2^32 period as the last one, then move a period
                // forward or back when that is closer (a wrap, or a small step back across one).
                let candidate = (last & !(WRAP - 1)) | raw;
                if candidate < last - HALF_WRAP {
                    candidate + WRAP
                } else if candidate > last + HALF_WRAP && candidate >= WRAP {
                    candidate - WRAP
                } else {
                    candidate
                }
            }
        };
        self.last_ext = Some(ext);
        let mut out = ext + self.offset;
        let mut resync = false;
        let mut gap = false;
        if let Some(last_out) = self.last_out {
            if out <= last_out - RESYNC_THRESHOLD_MS && !self.recorded {
                // As flvdemux: continue from where the stream was.
                self.offset += last_out - out;
                out = last_out;
                resync = true;
            } else if out >= last_out + GAP_THRESHOLD_MS {
                gap = true;
            }
        }
        self.last_out = Some(out);
        Mapped {
            ms: out,
            resync,
            gap,
        }
    }
}

/// Maps stream milliseconds to running time: the first buffer gets the running time at which it
/// was received, later ones keep their distance in stream time from it.
#[derive(Debug, Clone, Default)]
pub struct LiveClock {
    base: Option<(i64, gst::ClockTime)>,
}

impl LiveClock {
    /// `now` (the current running time) is asked for once, at the first buffer.
    pub fn running_time(
        &mut self,
        stream_ms: i64,
        now: impl FnOnce() -> gst::ClockTime,
    ) -> gst::ClockTime {
        let (base_ms, base_rt) = *self.base.get_or_insert_with(|| (stream_ms, now()));
        let ns = i128::from(base_rt.nseconds())
            + i128::from(stream_ms.saturating_sub(base_ms)) * 1_000_000;
        // Clamp: a stream that starts a little before the first buffer cannot go below zero.
        let ns = ns.clamp(0, i128::from(u64::MAX - 1));
        gst::ClockTime::from_nseconds(ns as u64)
    }

    pub fn is_started(&self) -> bool {
        self.base.is_some()
    }
}
