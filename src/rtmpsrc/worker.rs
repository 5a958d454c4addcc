//! One pushing thread per source pad, fed by a bounded queue.
//!
//! The network thread must never wait on one pad while another pad starves: decodebin (inside
//! playbin/uridecodebin) blocks a stream's output until every stream has been set up, and an H.264
//! decoder needs several frames before its first output. Pushing both pads from one thread
//! deadlocks there, so each pad gets its own thread, like the streams of rtspsrc or a demuxer
//! followed by multiqueue.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use gst::prelude::*;

use super::imp::CAT;

/// Bytes queued for one pad before the network thread waits.
pub const MAX_QUEUED_BYTES: usize = 8 * 1024 * 1024;

pub enum Item {
    Event(gst::Event),
    Buffer(gst::Buffer),
    /// Ends a seek's flush (the pad thread pushes it after anything it was still pushing) and
    /// clears the pad's flow return, which the flush made FLUSHING.
    FlushStop(gst::Seqnum),
}

impl Item {
    fn size(&self) -> usize {
        match self {
            Item::Event(_) | Item::FlushStop(_) => 0,
            Item::Buffer(b) => b.size(),
        }
    }

    fn dts(&self) -> Option<gst::ClockTime> {
        match self {
            Item::Buffer(b) => b.dts(),
            _ => None,
        }
    }
}

/// `consumer_waits`/`producer_waits` say a side is (about to be) blocked on `changed`. Each is
/// set under the mutex in the same critical section that found the queue empty (resp. full),
/// and the other side reads it under the mutex after changing the queue: an item pushed before
/// the consumer's check is seen by the check, one pushed after sees the flag. So a notify is
/// skipped only when nobody can be waiting for it (std's condvar makes a syscall per notify).
#[derive(Default)]
struct Inner {
    items: VecDeque<Item>,
    bytes: usize,
    /// DTS of the queued buffers that have one, oldest first (for the time bound).
    dts: VecDeque<gst::ClockTime>,
    shutdown: bool,
    consumer_waits: bool,
    producer_waits: bool,
    /// The seqnum of the last flush-stop pushed downstream.
    flushed: Option<gst::Seqnum>,
}

pub struct PadQueue {
    inner: Mutex<Inner>,
    changed: Condvar,
    /// Bytes queued before `push` waits.
    capacity: usize,
    /// Time between the oldest and newest queued DTS before `push` waits (recordings: the
    /// element holds about the playback buffer, the server keeps the rest).
    max_span: Option<gst::ClockTime>,
}

impl Default for PadQueue {
    fn default() -> Self {
        PadQueue::with_capacity(MAX_QUEUED_BYTES)
    }
}

impl Inner {
    fn span(&self) -> gst::ClockTime {
        match (self.dts.front(), self.dts.back()) {
            (Some(first), Some(last)) => last.saturating_sub(*first),
            _ => gst::ClockTime::ZERO,
        }
    }
}

impl PadQueue {
    fn with_capacity(capacity: usize) -> Self {
        PadQueue {
            inner: Mutex::default(),
            changed: Condvar::new(),
            capacity,
            max_span: None,
        }
    }

    /// A queue that also waits once it spans `max_span` of media.
    pub fn with_max_span(max_span: gst::ClockTime) -> Self {
        PadQueue {
            max_span: Some(max_span),
            ..PadQueue::with_capacity(MAX_QUEUED_BYTES)
        }
    }

