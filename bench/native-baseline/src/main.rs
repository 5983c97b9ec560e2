//! Native baseline for nquic's benchmarks: plain quiche 0.30 (BoringSSL via the `boring` crate) with
//! a client and a server in ONE thread, each on its own non-blocking `std::net::UdpSocket` on
//! 127.0.0.1, driven by a simple busy poll loop (read both sockets, fire due timers, flush both
//! sides). Same transport configuration as nquic's defaults (src/config.rs). No nquic code involved:
//! this is roughly the ceiling a binding over quiche can reach on this machine.
//!
//! Usage: nquic-native-baseline --cert CERT.pem --key KEY.pem [--bulk-mb 64] [--chunk-kb 64]
//!        [--handshakes 200] [--warmup 5] [--dgram-seconds 2] [--dgram-window 64]
//!        [--dgram-size 256] [--rtt-seconds 2] [--rtt-bytes 100] [--only bulk,handshake,datagram,rtt]
//!        [--timeout-s 60] [--cc bbr2|cubic|reno]
//! Prints one JSON object on stdout; progress and errors go to stderr; exit 1 on failure.

use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

const MAX_SEND_UDP_PAYLOAD: usize = 1350;
const MAX_RECV_UDP_PAYLOAD: usize = 65527;
const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;
const SOCKET_BUFFER_BYTES: libc::c_int = 4 * 1024 * 1024; // as nquic (lib/socket.ts)
const ALPN: &[u8] = b"bench";
const SERVER_NAME: &str = "localhost";
/// A datagram not echoed within this long counts as lost (frees its window slot).
const DGRAM_LOSS_AFTER: Duration = Duration::from_millis(200);

type Res<T> = Result<T, String>;

// ------------------------------------------------------------------------------------------ args
struct Args {
    cert: String,
    key: String,
    bulk_mb: u64,
    chunk_kb: u64,
    handshakes: usize,
    warmup: usize,
    dgram_seconds: f64,
    dgram_window: usize,
    dgram_size: usize,
    rtt_seconds: f64,
    rtt_bytes: usize,
    only: Vec<String>,
    timeout: Duration,
    cc: String,
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        cert: String::new(),
        key: String::new(),
        bulk_mb: 64,
        chunk_kb: 64,
        handshakes: 200,
        warmup: 5,
        dgram_seconds: 2.0,
        dgram_window: 64,
        dgram_size: 256,
        rtt_seconds: 2.0,
        rtt_bytes: 100,
        only: vec![
            "bulk".into(),
            "handshake".into(),
            "datagram".into(),
            "rtt".into(),
        ],
        timeout: Duration::from_secs(60),
        cc: "bbr2".into(),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let flag = argv[i].as_str();
        let val = argv
            .get(i + 1)
            .ok_or_else(|| format!("{flag} needs a value"))?
            .clone();
        let num = |v: &str| {
            v.parse::<f64>()
                .map_err(|_| format!("{flag}: not a number: {v}"))
        };
        match flag {
            "--cert" => a.cert = val,
            "--key" => a.key = val,
            "--bulk-mb" => a.bulk_mb = num(&val)? as u64,
            "--chunk-kb" => a.chunk_kb = num(&val)? as u64,
            "--handshakes" => a.handshakes = num(&val)? as usize,
            "--warmup" => a.warmup = num(&val)? as usize,
            "--dgram-seconds" => a.dgram_seconds = num(&val)?,
            "--dgram-window" => a.dgram_window = num(&val)? as usize,
            "--dgram-size" => a.dgram_size = num(&val)? as usize,
            "--rtt-seconds" => a.rtt_seconds = num(&val)?,
            "--rtt-bytes" => a.rtt_bytes = num(&val)? as usize,
            "--only" => a.only = val.split(',').map(|s| s.trim().to_string()).collect(),
            "--timeout-s" => a.timeout = Duration::from_secs_f64(num(&val)?),
            "--cc" => a.cc = val,
            _ => return Err(format!("unknown flag {flag}")),
        }
        i += 2;
    }
    if a.cert.is_empty() || a.key.is_empty() {
        return Err("--cert and --key are required".into());
    }
    if a.handshakes == 0
        || a.bulk_mb == 0
        || a.chunk_kb == 0
        || a.dgram_window == 0
        || a.dgram_size < 8
        || a.rtt_bytes == 0
    {
        return Err("sizes and counts must be positive (--dgram-size at least 8)".into());
    }
    Ok(a)
}

