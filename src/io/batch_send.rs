//! Optional fast path for outgoing packets (Linux): `sendmmsg(2)` on the
//! descriptor of JavaScript's own `dgram` socket, with UDP GSO
//! (`UDP_SEGMENT`) for runs of equal-sized packets to one destination, so a
//! whole `flush` batch leaves in one or a few system calls instead of one
//! `dgram.send` each.
//!
//! JavaScript asks for it explicitly (`sendPackets`, see
//! `lib/io/batch-send.ts`) and sends whatever this did not send with `dgram`
//! (the portable path). Nothing here opens, binds or reads a socket.

use napi::bindgen_prelude::{BufferSlice, Uint32ArraySlice};
use napi_derive::napi;

/// Errno returned where there is no fast path (not Linux).
pub const ENOSYS: i32 = 38;

/// Sends the first `count` packets of a `flush` batch (`out` and `meta` as
/// in `transmit.rs`) on socket `fd`, an IPv6 socket when `ipv6`. With `gso`,
/// runs of packets to one destination go as one UDP GSO send. Returns how
/// many packets were sent (always a prefix of the batch; send the rest with
/// `dgram`), or a negative errno when none was.
#[napi]
pub fn send_packets(
    fd: i32,
    out: BufferSlice,
    meta: Uint32ArraySlice,
    count: u32,
    ipv6: bool,
    gso: bool,
) -> i32 {
    send(fd, &out, &meta, count as usize, ipv6, gso)
}

#[cfg(not(target_os = "linux"))]
pub fn send(_fd: i32, _out: &[u8], _meta: &[u32], _count: usize, _ipv6: bool, _gso: bool) -> i32 {
    -ENOSYS
}

#[cfg(target_os = "linux")]
pub use linux::send;

#[cfg(target_os = "linux")]
pub(crate) mod linux {
    use std::mem::{size_of, zeroed};

    use crate::transmit::STRIDE;

    /// Messages per `sendmmsg` call.
    const MAX_MESSAGES: usize = 64;
    /// Segments per GSO send (the kernel's `UDP_MAX_SEGMENTS` is at least 64).
    const MAX_SEGMENTS: usize = 64;
    /// Payload bytes per GSO send: one IP datagram's worth, with headers.
    const MAX_GSO_BYTES: usize = 65_000;

    /// Room for one `UDP_SEGMENT` control message (a `u16`), aligned.
    #[repr(C, align(8))]
    #[derive(Clone, Copy)]
    struct Control([u8; 32]);

    /// One packet row: where its bytes are and where it goes.
    #[derive(Clone, Copy, PartialEq, Eq)]
    struct Row {
        off: usize,
        len: usize,
        dest: [u32; 6],
    }

    fn row(out: &[u8], meta: &[u32], i: usize) -> Option<Row> {
        let r = meta.get(i * STRIDE..i * STRIDE + STRIDE)?;
        let (off, len) = (r[0] as usize, r[1] as usize);
        if len == 0 || off.checked_add(len)? > out.len() || r[2] > 0xffff {
            return None;
        }
        let mut dest = [0u32; 6];
        dest.copy_from_slice(&r[2..8]);
        Some(Row { off, len, dest })
    }