    fn full(&self, inner: &Inner, size: usize) -> bool {
        !inner.items.is_empty()
            && (inner.bytes + size > self.capacity
                || self.max_span.is_some_and(|max| inner.span() > max))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `item`, waiting while the queue is full. False once shut down.
    pub fn push(&self, item: Item) -> bool {
        self.push_inner(item, true)
    }

    /// Like [`push`](Self::push), but leaves a waiting consumer asleep until [`flush`](Self::flush)
    /// (or a later `push`): a batch of frames then costs one wake-up, not one each.
    pub fn push_deferred(&self, item: Item) -> bool {
        self.push_inner(item, false)
    }

    /// Wakes the consumer for what [`push_deferred`](Self::push_deferred) queued.
    pub fn flush(&self) {
        let mut inner = self.lock();
        let wake = !inner.items.is_empty() && std::mem::take(&mut inner.consumer_waits);
        drop(inner);
        if wake {
            self.changed.notify_all();
        }
    }

    fn push_inner(&self, item: Item, wake_consumer: bool) -> bool {
        let size = item.size();
        let mut inner = self.lock();
        while !inner.shutdown && self.full(&inner, size) {
            // A full queue must be drained: wake a consumer left asleep by deferred pushes.
            if std::mem::take(&mut inner.consumer_waits) {
                self.changed.notify_all();
            }
            inner.producer_waits = true;
            inner = self.changed.wait(inner).unwrap_or_else(|e| e.into_inner());
        }
        if inner.shutdown {
            return false;
        }
        inner.bytes += size;
        if let Some(dts) = item.dts() {
            inner.dts.push_back(dts);
        }
        inner.items.push_back(item);
        // Cleared here: a consumer still blocked after this wake sets it again before waiting.
        let wake = wake_consumer && std::mem::take(&mut inner.consumer_waits);
        drop(inner);
        if wake {
            self.changed.notify_all();
        }
        true
    }

    /// The next item, or `None` once shut down.
    fn pop(&self) -> Option<Item> {
        let mut inner = self.lock();
        loop {
            if inner.shutdown {
                return None;
            }
            if let Some(item) = inner.items.pop_front() {
                inner.bytes -= item.size();
                if item.dts().is_some() {
                    inner.dts.pop_front();
                }
                let wake = std::mem::take(&mut inner.producer_waits);
                drop(inner);
                if wake {
                    self.changed.notify_all();
                }
                return Some(item);
            }
            inner.consumer_waits = true;
            inner = self.changed.wait(inner).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Drops what is queued and wakes both sides for good.
    pub fn shutdown(&self) {
        let mut inner = self.lock();
        inner.shutdown = true;
        Self::drop_items(&mut inner);
        drop(inner);
        self.changed.notify_all();
    }

    /// Notes that the flush of seek `seqnum` is over downstream.
    fn set_flushed(&self, seqnum: gst::Seqnum) {
        self.lock().flushed = Some(seqnum);
        self.changed.notify_all();
    }

    /// Waits until the pad thread has pushed the flush-stop of seek `seqnum`, at most
    /// `timeout`; false when it did not (or the queue shut down).
    pub fn wait_flushed(&self, seqnum: gst::Seqnum, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let mut inner = self.lock();
        loop {
            if inner.flushed == Some(seqnum) {
                return true;
            }
            let now = std::time::Instant::now();
            if inner.shutdown || now >= deadline {
                return false;
            }
            inner = self
                .changed
                .wait_timeout(inner, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Drops what is queued (a flushing seek); a producer waiting for room goes on.
    pub fn clear(&self) {
        let mut inner = self.lock();
        Self::drop_items(&mut inner);
        drop(inner);
        self.changed.notify_all();
    }

    fn drop_items(inner: &mut Inner) {
        inner.items.clear();
        inner.dts.clear();
        inner.bytes = 0;
    }
}

/// Starts the thread that pushes what `queue` receives on `pad`; `on_flow` sees every buffer's
/// flow return. The thread ends when the queue shuts down.
pub fn spawn(
    pad: gst::Pad,
    queue: Arc<PadQueue>,
    on_flow: impl Fn(&gst::Pad, Result<gst::FlowSuccess, gst::FlowError>) + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("rtmpsrc-{}", pad.name()))
        .spawn(move || {
            let pushed = crate::panics::catch(|| push_all(&pad, &queue, &on_flow));
            if let Err(panic) = pushed {
                queue.shutdown();
                if let Some(element) = pad.parent_element() {
                    gst::element_error!(
                        element,
                        gst::CoreError::Failed,
                        (
                            "Internal error: the {} pad thread panicked: {panic}",
                            pad.name()
                        )
                    );
                }
            }
            gst::debug!(CAT, obj = pad, "pad thread done");
        })
}

/// Pushes what comes out of `queue` until it shuts down (a recording may be seeked again
/// after its EOS).
fn push_all(
    pad: &gst::Pad,
    queue: &PadQueue,
    on_flow: &impl Fn(&gst::Pad, Result<gst::FlowSuccess, gst::FlowError>),
) {
    if let Some(element) = pad.parent_element() {
        crate::panics::inject(&element.name(), "pad");
    }
    while let Some(item) = queue.pop() {
        match item {
            Item::Event(event) => {
                if !pad.push_event(event) {
                    gst::debug!(CAT, obj = pad, "event not handled downstream");
                }
            }
            Item::FlushStop(seqnum) => {
                let event = gst::event::FlushStop::builder(true).seqnum(seqnum).build();
                pad.push_event(event);
                on_flow(pad, Ok(gst::FlowSuccess::Ok));
                queue.set_flushed(seqnum);
            }
            Item::Buffer(buffer) => {
                gst::trace!(CAT, obj = pad, "pushing {buffer:?}");
                on_flow(pad, pad.push(buffer));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn buffer(size: usize) -> Item {
        Item::Buffer(gst::Buffer::from_slice(vec![0u8; size]))
    }

    /// Waits until the queue's state satisfies `blocked` (a side has set its `*_waits` flag under
    /// the mutex, so it is in the condition wait, or about to enter it with the mutex held): the
    /// event a test needs before checking that the side stays blocked. Fails after 10 s.
    fn wait_until_blocked(q: &PadQueue, blocked: impl Fn(&Inner) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !blocked(&q.lock()) {
            assert!(Instant::now() < deadline, "the other side never blocked");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn producer_blocked(inner: &Inner) -> bool {
        inner.producer_waits
    }

    fn consumer_blocked(inner: &Inner) -> bool {
        inner.consumer_waits
    }

    #[test]
    fn items_come_out_in_order() {
        gst::init().unwrap();
        let q = PadQueue::default();
        assert!(q.push(Item::Event(gst::event::Eos::new())));
        assert!(q.push(buffer(3)));
        assert!(matches!(q.pop(), Some(Item::Event(_))));
        assert!(matches!(q.pop(), Some(Item::Buffer(b)) if b.size() == 3));
    }

    #[test]
    fn a_full_queue_blocks_until_popped_and_shutdown_wakes_everyone() {
        gst::init().unwrap();
        let q = Arc::new(PadQueue::default());
        // One item larger than the bound is accepted into an empty queue.
        assert!(q.push(buffer(MAX_QUEUED_BYTES + 1)));
        let pusher = {
            let q = q.clone();
            std::thread::spawn(move || q.push(buffer(10)))
        };
        wait_until_blocked(&q, producer_blocked);
        assert!(!pusher.is_finished(), "push into a full queue must wait");
        assert!(q.pop().is_some());
        assert!(pusher.join().unwrap(), "room was made");
        assert!(matches!(q.pop(), Some(Item::Buffer(b)) if b.size() == 10));

        assert!(q.push(buffer(MAX_QUEUED_BYTES)));
        let blocked = {
            let q = q.clone();
            std::thread::spawn(move || q.push(buffer(10)))
        };
        wait_until_blocked(&q, producer_blocked);
        assert!(!blocked.is_finished(), "push into a full queue must wait");
        let start = Instant::now();
        q.shutdown();
        assert!(!blocked.join().unwrap(), "a shut down queue refuses items");
        assert!(start.elapsed() < Duration::from_secs(1));
        assert!(q.pop().is_none());
        assert!(!q.push(buffer(1)));
    }

    fn stamped(dts_ms: u64) -> Item {
        let mut buffer = gst::Buffer::from_slice(vec![0u8; 4]);
        buffer
            .get_mut()
            .unwrap()
            .set_dts(gst::ClockTime::from_mseconds(dts_ms));
        Item::Buffer(buffer)
    }

    #[test]
    fn a_time_bound_queue_waits_once_it_spans_the_bound_and_clear_frees_it() {
        gst::init().unwrap();
        let q = Arc::new(PadQueue::with_max_span(gst::ClockTime::from_mseconds(1000)));
        for ms in (0..=1000).step_by(100) {
            assert!(q.push(stamped(ms)));
        }
        // 1000 ms spanned: one more still fits (the bound is "more than"), then it waits.
        assert!(q.push(stamped(1100)));
        let pusher = {
            let q = q.clone();
            std::thread::spawn(move || q.push(stamped(1200)))
        };
        wait_until_blocked(&q, producer_blocked);
        assert!(
            !pusher.is_finished(),
            "a queue spanning more than its bound waits"
        );
        // Taking the oldest buffer shortens the span.
        assert!(q.pop().is_some());
        assert!(q.pop().is_some());
        assert!(pusher.join().unwrap());
        // 200..=1200 queued: 1300 fits, then the queue spans 1100 ms and 1400 waits.
        assert!(q.push(stamped(1300)));
        let blocked = {
            let q = q.clone();
            std::thread::spawn(move || q.push(stamped(1400)))
        };
        wait_until_blocked(&q, producer_blocked);
        assert!(!blocked.is_finished());
        q.clear();
        assert!(blocked.join().unwrap(), "clear makes room");
        let Some(Item::Buffer(b)) = q.pop() else {
            panic!("the buffer pushed after clear")
        };
        assert_eq!(b.dts(), Some(gst::ClockTime::from_mseconds(1400)));
    }

    /// Runs `body` on a thread; fails instead of hanging when it does not finish in time
    /// (a lost wake-up leaves a side blocked for good).
    fn within(limit: Duration, body: impl FnOnce() + Send + 'static) {
        let (done, finished) = std::sync::mpsc::channel();
        let runner = std::thread::spawn(move || {
            body();
            let _ = done.send(());
        });
        match finished.recv_timeout(limit) {
            Ok(()) => runner.join().unwrap(),
            // The body panicked: report its panic.
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => runner.join().unwrap(),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("no progress within {limit:?}: a wake-up was lost")
            }
        }
    }

    #[test]
    fn no_wake_up_is_lost_with_a_tiny_queue() {
        gst::init().unwrap();
        within(Duration::from_secs(30), || {
            const ITEMS: u32 = 50_000;
            // Room for two 4-byte buffers: the producer waits on nearly every push, the
            // consumer on nearly every pop, so both skip-the-notify paths race constantly.
            let q = Arc::new(PadQueue::with_capacity(8));
            let consumer = {
                let q = q.clone();
                std::thread::spawn(move || {
                    let mut next = 0u32;
                    while let Some(item) = q.pop() {
                        match item {
                            Item::Buffer(b) => {
                                let map = b.map_readable().unwrap();
                                assert_eq!(map.as_slice(), next.to_le_bytes(), "in order");
                                next += 1;
                            }
                            Item::Event(e) if e.type_() == gst::EventType::Eos => break,
                            Item::Event(_) | Item::FlushStop(_) => {}
                        }
                    }
                    next
                })
            };
            for i in 0..ITEMS {
                let buffer = gst::Buffer::from_slice(i.to_le_bytes());
                assert!(q.push(Item::Buffer(buffer)));
                if i % 7 == 0 {
                    // Zero-sized items never make the producer wait.
                    assert!(q.push(Item::Event(gst::event::Gap::new(
                        gst::ClockTime::ZERO,
                        gst::ClockTime::NONE
                    ))));
                }
            }
            assert!(q.push(Item::Event(gst::event::Eos::new())));
            assert_eq!(consumer.join().unwrap(), ITEMS);
        });
    }

    #[test]
    fn deferred_pushes_wake_the_consumer_on_flush_or_when_full() {
        gst::init().unwrap();
        within(Duration::from_secs(30), || {
            let q = Arc::new(PadQueue::with_capacity(8));
            let (got, received) = std::sync::mpsc::channel();
            let consumer = {
                let q = q.clone();
                std::thread::spawn(move || {
                    while let Some(item) = q.pop() {
                        let eos =
                            matches!(&item, Item::Event(e) if e.type_() == gst::EventType::Eos);
                        let _ = got.send(());
                        if eos {
                            break;
                        }
                    }
                })
            };
            wait_until_blocked(&q, consumer_blocked);
            // Queued, but the waiting consumer is left asleep until the flush: its flag stays
            // set (nobody notified it) and the item stays queued; still nothing after 100 ms.
            assert!(q.push_deferred(buffer(4)));
            {
                let inner = q.lock();
                assert!(inner.consumer_waits, "push_deferred woke the consumer");
                assert_eq!(inner.items.len(), 1);
            }
            assert!(received.recv_timeout(Duration::from_millis(100)).is_err());
            q.flush();
            assert!(received.recv_timeout(Duration::from_secs(5)).is_ok());
            // Many more than fit: a full queue wakes the consumer without any flush.
            for _ in 0..10_000 {
                assert!(q.push_deferred(buffer(4)));
            }
            assert!(q.push_deferred(Item::Event(gst::event::Eos::new())));
            q.flush();
            consumer.join().unwrap();
            assert_eq!(received.try_iter().count(), 10_001);
        });
    }

    #[test]
    fn shutdown_wakes_a_waiting_consumer() {
        gst::init().unwrap();
        within(Duration::from_secs(10), || {
            let q = Arc::new(PadQueue::with_capacity(8));
            let consumer = {
                let q = q.clone();
                std::thread::spawn(move || q.pop().is_none())
            };
            wait_until_blocked(&q, consumer_blocked);
            q.shutdown();
            assert!(consumer.join().unwrap(), "a shut down queue yields nothing");
        });
    }

    #[test]
    fn the_pad_thread_pushes_past_eos_until_shut_down() {
        gst::init().unwrap();
        let src = gst::Pad::new(gst::PadDirection::Src);
        let (events_tx, events_rx) = std::sync::mpsc::channel();
        let sink = gst::Pad::builder(gst::PadDirection::Sink)
            .chain_function(|_, _, _| Ok(gst::FlowSuccess::Ok))
            .event_function(move |_, _, event| {
                let _ = events_tx.send(event.type_());
                true
            })
            .build();
        src.link(&sink).unwrap();
        sink.set_active(true).unwrap();
        src.set_active(true).unwrap();
        let q = Arc::new(PadQueue::default());
        let flows = Arc::new(Mutex::new(Vec::new()));
        let f = flows.clone();
        let thread = spawn(src, q.clone(), move |_, flow| f.lock().unwrap().push(flow)).unwrap();
        q.push(Item::Event(gst::event::StreamStart::new("s")));
        q.push(Item::Event(gst::event::Segment::new(
            &gst::FormattedSegment::<gst::ClockTime>::new(),
        )));
        q.push(buffer(4));
        q.push(buffer(4));
        q.push(Item::Event(gst::event::Eos::new()));
        let next = || events_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(
            [next(), next(), next()],
            [
                gst::EventType::StreamStart,
                gst::EventType::Segment,
                gst::EventType::Eos
            ]
        );
        // A recording seeked after its end: the flush ends and data flows again.
        let seqnum = gst::Seqnum::next();
        q.push(Item::FlushStop(seqnum));
        assert_eq!(next(), gst::EventType::FlushStop);
        assert!(!thread.is_finished(), "the thread outlives EOS");
        q.shutdown();
        thread.join().unwrap();
        // Two buffers, then the flow reset by the flush.
        assert_eq!(*flows.lock().unwrap(), vec![Ok(gst::FlowSuccess::Ok); 3]);
    }
}