// ---------------------------------------------------------------------------------------- config
/// The transport settings nquic uses by default (src/config.rs), for both sides.
fn make_config(args: &Args, server: bool) -> Res<quiche::Config> {
    let e = |what: &str, err: quiche::Error| format!("quiche config {what}: {err}");
    let mut c = quiche::Config::new(quiche::PROTOCOL_VERSION).map_err(|x| e("new", x))?;
    if server {
        c.load_cert_chain_from_pem_file(&args.cert)
            .map_err(|x| e("cert", x))?;
        c.load_priv_key_from_pem_file(&args.key)
            .map_err(|x| e("key", x))?;
        c.verify_peer(false);
    } else {
        c.load_verify_locations_from_file(&args.cert)
            .map_err(|x| e("ca", x))?;
        c.verify_peer(true);
    }
    c.set_application_protos(&[ALPN])
        .map_err(|x| e("alpn", x))?;
    c.set_max_idle_timeout(30_000);
    c.set_max_recv_udp_payload_size(MAX_RECV_UDP_PAYLOAD);
    c.set_max_send_udp_payload_size(MAX_SEND_UDP_PAYLOAD);
    c.set_initial_max_data(4 * MIB);
    c.set_initial_max_stream_data_bidi_local(MIB);
    c.set_initial_max_stream_data_bidi_remote(MIB);
    c.set_initial_max_stream_data_uni(MIB);
    c.set_initial_max_streams_bidi(100);
    c.set_initial_max_streams_uni(100);
    c.set_max_stream_window(16 * MIB);
    c.set_max_connection_window(24 * MIB);
    c.set_cc_algorithm_name(&args.cc).map_err(|x| e("cc", x))?;
    c.enable_dgram(true, 1024, 1024);
    Ok(c)
}

fn bind_loopback() -> Res<(UdpSocket, SocketAddr)> {
    let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    sock.set_nonblocking(true)
        .map_err(|e| format!("nonblocking: {e}"))?;
    for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
        // Best effort, as nquic does: the kernel may cap it at net.core.[rw]mem_max.
        // SAFETY: plain setsockopt on a valid fd with an int-sized option value.
        unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                &SOCKET_BUFFER_BYTES as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    let addr = sock.local_addr().map_err(|e| format!("local_addr: {e}"))?;
    Ok((sock, addr))
}

fn random_cid() -> Vec<u8> {
    let mut id = vec![0u8; quiche::MAX_CONN_ID_LEN];
    boring::rand::rand_bytes(&mut id).expect("rand_bytes");
    id
}

/// Send everything quiche has for this connection now (no pacing, like most simple loops).
fn flush(
    conn: &mut quiche::Connection,
    sock: &UdpSocket,
    out: &mut [u8],
    counters: &mut Counters,
) -> bool {
    let mut any = false;
    loop {
        match conn.send(out) {
            Ok((n, info)) => {
                any = true;
                match sock.send_to(&out[..n], info.to) {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => counters.send_would_block += 1,
                    Err(e) => {
                        counters.send_errors += 1;
                        eprintln!("native-baseline: send_to: {e}");
                    }
                }
            }
            Err(quiche::Error::Done) => break,
            Err(e) => {
                eprintln!("native-baseline: conn.send: {e}");
                let _ = conn.close(false, 0x1, b"send failed");
                break;
            }
        }
    }
    any
}

#[derive(Default)]
struct Counters {
    send_would_block: u64,
    send_errors: u64,
}

