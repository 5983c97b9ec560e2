//! The fuzz targets as stable tests: each harness runs over its seed corpus
//! (generated, plus any files in `fuzz/corpus/<target>/` and
//! `fuzz/artifacts/<target>/`), then over deterministic pseudo-random inputs
//! (raw random bytes and mutations of the seeds) until `REPLAY_INPUTS`
//! inputs (default 20 000) or its time budget is used up.
//!
//! `cargo test --release --manifest-path fuzz/Cargo.toml -- --nocapture`
//! prints how many inputs each target ran and how long it took.
//! `REPLAY_SEED=<n>` changes the pseudo-random stream, `REPLAY_INPUTS=<n>`
//! and `REPLAY_BUDGET_SECS=<n>` (per target) the bounds.

use std::time::{Duration, Instant};

/// xorshift64*: tiny, deterministic, good enough to pick bytes.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A libFuzzer-style mutation of `seed`.
fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            2 => {
                let i = rng.below(v.len() + 1);
                let n = rng.below(16) + 1;
                let extra = rng.bytes(n);
                v.splice(i..i, extra);
            }
            3 if !v.is_empty() => {
                let i = rng.below(v.len());
                let n = rng.below(v.len() - i) + 1;
                v.drain(i..i + n.min(16));
            }
            4 if !v.is_empty() => {
                v.truncate(rng.below(v.len()));
            }
            _ => {
                let i = rng.below(v.len() + 1);
                let magic: &[u8] = match rng.below(5) {
                    0 => &[0xff, 0xff, 0xff, 0xff],
                    1 => &[0, 0, 0, 0],
                    2 => &[0x3f, 0xff],
                    3 => &[0xc0, 0, 0, 0, 1],
                    _ => &[0x80, 0, 0, 0, 0, 0, 0, 0],
                };
                v.splice(i..i, magic.iter().copied());
            }
        }
    }
    v
}

fn corpus_files(target: &str) -> Vec<Vec<u8>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            if let Ok(data) = std::fs::read(&p) {
                out.push(data);
            }
        }
    }
    out
}

fn run(target: &str, f: fn(&[u8]), max_len: usize, default_budget_secs: u64) {
    let started = Instant::now();
    let budget = Duration::from_secs(env_u64("REPLAY_BUDGET_SECS", default_budget_secs));
    let limit = env_u64("REPLAY_INPUTS", 20_000) as usize;
    let mut rng = Rng::new(env_u64("REPLAY_SEED", 0x006e_7175_6963) ^ target.len() as u64);

    let mut seeds = nquic_fuzz::seeds(target);
    let files = corpus_files(target);
    let file_count = files.len();
    seeds.extend(files);
    for s in &seeds {
        f(s);
    }
    let mut generated = 0;
    let mut last_input = Vec::new();
    while generated < limit && started.elapsed() < budget {
        let input = if seeds.is_empty() || rng.below(3) == 0 {
            let n = rng.below(max_len + 1);
            rng.bytes(n)
        } else {
            let seed = &seeds[rng.below(seeds.len())];
            mutate(&mut rng, seed)
        };
        last_input.clone_from(&input);
        let outcome = std::panic::catch_unwind(|| f(&input));
        if let Err(panic) = outcome {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("artifacts")
                .join(target);
            let _ = std::fs::create_dir_all(&dir);
            let path = dir.join(format!("replay-crash-{generated}"));
            let _ = std::fs::write(&path, &last_input);
            std::panic::resume_unwind(Box::new(format!(
                "{target}: input #{generated} panicked (saved to {}): {:?}",
                path.display(),
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            )));
        }
        generated += 1;
    }
    eprintln!(
        "{target}: {} seeds ({} from files) + {generated} generated inputs in {:.1} s",
        seeds.len(),
        file_count,
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn coalesce() {
    run("coalesce", nquic_fuzz::coalesce, 1500, 5);
}

#[test]
fn endpoint_recv() {
    run("endpoint_recv", nquic_fuzz::endpoint_recv, 4096, 20);
}

#[test]
fn handshake() {
    run("handshake", nquic_fuzz::handshake, 512, 25);
}

#[test]
fn session_ticket() {
    run("session_ticket", nquic_fuzz::session_ticket, 1024, 8);
}

#[test]
fn webtransport() {
    run("webtransport", nquic_fuzz::webtransport, 1024, 20);
}

/// Writes the generated seeds into `fuzz/corpus/<target>/` for cargo-fuzz:
/// `cargo test --release --manifest-path fuzz/Cargo.toml -- --ignored write_seed_corpus`
#[test]
#[ignore]
fn write_seed_corpus() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for target in ["coalesce", "endpoint_recv", "handshake", "session_ticket", "webtransport"] {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("mkdir");
        for (i, seed) in nquic_fuzz::seeds(target).iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:02}")), seed).expect("write");
        }
    }
}
