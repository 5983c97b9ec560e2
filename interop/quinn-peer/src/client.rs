//! Client: one bidi stream echo, an optional uni stream round trip, and a burst
//! of sequence-numbered datagrams whose echoes are counted. Prints one JSON line.

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};
use tokio::time::timeout;

use crate::{tls, Error, STEP_TIMEOUT};

pub struct Options {
    pub connect: SocketAddr,
    pub ca: PathBuf,
    pub server_name: String,
    pub alpn: String,
    pub bytes: usize,
    pub uni_bytes: usize,
    pub datagrams: usize,
    pub datagram_size: usize,
    /// Connect a second time with the same session cache (offering a ticket from the first).
    pub resume: bool,
    pub chacha_only: bool,
    /// Force a key update every this many ms during each connection (0: never).
    pub key_update_ms: usize,
}

#[derive(Default)]
struct Report {
    alpn: String,
    stream_ok: bool,
    uni_ok: Option<bool>,
    datagrams_sent: usize,
    datagrams_echoed: usize,
    datagrams_corrupt: usize,
    max_datagram_size: Option<usize>,
    error: Option<String>,
    /// Connections whose exercise completed.
    connections: usize,
    tickets_received: usize,
    tickets_offered: usize,
    key_updates: usize,
}

impl Report {
    fn json(&self) -> String {
        let opt_bool = |v: Option<bool>| v.map_or("null".to_string(), |b| b.to_string());
        let opt_num = |v: Option<usize>| v.map_or("null".to_string(), |n| n.to_string());
        let error = match &self.error {
            None => "null".to_string(),
            Some(e) => json_string(e),
        };
        format!(
            "{{\"streamOk\":{},\"uniOk\":{},\"datagramsSent\":{},\"datagramsEchoed\":{},\
             \"datagramsCorrupt\":{},\"maxDatagramSize\":{},\"alpn\":{},\"error\":{},\
             \"connections\":{},\"ticketsReceived\":{},\"ticketsOffered\":{},\"keyUpdates\":{}}}",
            self.stream_ok,
            opt_bool(self.uni_ok),
            self.datagrams_sent,
            self.datagrams_echoed,
            self.datagrams_corrupt,
            opt_num(self.max_datagram_size),
            json_string(&self.alpn),
            error,
            self.connections,
            self.tickets_received,
            self.tickets_offered,
            self.key_updates
        )
    }

