//! The napi boundary: thin `#[napi]` wrappers over the sans-IO core. Options
//! cross once as objects; errors cross as [`ErrorCode`]s; a panic anywhere
//! below becomes an `ERR_QUIC_INTERNAL` error instead of aborting Node.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use napi::bindgen_prelude::{Buffer, BufferSlice, Object, Uint32ArraySlice, Uint8Array};
use napi::Env;
use napi_derive::napi;

use crate::addr;
use crate::close::CloseInfo;
use crate::config::{Config, ConfigParams};
use crate::endpoint::{Endpoint, SharedConfig};
use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::fast_calls::{self, SharedEndpoint};
use crate::io::batch_recv::{self, NativeDatagram};
use crate::numbers::{stream_id, to_u64};
use crate::relay::service::RelayLimits;
use crate::tls::certgen::{self, CertRequest, KeyType};
use crate::tls::verify::{self, Expected};
use crate::tls::{self, TlsParams};

/// Runs `f`, turning a panic into an `ERR_QUIC_INTERNAL` error.
fn guarded<T>(f: impl FnOnce() -> CoreResult<T>) -> napi::Result<T, ErrorCode> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|panic| Err(CoreError::from_panic(panic.as_ref())))
        .map_err(Into::into)
}

fn opt_u64(name: &str, value: Option<f64>, default: u64) -> CoreResult<u64> {
    value.map_or(Ok(default), |v| to_u64(&format!("options.{name}"), v))
}

/// Options for a [`NativeConfig`]; the TypeScript layer validates types and
/// normalises certificates to buffers first.
#[napi(object)]
pub struct NativeConfigOptions {
    pub is_server: bool,
    pub alpn: Vec<String>,
    pub key: Option<Buffer>,
    /// PEM blobs (each may hold a chain) or DER certificates, leaf first.
    pub certs: Option<Vec<Buffer>>,
    pub ca: Option<Vec<Buffer>>,
    pub verify_peer: bool,
    /// The application's `verify` hook decides about peers (`VERIFY` events).
    pub verify_hook: Option<bool>,
    /// Server: ask clients for a certificate without requiring one (a relay
    /// names its peers by their certificates).
    pub request_cert: Option<bool>,
    pub idle_timeout: Option<f64>,
    pub keep_alive: Option<f64>,
    pub handshake_timeout: Option<f64>,
    pub max_streams_bidi: Option<f64>,
    pub max_streams_uni: Option<f64>,
    pub stream_window: Option<f64>,
    pub connection_window: Option<f64>,
    pub datagrams: Option<bool>,
    pub datagram_queue_length: Option<f64>,
    pub congestion_control: Option<String>,
    pub keylog: Option<bool>,
    pub qlog: Option<bool>,
    pub early_data: Option<bool>,
    /// Server: 48 bytes protecting session tickets.
    pub ticket_key: Option<Buffer>,
    /// Server: address validation with Retry.
    pub retry: Option<bool>,
    /// Server: new handshakes per source IP per second (0 = unlimited).
    pub handshake_rate_limit: Option<u32>,
    /// WebTransport over HTTP/3 on connections that negotiate ALPN `h3`.
    pub web_transport: Option<bool>,
    /// Server: WebTransport sessions one connection may hold at once.
    pub web_transport_max_sessions: Option<u32>,
}

fn buffers(list: &Option<Vec<Buffer>>) -> Vec<Vec<u8>> {
    list.as_ref()
        .map(|l| l.iter().map(|b| b.to_vec()).collect())
        .unwrap_or_default()
}

