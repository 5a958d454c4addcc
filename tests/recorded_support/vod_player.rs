//! An in-process player for the recorded-stream tests: `rtmpsrc` with one decoding branch per
//! pad (`queue ! h264parse ! avdec_h264`, `queue ! avdec_aac` or `queue ! avdec_mp3`, each into a
//! `fakesink`), and a record of what crossed each rtmpsrc pad and each sink's input, in order:
//! buffers (timestamps, flags, running times), segments, flushes and EOS with their seqnums.
//! Every record and every bus message wakes the waits, so tests wait on conditions (with a
//! timeout), never for a fixed time.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use gst::ClockTime;
use gst::prelude::*;

pub use crate::common::pipeline::init;

/// Bounds every wait that has nothing to do with the length of the media.
pub const WAIT: Duration = Duration::from_secs(10);

/// A value with a condition variable: updates wake the waits.
pub struct Watch<T> {
    value: Mutex<T>,
    changed: Condvar,
}

impl<T> Watch<T> {
    pub fn new(value: T) -> Self {
        Watch {
            value: Mutex::new(value),
            changed: Condvar::new(),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.value.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn update(&self, f: impl FnOnce(&mut T)) {
        f(&mut self.lock());
        self.changed.notify_all();
    }

    /// Waits until `f` returns something, at most `timeout`.
    pub fn wait_for<R>(&self, timeout: Duration, mut f: impl FnMut(&T) -> Option<R>) -> Option<R> {
        let deadline = Instant::now() + timeout;
        let mut guard = self.lock();
        loop {
            if let Some(r) = f(&guard) {
                return Some(r);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            guard = self
                .changed
                .wait_timeout(guard, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Something that crossed a pad.
#[derive(Debug, Clone)]
pub enum Ev {
    Buffer {
        pts: Option<ClockTime>,
        dts: Option<ClockTime>,
        flags: gst::BufferFlags,
        /// The running time of the PTS in the pad's segment.
        running: Option<ClockTime>,
    },
    Segment {
        segment: gst::FormattedSegment<ClockTime>,
        seqnum: gst::Seqnum,
    },
    FlushStart(gst::Seqnum),
    FlushStop(gst::Seqnum),
    Eos(gst::Seqnum),
}

#[derive(Debug, Clone)]
pub struct Rec {
    pub ev: Ev,
    /// The pipeline's running time when it crossed the pad.
    pub now: Option<ClockTime>,
    pub at: Instant,
}

/// A buffer as recorded.
#[derive(Debug, Clone, Copy)]
pub struct Buf {
    pub pts: Option<ClockTime>,
    pub dts: Option<ClockTime>,
    pub flags: gst::BufferFlags,
    pub running: Option<ClockTime>,
    pub now: Option<ClockTime>,
    pub at: Instant,
}

impl Buf {
    pub fn keyframe(&self) -> bool {
        !self.flags.contains(gst::BufferFlags::DELTA_UNIT)
    }

    pub fn discont(&self) -> bool {
        self.flags.contains(gst::BufferFlags::DISCONT)
    }

    pub fn pts_s(&self) -> f64 {
        secs(self.pts.expect("buffer has a PTS"))
    }
}

pub fn secs(t: ClockTime) -> f64 {
    t.nseconds() as f64 / 1e9
}

/// Helpers on a run of records.
pub trait Recs {
    fn recs(&self) -> &[Rec];

    /// What came after the last flush-stop of the seek `seqnum` (`None`: no such flush yet).
    fn after_flush(&self, seqnum: gst::Seqnum) -> Option<&[Rec]> {
        let recs = self.recs();
        let i = recs
            .iter()
            .rposition(|r| matches!(r.ev, Ev::FlushStop(s) if s == seqnum))?;
        Some(&recs[i + 1..])
    }

    fn buffers(&self) -> Vec<Buf> {
        self.recs()
            .iter()
            .filter_map(|r| match r.ev {
                Ev::Buffer {
                    pts,
                    dts,
                    flags,
                    running,
                } => Some(Buf {
                    pts,
                    dts,
                    flags,
                    running,
                    now: r.now,
                    at: r.at,
                }),
                _ => None,
            })
            .collect()
    }

    fn segments(&self) -> Vec<(gst::FormattedSegment<ClockTime>, gst::Seqnum)> {
        self.recs()
            .iter()
            .filter_map(|r| match &r.ev {
                Ev::Segment { segment, seqnum } => Some((segment.clone(), *seqnum)),
                _ => None,
            })
            .collect()
    }

    fn eos(&self) -> Vec<gst::Seqnum> {
        self.recs()
            .iter()
            .filter_map(|r| match r.ev {
                Ev::Eos(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    fn flush_starts(&self, seqnum: gst::Seqnum) -> usize {
        self.recs()
            .iter()
            .filter(|r| matches!(r.ev, Ev::FlushStart(s) if s == seqnum))
            .count()
    }

    fn flush_stops(&self, seqnum: gst::Seqnum) -> usize {
        self.recs()
            .iter()
            .filter(|r| matches!(r.ev, Ev::FlushStop(s) if s == seqnum))
            .count()
    }
}

impl Recs for [Rec] {
    fn recs(&self) -> &[Rec] {
        self
    }
}

impl Recs for Vec<Rec> {
    fn recs(&self) -> &[Rec] {
        self
    }
}

/// What crossed one rtmpsrc pad (`src`) and the input of its branch's sink (`sink`).
#[derive(Debug, Default)]
pub struct PadLog {
    pub src: Vec<Rec>,
    pub sink: Vec<Rec>,
    pub caps: Option<gst::Caps>,
}

#[derive(Debug, Default)]
pub struct Logs {
    pub pads: BTreeMap<String, PadLog>,
    pub no_more_pads: bool,
}

impl Logs {
    pub fn pad(&self, name: &str) -> &PadLog {
        self.pads.get(name).unwrap_or_else(|| {
            panic!(
                "no {name} pad; pads: {:?}",
                self.pads.keys().collect::<Vec<_>>()
            )
        })
    }

    /// Buffers that reached `name`'s sink after the seek `seqnum`'s flush (0 before it).
    pub fn sink_buffers_after(&self, name: &str, seqnum: gst::Seqnum) -> usize {
        self.pads
            .get(name)
            .and_then(|p| p.sink.after_flush(seqnum))
            .map_or(0, |r| r.buffers().len())
    }
}

/// A seek as sent: its seqnum and whether the pipeline took it.
#[derive(Debug, Clone, Copy)]
pub struct Seek {
    pub seqnum: gst::Seqnum,
    pub accepted: bool,
    /// Bus messages before the seek (for waits on what it causes).
    pub mark: usize,
}

pub struct VodPlayer {
    pub pipeline: gst::Pipeline,
    pub src: gst::Element,
    /// The fakesink of each branch, by pad name.
    pub sinks: BTreeMap<String, gst::Element>,
    pub logs: Arc<Watch<Logs>>,
    pub bus: Arc<Watch<Vec<gst::Message>>>,
}

fn record(pad: &gst::Pad, info: &gst::PadProbeInfo, now: Option<ClockTime>) -> Option<Rec> {
    let ev = match &info.data {
        Some(gst::PadProbeData::Buffer(buffer)) => {
            let running = pad.sticky_event::<gst::event::Segment>(0).and_then(|s| {
                s.segment()
                    .downcast_ref::<ClockTime>()
                    .and_then(|s| s.to_running_time(buffer.pts()))
            });
            Ev::Buffer {
                pts: buffer.pts(),
                dts: buffer.dts(),
                flags: buffer.flags(),
                running,
            }
        }
        Some(gst::PadProbeData::Event(event)) => match event.view() {
            gst::EventView::Segment(s) => Ev::Segment {
                segment: s
                    .segment()
                    .downcast_ref::<ClockTime>()
                    .expect("a TIME segment")
                    .clone(),
                seqnum: event.seqnum(),
            },
            gst::EventView::FlushStart(_) => Ev::FlushStart(event.seqnum()),
            gst::EventView::FlushStop(_) => Ev::FlushStop(event.seqnum()),
            gst::EventView::Eos(_) => Ev::Eos(event.seqnum()),
            _ => return None,
        },
        _ => return None,
    };
    Some(Rec {
        ev,
        now,
        at: Instant::now(),
    })
}

const PROBE_TYPES: gst::PadProbeType = gst::PadProbeType::BUFFER
    .union(gst::PadProbeType::EVENT_DOWNSTREAM)
    .union(gst::PadProbeType::EVENT_FLUSH);

/// The decoding branches of a recording with H.264 and AAC.
pub const AV: &[(&str, &str)] = &[
    ("video", "queue ! h264parse ! avdec_h264"),
    ("audio", "queue ! avdec_aac"),
];

/// Records what crosses `pad` into `logs.pads[name].src` (or `.sink`).
fn watch_pad(
    pad: &gst::Pad,
    element: &gst::Element,
    logs: &Arc<Watch<Logs>>,
    name: &str,
    sink: bool,
) {
    let logs = logs.clone();
    let name = name.to_owned();
    let element = element.downgrade();
    pad.add_probe(PROBE_TYPES, move |pad, info| {
        let now = element.upgrade().and_then(|e| e.current_running_time());
        if let Some(rec) = record(pad, info, now) {
            logs.update(|logs| {
                let log = logs.pads.entry(name.clone()).or_default();
                if sink {
                    log.sink.push(rec);
                } else {
                    log.src.push(rec);
                }
            });
        }
        gst::PadProbeReturn::Ok
    });
}

impl VodPlayer {
    /// `rtmpsrc location=LOCATION name=s s.PAD ! BRANCH ! fakesink sync=SYNC ...` for each
    /// `(PAD, BRANCH)` of `branches`, with `props` set on rtmpsrc from strings. The branches
    /// exist from the start (as gst-launch makes them) and are linked as the pads appear.
    pub fn new(
        location: &str,
        props: &[(&str, &str)],
        sync: bool,
        branches: &[(&str, &str)],
    ) -> VodPlayer {
        init();
        let pipeline = gst::Pipeline::new();
        let src = gst::ElementFactory::make("rtmpsrc")
            .property("location", location)
            .build()
            .expect("rtmpsrc");
        for (name, value) in props {
            src.set_property_from_str(name, value);
        }
        pipeline.add(&src).unwrap();
        let logs = Arc::new(Watch::new(Logs::default()));
        let mut inputs = BTreeMap::new();
        let mut sinks = BTreeMap::new();
        for (pad, description) in branches {
            let description = format!("{description} ! fakesink name=sink sync={sync}");
            let bin = gst::parse::bin_from_description(&description, true).expect("branch");
            bin.set_property("name", format!("{pad}-branch"));
            let sink = bin.by_name("sink").unwrap();
            watch_pad(&sink.static_pad("sink").unwrap(), &src, &logs, pad, true);
            sinks.insert(pad.to_string(), sink);
            pipeline.add(&bin).unwrap();
            inputs.insert(pad.to_string(), bin.static_pad("sink").unwrap());
        }
        let pad_logs = logs.clone();
        src.connect_pad_added(move |src, pad| {
            let name = pad.name().to_string();
            let caps = pad.current_caps();
            pad_logs.update(|l| l.pads.entry(name.clone()).or_default().caps = caps);
            watch_pad(pad, src, &pad_logs, &name, false);
            // A pad without a branch stays unlinked (its pushes fail: the test sees an error).
            if let Some(input) = inputs.get(&name) {
                let _ = pad.link(input);
            }
        });
        let nmp = logs.clone();
        src.connect_no_more_pads(move |_| nmp.update(|l| l.no_more_pads = true));
        let bus = Arc::new(Watch::new(Vec::new()));
        Self::collect_bus(&pipeline, &bus);
        VodPlayer {
            pipeline,
            src,
            sinks,
            logs,
            bus,
        }
    }

    /// Keeps every message of `element`'s bus in `bus`.
    pub fn collect_bus(element: &gst::Pipeline, bus: &Arc<Watch<Vec<gst::Message>>>) {
        let messages = bus.clone();
        element.bus().unwrap().set_sync_handler(move |_, msg| {
            messages.update(|m| m.push(msg.clone()));
            gst::BusSyncReply::Drop
        });
    }

    pub fn logs(&self) -> MutexGuard<'_, Logs> {
        self.logs.lock()
    }

    /// Waits until `f` says yes about the logs; panics with `what` (and any bus error) if not.
    pub fn wait_logs<R>(
        &self,
        timeout: Duration,
        what: &str,
        f: impl FnMut(&Logs) -> Option<R>,
    ) -> R {
        match self.logs.wait_for(timeout, f) {
            Some(r) => r,
            None => panic!(
                "{what}: not within {timeout:?}; bus errors: {:?}",
                self.errors()
            ),
        }
    }

    pub fn mark(&self) -> usize {
        self.bus.lock().len()
    }

    /// Waits for a message after `mark` that `pred` accepts; panics on an error message.
    pub fn wait_message(
        &self,
        mark: usize,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&gst::Message) -> bool,
    ) -> gst::Message {
        let found = self.bus.wait_for(timeout, |msgs| {
            msgs.iter().skip(mark).find_map(|m| {
                if let gst::MessageView::Error(e) = m.view() {
                    return Some(Err(format!("{} ({:?})", e.error(), e.debug())));
                }
                pred(m).then(|| Ok(m.clone()))
            })
        });
        match found {
            Some(Ok(m)) => m,
            Some(Err(e)) => panic!("{what}: error on the bus: {e}"),
            None => panic!("{what}: no such message within {timeout:?}"),
        }
    }

    pub fn wait_async_done(&self, mark: usize, what: &str) {
        self.wait_message(mark, WAIT, what, |m| {
            matches!(m.view(), gst::MessageView::AsyncDone(_))
                && m.src() == Some(self.pipeline.upcast_ref())
        });
    }

    pub fn wait_eos(&self, mark: usize, timeout: Duration, what: &str) -> gst::Message {
        self.wait_message(mark, timeout, what, |m| {
            matches!(m.view(), gst::MessageView::Eos(_))
        })
    }

    pub fn errors(&self) -> Vec<String> {
        self.bus
            .lock()
            .iter()
            .filter_map(|m| match m.view() {
                gst::MessageView::Error(e) => Some(format!("{} ({:?})", e.error(), e.debug())),
                _ => None,
            })
            .collect()
    }

    pub fn assert_no_error(&self) {
        let errors = self.errors();
        assert!(errors.is_empty(), "errors on the bus: {errors:?}");
    }

    /// READY -> PAUSED on a recording: ASYNC, then ASYNC_DONE, then the state is a plain
    /// SUCCESS (not NO_PREROLL).
    pub fn preroll(&self) {
        let mark = self.mark();
        let ret = self.pipeline.set_state(gst::State::Paused);
        assert_eq!(ret, Ok(gst::StateChangeSuccess::Async), "READY->PAUSED");
        self.wait_async_done(mark, "preroll");
        let (ret, current, pending) = self.pipeline.state(ClockTime::ZERO);
        assert_eq!(
            (ret, current, pending),
            (
                Ok(gst::StateChangeSuccess::Success),
                gst::State::Paused,
                gst::State::VoidPending
            ),
            "state after preroll"
        );
    }

    pub fn play(&self) {
        self.pipeline
            .set_state(gst::State::Playing)
            .expect("set to PLAYING");
    }

    /// A seek event (a stop when given), to send with [`send_seek`](Self::send_seek).
    pub fn seek_event(
        rate: f64,
        flags: gst::SeekFlags,
        position: ClockTime,
        stop: Option<ClockTime>,
    ) -> gst::Event {
        let stop_type = if stop.is_some() {
            gst::SeekType::Set
        } else {
            gst::SeekType::None
        };
        gst::event::Seek::new(rate, flags, gst::SeekType::Set, position, stop_type, stop)
    }

    /// Sends `event` to `target` (the pipeline, or one sink as playbin's playsink does).
    pub fn send_seek(&self, target: &gst::Element, event: gst::Event) -> Seek {
        let mark = self.mark();
        let seqnum = event.seqnum();
        let accepted = target.send_event(event);
        Seek {
            seqnum,
            accepted,
            mark,
        }
    }

    /// The sink seeks go to: video's, else audio's (as playsink, which sends a seek to one sink;
    /// a pipeline sends it to every sink, see the test of that).
    pub fn seek_target(&self) -> &gst::Element {
        self.sinks
            .get("video")
            .or_else(|| self.sinks.get("audio"))
            .expect("a sink")
    }

    /// A seek sent to [`seek_target`](Self::seek_target).
    pub fn seek_with(
        &self,
        rate: f64,
        flags: gst::SeekFlags,
        position: ClockTime,
        stop: Option<ClockTime>,
    ) -> Seek {
        let event = Self::seek_event(rate, flags, position, stop);
        self.send_seek(self.seek_target(), event)
    }

    /// A seek of `flags` to `position` that must be accepted.
    pub fn seek(&self, flags: gst::SeekFlags, position: ClockTime) -> Seek {
        let seek = self.seek_with(1.0, flags, position, None);
        assert!(seek.accepted, "seek to {position} ({flags:?}) refused");
        seek
    }

    pub fn duration(&self) -> Option<ClockTime> {
        self.pipeline.query_duration::<ClockTime>()
    }

    pub fn position(&self) -> Option<ClockTime> {
        self.pipeline.query_position::<ClockTime>()
    }

    pub fn stats(&self) -> gst::Structure {
        self.src.property::<gst::Structure>("stats")
    }

    /// Waits until `n` buffers reached pad `name`'s sink after the seek.
    pub fn wait_sink_buffers(&self, name: &str, seek: &Seek, n: usize) {
        self.wait_logs(
            WAIT,
            &format!(
                "{n} {name} buffers at the sink after seek {:?}",
                seek.seqnum
            ),
            |l| (l.sink_buffers_after(name, seek.seqnum) >= n).then_some(()),
        );
    }

    /// Waits until the video sink got a buffer with a PTS at or after `t`.
    pub fn wait_sink_pts(&self, name: &str, t: ClockTime, timeout: Duration) {
        self.wait_logs(timeout, &format!("{name} at the sink reaching {t}"), |l| {
            l.pads
                .get(name)?
                .sink
                .buffers()
                .iter()
                .any(|b| b.pts.is_some_and(|p| p >= t))
                .then_some(())
        });
    }

    pub fn stop(self) {
        self.pipeline
            .set_state(gst::State::Null)
            .expect("set to NULL");
    }
}

impl Drop for VodPlayer {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// An element set to NULL when dropped (also when a test panics).
pub struct NullOnDrop<E: IsA<gst::Element>>(pub E);

impl<E: IsA<gst::Element>> std::ops::Deref for NullOnDrop<E> {
    type Target = E;
    fn deref(&self) -> &E {
        &self.0
    }
}

impl<E: IsA<gst::Element>> Drop for NullOnDrop<E> {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}

/// One packet of a file as ffprobe lists it.
#[derive(Debug, Clone, Copy)]
pub struct Packet {
    pub video: bool,
    pub pts_ms: i64,
    pub dts_ms: i64,
    pub key: bool,
    pub pos: u64,
    pub size: u64,
}

/// The packets of `path` in file order.
pub fn packets(path: &std::path::Path) -> Vec<Packet> {
    let out = crate::common::run_with_timeout(
        std::process::Command::new("ffprobe")
            .args(["-v", "error", "-show_entries"])
            .args([
                "packet=codec_type,pts_time,dts_time,flags,pos,size",
                "-of",
                "csv=p=0",
            ])
            .arg(path),
        Duration::from_secs(30),
    );
    out.assert_success("ffprobe packets");
    let ms = |s: &str| (s.parse::<f64>().unwrap_or(0.0) * 1000.0).round() as i64;
    out.stdout
        .lines()
        .filter_map(|line| {
            // codec_type,pts_time,dts_time,size,pos,flags
            let f: Vec<&str> = line.split(',').collect();
            if f.len() < 6 {
                return None;
            }
            Some(Packet {
                video: f[0] == "video",
                pts_ms: ms(f[1]),
                dts_ms: ms(f[2]),
                size: f[3].parse().ok()?,
                pos: f[4].parse().ok()?,
                key: f[5].starts_with('K'),
            })
        })
        .collect()
}
