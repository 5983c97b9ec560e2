//! Native heap per idle connection (diagnostic, not a pass/fail check):
//! `cargo test --release idle_connection_heap -- --ignored --nocapture`.
//! Counts malloc'd bytes (Rust and BoringSSL alike) with glibc's mallinfo2.

use super::pair::Pair;

fn heap_in_use() -> usize {
    // Small chunks plus mmap()ed large ones.
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    let m = unsafe { libc::mallinfo2() };
    m.uordblks + m.hblkhd
}

#[test]
#[ignore]
fn idle_connection_heap() {
    const N: usize = 200;
    let mut pair = Pair::new(|_| {}, |_| {});
    pair.connect();
    pair.settle();
    let before = heap_in_use();
    for _ in 0..N {
        pair.connect();
    }
    pair.settle();
    let after = heap_in_use();
    let server_conns = pair.server.endpoint.connection_count();
    if std::env::var_os("NQUIC_LEAK_PAIR").is_some() {
        // For heap profilers: what the idle connections hold shows as leaked.
        std::mem::forget(pair);
        return;
    }
    let Pair { client, server, .. } = pair;
    drop(server);
    let without_server = heap_in_use();
    drop(client);
    println!(
        "size_of quiche::Connection {} B, nquic Connection {} B",
        std::mem::size_of::<quiche::Connection>(),
        std::mem::size_of::<crate::connection::Connection>()
    );
    println!(
        "per idle connection pair: {:.1} KB (client {:.1} KB, server {:.1} KB; {server_conns} server connections)",
        (after - before) as f64 / N as f64 / 1024.0,
        (without_server as f64 - before as f64) / N as f64 / 1024.0,
        (after - without_server) as f64 / N as f64 / 1024.0,
    );
}
