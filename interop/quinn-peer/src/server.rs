//! Echo server: bidi streams echoed, uni streams answered on a new uni stream,
//! datagrams echoed. Everything the peer sends is handled without panicking:
//! errors end that stream or connection and are logged to stderr.

use std::net::SocketAddr;
use std::path::PathBuf;

use tokio::io::AsyncReadExt;

use crate::{tls, Error};

/// Largest stream body the server buffers before echoing it.
const MAX_STREAM_BYTES: usize = 64 << 20;
/// Echoes at least this long get a key update half way (see [`serve`]).
const MID_ECHO_UPDATE_BYTES: usize = 1 << 20;

pub struct Options {
    pub listen: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub alpn: String,
    /// Answer every Initial from a not-yet-validated address with a Retry.
    pub retry: bool,
    pub chacha_only: bool,
    /// Force a key update every this many ms (0: never).
    pub key_update_ms: usize,
}

pub async fn run(opts: Options) -> Result<(), Error> {
    let config = tls::server_config(
        &opts.cert.to_string_lossy(),
        &opts.key.to_string_lossy(),
        &opts.alpn,
        opts.chacha_only,
    )?;
    let endpoint = quinn::Endpoint::server(config, opts.listen)?;
    let port = endpoint.local_addr()?.port();
    // One line, flushed: the test harness waits for it.
    println!("LISTENING {port}");
    {
        use std::io::Write;
        std::io::stdout().flush()?;
    }

    tokio::select! {
        _ = accept_loop(endpoint.clone(), opts.retry, opts.key_update_ms) => {}
        _ = stdin_closed() => eprintln!("quinn-peer server: stdin closed, exiting"),
    }
    endpoint.close(0u32.into(), b"server exiting");
    Ok(())
}

/// Resolves when standard input reaches EOF (the parent went away or closed it).
async fn stdin_closed() {
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 256];
    loop {
        match stdin.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

async fn accept_loop(endpoint: quinn::Endpoint, retry: bool, key_update_ms: usize) {
    while let Some(incoming) = endpoint.accept().await {
        let remote = incoming.remote_address();
        let validated = incoming.remote_address_validated();
        if retry && !validated {
            match incoming.retry() {
                Ok(()) => eprintln!("quinn-peer server: sent Retry to {remote}"),
                Err(e) => eprintln!("quinn-peer server: Retry to {remote} failed: {e}"),
            }
            continue;
        }
        tokio::spawn(async move {
            match incoming.await {
                Ok(conn) => {
                    eprintln!(
                        "quinn-peer server: connection from {remote}, alpn {:?}, address validated {validated}",
                        tls::negotiated_alpn(&conn)
                    );
                    let updater = crate::key_updater(conn.clone(), key_update_ms);
                    serve(conn, key_update_ms > 0).await;
                    if let Some(updater) = updater {
                        let n = updater.await.unwrap_or(0);
                        eprintln!("quinn-peer server: {remote}: forced {n} key updates");
                    }
                }
                Err(e) => eprintln!("quinn-peer server: handshake with {remote} failed: {e}"),
            }
        });
    }
}

/// With `mid_echo_updates`, each bidirectional echo of at least
/// [`MID_ECHO_UPDATE_BYTES`] forces one key update once half of it is
/// written, and logs it: the timer's updates may all fall outside a fast
/// transfer.
async fn serve(conn: quinn::Connection, mid_echo_updates: bool) {
    let bidi = {
        let conn = conn.clone();
        async move {
            loop {
                match conn.accept_bi().await {
                    Ok((send, recv)) => {
                        let updates = mid_echo_updates.then(|| conn.clone());
                        tokio::spawn(async move {
                            if let Err(e) = echo_bidi(send, recv, updates).await {
                                eprintln!("quinn-peer server: bidi echo: {e}");
                            }
                        });
                    }
                    Err(e) => return e,
                }
            }
        }
    };
    let uni = {
        let conn = conn.clone();
        async move {
            loop {
                match conn.accept_uni().await {
                    Ok(recv) => {
                        let conn = conn.clone();
                        tokio::spawn(async move {
                            if let Err(e) = echo_uni(&conn, recv).await {
                                eprintln!("quinn-peer server: uni echo: {e}");
                            }
                        });
                    }
                    Err(e) => return e,
                }
            }
        }
    };
    let datagrams = {
        let conn = conn.clone();
        async move {
            loop {
                match conn.read_datagram().await {
                    Ok(d) => {
                        // Dropped echoes are fine (datagrams are unreliable); a
                        // too-large or disabled error would show up as fewer echoes.
                        if let Err(e) = conn.send_datagram(d) {
                            eprintln!("quinn-peer server: datagram echo: {e}");
                        }
                    }
                    Err(e) => return e,
                }
            }
        }
    };
    let reason = tokio::select! {
        e = bidi => e,
        e = uni => e,
        e = datagrams => e,
    };
    eprintln!("quinn-peer server: connection {} ended: {reason}", conn.remote_address());
}

async fn echo_bidi(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    updates: Option<quinn::Connection>,
) -> Result<(), Error> {
    let data = recv.read_to_end(MAX_STREAM_BYTES).await?;
    let (first, second) = data.split_at(data.len() / 2);
    send.write_all(first).await?;
    if let Some(conn) = updates.filter(|_| data.len() >= MID_ECHO_UPDATE_BYTES) {
        conn.force_key_update();
        eprintln!(
            "quinn-peer server: {}: forced a key update mid-echo of {} bytes",
            conn.remote_address(),
            data.len()
        );
    }
    send.write_all(second).await?;
    send.finish()?;
    // Wait until the peer has acknowledged everything (or stopped the stream).
    let _ = send.stopped().await;
    Ok(())
}

async fn echo_uni(conn: &quinn::Connection, mut recv: quinn::RecvStream) -> Result<(), Error> {
    let data = recv.read_to_end(MAX_STREAM_BYTES).await?;
    let mut send = conn.open_uni().await?;
    send.write_all(&data).await?;
    send.finish()?;
    let _ = send.stopped().await;
    Ok(())
}
