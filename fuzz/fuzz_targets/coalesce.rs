//! cargo-fuzz target `coalesce` (see `nquic_fuzz::coalesce`). Without libFuzzer
//! (a plain `cargo run --release --bin coalesce -- FILE_OR_DIR...`), it replays
//! the given inputs once each.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nquic_fuzz::coalesce(data));

#[cfg(not(fuzzing))]
fn main() {
    nquic_fuzz::replay_main(nquic_fuzz::coalesce);
}