    /// The socket address for `dest` (`[port, family, w0..w3]`) on a socket
    /// of the given family; `None` when that socket cannot reach it.
    pub(crate) fn sockaddr(
        dest: &[u32; 6],
        ipv6: bool,
    ) -> Option<(libc::sockaddr_in6, libc::socklen_t)> {
        // SAFETY: all-zero bytes are a valid `sockaddr_in6`.
        let mut sa: libc::sockaddr_in6 = unsafe { zeroed() };
        let port = (dest[0] as u16).to_be();
        let mut words = [dest[2], dest[3], dest[4], dest[5]];
        match (dest[1], ipv6) {
            (4, false) => {
                // SAFETY: `sockaddr_in` is smaller than `sockaddr_in6`, both
                // are plain C structs, and the kernel reads `namelen` bytes.
                let sin = unsafe {
                    &mut *(&mut sa as *mut libc::sockaddr_in6).cast::<libc::sockaddr_in>()
                };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = port;
                sin.sin_addr.s_addr = dest[2].to_be();
                return Some((sa, size_of::<libc::sockaddr_in>() as libc::socklen_t));
            }
            (4, true) => words = [0, 0, 0xffff, dest[2]],
            (6, true) => {}
            (6, false) if dest[2] == 0 && dest[3] == 0 && dest[4] == 0xffff => {
                return sockaddr(&[dest[0], 4, dest[5], 0, 0, 0], false);
            }
            _ => return None,
        }
        sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        sa.sin6_port = port;
        for (i, w) in words.iter().enumerate() {
            sa.sin6_addr.s6_addr[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
        }
        Some((sa, size_of::<libc::sockaddr_in6>() as libc::socklen_t))
    }

    /// How many packets from `first` (at `rows[0]`) go in one GSO send:
    /// contiguous in `out`, same destination, same size except a shorter last.
    fn run_length(out: &[u8], meta: &[u32], from: usize, count: usize, first: &Row) -> usize {
        let mut k = 1;
        let mut end = first.off + first.len;
        while from + k < count && k < MAX_SEGMENTS {
            let Some(next) = row(out, meta, from + k) else {
                break;
            };
            if next.dest != first.dest
                || next.off != end
                || next.len > first.len
                || end - first.off + next.len > MAX_GSO_BYTES
            {
                break;
            }
            k += 1;
            end += next.len;
            if next.len < first.len {
                break;
            }
        }
        k
    }

    fn errno() -> i32 {
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    }

    pub fn send(fd: i32, out: &[u8], meta: &[u32], count: usize, ipv6: bool, gso: bool) -> i32 {
        if fd < 0 {
            return -libc::EBADF;
        }
        let count = count.min(meta.len() / STRIDE);
        let mut done = 0usize;
        // SAFETY (all `zeroed` below): plain C structs and byte arrays, for
        // which all-zero bytes are valid.
        let mut hdrs: [libc::mmsghdr; MAX_MESSAGES] = unsafe { zeroed() };
        let mut iovs: [libc::iovec; MAX_MESSAGES] = unsafe { zeroed() };
        let mut names: [libc::sockaddr_in6; MAX_MESSAGES] = unsafe { zeroed() };
        let mut controls = [Control([0; 32]); MAX_MESSAGES];
        let mut segments = [0usize; MAX_MESSAGES];
        while done < count {
            let mut n = 0;
            let mut p = done;
            while n < MAX_MESSAGES && p < count {
                let Some(first) = row(out, meta, p) else {
                    break;
                };
                let Some((name, namelen)) = sockaddr(&first.dest, ipv6) else {
                    break;
                };
                let k = if gso {
                    run_length(out, meta, p, count, &first)
                } else {
                    1
                };
                let bytes = if k == 1 {
                    first.len
                } else {
                    // The run is contiguous: it ends where its last row ends.
                    match row(out, meta, p + k - 1) {
                        Some(last) => last.off + last.len - first.off,
                        None => break,
                    }
                };
                names[n] = name;
                iovs[n] = libc::iovec {
                    iov_base: out[first.off..].as_ptr() as *mut libc::c_void,
                    iov_len: bytes,
                };
                let h = &mut hdrs[n].msg_hdr;
                h.msg_name = (&mut names[n] as *mut libc::sockaddr_in6).cast();
                h.msg_namelen = namelen;
                h.msg_iov = &mut iovs[n];
                h.msg_iovlen = 1;
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
                if k > 1 {
                    let control = &mut controls[n];
                    h.msg_control = control.0.as_mut_ptr().cast();
                    // SAFETY: the buffer is aligned and big enough for one
                    // `u16` control message, which is all we write.
                    unsafe {
                        h.msg_controllen = libc::CMSG_SPACE(size_of::<u16>() as u32) as _;
                        let c = libc::CMSG_FIRSTHDR(h);
                        if c.is_null() {
                            break;
                        }
                        (*c).cmsg_level = libc::SOL_UDP;
                        (*c).cmsg_type = libc::UDP_SEGMENT;
                        (*c).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as _;
                        let size = first.len as u16;
                        std::ptr::copy_nonoverlapping(
                            size.to_ne_bytes().as_ptr(),
                            libc::CMSG_DATA(c),
                            size_of::<u16>(),
                        );
                    }
                }
                segments[n] = k;
                n += 1;
                p += k;
            }
            if n == 0 {
                break;
            }
            // SAFETY: `hdrs[..n]` point into `names`, `iovs`, `controls` and
            // `out`, all alive and unmoved for the duration of the call.
            let sent = loop {
                let r = unsafe {
                    libc::sendmmsg(fd, hdrs.as_mut_ptr(), n as _, libc::MSG_DONTWAIT as _)
                };
                if r >= 0 {
                    break r;
                }
                let e = errno();
                if e != libc::EINTR {
                    return if done == 0 { -e } else { done as i32 };
                }
            };
            let sent = sent as usize;
            done += segments[..sent.min(n)].iter().sum::<usize>();
            if sent < n {
                break;
            }
        }
        done as i32
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    use super::send;
    use crate::transmit::STRIDE;

    /// Lays out packets of the given sizes back to back, all to `port` on
    /// 127.0.0.1, as `flush` would.
    fn batch(sizes: &[usize], port: u16) -> (Vec<u8>, Vec<u32>) {
        let mut out = Vec::new();
        let mut meta = Vec::new();
        for (i, &len) in sizes.iter().enumerate() {
            let off = out.len() as u32;
            out.extend(std::iter::repeat_n(i as u8, len));
            meta.extend_from_slice(&[off, len as u32, u32::from(port), 4, 0x7f00_0001, 0, 0, 0]);
        }
        (out, meta)
    }

    fn received(rx: &UdpSocket, n: usize) -> Vec<(u8, usize)> {
        let mut buf = [0u8; 2048];
        (0..n)
            .map(|_| {
                let len = rx.recv(&mut buf).expect("recv");
                (buf[0], len)
            })
            .collect()
    }

    #[test]
    fn sends_every_packet_in_order_with_and_without_gso() {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = rx.local_addr().expect("addr").port();
        let sizes = [1350, 1350, 1350, 700, 1200, 1350];
        let expected: Vec<(u8, usize)> = sizes
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u8, l))
            .collect();
        for gso in [false, true] {
            let (out, meta) = batch(&sizes, port);
            let sent = send(tx.as_raw_fd(), &out, &meta, sizes.len(), false, gso);
            assert_eq!(sent, sizes.len() as i32, "gso {gso}");
            assert_eq!(received(&rx, sizes.len()), expected, "gso {gso}");
        }
    }

