//! In-memory tests: two endpoints wired back to back, no sockets, no sleeps
//! beyond what quiche's own timers need.

mod fuzz;
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod memory;
mod pair;
mod path_chaos;
mod paths;
mod relay;
mod scenarios;
mod signalling;
mod webtransport;