/// Per-connection state of the server application.
#[derive(Default)]
struct ServerApp {
    /// Bytes received per stream; on FIN the server replies the count (decimal) and FINs.
    counts: HashMap<u64, u64>,
    /// With `Net::echo`: the bytes received per stream, sent back with a FIN once the peer's FIN came.
    echoes: HashMap<u64, Vec<u8>>,
}

// ------------------------------------------------------------------------------------------- net
/// One client and one server, each with its own UDP socket, pumped by the same thread.
struct Net {
    client_sock: UdpSocket,
    client_addr: SocketAddr,
    server_sock: UdpSocket,
    server_addr: SocketAddr,
    client_cfg: quiche::Config,
    server_cfg: quiche::Config,
    client: Option<quiche::Connection>,
    /// Server connections by the connection ID the server chose; `aliases` maps the client's
    /// original destination CID to it (a retransmitted Initial must not create a second one).
    server_conns: HashMap<Vec<u8>, (quiche::Connection, ServerApp)>,
    aliases: HashMap<Vec<u8>, Vec<u8>>,
    buf: Vec<u8>,
    out: Vec<u8>,
    counters: Counters,
    /// The server echoes each stream's bytes instead of replying their count (the `rtt` workload).
    echo: bool,
}

impl Net {
    fn new(args: &Args) -> Res<Net> {
        let (client_sock, client_addr) = bind_loopback()?;
        let (server_sock, server_addr) = bind_loopback()?;
        Ok(Net {
            client_sock,
            client_addr,
            server_sock,
            server_addr,
            client_cfg: make_config(args, false)?,
            server_cfg: make_config(args, true)?,
            client: None,
            server_conns: HashMap::new(),
            aliases: HashMap::new(),
            buf: vec![0u8; 65536],
            out: vec![0u8; MAX_SEND_UDP_PAYLOAD],
            counters: Counters::default(),
            echo: false,
        })
    }

    /// Start a new client connection (replacing any previous one) and send its first flight.
    fn start_client(&mut self) -> Res<()> {
        let scid = random_cid();
        let scid = quiche::ConnectionId::from_ref(&scid);
        let conn = quiche::connect(
            Some(SERVER_NAME),
            &scid,
            self.client_addr,
            self.server_addr,
            &mut self.client_cfg,
        )
        .map_err(|e| format!("connect: {e}"))?;
        self.client = Some(conn);
        self.pump()?;
        Ok(())
    }

    fn client(&mut self) -> &mut quiche::Connection {
        self.client.as_mut().expect("no client connection")
    }

