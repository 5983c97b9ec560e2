//! Reuses the memory of datagrams between quiche's receive and send queues.
//!
//! quiche keeps each queued DATAGRAM in a `Vec<u8>` of its own: one is
//! allocated for every datagram received (when its frame is parsed) and for
//! every datagram sent (`dgram_send` copies the payload), and freed when the
//! application reads it or once it is in a packet. nquic works in batches (a
//! poll takes every datagram of a turn, a flush sends them), so these
//! allocations come and go by dozens, past the allocator's small per-thread
//! caches. Here the buffers of received datagrams, once copied out, are kept
//! (a bounded number per thread) and filled with the next datagrams sent, so
//! an echo or a relay of datagrams allocates about half as often.

use std::cell::RefCell;

/// Buffers kept per thread at most.
const KEPT: usize = 256;
/// Larger buffers are freed, not kept (a full-size datagram fits).
const MAX_CAPACITY: usize = 2048;

thread_local! {
    static FREE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// Keeps `buf` (a datagram already read) for a later [`copy_of`].
pub fn recycle(mut buf: Vec<u8>) {
    if buf.capacity() > MAX_CAPACITY {
        return;
    }
    buf.clear();
    FREE.with(|free| {
        let mut free = free.borrow_mut();
        if free.len() < KEPT {
            free.push(buf);
        }
    });
}

/// A copy of `data` in a kept buffer when there is one, else a new one.
pub fn copy_of(data: &[u8]) -> Vec<u8> {
    let mut buf = FREE
        .with(|free| free.borrow_mut().pop())
        .unwrap_or_default();
    buf.extend_from_slice(data);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_buffers_are_reused_cleared_and_bounded() {
        let first = vec![7u8; 300];
        let at = first.as_ptr();
        recycle(first);
        let copy = copy_of(b"hello");
        assert_eq!(copy, b"hello");
        assert_eq!(copy.as_ptr(), at, "the kept buffer is reused");
        // Large buffers are not kept; at most KEPT are.
        recycle(vec![0u8; MAX_CAPACITY + 1]);
        assert_eq!(FREE.with(|f| f.borrow().len()), 0);
        for _ in 0..KEPT + 10 {
            recycle(Vec::with_capacity(64));
        }
        assert_eq!(FREE.with(|f| f.borrow().len()), KEPT);
        assert_eq!(copy_of(&[1, 2, 3]), [1, 2, 3]);
    }
}
