//! cargo-fuzz target `endpoint_recv` (see `nquic_fuzz::endpoint_recv`). Without libFuzzer
//! (a plain `cargo run --release --bin endpoint_recv -- FILE_OR_DIR...`), it replays
//! the given inputs once each.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nquic_fuzz::endpoint_recv(data));

#[cfg(not(fuzzing))]
fn main() {
    nquic_fuzz::replay_main(nquic_fuzz::endpoint_recv);
}