    /// One loop iteration: read both sockets, fire due timers, run the server app, flush both
    /// sides. Returns whether anything happened.
    fn pump(&mut self) -> Res<bool> {
        let mut progress = false;

        // Client socket -> client connection.
        loop {
            match self.client_sock.recv_from(&mut self.buf) {
                Ok((n, from)) => {
                    progress = true;
                    if let Some(c) = self.client.as_mut() {
                        let info = quiche::RecvInfo {
                            from,
                            to: self.client_addr,
                        };
                        let _ = c.recv(&mut self.buf[..n], info); // stray packets of old connections error out: ignore
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(format!("client recv_from: {e}")),
            }
        }

        // Server socket -> route by destination CID, accept Initials for unknown ones.
        loop {
            let (n, from) = match self.server_sock.recv_from(&mut self.buf) {
                Ok(x) => x,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(format!("server recv_from: {e}")),
            };
            progress = true;
            let hdr = match quiche::Header::from_slice(&mut self.buf[..n], quiche::MAX_CONN_ID_LEN)
            {
                Ok(h) => h,
                Err(_) => continue,
            };
            let dcid = hdr.dcid.to_vec();
            let key = if self.server_conns.contains_key(&dcid) {
                dcid
            } else if let Some(k) = self.aliases.get(&dcid) {
                k.clone()
            } else {
                if hdr.ty != quiche::Type::Initial {
                    continue;
                }
                let scid = random_cid();
                let conn = quiche::accept(
                    &quiche::ConnectionId::from_ref(&scid),
                    None,
                    self.server_addr,
                    from,
                    &mut self.server_cfg,
                )
                .map_err(|e| format!("accept: {e}"))?;
                self.aliases.insert(dcid, scid.clone());
                self.server_conns
                    .insert(scid.clone(), (conn, ServerApp::default()));
                scid
            };
            if let Some((conn, _)) = self.server_conns.get_mut(&key) {
                let info = quiche::RecvInfo {
                    from,
                    to: self.server_addr,
                };
                let _ = conn.recv(&mut self.buf[..n], info);
            }
        }

        // Timers.
        let now = Instant::now();
        if let Some(c) = self.client.as_mut() {
            if c.timeout_instant().is_some_and(|t| t <= now) {
                c.on_timeout();
                progress = true;
            }
        }
        for (conn, _) in self.server_conns.values_mut() {
            if conn.timeout_instant().is_some_and(|t| t <= now) {
                conn.on_timeout();
                progress = true;
            }
        }

        // Server application: count stream bytes and reply on FIN; echo datagrams.
        for (conn, app) in self.server_conns.values_mut() {
            if !conn.is_established() {
                continue;
            }
            let readable: Vec<u64> = conn.readable().collect();
            for sid in readable {
                loop {
                    match conn.stream_recv(sid, &mut self.buf) {
                        Ok((n, fin)) => {
                            progress = true;
                            if self.echo {
                                let bytes = app.echoes.entry(sid).or_default();
                                bytes.extend_from_slice(&self.buf[..n]);
                                if fin {
                                    let reply = app.echoes.remove(&sid).unwrap_or_default();
                                    match conn.stream_send(sid, &reply, true) {
                                        Ok(w) if w == reply.len() => {}
                                        other => {
                                            return Err(format!(
                                                "server echo on stream {sid}: {other:?}"
                                            ))
                                        }
                                    }
                                    break;
                                }
                                continue;
                            }
                            *app.counts.entry(sid).or_insert(0) += n as u64;
                            if fin {
                                let count = app.counts.remove(&sid).unwrap_or(0);
                                let reply = count.to_string();
                                // Tiny reply: fits the initial window; if not, fail loudly.
                                match conn.stream_send(sid, reply.as_bytes(), true) {
                                    Ok(w) if w == reply.len() => {}
                                    other => {
                                        return Err(format!(
                                            "server reply on stream {sid}: {other:?}"
                                        ))
                                    }
                                }
                                break;
                            }
                        }
                        Err(quiche::Error::Done) => break,
                        Err(e) => return Err(format!("server stream_recv: {e}")),
                    }
                }
            }
            while let Ok(n) = conn.dgram_recv(&mut self.buf) {
                progress = true;
                let _ = conn.dgram_send(&self.buf[..n]); // queue full = dropped, like UDP
            }
        }

        // Flush both sides.
        if let Some(c) = self.client.as_mut() {
            progress |= flush(c, &self.client_sock, &mut self.out, &mut self.counters);
        }
        for (conn, _) in self.server_conns.values_mut() {
            progress |= flush(conn, &self.server_sock, &mut self.out, &mut self.counters);
        }

        // Forget closed server connections.
        let before = self.server_conns.len();
        self.server_conns.retain(|_, (c, _)| !c.is_closed());
        if self.server_conns.len() != before {
            let live = &self.server_conns;
            self.aliases.retain(|_, k| live.contains_key(k));
        }
        Ok(progress)
    }

    /// Pump until `done` holds for the client connection, or fail after `deadline`.
    fn pump_until(
        &mut self,
        deadline: Instant,
        what: &str,
        mut done: impl FnMut(&mut quiche::Connection) -> bool,
    ) -> Res<()> {
        loop {
            if done(self.client()) {
                return Ok(());
            }
            if self.client().is_closed() {
                return Err(format!(
                    "{what}: client connection closed: {:?}",
                    self.client().peer_error()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!("{what}: timed out"));
            }
            if !self.pump()? {
                std::hint::spin_loop();
            }
        }
    }

    fn connect(&mut self, deadline: Instant) -> Res<()> {
        self.start_client()?;
        self.pump_until(deadline, "handshake", |c| c.is_established())
    }

    /// Close the client connection, send the CONNECTION_CLOSE and drop it (no draining wait).
    fn close_client(&mut self) -> Res<()> {
        if let Some(mut c) = self.client.take() {
            let _ = c.close(true, 0, b"");
            flush(&mut c, &self.client_sock, &mut self.out, &mut self.counters);
        }
        self.pump()?;
        Ok(())
    }
}

// ------------------------------------------------------------------------------------ workloads
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn median(sorted: &[f64]) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Two single-stream uploads of `bulk_mb` MiB client -> server in `chunk_kb` KiB stream_send
/// calls on one connection, each timed from the first write to the server's byte-count reply, as
/// bench/cases/bulk.js does.
fn bulk(net: &mut Net, args: &Args, deadline: Instant) -> Res<String> {
    let total = args.bulk_mb * MIB;
    let chunk: Vec<u8> = (0..args.chunk_kb * KIB)
        .map(|i| (i * 7 + 3) as u8)
        .collect();
    net.connect(deadline)?;
    // Two uploads on one connection, as bench/cases/bulk.js does: the first
    // (cold) and the second (steady state, the judged figure).
    let cold = upload(net, 0, total, &chunk, deadline)?;
    let secs = upload(net, 4, total, &chunk, deadline)?;
    let st = net.client().stats();
    let rtt = net
        .client()
        .path_stats()
        .next()
        .map(|p| ms(p.rtt))
        .unwrap_or(f64::NAN);
    net.close_client()?;
    Ok(format!(
        "{{\"bytes\":{total},\"chunkSize\":{},\"seconds\":{secs:.6},\"throughput\":{:.3},\"coldSeconds\":{cold:.6},\"coldThroughput\":{:.3},\"packetsSent\":{},\"packetsLost\":{},\"bytesSent\":{},\"rttMs\":{rtt:.3}}}",
        chunk.len(),
        total as f64 / 1e6 / secs,
        total as f64 / 1e6 / cold,
        st.sent,
        st.lost,
        st.sent_bytes
    ))
}

/// Uploads `total` bytes on stream `sid` in `chunk`-sized `stream_send`
/// calls; seconds from the first write to the server's byte-count reply.
fn upload(net: &mut Net, sid: u64, total: u64, chunk: &[u8], deadline: Instant) -> Res<f64> {
    let mut sent = 0u64;
    let mut reply = Vec::new();
    let mut got_fin = false;
    let mut buf = vec![0u8; 65536];
    let t0 = Instant::now();
    while !got_fin {
        if Instant::now() > deadline {
            return Err(format!("bulk: timed out after {sent} bytes written"));
        }
        {
            let c = net.client();
            while sent < total {
                let n = (total - sent).min(chunk.len() as u64) as usize;
                match c.stream_send(sid, &chunk[..n], sent + n as u64 == total) {
                    Ok(w) => {
                        sent += w as u64;
                        if w < n {
                            break;
                        }
                    }
                    Err(quiche::Error::Done) => break,
                    Err(e) => return Err(format!("bulk stream_send: {e}")),
                }
            }
        }
        net.pump()?;
        let c = net.client();
        if c.is_closed() {
            return Err(format!("bulk: connection closed: {:?}", c.peer_error()));
        }
        let readable: Vec<u64> = c.readable().collect();
        for s in readable {
            loop {
                match c.stream_recv(s, &mut buf) {
                    Ok((n, fin)) => {
                        reply.extend_from_slice(&buf[..n]);
                        if fin {
                            got_fin = true;
                            break;
                        }
                    }
                    Err(quiche::Error::Done) => break,
                    Err(e) => return Err(format!("bulk stream_recv: {e}")),
                }
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let acked: u64 = String::from_utf8_lossy(&reply)
        .parse()
        .map_err(|_| "bulk: bad reply".to_string())?;
    if acked != total {
        return Err(format!(
            "bulk: server counted {acked} bytes, expected {total}"
        ));
    }
    Ok(secs)
}

/// Sequential full handshakes (fresh connection ID each, same client socket), latency = connect
/// -> client established; rate = count / wall time including the closes.
fn handshakes(net: &mut Net, args: &Args, deadline: Instant) -> Res<String> {
    for _ in 0..args.warmup {
        net.connect(deadline)?;
        net.close_client()?;
    }
    let mut lat = Vec::with_capacity(args.handshakes);
    let start = Instant::now();
    for _ in 0..args.handshakes {
        let t0 = Instant::now();
        net.connect(deadline)?;
        lat.push(ms(t0.elapsed()));
        net.close_client()?;
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mean = lat.iter().sum::<f64>() / lat.len() as f64;
    Ok(format!(
        "{{\"count\":{},\"median\":{:.4},\"p99\":{:.4},\"rate\":{:.2},\"min\":{:.4},\"max\":{:.4},\"mean\":{mean:.4}}}",
        lat.len(),
        median(&lat),
        percentile(&lat, 99.0),
        lat.len() as f64 / secs,
        lat[0],
        lat[lat.len() - 1]
    ))
}

/// Datagram echo: keep `dgram_window` datagrams of `dgram_size` bytes in flight for
/// `dgram_seconds`; the server echoes each. One not back within DGRAM_LOSS_AFTER counts as lost.
fn datagrams(net: &mut Net, args: &Args, deadline: Instant) -> Res<String> {
    net.connect(deadline)?;
    let mut payload = vec![0x5au8; args.dgram_size];
    let mut buf = vec![0u8; 65536];
    let mut outstanding: HashMap<u64, Instant> = HashMap::new();
    let mut order: VecDeque<u64> = VecDeque::new();
    let mut rtts: Vec<f64> = Vec::new();
    let (mut seq, mut lost, mut refused) = (0u64, 0u64, 0u64);
    let run_for = Duration::from_secs_f64(args.dgram_seconds);
    let t0 = Instant::now();
    loop {
        let now = Instant::now();
        if now.duration_since(t0) >= run_for {
            break;
        }
        if now > deadline {
            return Err("datagram: timed out".into());
        }
        {
            let c = net.client.as_mut().expect("client");
            while outstanding.len() < args.dgram_window {
                payload[..8].copy_from_slice(&seq.to_le_bytes());
                match c.dgram_send(&payload) {
                    Ok(()) => {
                        outstanding.insert(seq, Instant::now());
                        order.push_back(seq);
                        seq += 1;
                    }
                    Err(quiche::Error::Done) => {
                        refused += 1;
                        break;
                    }
                    Err(e) => return Err(format!("dgram_send: {e}")),
                }
            }
        }
        net.pump()?;
        let c = net.client.as_mut().expect("client");
        while let Ok(n) = c.dgram_recv(&mut buf) {
            if n >= 8 {
                let s = u64::from_le_bytes(buf[..8].try_into().unwrap());
                if let Some(t) = outstanding.remove(&s) {
                    rtts.push(ms(t.elapsed()));
                }
            }
        }
        // Expire the oldest outstanding ones as lost.
        let now = Instant::now();
        while let Some(&s) = order.front() {
            match outstanding.get(&s) {
                None => {
                    order.pop_front();
                }
                Some(&t) if now.duration_since(t) > DGRAM_LOSS_AFTER => {
                    outstanding.remove(&s);
                    order.pop_front();
                    lost += 1;
                }
                Some(_) => break,
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let echoes = rtts.len();
    rtts.sort_by(|a, b| a.partial_cmp(b).unwrap());
    net.close_client()?;
    Ok(format!(
        "{{\"size\":{},\"window\":{},\"seconds\":{secs:.4},\"sent\":{seq},\"echoes\":{echoes},\"lost\":{lost},\"queueFull\":{refused},\"rate\":{:.2},\"rttMedianMs\":{:.4},\"rttP99Ms\":{:.4}}}",
        args.dgram_size,
        args.dgram_window,
        echoes as f64 / secs,
        median(&rtts),
        percentile(&rtts, 99.0)
    ))
}

/// Sequential stream round trips, as bench/cases/stream-rtt.js does for nquic: open a new
/// bidirectional stream, send `rtt_bytes` with its FIN, the server echoes them with a FIN, read the
/// echo to its FIN; 20 warm-up round trips, then as many as fit in `rtt_seconds`.
fn round_trips(net: &mut Net, args: &Args, deadline: Instant) -> Res<String> {
    const WARMUP: usize = 20;
    net.echo = true;
    net.connect(deadline)?;
    let payload = vec![0x5au8; args.rtt_bytes];
    let mut buf = vec![0u8; 65536];
    let mut lat: Vec<f64> = Vec::new();
    let run_for = Duration::from_secs_f64(args.rtt_seconds);
    let mut sid = 0u64;
    let mut start = Instant::now();
    for i in 0.. {
        if i == WARMUP {
            start = Instant::now();
        }
        if i >= WARMUP && start.elapsed() >= run_for {
            break;
        }
        let t0 = Instant::now();
        match net.client().stream_send(sid, &payload, true) {
            Ok(w) if w == payload.len() => {}
            other => return Err(format!("rtt stream_send on stream {sid}: {other:?}")),
        }
        let mut got = 0usize;
        let mut fin = false;
        while !fin {
            if Instant::now() > deadline {
                return Err(format!("rtt: timed out on stream {sid}"));
            }
            if !net.pump()? {
                std::hint::spin_loop();
            }
            let c = net.client();
            if c.is_closed() {
                return Err(format!("rtt: connection closed: {:?}", c.peer_error()));
            }
            loop {
                match c.stream_recv(sid, &mut buf) {
                    Ok((n, f)) => {
                        got += n;
                        if f {
                            fin = true;
                            break;
                        }
                    }
                    Err(quiche::Error::Done) => break,
                    Err(e) => return Err(format!("rtt stream_recv: {e}")),
                }
            }
        }
        if got != payload.len() {
            return Err(format!(
                "rtt: echo of {got} bytes, expected {}",
                payload.len()
            ));
        }
        if i >= WARMUP {
            lat.push(ms(t0.elapsed()));
        }
        sid += 4;
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    net.close_client()?;
    Ok(format!(
        "{{\"bytes\":{},\"roundTrips\":{},\"seconds\":{secs:.4},\"rate\":{:.2},\"median\":{:.4},\"p99\":{:.4}}}",
        args.rtt_bytes,
        lat.len(),
        lat.len() as f64 / secs,
        median(&lat),
        percentile(&lat, 99.0)
    ))
}

fn run() -> Res<String> {
    let args = parse_args()?;
    let mut parts = vec![
        "\"impl\":\"quiche 0.30 (Rust, one thread, std::net::UdpSocket, busy poll)\"".to_string(),
        format!("\"maxSendUdpPayload\":{MAX_SEND_UDP_PAYLOAD}"),
    ];
    for what in ["bulk", "handshake", "datagram", "rtt"] {
        if !args.only.iter().any(|o| o == what) {
            continue;
        }
        // A fresh pair of sockets per workload so one cannot disturb the next.
        let mut net = Net::new(&args)?;
        let deadline = Instant::now() + args.timeout;
        let t = Instant::now();
        let json = match what {
            "bulk" => bulk(&mut net, &args, deadline)?,
            "handshake" => handshakes(&mut net, &args, deadline)?,
            "datagram" => datagrams(&mut net, &args, deadline)?,
            _ => round_trips(&mut net, &args, deadline)?,
        };
        eprintln!("native-baseline: {what} done in {:.0} ms", ms(t.elapsed()));
        parts.push(format!("\"{what}\":{json}"));
        if net.counters.send_would_block > 0 || net.counters.send_errors > 0 {
            parts.push(format!(
                "\"{what}SendDrops\":{{\"wouldBlock\":{},\"errors\":{}}}",
                net.counters.send_would_block, net.counters.send_errors
            ));
        }
    }
    Ok(format!("{{{}}}", parts.join(",")))
}

fn main() {
    match run() {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("native-baseline: {e}");
            std::process::exit(1);
        }
    }
}