    #[test]
    fn stops_at_rows_it_cannot_send() {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = rx.local_addr().expect("addr").port();
        let (out, mut meta) = batch(&[100, 100, 100], port);
        // A true IPv6 destination cannot leave an IPv4 socket: stop there.
        meta[STRIDE + 3] = 6;
        meta[STRIDE + 4] = 0x2001_0db8;
        assert_eq!(send(tx.as_raw_fd(), &out, &meta, 3, false, true), 1);
        // An out-of-range row is never read past the buffer.
        meta[1] = 1_000_000;
        assert_eq!(send(tx.as_raw_fd(), &out, &meta, 3, false, true), 0);
        assert_eq!(send(-1, &out, &meta, 3, false, true), -libc::EBADF);
    }

    #[test]
    fn reaches_ipv4_peers_from_a_dual_stack_socket() {
        let Ok(tx) = UdpSocket::bind("[::]:0") else {
            return; // no IPv6 here
        };
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = rx.local_addr().expect("addr").port();
        let (out, meta) = batch(&[1350, 1350, 10], port);
        assert_eq!(send(tx.as_raw_fd(), &out, &meta, 3, true, true), 3);
        assert_eq!(received(&rx, 3), vec![(0, 1350), (1, 1350), (2, 10)]);
    }
}