    /// Stream echo intact, uni round trip intact if tried, ≥ 90% of datagrams back.
    fn success(&self) -> bool {
        self.error.is_none()
            && self.stream_ok
            && self.uni_ok != Some(false)
            && self.datagrams_corrupt == 0
            && self.datagrams_echoed * 10 >= self.datagrams_sent * 9
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

async fn bounded<T, E: Into<Error>>(
    label: &str,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, Error> {
    match timeout(STEP_TIMEOUT, fut).await {
        Ok(r) => r.map_err(|e| format!("{label}: {}", e.into()).into()),
        Err(_) => Err(format!("{label}: timed out after {STEP_TIMEOUT:?}").into()),
    }
}

fn random_bytes(n: usize) -> Result<Vec<u8>, Error> {
    let mut buf = vec![0u8; n];
    SystemRandom::new().fill(&mut buf).map_err(|_| "system RNG failed")?;
    Ok(buf)
}

/// Datagram `seq`: 8-byte big-endian sequence number, then a pattern derived from it.
fn datagram(seq: u64, size: usize) -> Vec<u8> {
    let mut d = Vec::with_capacity(size.max(8));
    d.extend_from_slice(&seq.to_be_bytes());
    for j in 8..size {
        d.push((seq.wrapping_mul(31) as usize).wrapping_add(j * 7) as u8);
    }
    d
}

pub async fn run(opts: Options) -> Result<bool, Error> {
    let bind: SocketAddr = if opts.connect.is_ipv4() {
        (Ipv4Addr::LOCALHOST, 0).into()
    } else {
        (Ipv6Addr::LOCALHOST, 0).into()
    };
    let mut endpoint = quinn::Endpoint::client(bind)?;
    let store = Arc::new(tls::CountingSessionStore::new());
    endpoint.set_default_client_config(tls::client_config(
        &opts.ca.to_string_lossy(),
        &opts.alpn,
        opts.chacha_only,
        store.clone(),
    )?);

    let mut report = Report::default();
    let rounds = if opts.resume { 2 } else { 1 };
    for round in 0..rounds {
        if let Err(e) = one_connection(&endpoint, &opts, &mut report).await {
            report.error = Some(format!("connection {}: {e}", round + 1));
            break;
        }
        report.connections += 1;
        if round + 1 < rounds {
            // The NewSessionTicket may trail the stream echo a little: wait (bounded) for one.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
            while store.received() == 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    report.tickets_received = store.received();
    report.tickets_offered = store.offered();
    // Let the CONNECTION_CLOSE go out; bounded so a silent peer cannot hang us.
    let _ = timeout(Duration::from_secs(2), endpoint.wait_idle()).await;

    println!("{}", report.json());
    Ok(report.success())
}

/// Handshake, exercise, close. Ticket waits and the resumption round are in `run`.
async fn one_connection(endpoint: &quinn::Endpoint, opts: &Options, report: &mut Report) -> Result<(), Error> {
    let conn = bounded("handshake", endpoint.connect(opts.connect, &opts.server_name)?).await?;
    report.alpn = tls::negotiated_alpn(&conn);
    report.max_datagram_size = conn.max_datagram_size();
    let updater = crate::key_updater(conn.clone(), opts.key_update_ms);
    let result = exercise(&conn, opts, report).await.and_then(|()| {
        if report.stream_ok && report.uni_ok != Some(false) {
            Ok(())
        } else {
            Err("stream echo differs".into())
        }
    });
    if result.is_ok() && opts.resume {
        // Keep the connection up briefly so tickets sent after the echo still arrive.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    conn.close(0u32.into(), b"done");
    if let Some(updater) = updater {
        report.key_updates += timeout(Duration::from_secs(2), updater).await.ok().and_then(|r| r.ok()).unwrap_or(0);
    }
    result
}

async fn exercise(conn: &quinn::Connection, opts: &Options, report: &mut Report) -> Result<(), Error> {
    // Bidirectional stream: write N random bytes while reading the echo.
    let payload = random_bytes(opts.bytes)?;
    let (mut send, mut recv) = bounded("open_bi", conn.open_bi()).await?;
    // With key updates on, one is forced once half the payload is written:
    // a fast echo can end before the key updater's first tick, and the
    // update must fall inside the transfer.
    let mid_transfer_update = opts.key_update_ms > 0;
    let write = async {
        let (first, second) = payload.split_at(payload.len() / 2);
        send.write_all(first).await?;
        if mid_transfer_update {
            conn.force_key_update();
        }
        send.write_all(second).await?;
        send.finish()?;
        Ok::<_, Error>(())
    };
    let read = async { Ok::<_, Error>(recv.read_to_end(opts.bytes + 1).await?) };
    let (w, echoed) = bounded("bidi echo", async { tokio::try_join!(write, read) }).await?;
    let () = w;
    report.key_updates += usize::from(mid_transfer_update);
    report.stream_ok = echoed == payload;
    if !report.stream_ok {
        eprintln!(
            "quinn-peer client: bidi echo differs: sent {} bytes, got {}",
            payload.len(),
            echoed.len()
        );
    }

    // Unidirectional round trip (the peer answers on a uni stream of its own).
    if opts.uni_bytes > 0 {
        let payload = random_bytes(opts.uni_bytes)?;
        let mut send = bounded("open_uni", conn.open_uni()).await?;
        let accept = conn.accept_uni();
        bounded("uni write", async {
            send.write_all(&payload).await?;
            send.finish()?;
            Ok::<_, Error>(())
        })
        .await?;
        let mut recv = bounded("accept_uni", accept).await?;
        let back = bounded("uni read", recv.read_to_end(opts.uni_bytes + 1)).await?;
        report.uni_ok = Some(back == payload);
    }

    // Datagrams: send M, count distinct intact echoes until all are back or time runs out.
    if opts.datagrams > 0 {
        let size = opts.datagram_size.max(8);
        let echoed = Arc::new(AtomicUsize::new(0));
        let corrupt = Arc::new(AtomicUsize::new(0));
        let receiver = {
            let (conn, echoed, corrupt) = (conn.clone(), echoed.clone(), corrupt.clone());
            let expected = opts.datagrams;
            tokio::spawn(async move {
                let mut seen = HashSet::new();
                while seen.len() < expected {
                    let Ok(d) = conn.read_datagram().await else { break };
                    let seq = d
                        .get(..8)
                        .and_then(|b| <[u8; 8]>::try_from(b).ok())
                        .map(u64::from_be_bytes);
                    match seq {
                        Some(seq) if d[..] == datagram(seq, size)[..] => {
                            if seen.insert(seq) {
                                echoed.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        _ => {
                            corrupt.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            })
        };
        for seq in 0..opts.datagrams as u64 {
            // Waits for room in the send buffer instead of dropping the oldest.
            bounded("send_datagram", conn.send_datagram_wait(datagram(seq, size).into())).await?;
            report.datagrams_sent += 1;
            if seq % 20 == 19 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        // Give the echoes up to 3 s after the last send, then count what arrived.
        let abort = receiver.abort_handle();
        let _ = timeout(Duration::from_secs(3), receiver).await;
        abort.abort();
        report.datagrams_echoed += echoed.load(Ordering::SeqCst);
        report.datagrams_corrupt += corrupt.load(Ordering::SeqCst);
    }
    Ok(())
}