impl NativeConfigOptions {
    fn to_params(&self) -> CoreResult<ConfigParams> {
        let d = ConfigParams::default();
        Ok(ConfigParams {
            tls: TlsParams {
                is_server: self.is_server,
                key: self.key.as_ref().map(|k| k.to_vec()),
                certs: buffers(&self.certs),
                ca: buffers(&self.ca),
                verify_peer: self.verify_peer,
                verify_hook: self.verify_hook.unwrap_or(false),
                request_cert: self.request_cert.unwrap_or(false),
            },
            alpn: self.alpn.clone(),
            idle_timeout_ms: opt_u64("idleTimeout", self.idle_timeout, d.idle_timeout_ms)?,
            keep_alive_ms: opt_u64("keepAlive", self.keep_alive, d.keep_alive_ms)?,
            handshake_timeout_ms: opt_u64(
                "timeout",
                self.handshake_timeout,
                d.handshake_timeout_ms,
            )?,
            max_streams_bidi: opt_u64("maxStreamsBidi", self.max_streams_bidi, d.max_streams_bidi)?,
            max_streams_uni: opt_u64("maxStreamsUni", self.max_streams_uni, d.max_streams_uni)?,
            stream_window: opt_u64("streamWindow", self.stream_window, d.stream_window)?,
            connection_window: opt_u64(
                "connectionWindow",
                self.connection_window,
                d.connection_window,
            )?,
            datagrams: self.datagrams.unwrap_or(d.datagrams),
            datagram_queue_len: opt_u64(
                "datagramQueueLength",
                self.datagram_queue_length,
                d.datagram_queue_len as u64,
            )? as usize,
            congestion_control: self
                .congestion_control
                .clone()
                .unwrap_or(d.congestion_control),
            keylog: self.keylog.unwrap_or(false),
            qlog: self.qlog.unwrap_or(false),
            early_data: self.early_data.unwrap_or(false),
            ticket_key: self.ticket_key.as_ref().map(|k| k.to_vec()),
            retry: self.retry.unwrap_or(false),
            handshake_rate_limit: self.handshake_rate_limit.unwrap_or(d.handshake_rate_limit),
            web_transport: self.web_transport.unwrap_or(false).then(|| {
                self.web_transport_max_sessions
                    .map_or(crate::webtransport::DEFAULT_MAX_SESSIONS, u64::from)
            }),
        })
    }
}

/// A validated configuration (TLS context included), shareable by many
/// connections.
#[napi]
pub struct NativeConfig {
    inner: SharedConfig,
}

#[napi]
impl NativeConfig {
    #[napi(constructor)]
    pub fn new(options: NativeConfigOptions) -> napi::Result<Self, ErrorCode> {
        guarded(|| {
            let config = Config::new(&options.to_params()?)?;
            Ok(NativeConfig {
                inner: Rc::new(RefCell::new(config)),
            })
        })
    }
}

#[napi(object)]
pub struct NativeCloseInfo {
    pub code: f64,
    pub reason: String,
    pub remote: bool,
    pub application: bool,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub tls_alert: Option<u32>,
    pub transport_code: Option<f64>,
    pub app_code: Option<f64>,
}

impl From<CloseInfo> for NativeCloseInfo {
    fn from(c: CloseInfo) -> Self {
        NativeCloseInfo {
            code: c.code as f64,
            reason: c.reason,
            remote: c.remote,
            application: c.application,
            error_code: c.error.as_ref().map(|e| e.code.to_string()),
            error_message: c.error.as_ref().map(|e| e.message.clone()),
            tls_alert: c.error.as_ref().and_then(|e| e.tls_alert).map(u32::from),
            transport_code: c
                .error
                .as_ref()
                .and_then(|e| e.transport_code)
                .map(|v| v as f64),
            app_code: c.error.as_ref().and_then(|e| e.app_code).map(|v| v as f64),
        }
    }
}

#[napi(object)]
pub struct NativeConnectionInfo {
    pub alpn: String,
    pub server_name: Option<String>,
    pub peer_certificates: Vec<Buffer>,
    pub session_ticket: Option<Buffer>,
    pub resumed: bool,
    /// BoringSSL's early-data outcome was "accepted".
    pub early_data_accepted: bool,
    pub remote_address: String,
    pub remote_port: u32,
    pub max_datagram_size: u32,
    /// The connection travels through a relay (`remote_*` is the relay's).
    pub relayed: bool,
}

/// Limits of a relay (`listen({ relay })`).
#[napi(object)]
pub struct NativeRelayOptions {
    pub max_flows: u32,
    /// Bytes per second per flow; 0 = no limit.
    pub max_flow_rate: f64,
    /// New flows wait for `relayVerdict` (a `RELAY_REQUEST` event asks).
    pub policy: bool,
}

#[napi(object)]
pub struct NativeRelayCounts {
    pub flows: u32,
    pub peers: u32,
}

#[napi(object)]
pub struct NativeAddress {
    pub address: String,
    pub port: u32,
}

#[napi(object)]
pub struct NativePeerCheck {
    pub certificates: Vec<Buffer>,
    pub chain_valid: bool,
    pub chain_error: Option<String>,
    pub chain_error_code: Option<String>,
    pub server_name: Option<String>,
}

