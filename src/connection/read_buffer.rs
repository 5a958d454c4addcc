//! Where the I/O thread reads socket bytes: large allocations filled front to back, so what the
//! session hands out as slices (whole messages, without a copy) shares them.
//!
//! Reading needs initialised memory (`Read::read` takes `&mut [u8]`), so each allocation is
//! zeroed once, when it is made, rather than the whole read size before every read. Bytes read
//! are split off the front of the zeroed part and joined to the session's receive buffer,
//! which they directly follow in memory, so joining them copies nothing.
//!
//! Slices handed out keep their allocation alive. Since every allocation is filled before the
//! next is made, what they keep is at most the bytes received since the oldest one still held
//! arrived, plus one allocation.
//!
//! A used allocation is kept for reuse once nothing points into it any more: a fresh one costs
//! a page fault per 4 KiB on first touch (the allocator hands memory of this size back to the
//! system when it is freed), which cost more CPU than all our copies together.

use std::collections::VecDeque;

use bytes::BytesMut;

/// Size of each allocation.
const ALLOCATION: usize = 128 * 1024;
/// A new allocation is made when less than this is left to read into.
const MIN_READ: usize = 16 * 1024;
/// Used allocations kept to be reused once free (memory held idle at most this many times
/// `ALLOCATION`).
const RETIRED: usize = 3;

pub(super) struct ReadBuffer {
    /// Size of each allocation and the least room to read into (the constants unless small).
    allocation: usize,
    min_read: usize,
    /// Zeroed, not yet read into: the rest of the current allocation.
    spare: BytesMut,
    /// An empty handle on the current allocation, kept to reclaim it later.
    current: Option<BytesMut>,
    /// Handles on earlier allocations, oldest first: each becomes reusable when the slices of
    /// it handed out are all gone.
    retired: VecDeque<BytesMut>,
    #[cfg(test)]
    fresh_allocations: usize,
}

impl Default for ReadBuffer {
    fn default() -> Self {
        ReadBuffer {
            allocation: ALLOCATION,
            min_read: MIN_READ,
            spare: BytesMut::new(),
            current: None,
            retired: VecDeque::new(),
            #[cfg(test)]
            fresh_allocations: 0,
        }
    }
}

impl ReadBuffer {
    /// For a peer that sends little (a player's acknowledgements): 8 KiB allocations.
    pub(super) fn small() -> Self {
        ReadBuffer {
            allocation: 8 * 1024,
            min_read: 2 * 1024,
            ..ReadBuffer::default()
        }
    }

    /// One call of `read` (a `Read::read` of the socket), appended to `received`. Returns what
    /// `read` returned.
    pub(super) fn read_with(
        &mut self,
        read: impl FnOnce(&mut [u8]) -> std::io::Result<usize>,
        received: &mut BytesMut,
    ) -> std::io::Result<usize> {
        if self.spare.len() < self.min_read {
            self.start_allocation(received);
        }
        let n = read(&mut self.spare)?;
        // `read` never claims more than the slice it was given; min() keeps split_to in bounds.
        let got = self.spare.split_to(n.min(self.spare.len()));
        received.unsplit(got);
        Ok(n)
    }

    /// Starts a new allocation and moves the unprocessed bytes (usually a partial chunk header)
    /// to its front, so that new reads follow them in memory.
    fn start_allocation(&mut self, received: &mut BytesMut) {
        let size = self.allocation.max(received.len() + self.min_read);
        let mut fresh = match self.reuse(size) {
            Some(reused) => reused,
            None => {
                #[cfg(test)]
                {
                    self.fresh_allocations += 1;
                }
                BytesMut::zeroed(size)
            }
        };
        let handle = fresh.split_off(fresh.len());
        let mut moved = fresh.split_to(received.len());
        moved.copy_from_slice(received);
        *received = moved;
        self.spare = fresh;
        if let Some(used) = self.current.replace(handle) {
            if self.retired.len() == RETIRED {
                self.retired.pop_front();
            }
            self.retired.push_back(used);
        }
    }

