//! quinn-peer: an independent QUIC endpoint (quinn + rustls/ring) that nquic's
//! interoperability tests talk to.
//!
//! ```text
//! quinn-peer server --listen 127.0.0.1:0 --cert cert.pem --key key.pem --alpn nquic-interop
//! quinn-peer client --connect 127.0.0.1:PORT --ca cert.pem --server-name localhost \
//!                   --alpn nquic-interop --bytes N --datagrams M [--uni-bytes K] [--datagram-size S]
//! ```
//!
//! Extra options (both modes unless noted):
//! - `--chacha-only`: TLS 1.3 cipher suites cut down to TLS13_CHACHA20_POLY1305_SHA256.
//! - `--key-update-ms N`: force a 1-RTT key update every N ms on each connection.
//! - `--retry` (server): send a Retry to every Initial whose address is not validated yet.
//! - `--resume` (client): connect twice with one session cache; the second offers a ticket.
//!
//! The server prints `LISTENING <port>` once bound, then echoes bidirectional
//! streams, answers every unidirectional stream with a new one carrying the same
//! bytes, and echoes datagrams. It exits when its standard input reaches EOF, so
//! it never outlives the process that spawned it.
//!
//! The client prints one JSON line with its results and exits 0 on success.

mod client;
mod server;
mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Upper bound on any single wait (handshake, stream echo, datagram echoes).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// Transport parameters shared by both modes: datagrams on, bounded idle time.
pub fn transport_config() -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(Some(Duration::from_secs(15).try_into().expect("15 s is a valid idle timeout")));
    t.datagram_receive_buffer_size(Some(4 << 20));
    t.datagram_send_buffer_size(4 << 20);
    Arc::new(t)
}

/// Flags that take no value.
const BOOLEAN_FLAGS: &[&str] = &["retry", "resume", "chacha-only"];

/// With `every_ms > 0`: a task forcing a key update on `conn` every `every_ms` ms
/// until the connection ends; it resolves to the number of updates requested.
/// (quinn ignores a request while the previous update is still unconfirmed.)
pub fn key_updater(conn: quinn::Connection, every_ms: usize) -> Option<tokio::task::JoinHandle<usize>> {
    if every_ms == 0 {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut n = 0;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(every_ms as u64)) => {}
                _ = conn.closed() => return n,
            }
            conn.force_key_update();
            n += 1;
        }
    }))
}

struct Args {
    mode: String,
    opts: HashMap<String, String>,
}

impl Args {
    fn parse() -> Result<Self, Error> {
        let mut it = std::env::args().skip(1);
        let mode = it.next().ok_or("missing mode: server | client")?;
        let mut opts = HashMap::new();
        while let Some(flag) = it.next() {
            let name = flag
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {flag:?}"))?
                .to_string();
            if BOOLEAN_FLAGS.contains(&name.as_str()) {
                opts.insert(name, "true".to_string());
                continue;
            }
            let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
            opts.insert(name, value);
        }
        Ok(Args { mode, opts })
    }

    fn get(&self, name: &str) -> Result<&str, Error> {
        self.opts
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| format!("missing --{name}").into())
    }

    fn get_or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.opts.get(name).map(String::as_str).unwrap_or(default)
    }

    fn addr(&self, name: &str) -> Result<SocketAddr, Error> {
        let v = self.get(name)?;
        v.parse().map_err(|e| format!("--{name} {v:?}: {e}").into())
    }

    fn flag(&self, name: &str) -> bool {
        self.opts.contains_key(name)
    }

    fn num(&self, name: &str, default: &str) -> Result<usize, Error> {
        let v = self.get_or(name, default);
        v.parse().map_err(|e| format!("--{name} {v:?}: {e}").into())
    }
}

async fn run() -> Result<bool, Error> {
    let args = Args::parse()?;
    match args.mode.as_str() {
        "server" => {
            server::run(server::Options {
                listen: args.addr("listen")?,
                cert: args.get("cert")?.into(),
                key: args.get("key")?.into(),
                alpn: args.get("alpn")?.into(),
                retry: args.flag("retry"),
                chacha_only: args.flag("chacha-only"),
                key_update_ms: args.num("key-update-ms", "0")?,
            })
            .await?;
            Ok(true)
        }
        "client" => {
            client::run(client::Options {
                connect: args.addr("connect")?,
                ca: args.get("ca")?.into(),
                server_name: args.get_or("server-name", "localhost").into(),
                alpn: args.get("alpn")?.into(),
                bytes: args.num("bytes", "65536")?,
                uni_bytes: args.num("uni-bytes", "0")?,
                datagrams: args.num("datagrams", "0")?,
                datagram_size: args.num("datagram-size", "200")?,
                resume: args.flag("resume"),
                chacha_only: args.flag("chacha-only"),
                key_update_ms: args.num("key-update-ms", "0")?,
            })
            .await
        }
        other => Err(format!("unknown mode {other:?}: expected server | client").into()),
    }
}

fn main() -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("quinn-peer: tokio runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("quinn-peer: error: {e}");
            ExitCode::from(2)
        }
    }
}