#[napi(object)]
pub struct NativeStats {
    pub rtt: f64,
    pub cwnd: f64,
    pub bytes_sent: f64,
    pub bytes_received: f64,
    pub packets_sent: f64,
    pub packets_received: f64,
    pub packets_lost: f64,
    pub datagrams_sent: f64,
    pub datagrams_received: f64,
    /// `sendDatagram` calls that returned false (send queue full).
    pub datagrams_dropped_on_send: f64,
    /// Received datagrams discarded natively (receive queue full).
    pub datagrams_dropped_on_receive: f64,
    /// Sent datagrams declared lost by loss detection.
    pub datagrams_lost: f64,
    /// Validated changes of the active path (RFC 9000 §9): NAT rebindings
    /// and migrations followed.
    pub path_changes: f64,
}

/// `ssl_early_data_accepted` in BoringSSL's `ssl_early_data_reason_t`.
const EARLY_DATA_ACCEPTED: u32 = 2;

/// All QUIC state of one UDP socket. See `endpoint.rs` for the call order.
#[napi]
pub struct NativeEndpoint {
    inner: SharedEndpoint,
    /// The datagrams that were not QUIC in the last `recvBatch`, until
    /// `takeOthers` hands them over.
    others: Vec<NativeDatagram>,
}

#[napi]
impl NativeEndpoint {
    /// `address`/`port`: the socket's bound local address.
    #[napi(constructor)]
    pub fn new(address: String, port: u32) -> napi::Result<Self, ErrorCode> {
        guarded(|| {
            Ok(NativeEndpoint {
                inner: Rc::new(RefCell::new(Endpoint::new(addr::parse(&address, port)?)?)),
                others: Vec::new(),
            })
        })
    }

