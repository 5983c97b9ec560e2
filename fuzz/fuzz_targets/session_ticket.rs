//! cargo-fuzz target `session_ticket` (see `nquic_fuzz::session_ticket`). Without libFuzzer
//! (a plain `cargo run --release --bin session_ticket -- FILE_OR_DIR...`), it replays
//! the given inputs once each.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nquic_fuzz::session_ticket(data));

#[cfg(not(fuzzing))]
fn main() {
    nquic_fuzz::replay_main(nquic_fuzz::session_ticket);
}
