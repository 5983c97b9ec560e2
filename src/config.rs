//! Options validated once and turned into a `quiche::Config` plus the few
//! settings quiche has no notion of (keep-alive, handshake deadline).

use std::time::Duration;

use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::tls::{self, TlsParams};

/// Largest UDP payload nquic sends (fits common 1500-byte paths with headroom).
pub const MAX_SEND_UDP_PAYLOAD: usize = 1350;
/// Connection IDs each side may keep issued to the other.
pub const ACTIVE_CONNECTION_ID_LIMIT: u64 = 4;
/// Largest UDP payload nquic accepts.
pub const MAX_RECV_UDP_PAYLOAD: usize = 65527;

/// Every knob of a config, already type-checked by the binding.
#[derive(Clone)]
pub struct ConfigParams {
    pub tls: TlsParams,
    pub alpn: Vec<String>,
    pub idle_timeout_ms: u64,
    pub keep_alive_ms: u64,
    pub handshake_timeout_ms: u64,
    pub max_streams_bidi: u64,
    pub max_streams_uni: u64,
    pub stream_window: u64,
    pub connection_window: u64,
    pub datagrams: bool,
    pub datagram_queue_len: usize,
    pub congestion_control: String,
    /// Collect NSS key-log lines (`KEYLOG` events).
    pub keylog: bool,
    /// Collect each connection's qlog (`QLOG` events).
    pub qlog: bool,
    /// Client: send 0-RTT data when resuming; server: accept it.
    pub early_data: bool,
    /// Server: the key that protects session tickets (48 bytes), kept stable
    /// across certificate changes so tickets keep working.
    pub ticket_key: Option<Vec<u8>>,
    /// Server: validate client addresses with a Retry round trip first.
    pub retry: bool,
    /// Server: new handshakes allowed per source IP per second (0 = no limit).
    pub handshake_rate_limit: u32,
    /// WebTransport over HTTP/3 for connections that negotiate `h3`:
    /// `Some(max_sessions)` enables it.
    pub web_transport: Option<u64>,
}

impl Default for ConfigParams {
    fn default() -> Self {
        ConfigParams {
            tls: TlsParams::default(),
            alpn: Vec::new(),
            idle_timeout_ms: 30_000,
            keep_alive_ms: 0,
            handshake_timeout_ms: 10_000,
            max_streams_bidi: 100,
            max_streams_uni: 100,
            stream_window: 1024 * 1024,
            connection_window: 4 * 1024 * 1024,
            datagrams: true,
            datagram_queue_len: 1024,
            congestion_control: "bbr2".into(),
            keylog: false,
            qlog: false,
            early_data: false,
            ticket_key: None,
            retry: false,
            handshake_rate_limit: 500,
            web_transport: None,
        }
    }
}

/// A ready-to-use configuration for new connections.
pub struct Config {
    pub quiche: quiche::Config,
    pub keep_alive: Option<Duration>,
    pub handshake_timeout: Duration,
    pub datagrams: bool,
    /// Datagrams each receive (and send) queue holds.
    pub datagram_queue_len: usize,
    pub is_server: bool,
    pub keylog: bool,
    pub qlog: bool,
    pub retry: bool,
    pub handshake_rate_limit: u32,
    /// Checks the peer of a resumed session as the handshake would have.
    pub verifier: Option<tls::verify::Verifier>,
    /// `Some(max_sessions)`: WebTransport on connections that negotiate `h3`.
    pub web_transport: Option<u64>,
}

fn out_of_range(name: &str, detail: &str) -> CoreError {
    CoreError::new(ErrorCode::OutOfRange, format!("options.{name} {detail}"))
}

fn check_max(name: &str, value: u64, max: u64) -> CoreResult<u64> {
    if value > max {
        return Err(out_of_range(name, &format!("must be at most {max}")));
    }
    Ok(value)
}

/// The smallest flow-control window that lets data flow: quiche grants more
/// credit once less than half of the window is left unused, and half of a
/// 1-byte window is 0 (see `MIN_FLOW_WINDOW` in lib/options.ts).
pub const MIN_FLOW_WINDOW: u64 = 2;

fn check_window(name: &str, value: u64, max: u64) -> CoreResult<u64> {
    if value < MIN_FLOW_WINDOW {
        return Err(out_of_range(
            name,
            &format!("must be at least {MIN_FLOW_WINDOW} (no data could ever flow)"),
        ));
    }
    check_max(name, value, max)
}

