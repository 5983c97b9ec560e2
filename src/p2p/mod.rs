//! Peer-to-peer: the native part of reaching a peer by its key.
//!
//! Rendezvous signalling is carried by [`channel`], a reliable message
//! channel over the datagrams of a peer's connection to its rendezvous. The
//! messages themselves (registrations, dial requests, ready/go) and the
//! ICE-style orchestration with its timers live in `lib/p2p/`; the relay that
//! carries a dial's fallback connection is `relay/`.

pub mod channel;