    /// The per-packet calls as raw Node-API functions bound to this
    /// endpoint (see `fast_calls.rs` for their shapes): `recv`,
    /// `pollEvents`, `flush`, `openStream`, `streamWrite`, `sendDatagram`.
    #[napi(ts_return_type = "object")]
    pub fn fast_calls(&self, env: Env) -> napi::Result<Object<'_>, ErrorCode> {
        guarded(|| {
            // SAFETY: `env` is this call's environment.
            let object = unsafe { fast_calls::create(env.raw(), &self.inner)? };
            Ok(Object::from_raw(env.raw(), object))
        })
    }

    /// Accepts incoming connections with `config` (a server config).
    #[napi]
    pub fn listen(
        &mut self,
        config: &NativeConfig,
        max_connections: Option<u32>,
    ) -> napi::Result<(), ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| {
            if !config.inner.borrow().is_server {
                return Err(CoreError::new(
                    ErrorCode::InvalidArgValue,
                    "listen() needs a server config",
                ));
            }
            let max = max_connections.map_or(usize::MAX, |m| m as usize);
            inner.set_server(Some(config.inner.clone()), max);
            Ok(())
        })
    }

    /// Stops accepting; server connections still in their handshake are
    /// refused (CONNECTION_REFUSED).
    #[napi]
    pub fn stop_listening(&mut self) {
        let mut inner = self.inner.borrow_mut();
        inner.stop_listening();
    }

    /// Starts a client connection; returns its handle. `serverName` goes
    /// into SNI; `verifyName` (a host name or IP literal) is what the
    /// server's certificate must name.
    #[napi]
    pub fn connect(
        &mut self,
        config: &NativeConfig,
        address: String,
        port: u32,
        server_name: Option<String>,
        verify_name: Option<String>,
        session_ticket: Option<Buffer>,
    ) -> napi::Result<u32, ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| {
            require_client_config(config)?;
            let peer = addr::parse(&address, port)?;
            let expected = verify_name.map(|name| match name.parse() {
                Ok(ip) => Expected::Ip(ip),
                Err(_) => Expected::Name(name),
            });
            inner.connect(
                &config.inner,
                server_name.as_deref(),
                expected,
                session_ticket.as_deref(),
                peer,
            )
        })
    }

    /// Starts a client connection whose server is verified by the SHA-256
    /// `fingerprint` (64 hex digits) of its leaf certificate instead of a
    /// name (a dial by key); returns its handle.
    #[napi]
    pub fn connect_pinned(
        &mut self,
        config: &NativeConfig,
        address: String,
        port: u32,
        fingerprint: String,
        server_name: Option<String>,
        session_ticket: Option<Buffer>,
    ) -> napi::Result<u32, ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| {
            require_client_config(config)?;
            let peer = addr::parse(&address, port)?;
            let expected = Expected::Fingerprint(parse_fingerprint(&fingerprint)?);
            inner.connect(
                &config.inner,
                server_name.as_deref(),
                Some(expected),
                session_ticket.as_deref(),
                peer,
            )
        })
    }

    /// The built-in check of a peer waiting for the application's verdict
    /// (after a `VERIFY` event); `null` when there is none.
    #[napi]
    pub fn peer_check(&mut self, conn: u32) -> Option<NativePeerCheck> {
        verify::take_request(conn).map(|c| NativePeerCheck {
            certificates: c.certificates.into_iter().map(Buffer::from).collect(),
            chain_valid: c.chain_valid,
            chain_error_code: c.chain_error.as_ref().map(|e| e.0.to_string()),
            chain_error: c.chain_error.map(|e| e.1),
            server_name: c.server_name,
        })
    }

    /// Accepts (`reason` null) or refuses a peer after `peerCheck`.
    #[napi]
    pub fn set_verdict(
        &mut self,
        conn: u32,
        reason: Option<String>,
    ) -> napi::Result<(), ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| {
            let refusal = reason.map(|r| {
                (
                    "ERR_QUIC_CERT_REFUSED",
                    format!("the verify callback refused the peer: {r}"),
                )
            });
            inner.set_verdict(conn, refusal)
        })
    }

    /// Linux fast path (`io/batch_recv.rs`): reads up to `max` datagrams
    /// queued on socket `fd` (the `dgram` socket's descriptor) and feeds the
    /// QUIC ones in. Returns `-errno` when the first read failed (`EAGAIN`:
    /// the queue was empty), else `read * 4 + backlog * 2 + others`: the
    /// datagrams read; whether reading stopped early because a connection has
    /// a backlog of datagrams (see `NativeRecvBatch`); whether some were not
    /// QUIC (`takeOthers` hands them over). A number, not an object: this
    /// runs on every busy event-loop turn. `flags`: bit 0 (`whole`) reads
    /// on despite a backlog (to empty the queue of GRO buffers before libuv
    /// reads again, or a turn at libuv's pace); bit 1: GRO was turned off
    /// while GRO buffers may still be queued, whose segment size is then
    /// found from their packets (`batch_recv::infer_segment`). `batch`:
    /// messages per `recvmmsg`, 1 to 32 (default 32).
    #[napi]
    pub fn recv_batch(
        &mut self,
        fd: i32,
        max: u32,
        flags: Option<u32>,
        batch: Option<u32>,
    ) -> napi::Result<f64, ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| {
            let flags = flags.unwrap_or(0);
            let reading = batch_recv::Reading {
                max: max as usize,
                batch: batch.map_or(batch_recv::BATCH, |b| b as usize),
                unsized_gro: flags & 2 != 0,
            };
            let batch = batch_recv::recv_into(&mut inner, fd, reading, flags & 1 != 0);
            if batch.errno != 0 {
                return Ok(-f64::from(batch.errno));
            }
            let others = !batch.others.is_empty();
            self.others = batch.others;
            Ok(f64::from(batch.read) * 4.0
                + f64::from(u8::from(batch.backlog)) * 2.0
                + f64::from(u8::from(others)))
        })
    }

    /// The datagrams of the last `recvBatch` that were not QUIC, in arrival
    /// order (once).
    #[napi]
    pub fn take_others(&mut self) -> Vec<NativeDatagram> {
        std::mem::take(&mut self.others)
    }

    /// The large stream data of the last poll, in row order: a
    /// `STREAM_DATA` row whose inbox offset is negative (`-1 - index`) has
    /// its bytes here (see `EventSink::with_chunks`).
    #[napi]
    pub fn take_chunks(&mut self) -> Vec<Buffer> {
        let mut inner = self.inner.borrow_mut();
        inner.take_chunks().into_iter().map(Buffer::from).collect()
    }

    #[napi]
    pub fn has_pending_events(&self) -> bool {
        let inner = self.inner.borrow();
        inner.has_pending_events()
    }

    /// Milliseconds until the earliest deadline; -1 when none.
    #[napi]
    pub fn next_timeout(&self) -> f64 {
        let inner = self.inner.borrow();
        inner.next_timeout().unwrap_or(-1.0)
    }

    #[napi]
    pub fn on_timeout(&mut self) -> napi::Result<u32, ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| Ok(inner.on_timeout() as u32))
    }

    #[napi]
    pub fn take_close_info(&mut self, conn: u32) -> Option<NativeCloseInfo> {
        let mut inner = self.inner.borrow_mut();
        inner.take_close_info(conn).map(Into::into)
    }

    #[napi]
    pub fn connection_info(&self, conn: u32) -> napi::Result<NativeConnectionInfo, ErrorCode> {
        let inner = self.inner.borrow();
        guarded(|| {
            let c = inner.connection(conn)?;
            let q = &c.quic;
            let peer = inner.network_peer(conn);
            Ok(NativeConnectionInfo {
                relayed: inner.is_relayed(conn),
                alpn: String::from_utf8_lossy(q.application_proto()).into_owned(),
                server_name: q.server_name().map(str::to_string),
                peer_certificates: q
                    .peer_cert_chain()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|der| Buffer::from(der.to_vec()))
                    .collect(),
                session_ticket: q.session().map(|s| Buffer::from(s.to_vec())),
                resumed: q.is_resumed(),
                early_data_accepted: q.early_data_reason() == EARLY_DATA_ACCEPTED,
                remote_address: peer.map(|p| p.ip().to_string()).unwrap_or_default(),
                remote_port: peer.map_or(0, |p| u32::from(p.port())),
                max_datagram_size: c.max_datagram_size() as u32,
            })
        })
    }

    #[napi]
    pub fn stats(&self, conn: u32) -> napi::Result<NativeStats, ErrorCode> {
        let inner = self.inner.borrow();
        guarded(|| {
            let c = inner.connection(conn)?;
            let q = &c.quic;
            let s = q.stats();
            let path = q.path_stats().find(|p| p.active);
            let datagrams_lost = c.paths.datagrams_lost(q);
            Ok(NativeStats {
                rtt: path.as_ref().map_or(0.0, |p| p.rtt.as_secs_f64() * 1000.0),
                cwnd: path.as_ref().map_or(0.0, |p| p.cwnd as f64),
                bytes_sent: s.sent_bytes as f64,
                bytes_received: s.recv_bytes as f64,
                packets_sent: s.sent as f64,
                packets_received: s.recv as f64,
                packets_lost: s.lost as f64,
                datagrams_sent: s.dgram_sent as f64,
                datagrams_received: c.datagrams_received() as f64,
                datagrams_dropped_on_send: c.datagrams_send_dropped as f64,
                datagrams_dropped_on_receive: c.datagrams_recv_dropped() as f64,
                datagrams_lost: datagrams_lost as f64,
                path_changes: c.paths.changes() as f64,
            })
        })
    }

    #[napi]
    pub fn max_datagram_size(&self, conn: u32) -> napi::Result<u32, ErrorCode> {
        let inner = self.inner.borrow();
        guarded(|| Ok(inner.connection(conn)?.max_datagram_size() as u32))
    }

    /// Closes a connection with an application (or transport) code.
    #[napi]
    pub fn close(
        &mut self,
        conn: u32,
        application: bool,
        code: f64,
        reason: String,
    ) -> napi::Result<(), ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| {
            let code = to_u64("code", code)?;
            let c = inner.connection_mut(conn)?;
            c.close(application, code, reason.as_bytes());
            Ok(())
        })
    }

    /// `write`: RESET_STREAM (true) or STOP_SENDING (false).
    #[napi]
    pub fn stream_shutdown(
        &mut self,
        conn: u32,
        stream: f64,
        write: bool,
        code: f64,
    ) -> napi::Result<(), ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| {
            let stream = stream_id(stream)?;
            let code = to_u64("code", code)?;
            inner
                .connection_mut(conn)?
                .stream_shutdown(stream, write, code)
        })
    }

    #[napi]
    pub fn stream_set_paused(
        &mut self,
        conn: u32,
        stream: f64,
        paused: bool,
    ) -> napi::Result<(), ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| {
            let stream = stream_id(stream)?;
            inner
                .connection_mut(conn)?
                .stream_set_paused(stream, paused);
            Ok(())
        })
    }

    /// RFC 9218-style priority: lower urgency first (0-7, default 3);
    /// incremental streams of equal urgency are interleaved.
    #[napi]
    pub fn stream_set_priority(
        &mut self,
        conn: u32,
        stream: f64,
        urgency: u32,
        incremental: bool,
    ) -> napi::Result<(), ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| {
            let stream = stream_id(stream)?;
            let urgency = u8::try_from(urgency)
                .ok()
                .filter(|u| *u <= 7)
                .ok_or_else(|| {
                    CoreError::new(
                        ErrorCode::OutOfRange,
                        "urgency must be an integer from 0 to 7",
                    )
                })?;
            inner
                .connection_mut(conn)?
                .stream_set_priority(stream, urgency, incremental)
        })
    }

    /// The current session ticket (client), for resuming later.
    #[napi]
    pub fn session_ticket(&self, conn: u32) -> napi::Result<Option<Buffer>, ErrorCode> {
        let inner = self.inner.borrow();
        guarded(|| {
            Ok(inner
                .connection(conn)?
                .quic
                .session()
                .map(|s| Buffer::from(s.to_vec())))
        })
    }

    /// Streams of a connection that the native layer still tracks (debug).
    #[napi]
    pub fn stream_count(&self, conn: u32) -> napi::Result<u32, ErrorCode> {
        let inner = self.inner.borrow();
        guarded(|| Ok(inner.connection(conn)?.streams.len() as u32))
    }

    /// Queues the datagrams JavaScript batched since its last flush: `rows`
    /// of `[connection, offset, length]` into `data`, `count` of them, in
    /// order. Each was checked against what `send_datagram` reported, so a
    /// failure means its connection ended or changed path meanwhile: it is
    /// dropped (and counted as such while the connection lives). Returns how
    /// many were queued.
    #[napi]
    pub fn send_datagrams(
        &mut self,
        data: BufferSlice,
        rows: Uint32ArraySlice,
        count: u32,
    ) -> napi::Result<u32, ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| {
            let mut queued = 0;
            let (rows, _) = rows.as_chunks::<3>();
            let rows = &rows[..rows.len().min(count as usize)];
            // One look-up per run of the same connection's datagrams.
            for run in rows.chunk_by(|a, b| a[0] == b[0]) {
                let Ok(conn) = inner.connection_for_send(run[0][0]) else {
                    continue;
                };
                for &[_, start, len] in run {
                    let (start, len) = (start as usize, len as usize);
                    let Some(datagram) = data.get(start..start.saturating_add(len)) else {
                        continue;
                    };
                    if conn.datagram_send_batched(datagram) {
                        queued += 1;
                    }
                }
            }
            Ok(queued)
        })
    }

    /// The peer's current address (it changes when the peer migrates or its
    /// NAT rebinds).
    #[napi]
    pub fn remote_address(&self, conn: u32) -> napi::Result<NativeAddress, ErrorCode> {
        let inner = self.inner.borrow();
        guarded(|| {
            inner.connection(conn)?;
            let peer = inner.network_peer(conn).ok_or_else(|| {
                CoreError::new(ErrorCode::ConnectionClosed, "the connection has no path")
            })?;
            Ok(NativeAddress {
                address: peer.ip().to_string(),
                port: u32::from(peer.port()),
            })
        })
    }

    /// Moves client connection `conn` from `from` (another socket's
    /// endpoint) to this one, migrating its path to this socket.
    #[napi]
    pub fn adopt(&mut self, from: &mut NativeEndpoint, conn: u32) -> napi::Result<(), ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| inner.adopt(&mut from.inner.borrow_mut(), conn))
    }

    /// Closes every connection (application code `code`), including ones the
    /// application has not seen yet.
    #[napi]
    pub fn close_all(&mut self, code: f64, reason: String) -> napi::Result<(), ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| {
            let code = to_u64("code", code)?;
            inner.close_all(code, reason.as_bytes());
            Ok(())
        })
    }

    /// Forgets every connection once the socket is closed (nothing can be
    /// sent or received any more).
    #[napi]
    pub fn shutdown(&mut self) {
        let mut inner = self.inner.borrow_mut();
        inner.shutdown();
    }

    /// Makes this socket's server a relay; `null` stops relaying new flows.
    #[napi]
    pub fn enable_relay(
        &mut self,
        options: Option<NativeRelayOptions>,
    ) -> napi::Result<(), ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| {
            let limits = match options {
                Some(o) => Some(RelayLimits {
                    max_flows: o.max_flows as usize,
                    flow_rate: to_u64("options.relay.maxFlowRate", o.max_flow_rate)?,
                    policy: o.policy,
                }),
                None => None,
            };
            inner.enable_relay(limits);
            Ok(())
        })
    }

    /// Asks the relay at the other end of `conn` to make this socket
    /// reachable through it (a `RELAY_REGISTERED` event answers).
    #[napi]
    pub fn relay_register(&mut self, conn: u32) -> napi::Result<(), ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| inner.relay_register(conn))
    }

    /// Opens a connection through the relay at the other end of `via` to the
    /// peer whose leaf certificate has SHA-256 `fingerprint` (64 hex digits).
    #[napi]
    pub fn connect_relayed(
        &mut self,
        config: &NativeConfig,
        via: u32,
        fingerprint: String,
        server_name: Option<String>,
        session_ticket: Option<Buffer>,
    ) -> napi::Result<u32, ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| {
            require_client_config(config)?;
            let fingerprint = parse_fingerprint(&fingerprint)?;
            inner.connect_relayed(
                &config.inner,
                via,
                fingerprint,
                server_name.as_deref(),
                session_ticket.as_deref(),
            )
        })
    }

    /// The relay policy's answer about a flow (after `RELAY_REQUEST`).
    #[napi]
    pub fn relay_verdict(&mut self, key: f64, allow: bool) -> napi::Result<(), ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| {
            let key = to_u64("key", key)?;
            inner.relay_verdict(key, allow);
            Ok(())
        })
    }

    /// Makes this socket's server a rendezvous (`listen({ rendezvous })`):
    /// connections it accepts carry signalling.
    #[napi]
    pub fn enable_rendezvous(&mut self, on: bool) {
        let mut inner = self.inner.borrow_mut();
        inner.enable_rendezvous(on);
    }

    /// Sends one rendezvous signalling message on `conn`, reliably (a
    /// `SIGNAL` event delivers it at the other end). `false` when too many
    /// of its messages are still unacknowledged.
    #[napi]
    pub fn signal_send(
        &mut self,
        conn: u32,
        message: BufferSlice,
    ) -> napi::Result<bool, ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| inner.signal_send(conn, &message))
    }

    /// Rendezvous side: makes the registered peer at the other end of `conn`
    /// reachable through this socket's relay too. Returns whether it is.
    #[napi]
    pub fn relay_add_target(&mut self, conn: u32) -> napi::Result<bool, ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| inner.relay_add_target(conn))
    }

    /// Flows this socket relays now and peers registered with it.
    #[napi]
    pub fn relay_counts(&self) -> NativeRelayCounts {
        let inner = self.inner.borrow();
        let (flows, peers) = inner.relay_counts();
        NativeRelayCounts {
            flows: flows as u32,
            peers: peers as u32,
        }
    }

    /// Live connections, including those still draining (for leak checks).
    #[napi]
    pub fn connection_count(&self) -> u32 {
        let inner = self.inner.borrow();
        inner.connection_count() as u32
    }

    /// WebTransport, server: answers a session's request (`WT_REQUEST`)
    /// with an HTTP status; 2xx establishes it.
    #[napi]
    pub fn wt_respond(
        &mut self,
        conn: u32,
        session: f64,
        status: u32,
    ) -> napi::Result<(), ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| {
            let session = stream_id(session)?;
            let status = u16::try_from(status).unwrap_or(0);
            inner.connection_mut(conn)?.wt_respond(session, status)
        })
    }

    /// WebTransport, client: opens a session at `https://{authority}{path}`
    /// with extra request headers (`[name, value, name, value, …]`); returns
    /// its ID. `WT_RESPONSE` answers.
    #[napi]
    pub fn wt_connect(
        &mut self,
        conn: u32,
        authority: String,
        path: String,
        headers: Vec<String>,
    ) -> napi::Result<f64, ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| {
            let pairs: Vec<(String, String)> = headers
                .chunks(2)
                .map(|p| (p[0].clone(), p.get(1).cloned().unwrap_or_default()))
                .collect();
            let c = inner.connection_mut(conn)?;
            Ok(c.wt_connect(&authority, &path, &pairs)? as f64)
        })
    }

    /// WebTransport: closes a session (CLOSE_WEBTRANSPORT_SESSION capsule).
    #[napi]
    pub fn wt_close_session(
        &mut self,
        conn: u32,
        session: f64,
        code: u32,
        reason: String,
    ) -> napi::Result<(), ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| {
            let session = stream_id(session)?;
            inner
                .connection_mut(conn)?
                .wt_close_session(session, code, &reason)
        })
    }

    /// WebTransport: ties a just-opened local stream to a session; returns
    /// the header bytes the stream must start with.
    #[napi]
    pub fn wt_bind_stream(
        &mut self,
        conn: u32,
        stream: f64,
        session: f64,
    ) -> napi::Result<Buffer, ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| {
            let (stream, session) = (stream_id(stream)?, stream_id(session)?);
            let c = inner.connection_mut(conn)?;
            Ok(Buffer::from(c.wt_bind_stream(stream, session)?))
        })
    }

    /// WebTransport: sends a datagram of a session; false when the queue is full.
    #[napi]
    pub fn wt_send_datagram(
        &mut self,
        conn: u32,
        session: f64,
        data: BufferSlice,
    ) -> napi::Result<bool, ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| {
            let session = stream_id(session)?;
            inner.connection_mut(conn)?.wt_send_datagram(session, &data)
        })
    }

    /// WebTransport: the largest datagram payload a session can send now.
    #[napi]
    pub fn wt_max_datagram_size(
        &mut self,
        conn: u32,
        session: f64,
    ) -> napi::Result<u32, ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| {
            let session = stream_id(session)?;
            let c = inner.connection_mut(conn)?;
            Ok(c.wt_max_datagram_size(session)? as u32)
        })
    }

    /// WebTransport, server: sends GOAWAY (later requests are refused).
    #[napi]
    pub fn wt_goaway(&mut self, conn: u32) -> napi::Result<(), ErrorCode> {
        let mut inner = self.inner.borrow_mut();
        guarded(|| inner.connection_mut(conn)?.wt_goaway())
    }

    /// WebTransport: live sessions of a connection (for leak checks).
    #[napi]
    pub fn wt_session_count(&self, conn: u32) -> napi::Result<u32, ErrorCode> {
        let inner = self.inner.borrow();
        guarded(|| Ok(inner.connection(conn)?.wt_session_count() as u32))
    }
}