impl Config {
    pub fn new(params: &ConfigParams) -> CoreResult<Config> {
        if params.alpn.is_empty() {
            return Err(CoreError::new(
                ErrorCode::InvalidArgValue,
                "options.alpn must list at least one protocol",
            ));
        }
        for proto in &params.alpn {
            if proto.is_empty() || proto.len() > 255 {
                return Err(CoreError::new(
                    ErrorCode::InvalidArgValue,
                    "options.alpn entries must be 1 to 255 bytes long",
                ));
            }
        }
        // quiche's variable-length integers stop at 2^62.
        let varint_max = (1u64 << 62) - 1;
        let max_streams_bidi = check_max("maxStreamsBidi", params.max_streams_bidi, 1 << 60)?;
        let max_streams_uni = check_max("maxStreamsUni", params.max_streams_uni, 1 << 60)?;
        let stream_window = check_window("streamWindow", params.stream_window, varint_max)?;
        let connection_window =
            check_window("connectionWindow", params.connection_window, varint_max)?;

        let (builder, verifier) = tls::build_context(&params.tls)?;
        let mut q = quiche::Config::with_boring_ssl_ctx_builder(quiche::PROTOCOL_VERSION, builder)
            .map_err(|e| CoreError::new(ErrorCode::Tls, format!("quiche config: {e}")))?;

        let protos: Vec<&[u8]> = params.alpn.iter().map(|p| p.as_bytes()).collect();
        q.set_application_protos(&protos).map_err(|e| {
            CoreError::new(ErrorCode::InvalidArgValue, format!("options.alpn: {e}"))
        })?;
        q.set_max_idle_timeout(params.idle_timeout_ms);
        q.set_max_recv_udp_payload_size(MAX_RECV_UDP_PAYLOAD);
        q.set_max_send_udp_payload_size(MAX_SEND_UDP_PAYLOAD);
        q.set_initial_max_data(connection_window);
        q.set_initial_max_stream_data_bidi_local(stream_window);
        q.set_initial_max_stream_data_bidi_remote(stream_window);
        q.set_initial_max_stream_data_uni(stream_window);
        q.set_initial_max_streams_bidi(max_streams_bidi);
        q.set_initial_max_streams_uni(max_streams_uni);
        // Auto-tuning may grow windows up to these ceilings, never below the
        // configured initial window.
        q.set_max_stream_window(stream_window.max(16 * 1024 * 1024));
        q.set_max_connection_window(connection_window.max(24 * 1024 * 1024));
        // Room for the spare connection IDs the endpoint keeps issued (and
        // for the peer's), so that a path change finds a fresh one. (A peer
        // retiring an ID twice, legal when the frame is sent again, is
        // ignored thanks to the quiche#1833 patch whatever the count.)
        q.set_active_connection_id_limit(ACTIVE_CONNECTION_ID_LIMIT);
        q.set_cc_algorithm_name(&params.congestion_control)
            .map_err(|_| {
                CoreError::new(
                    ErrorCode::InvalidArgValue,
                    format!(
                        "options.congestionControl '{}' is not one of cubic, reno, bbr2",
                        params.congestion_control
                    ),
                )
            })?;
        if params.keylog {
            q.log_keys();
        }
        if params.early_data {
            q.enable_early_data();
        }
        if let Some(key) = &params.ticket_key {
            q.set_ticket_key(key).map_err(|e| {
                CoreError::new(ErrorCode::InvalidArgValue, format!("ticket key: {e}"))
            })?;
        }
        if params.datagrams {
            let queue = params.datagram_queue_len.max(1);
            q.enable_dgram(true, queue, queue);
        }

        Ok(Config {
            quiche: q,
            keep_alive: (params.keep_alive_ms > 0)
                .then(|| Duration::from_millis(params.keep_alive_ms)),
            handshake_timeout: Duration::from_millis(params.handshake_timeout_ms.max(1)),
            datagrams: params.datagrams,
            datagram_queue_len: params.datagram_queue_len.max(1),
            is_server: params.tls.is_server,
            keylog: params.keylog,
            qlog: params.qlog,
            retry: params.retry,
            handshake_rate_limit: params.handshake_rate_limit,
            verifier,
            web_transport: params.web_transport,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults the README's Options and Guarantees sections (and docs/options.md) state.
    #[test]
    fn defaults_are_the_documented_ones() {
        let d = ConfigParams::default();
        assert_eq!(d.idle_timeout_ms, 30_000);
        assert_eq!(d.keep_alive_ms, 0);
        assert_eq!(d.handshake_timeout_ms, 10_000);
        assert_eq!((d.max_streams_bidi, d.max_streams_uni), (100, 100));
        assert_eq!(d.stream_window, 1024 * 1024);
        assert_eq!(d.connection_window, 4 * 1024 * 1024);
        assert_eq!(d.datagram_queue_len, 1024);
        assert_eq!(d.congestion_control, "bbr2");
        assert_eq!(d.handshake_rate_limit, 500);
        assert_eq!(crate::tokens::RETRY_TOKEN_LIFETIME.as_secs(), 10);
    }

    #[test]
    fn windows_below_two_bytes_are_refused() {
        for (stream_window, connection_window) in [(0, 4096), (1, 4096), (4096, 0), (4096, 1)] {
            let params = ConfigParams {
                stream_window,
                connection_window,
                alpn: vec!["x".into()],
                ..ConfigParams::default()
            };
            let err = Config::new(&params).err().map(|e| e.code);
            assert_eq!(err, Some(ErrorCode::OutOfRange));
        }
    }
}
