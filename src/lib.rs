//! nquic's native core: a sans-IO QUIC endpoint over quiche.
//!
//! Nothing in this crate opens a socket, spawns a thread or arms a timer. The
//! JavaScript driver (`lib/socket.ts`) owns the UDP socket and one timer per
//! socket, and talks to one [`endpoint::Endpoint`] per socket through four kinds
//! of call:
//!
//! * **handle** — `recv(datagram, from, fd)` feeds one received UDP payload in
//!   and, given the socket's descriptor, says whether more datagrams wait
//!   ([`io::queued`]) (on Linux, `recvBatch(fd, max, flags, batch)` reads and feeds the rest of the
//!   socket's queue, cutting UDP GRO buffers into their datagrams, and
//!   `setUdpGro(fd, on)` turns GRO on while JavaScript has stopped libuv's
//!   reads, see [`io::batch_recv`]);
//! * **drain** — `pollEvents(inbox, records)` writes a batch of event records
//!   (stream data, datagrams, handshake done, closes…) and their payload bytes
//!   into buffers the caller owns (large stream data into buffers of its own,
//!   `takeChunks()`), and says whether more wait; `flush(out, meta, fd, flags)`
//!   writes many outgoing packets and their destinations into a reused buffer
//!   (with a descriptor, also sends them) and reports what it sent, whether
//!   events wait and the earliest deadline of all connections (also
//!   `hasPendingEvents()`, `nextTimeout()`);
//! * **commands** — `connect`, `streamWrite`, `sendDatagram` (and
//!   `sendDatagrams`, a batch), `close`, …;
//! * **getters** — `connectionInfo`, `stats`, `takeCloseInfo`.
//!
//! The calls made per packet or per event (`recv`, `pollEvents`, `flush`,
//! `openStream`, `streamWrite`, `sendDatagram`) are raw Node-API functions
//! bound to their endpoint ([`fast_calls`]); the rest are `#[napi]` methods
//! of `NativeEndpoint` ([`binding`]).
//!
//! The record layouts are defined in [`events`] and [`transmit`].
//!
//! The one I/O exception is optional: on Linux, [`io::batch_send`] writes a flush
//! batch to the descriptor of JavaScript's own UDP socket, [`io::batch_recv`]
//! reads what is queued on it and [`io::queued`] asks whether anything is, when
//! asked to (never on their own, never outside the call).

#![deny(clippy::all)]

pub mod addr;
pub mod binding;
pub mod close;
pub mod coalesce;
pub mod config;
pub mod connection;
pub mod datagram_pool;
pub mod endpoint;
pub mod error;
pub mod events;
pub mod fast_calls;
pub mod io;
pub mod limits;
pub mod numbers;
pub mod p2p;
pub mod paths;
pub mod relay;
pub mod stall;
pub mod streams;
pub mod timers;
pub mod tls;
pub mod tokens;
pub mod transmit;
pub mod webtransport;

#[cfg(test)]
mod tests;