fn require_client_config(config: &NativeConfig) -> CoreResult<()> {
    if config.inner.borrow().is_server {
        return Err(CoreError::new(
            ErrorCode::InvalidArgValue,
            "connect() needs a client config",
        ));
    }
    Ok(())
}

/// 64 hex digits → 32 bytes.
fn parse_fingerprint(hex: &str) -> CoreResult<[u8; 32]> {
    let bad = || {
        CoreError::new(
            ErrorCode::InvalidArgValue,
            "options.peer must be a SHA-256 fingerprint: 64 hexadecimal digits",
        )
    };
    if hex.len() != 64 || !hex.is_ascii() {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

#[napi(object)]
pub struct CertificateOptions {
    pub subject_alt_names: Option<Vec<String>>,
    pub key_type: Option<String>,
    pub days: Option<u32>,
    pub ca_key: Option<Buffer>,
    pub ca_cert: Option<Buffer>,
    pub is_ca: Option<bool>,
}

#[napi(object)]
pub struct GeneratedCertificate {
    pub key: String,
    pub cert: String,
    pub fingerprint: String,
}

/// Creates a key and an X.509 certificate (PEM), self-signed unless a CA is given.
#[napi]
pub fn generate_certificate(
    options: CertificateOptions,
) -> napi::Result<GeneratedCertificate, ErrorCode> {
    guarded(|| {
        let names = options.subject_alt_names.clone().unwrap_or_default();
        let key_type = KeyType::parse(options.key_type.as_deref().unwrap_or("ecdsa-p256"))?;
        let ca = match (&options.ca_key, &options.ca_cert) {
            (Some(k), Some(c)) => Some((k.as_ref(), c.as_ref())),
            (None, None) => None,
            _ => {
                return Err(CoreError::new(
                    ErrorCode::InvalidArgValue,
                    "options.ca needs both key and cert",
                ))
            }
        };
        let generated = certgen::generate(&CertRequest {
            subject_alt_names: &names,
            key_type,
            days: options.days.unwrap_or(365),
            ca,
            is_ca: options.is_ca.unwrap_or(false),
        })?;
        Ok(GeneratedCertificate {
            fingerprint: certgen::fingerprint(&generated.cert_der),
            key: generated.key_pem,
            cert: generated.cert_pem,
        })
    })
}

/// Panics inside the native layer on purpose, to prove a panic becomes an
/// `ERR_QUIC_INTERNAL` error instead of aborting Node. For tests only.
#[napi]
pub fn debug_panic_for_tests() -> napi::Result<(), ErrorCode> {
    guarded(|| -> CoreResult<()> { panic!("deliberate panic for tests") })
}

/// Why a DER certificate may not be pinned with WebTransport's
/// `serverCertificateHashes` now (`null` when it may).
#[napi]
pub fn web_transport_certificate_problem(der: Uint8Array) -> Option<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    crate::webtransport::certificate::hash_pinning_problem(&der, now)
}

/// SHA-256 of a DER certificate, lowercase hex.
#[napi]
pub fn certificate_fingerprint(der: Uint8Array) -> String {
    certgen::fingerprint(&der)
}

/// Installs the trust anchors clients use when no `ca` is given (PEM list).
#[napi]
pub fn set_default_roots(pems: Vec<String>) -> napi::Result<u32, ErrorCode> {
    guarded(|| {
        let blobs: Vec<Vec<u8>> = pems.into_iter().map(String::into_bytes).collect();
        Ok(tls::set_default_roots(&blobs)? as u32)
    })
}
