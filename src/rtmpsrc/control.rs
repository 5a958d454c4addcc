//! What rtmpsrc's element side and its streaming thread share for one READY->PAUSED->READY
//! cycle: the target state, shutdown, a pending seek or EOS request, whether the stream is a
//! recording and its duration, the connection (so the element can flush it) and the pad threads.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use super::recorded::SeekRequest;
use super::stream::ConnectionSlot;
use super::worker::PadQueue;
use crate::connection::{Connection, Listener};

/// A seek waits this long at most for the streaming thread to end the flush on every pad.
const SEEK_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// What the element and its streaming thread share for one READY->PAUSED->READY cycle.
#[derive(Default)]
pub struct Control {
    inner: Mutex<ControlInner>,
    changed: Condvar,
}

#[derive(Default)]
struct ControlInner {
    playing: bool,
    shutdown: bool,
    /// Set by `send_event(eos)`: the thread ends the stream.
    eos_requested: bool,
    /// A recording: non-live, seekable. Fixed before READY->PAUSED returns.
    recorded: bool,
    /// A seek waiting for the streaming thread (the pads are already flushing).
    seek: Option<SeekRequest>,
    /// The streaming thread still runs (it carries out seeks).
    streaming: bool,
    duration: Option<gst::ClockTime>,
    last_seek: Option<gst::Seqnum>,
    connection: Option<Arc<Connection>>,
    /// Listener mode: where publishers come from (bound in READY->PAUSED).
    listener: Option<Arc<Listener>>,
    /// The pads' pushing threads and their queues.
    workers: Vec<(Arc<PadQueue>, JoinHandle<()>)>,
}

impl Control {
    fn lock(&self) -> MutexGuard<'_, ControlInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn set_playing(&self, playing: bool) {
        self.lock().playing = playing;
        self.changed.notify_all();
    }

    /// Blocks while paused. Returns `None` on shutdown, else whether it had to wait.
    pub fn wait_playing(&self) -> Option<bool> {
        let mut inner = self.lock();
        let mut waited = false;
        loop {
            if inner.shutdown {
                return None;
            }
            if inner.playing {
                return Some(waited);
            }
            waited = true;
            inner = self.changed.wait(inner).unwrap_or_else(|e| e.into_inner());
        }
    }

    pub fn is_shutdown(&self) -> bool {
        self.lock().shutdown
    }

    pub fn is_playing(&self) -> bool {
        self.lock().playing
    }

    pub fn is_recorded(&self) -> bool {
        self.lock().recorded
    }

    pub(super) fn set_recorded(&self, recorded: bool) {
        self.lock().recorded = recorded;
    }

    pub fn set_streaming(&self, streaming: bool) {
        self.lock().streaming = streaming;
    }

    pub fn set_duration(&self, duration: gst::ClockTime) {
        self.lock().duration = Some(duration);
    }

    pub(super) fn duration(&self) -> Option<gst::ClockTime> {
        self.lock().duration
    }

    /// Records the seqnum of a seek; false when that seek was seen already (on another pad).
    pub(super) fn note_seek(&self, seqnum: gst::Seqnum) -> bool {
        let mut inner = self.lock();
        if inner.last_seek == Some(seqnum) {
            return false;
        }
        inner.last_seek = Some(seqnum);
        true
    }

    /// Hands a seek to the streaming thread; false when nobody is there to carry it out.
    pub(super) fn request_seek(&self, request: SeekRequest) -> bool {
        let mut inner = self.lock();
        if inner.shutdown || !inner.streaming {
            return false;
        }
        // A newer seek replaces one not started yet.
        inner.seek = Some(request);
        // Room in the queues wakes a streaming thread waiting to push.
        for (queue, _) in &inner.workers {
            queue.clear();
        }
        drop(inner);
        self.changed.notify_all();
        true
    }

    /// Waits until every pad has ended the flush of seek `seqnum`: a bin sends a seek to each
    /// of its sinks in turn, and a sink still flushing would refuse it.
    pub(super) fn wait_flushed(&self, seqnum: gst::Seqnum) -> bool {
        let queues: Vec<Arc<PadQueue>> = self
            .lock()
            .workers
            .iter()
            .map(|(queue, _)| queue.clone())
            .collect();
        queues
            .iter()
            .all(|queue| queue.wait_flushed(seqnum, SEEK_FLUSH_TIMEOUT))
    }

    pub fn take_seek(&self) -> Option<SeekRequest> {
        self.lock().seek.take()
    }

    pub fn take_eos_request(&self) -> bool {
        std::mem::take(&mut self.lock().eos_requested)
    }

    pub(super) fn request_eos(&self) {
        self.lock().eos_requested = true;
    }

    /// Registers a pad thread; its queue is shut down at once if the element is stopping.
    pub fn add_worker(&self, queue: Arc<PadQueue>, thread: JoinHandle<()>) {
        let mut inner = self.lock();
        if inner.shutdown {
            queue.shutdown();
        }
        inner.workers.push((queue, thread));
    }

    /// Wakes every wait of the streaming and pad threads for good; returns the connection.
    pub(super) fn shutdown(&self) -> Option<Arc<Connection>> {
        let mut inner = self.lock();
        inner.shutdown = true;
        let connection = inner.connection.take();
        if let Some(listener) = &inner.listener {
            listener.set_flushing(true);
        }
        for (queue, _) in &inner.workers {
            queue.shutdown();
        }
        drop(inner);
        self.changed.notify_all();
        connection
    }

    pub(super) fn take_workers(&self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut self.lock().workers)
            .into_iter()
            .map(|(_, thread)| thread)
            .collect()
    }

    pub fn connection(&self) -> Option<Arc<Connection>> {
        self.lock().connection.clone()
    }

    pub(super) fn set_listener(&self, listener: Arc<Listener>) {
        self.lock().listener = Some(listener);
    }

    pub fn listener(&self) -> Option<Arc<Listener>> {
        self.lock().listener.clone()
    }
}

impl ConnectionSlot for Control {
    fn store(&self, connection: Arc<Connection>) -> bool {
        let mut inner = self.lock();
        if inner.shutdown {
            return false;
        }
        inner.connection = Some(connection);
        true
    }

    fn release(&self) -> Option<Arc<Connection>> {
        self.lock().connection.take()
    }
}
