//! In-memory tests: two endpoints wired back to back, no sockets, no sleeps
//! beyond what quiche's own timers need.

mod pair;
mod scenarios;
