//! Buffers for messages that span chunks, reused once the message is dropped.
//!
//! Such a message is copied into a buffer of its own. Allocations of a video frame's size are
//! handed back to the system when freed, so a fresh one costs a page fault per 4 KiB on first
//! touch, more than the copy itself; a few buffers kept here avoid that. The message's `Bytes`
//! returns its buffer when its last reference goes, whichever thread drops it.

use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;

/// Buffers kept at most, and their total capacity at most (what the pool holds idle). A player
/// a little behind a fast publisher has dozens of frames queued; with fewer buffers kept, most
/// of them went back to the allocator and the next ones came from fresh memory again.
const MAX_BUFFERS: usize = 32;
const MAX_BYTES: usize = 4 * 1024 * 1024;

#[derive(Default)]
pub(super) struct MessagePool {
    free: Mutex<Vec<Vec<u8>>>,
}

impl MessagePool {
    /// An empty buffer with room for `len` bytes: a kept one not more than four times that
    /// size (so a keyframe's buffer is not spent on an audio frame), or a new one.
    pub(super) fn take(&self, len: usize) -> Vec<u8> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        let fit = free
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= len && b.capacity() / 4 <= len)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        match fit {
            Some(i) => free.swap_remove(i),
            None => Vec::with_capacity(len),
        }
    }

    fn give_back(&self, mut buffer: Vec<u8>) {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        let held: usize = free.iter().map(Vec::capacity).sum();
        if free.len() < MAX_BUFFERS && held + buffer.capacity() <= MAX_BYTES {
            buffer.clear();
            free.push(buffer);
        }
    }

    /// `buffer` as `Bytes` that come back to this pool when dropped.
    pub(super) fn freeze(self: &Arc<Self>, buffer: Vec<u8>) -> Bytes {
        Bytes::from_owner(Pooled {
            buffer,
            pool: Arc::downgrade(self),
        })
    }

    #[cfg(test)]
    pub(super) fn kept(&self) -> usize {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

struct Pooled {
    buffer: Vec<u8>,
    pool: Weak<MessagePool>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buffer
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.upgrade() {
            pool.give_back(std::mem::take(&mut self.buffer));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_message_gives_its_buffer_back_for_one_of_similar_size() {
        let pool = Arc::new(MessagePool::default());
        let mut buffer = pool.take(30_000);
        buffer.extend_from_slice(&[1; 30_000]);
        let at = buffer.as_ptr();
        let message = pool.freeze(buffer);
        let slice = message.slice(10..20);
        drop(message);
        // A slice still refers to it.
        assert_eq!(pool.kept(), 0);
        drop(slice);
        assert_eq!(pool.kept(), 1);
        // Too small a message does not take it; a similar one does.
        let small = pool.take(1000);
        assert_ne!(small.as_ptr(), at);
        let again = pool.take(29_000);
        assert_eq!((again.as_ptr(), again.len()), (at, 0));
        assert_eq!(pool.kept(), 0);
    }

    #[test]
    fn the_pool_keeps_a_bounded_amount() {
        let pool = Arc::new(MessagePool::default());
        let messages: Vec<Bytes> = (0..20)
            .map(|_| pool.freeze(pool.take(1024 * 1024)))
            .collect();
        drop(messages);
        assert_eq!(pool.kept(), MAX_BYTES / (1024 * 1024));
        let pool = Arc::new(MessagePool::default());
        let messages: Vec<Bytes> = (0..2 * MAX_BUFFERS)
            .map(|_| pool.freeze(pool.take(100)))
            .collect();
        drop(messages);
        assert_eq!(pool.kept(), MAX_BUFFERS);
    }

    #[test]
    fn messages_outliving_the_pool_are_freed() {
        let pool = Arc::new(MessagePool::default());
        let mut buffer = pool.take(10);
        buffer.extend_from_slice(b"0123456789");
        let message = pool.freeze(buffer);
        let alive = Arc::downgrade(&pool);
        drop(pool);
        // A message does not keep its pool alive, and stays readable without it.
        assert!(alive.upgrade().is_none(), "the message holds its pool");
        assert_eq!(&message[..], b"0123456789");
        // Its drop finds no pool to give the buffer to and frees it (a leak or a use of the
        // freed pool would show under Miri/ASan; here: no panic, nothing comes back to life).
        let slice = message.slice(2..4);
        drop(message);
        assert_eq!(&slice[..], b"23");
        drop(slice);
        assert!(alive.upgrade().is_none());
    }
}
