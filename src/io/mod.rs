//! The optional fast paths that make system calls on the descriptor of
//! JavaScript's own UDP socket (Linux only: `recvmmsg` and UDP GRO in
//! batch_recv, `sendmmsg` + GSO in batch_send, `FIONREAD` in queued;
//! everywhere else, and when they are turned off, `dgram` does the I/O).
//! Nothing here opens a socket.

pub mod batch_recv;
pub mod batch_send;
pub mod queued;
pub mod ttl_send;