    /// A retired allocation of at least `size` bytes that nothing else uses any more, zeroed.
    fn reuse(&mut self, size: usize) -> Option<BytesMut> {
        // Succeeds only for the last handle to an allocation.
        let index = self
            .retired
            .iter_mut()
            .position(|old| old.try_reclaim(size))?;
        let mut reused = self.retired.remove(index)?;
        // Reading needs initialised bytes, and these are: the allocation was zeroed when it was
        // made and has only been read into since. Zeroing it again would be one more pass over
        // every byte received.
        let capacity = reused.capacity();
        // SAFETY: `reused` is the unique handle on (a part of) an allocation made by
        // `BytesMut::zeroed`, so all `capacity` bytes from its start are initialised.
        unsafe { reused.set_len(capacity) };
        Some(reused)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// Reads `data` in pieces of at most `piece` bytes.
    struct Pieces<'a> {
        data: &'a [u8],
        piece: usize,
    }

    impl Read for Pieces<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.piece.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn reads_join_the_received_bytes_without_copies() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut source = Pieces {
            data: &data,
            piece: 3000,
        };
        let mut buffer = ReadBuffer::default();
        let mut received = BytesMut::new();
        let mut taken = Vec::new();
        loop {
            let before = received.as_ptr() as usize + received.len();
            let n = buffer.read_with(|b| source.read(b), &mut received).unwrap();
            if n == 0 {
                break;
            }
            // Within one allocation, each read lands right after the previous bytes.
            if buffer.spare.len() + n < ALLOCATION - MIN_READ {
                assert_eq!(received.as_ptr() as usize + received.len() - n, before);
            }
            // What a consumer does: take all but a few bytes (a partial header) as a slice.
            let keep = received.len().min(7);
            taken.extend_from_slice(&received.split_to(received.len() - keep).freeze());
        }
        taken.extend_from_slice(&received);
        assert_eq!(taken, data);
    }

    #[test]
    fn an_allocation_is_reused_once_its_slices_are_gone() {
        let data = vec![5u8; 8 * ALLOCATION];
        let mut source = Pieces {
            data: &data,
            piece: 8 * 1024,
        };
        let mut buffer = ReadBuffer::default();
        let mut received = BytesMut::new();
        // Reads and consumes everything until `count` new allocations started; returns where.
        let mut end = 0;
        let mut read_allocations = |received: &mut BytesMut, count: usize| {
            let mut starts = Vec::new();
            while starts.len() < count {
                assert!(buffer.read_with(|b| source.read(b), received).unwrap() > 0);
                let at = received.as_ptr() as usize;
                if at != end {
                    starts.push(at);
                }
                end = at + received.len();
                received.clear();
            }
            starts
        };
        let first = read_allocations(&mut received, 1)[0];
        received.extend_from_slice(&[1]);
        // A slice still held (a frame downstream) keeps the first allocation from reuse.
        let held = received.split().freeze();
        let second = read_allocations(&mut received, 1)[0];
        assert_ne!(second, first);
        drop(held);
        // Released, the first allocation is the next one used, and the next ones after it are
        // reused too.
        let third = read_allocations(&mut received, 1)[0];
        assert_eq!(third, first);
        read_allocations(&mut received, 4);
        assert_eq!(buffer.fresh_allocations, 2);
    }

    #[test]
    fn unprocessed_bytes_move_to_a_new_allocation() {
        let data = vec![9u8; 3 * ALLOCATION];
        let mut source = Pieces {
            data: &data,
            piece: usize::MAX,
        };
        let mut buffer = ReadBuffer::default();
        let mut received = BytesMut::new();
        // Nothing consumed: the received bytes grow past one allocation and stay whole.
        let mut total = 0;
        for _ in 0..40 {
            total += buffer.read_with(|b| source.read(b), &mut received).unwrap();
        }
        assert_eq!(total, data.len());
        assert_eq!(received.len(), data.len());
        assert!(received.iter().all(|&b| b == 9));
    }
}
