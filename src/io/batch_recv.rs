//! Optional fast path for incoming packets (Linux): `recvmmsg(2)` on the
//! descriptor of JavaScript's own `dgram` socket.
//!
//! libuv still reads the socket: the first datagram of a queue arrives as a
//! `'message'` event, its `recv` says whether more wait (`queued.rs`), and
//! JavaScript then asks for the rest of the queue here (`recvBatch`, see
//! `lib/io/batch-recv.ts`). QUIC packets go straight to the endpoint, with
//! no Buffer, address object, event or crossing per packet; datagrams that
//! are not QUIC (fixed bit clear: STUN, punches, the application's own) go
//! back to JavaScript in arrival order, with their address formatted as
//! `dgram` formats it.
//!
//! UDP GRO (`set_gro`): with it on, the kernel queues a run of equal-sized
//! datagrams from one sender as one buffer, and a read reports the segment
//! size in a `UDP_GRO` control message; `drain` splits such a buffer into
//! its datagrams again. libuv reads this descriptor too, without asking for
//! the segment size, and datagrams are coalesced when they are queued, not
//! when they are read: so GRO may be on only while JavaScript has stopped
//! libuv's reads, and must be off, with the queue drained here, before
//! libuv reads again (see `lib/io/batch-recv.ts`). The kernel reports the
//! segment size only while GRO is on: a GRO buffer read after it went off
//! is cut where its packets say (`infer_segment`).
//!
//! Nothing here opens, binds or closes a socket, and nothing runs outside
//! the call.

use std::cell::RefCell;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use crate::endpoint::{Endpoint, CID_LEN};

/// Messages per `recvmmsg` call, at most.
pub const BATCH: usize = 32;

/// How one drain reads (see `drain`).
#[derive(Clone, Copy, Debug)]
pub struct Reading {
    /// Datagrams to read at most (a batch already read is handed over whole).
    pub max: usize,
    /// Messages per `recvmmsg`, 1 to `BATCH`.
    pub batch: usize,
    /// GRO buffers queued while GRO was on may be read after it went off,
    /// without their segment size (the kernel attaches it only while GRO is
    /// on): find it from the packets themselves (`infer_segment`).
    pub unsized_gro: bool,
}

/// The segment size of a GRO buffer read without its `UDP_GRO` control
/// message, or `None` when `data` is not one. A GRO buffer holds a run of
/// equally long datagrams from one sender; a run of QUIC short-header
/// packets (RFC 9000 §17.3) each start with a first byte whose two high bits
/// are 01 (not covered by header protection) and then a destination
/// connection ID of `cid_len` bytes that `known` recognizes (one of this
/// endpoint's). The segment size is the first offset where such a packet
/// starts again and from which one starts at every multiple to the end; a
/// single packet matches only if its ciphertext happens to hold one of the
/// IDs there (odds of about 2^-128 for nquic's 16-byte IDs).
pub fn infer_segment(data: &[u8], cid_len: usize, known: impl Fn(&[u8]) -> bool) -> Option<usize> {
    let starts_at = |at: usize| {
        data.get(at).is_some_and(|&b| b & 0xc0 == 0x40)
            && data.get(at + 1..at + 1 + cid_len).is_some_and(&known)
    };
    if cid_len == 0 || data.len() < 2 * (1 + cid_len) || !starts_at(0) {
        return None;
    }
    // A packet holds at least its header and a 16-byte AEAD tag.
    (1 + cid_len + 16..=data.len() - (1 + cid_len)).find(|&segment| {
        starts_at(segment) && (segment..data.len()).step_by(segment).all(starts_at)
    })
}

/// Errno returned where there is no fast path (not Linux).
pub const ENOSYS: i32 = 38;

/// A received datagram that is not QUIC, for JavaScript.
#[napi(object)]
pub struct NativeDatagram {
    pub data: Buffer,
    /// The sender's IP address as `dgram` reports it (`::ffff:` prefix for
    /// IPv4 peers of a dual-stack socket, `%interface` for scoped
    /// link-local addresses).
    pub address: String,
    pub port: u32,
}

/// What one `recvBatch` call did (see `NativeEndpoint::recv_batch`).
pub struct NativeRecvBatch {
    /// Datagrams read (0 when the first read failed: see `errno`).
    pub read: u32,
    /// The errno of a failed first read (`EAGAIN`: the queue was empty), else 0.
    pub errno: i32,
    /// Whether reading stopped early because a connection has a backlog of
    /// datagrams (see `Connection::datagram_backlog`): let the application
    /// take them, and its answers leave, before reading in batches again.
    pub backlog: bool,
    /// The datagrams that were not QUIC, in arrival order.
    pub others: Vec<NativeDatagram>,
}

/// Reads datagrams queued on socket `fd` as `reading` says (a message may
/// be a GRO buffer of many datagrams), and feeds the QUIC ones to
/// `endpoint`. Stops early (after the current `recvmmsg` batch) once a
/// connection has a backlog of datagrams, and reads nothing when a datagram
/// fed since the last poll already found one; with `whole`, reads on
/// regardless (a backlog is still reported).
pub fn recv_into(
    endpoint: &mut Endpoint,
    fd: i32,
    reading: Reading,
    whole: bool,
) -> NativeRecvBatch {
    let mut others = Vec::new();
    let mut backlog = endpoint.take_datagram_backlog();
    if backlog && !whole {
        return NativeRecvBatch {
            read: 0,
            errno: 0,
            backlog,
            others,
        };
    }
    // `infer` reads the routes and `each` feeds packets: never at once.
    let endpoint = RefCell::new(endpoint);
    let infer = |data: &[u8]| infer_segment(data, CID_LEN, |cid| endpoint.borrow().routes(cid));
    let read = drain(fd, reading, infer, |data, from, scope| {
        let mut endpoint = endpoint.borrow_mut();
        if data.is_empty() {
            return true;
        }
        // RFC 9000 §17: every QUIC packet has the fixed bit (0x40) set.
        if data[0] & 0x40 == 0 {
            others.push(NativeDatagram {
                data: data.to_vec().into(),
                address: node_address(&from, scope),
                port: u32::from(from.port()),
            });
        } else {
            endpoint.recv(data, from);
        }
        backlog |= endpoint.take_datagram_backlog();
        whole || !backlog
    });
    NativeRecvBatch {
        read: read.max(0) as u32,
        errno: (-read).max(0),
        backlog,
        others,
    }
}

/// `addr`'s IP the way Node formats a received datagram's address
/// (libuv's `inet_ntop`, then `%` and the interface for a scoped
/// link-local address).
pub fn node_address(addr: &SocketAddr, scope: u32) -> String {
    let v6 = match addr {
        SocketAddr::V4(a) => return a.ip().to_string(),
        SocketAddr::V6(a) => *a.ip(),
    };
    let s = v6.segments();
    // IPv4-compatible addresses (deprecated) keep their dotted tail.
    let mut text = if s[..6] == [0; 6] && s[6] != 0 {
        let o = v6.octets();
        format!("::{}", Ipv4Addr::new(o[12], o[13], o[14], o[15]))
    } else {
        v6.to_string()
    };
    if scope != 0 && s[0] & 0xffc0 == 0xfe80 {
        text.push('%');
        text.push_str(&interface_name(scope));
    }
    text
}

#[cfg(target_os = "linux")]
fn interface_name(index: u32) -> String {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has the IF_NAMESIZE bytes `if_indextoname` may write.
    let name = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if name.is_null() {
        return index.to_string();
    }
    // SAFETY: on success `buf` holds a NUL-terminated name.
    unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

#[cfg(not(target_os = "linux"))]
fn interface_name(index: u32) -> String {
    index.to_string()
}

/// The socket address in `name` (as the kernel wrote it), with the IPv6
/// scope ID apart: routing ignores it, as it ignores the zone of an address
/// given as a string (`addr::parse`).
fn socket_addr(family: i32, port_be: u16, v4_be: u32, v6: [u8; 16]) -> Option<SocketAddr> {
    let port = u16::from_be(port_be);
    if family == AF_INET {
        Some(SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::from(u32::from_be(v4_be)),
            port,
        )))
    } else if family == AF_INET6 {
        Some(SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(v6),
            port,
            0,
            0,
        )))
    } else {
        None
    }
}

const AF_INET: i32 = 2;
#[cfg(target_os = "linux")]
const AF_INET6: i32 = libc::AF_INET6;
#[cfg(not(target_os = "linux"))]
const AF_INET6: i32 = 10;

/// Reads up to `reading.max` datagrams queued on socket `fd` without
/// blocking, at most `reading.batch` messages per `recvmmsg` (a message may
/// be a GRO buffer of many datagrams: a batch already read is handed over
/// whole, so `max` may be passed), and calls `each(payload, from, ipv6_scope_id)` for each, in
/// order; once `each` returns false, no further batch is read. Returns how
/// many were read, or a negative errno when the first read failed.
#[cfg(not(target_os = "linux"))]
pub fn drain(
    _fd: i32,
    _reading: Reading,
    _infer: impl Fn(&[u8]) -> Option<usize>,
    _each: impl FnMut(&mut [u8], SocketAddr, u32) -> bool,
) -> i32 {
    let _ = socket_addr;
    -ENOSYS
}

/// Turns UDP GRO (generic receive offload) on or off on socket `fd`, the
/// `dgram` socket's descriptor: 0, or a negative errno (`ENOSYS` off Linux,
/// `ENOPROTOOPT` before Linux 5.0). Only while libuv does not read the
/// socket: see the module's documentation.
#[napi]
pub fn set_udp_gro(fd: i32, on: bool) -> i32 {
    set_gro(fd, on)
}

/// Turns UDP GRO on or off on socket `fd`; 0, or a negative errno.
#[cfg(not(target_os = "linux"))]
pub fn set_gro(_fd: i32, _on: bool) -> i32 {
    -ENOSYS
}

#[cfg(target_os = "linux")]
pub use linux::{drain, set_gro};

#[cfg(target_os = "linux")]
mod linux {
    use std::cell::RefCell;
    use std::mem::{size_of, zeroed};
    use std::net::SocketAddr;

    use super::socket_addr;

    use super::{Reading, BATCH};
    /// Room for one `UDP_GRO` control message (an `int`), aligned.
    const CONTROL: usize = 32;

    /// Turns UDP GRO on or off on socket `fd`; 0, or a negative errno
    /// (`ENOPROTOOPT` before Linux 5.0).
    pub fn set_gro(fd: i32, on: bool) -> i32 {
        let value: libc::c_int = on.into();
        // SAFETY: `value` is a live `int`, its size given.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_UDP,
                libc::UDP_GRO,
                (&value as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            0
        } else {
            -errno()
        }
    }

    /// The segment size of a GRO buffer (its `UDP_GRO` control message), or
    /// `None` for a plain datagram.
    fn gro_segment(h: &libc::msghdr) -> Option<usize> {
        // SAFETY: the kernel filled `msg_control` up to `msg_controllen`;
        // the CMSG macros stay within it.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(h);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == libc::UDP_GRO {
                    let mut size: libc::c_int = 0;
                    std::ptr::copy_nonoverlapping(
                        libc::CMSG_DATA(c),
                        (&mut size as *mut libc::c_int).cast::<u8>(),
                        size_of::<libc::c_int>(),
                    );
                    return usize::try_from(size).ok().filter(|&s| s > 0);
                }
                c = libc::CMSG_NXTHDR(h, c);
            }
            None
        }
    }
    /// Bytes per message: any UDP payload fits, so nothing is truncated.
    const SLOT: usize = 1 << 16;

    /// `BATCH` slots of `SLOT` bytes, mapped once per thread. The kernel
    /// only touches the pages a datagram lands on, so a slot holding
    /// 1350-byte packets costs one page of memory, not 64 KiB.
    struct Slots {
        base: *mut u8,
    }

    impl Slots {
        fn map() -> Option<Slots> {
            // SAFETY: a fresh private anonymous mapping; no existing memory
            // is affected.
            let base = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    BATCH * SLOT,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            (base != libc::MAP_FAILED).then_some(Slots { base: base.cast() })
        }

        fn slot(&mut self, i: usize) -> &mut [u8] {
            // SAFETY: slot `i < BATCH` lies inside the mapping, which lives
            // as long as `self`; `&mut self` makes the borrow exclusive.
            unsafe { std::slice::from_raw_parts_mut(self.base.add(i * SLOT), SLOT) }
        }
    }

    impl Drop for Slots {
        fn drop(&mut self) {
            // SAFETY: unmaps exactly the mapping made in `map`.
            unsafe { libc::munmap(self.base.cast(), BATCH * SLOT) };
        }
    }

    thread_local! {
        static SLOTS: RefCell<Option<Slots>> = const { RefCell::new(None) };
    }

    fn errno() -> i32 {
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    }

    pub fn drain(
        fd: i32,
        reading: Reading,
        infer: impl Fn(&[u8]) -> Option<usize>,
        mut each: impl FnMut(&mut [u8], SocketAddr, u32) -> bool,
    ) -> i32 {
        let (max, batch) = (reading.max, reading.batch.clamp(1, BATCH));
        if fd < 0 {
            return -libc::EBADF;
        }
        SLOTS.with(|cell| {
            let Ok(mut guard) = cell.try_borrow_mut() else {
                return -libc::EBUSY;
            };
            if guard.is_none() {
                *guard = Slots::map();
            }
            let Some(slots) = guard.as_mut() else {
                return -libc::ENOMEM;
            };
            // SAFETY (all `zeroed` below): plain C structs, for which
            // all-zero bytes are valid.
            let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
            let mut iovs: [libc::iovec; BATCH] = unsafe { zeroed() };
            let mut names: [libc::sockaddr_in6; BATCH] = unsafe { zeroed() };
            let mut controls: [[u64; CONTROL / 8]; BATCH] = [[0; CONTROL / 8]; BATCH];
            let mut read = 0usize;
            let mut more = true;
            while more && read < max {
                let want = (max - read).min(batch);
                for i in 0..want {
                    iovs[i] = libc::iovec {
                        iov_base: slots.slot(i).as_mut_ptr().cast(),
                        iov_len: SLOT,
                    };
                    let h = &mut hdrs[i].msg_hdr;
                    h.msg_name = (&mut names[i] as *mut libc::sockaddr_in6).cast();
                    h.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
                    h.msg_iov = &mut iovs[i];
                    h.msg_iovlen = 1;
                    h.msg_control = controls[i].as_mut_ptr().cast();
                    h.msg_controllen = CONTROL as _;
                    h.msg_flags = 0;
                    hdrs[i].msg_len = 0;
                }
                // SAFETY: `hdrs[..want]` point into `names`, `iovs` and the
                // slots, all alive and unmoved for the duration of the call.
                let got = loop {
                    let r = unsafe {
                        libc::recvmmsg(
                            fd,
                            hdrs.as_mut_ptr(),
                            want as _,
                            libc::MSG_DONTWAIT as _,
                            std::ptr::null_mut(),
                        )
                    };
                    if r >= 0 {
                        break r as usize;
                    }
                    let e = errno();
                    if e != libc::EINTR {
                        return if read == 0 { -e } else { read as i32 };
                    }
                };
                for i in 0..got.min(want) {
                    let len = (hdrs[i].msg_len as usize).min(SLOT);
                    let name = names[i];
                    if hdrs[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                        read += 1;
                        continue; // cannot happen with 64 KiB slots
                    }
                    // The IPv4 view of the same bytes, for AF_INET senders.
                    // SAFETY: `sockaddr_in` is smaller than `sockaddr_in6`
                    // and both are plain C structs.
                    let v4 = unsafe {
                        &*(&name as *const libc::sockaddr_in6).cast::<libc::sockaddr_in>()
                    };
                    let Some(from) = socket_addr(
                        i32::from(name.sin6_family),
                        name.sin6_port,
                        v4.sin_addr.s_addr,
                        name.sin6_addr.s6_addr,
                    ) else {
                        read += 1;
                        continue;
                    };
                    // A GRO buffer holds datagrams of `segment` bytes (the
                    // last one may be shorter). A batch already read is
                    // handed over whole.
                    let data = &mut slots.slot(i)[..len];
                    let segment = gro_segment(&hdrs[i].msg_hdr)
                        .or_else(|| {
                            if reading.unsized_gro {
                                infer(data)
                            } else {
                                None
                            }
                        })
                        .unwrap_or(len)
                        .max(1);
                    for datagram in data.chunks_mut(segment) {
                        more &= each(datagram, from, name.sin6_scope_id);
                        read += 1;
                    }
                    if len == 0 {
                        more &= each(data, from, name.sin6_scope_id);
                        read += 1;
                    }
                }
                if got < want {
                    break; // the queue is empty
                }
            }
            read as i32
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_addresses_as_node_does() {
        let a = |s: &str| s.parse::<SocketAddr>().expect("addr");
        assert_eq!(node_address(&a("127.0.0.1:1"), 0), "127.0.0.1");
        assert_eq!(
            node_address(&a("[::ffff:10.0.0.1]:1"), 0),
            "::ffff:10.0.0.1"
        );
        assert_eq!(node_address(&a("[::1]:1"), 0), "::1");
        assert_eq!(node_address(&a("[::]:1"), 0), "::");
        assert_eq!(node_address(&a("[::1.2.3.4]:1"), 0), "::1.2.3.4");
        assert_eq!(node_address(&a("[2001:db8::1]:1"), 7), "2001:db8::1");
        assert_eq!(
            node_address(&a("[2001:db8:0:1:0:0:0:1]:1"), 0),
            "2001:db8:0:1::1"
        );
        // Scoped link-local: the interface (its index when it has no name).
        assert_eq!(node_address(&a("[fe80::1]:1"), 0), "fe80::1");
        assert!(node_address(&a("[fe80::1]:1"), 999_999).starts_with("fe80::1%"));
    }
}

#[cfg(all(test, target_os = "linux"))]
mod linux_tests {
    use std::net::{SocketAddr, UdpSocket};
    use std::os::fd::AsRawFd;

    use super::{drain, infer_segment, set_gro, Reading, BATCH};

    fn reading(max: usize) -> Reading {
        Reading {
            max,
            batch: BATCH,
            unsized_gro: false,
        }
    }

    fn read_all(rx: &UdpSocket, max: usize) -> (i32, Vec<(Vec<u8>, SocketAddr)>) {
        let mut got = Vec::new();
        let n = drain(
            rx.as_raw_fd(),
            reading(max),
            |_| None,
            |data, from, _| {
                got.push((data.to_vec(), from));
                true
            },
        );
        (n, got)
    }

    #[test]
    fn reads_every_queued_datagram_in_order() {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let to = rx.local_addr().expect("addr");
        let sizes = [1350usize, 1, 0, 65_507, 40, 1200];
        // 60 datagrams, one of them 64 KiB: within the default receive buffer.
        let order: Vec<usize> = (0..60)
            .map(|k| if k == 3 { 3 } else { [0, 1, 2, 4, 5][k % 5] })
            .collect();
        for &i in &order {
            tx.send_to(&vec![i as u8; sizes[i]], to).expect("send");
        }
        // A bound smaller than the queue leaves the rest queued.
        let (n, first) = read_all(&rx, 40);
        assert_eq!(n, 40);
        let (n, rest) = read_all(&rx, 1000);
        assert_eq!(n, 20);
        let all: Vec<_> = first.into_iter().chain(rest).collect();
        let from = tx.local_addr().expect("addr");
        for (k, (data, src)) in all.iter().enumerate() {
            let i = order[k];
            assert_eq!(data.len(), sizes[i], "datagram {k}");
            assert!(data.iter().all(|&b| b == i as u8), "datagram {k}");
            assert_eq!(*src, from);
        }
        // Empty queue; then a closed descriptor.
        assert_eq!(read_all(&rx, 10).0, -libc::EAGAIN);
        assert_eq!(read_all(&rx, 0).0, 0);
        assert_eq!(
            drain(-1, reading(10), |_| None, |_, _, _| true),
            -libc::EBADF
        );
    }

    #[test]
    fn a_stop_ends_the_drain_after_the_batch_already_read() {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let to = rx.local_addr().expect("addr");
        for i in 0..100u8 {
            tx.send_to(&[i; 100], to).expect("send");
        }
        let mut seen = Vec::new();
        let n = drain(
            rx.as_raw_fd(),
            reading(1000),
            |_| None,
            |data, _, _| {
                seen.push(data[0]);
                data[0] != 4
            },
        );
        // The whole first recvmmsg batch is handed over, nothing after it.
        assert!(n > 4 && n < 100, "read {n}");
        assert_eq!(seen, (0..n as u8).collect::<Vec<_>>());
        let (rest, got) = read_all(&rx, 1000);
        assert_eq!(rest, 100 - n);
        assert_eq!(got.first().map(|(d, _)| d[0]), Some(n as u8));
    }

    #[test]
    fn reports_ipv4_senders_of_a_dual_stack_socket_as_mapped() {
        let Ok(rx) = UdpSocket::bind("[::]:0") else {
            return; // no IPv6 here
        };
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = rx.local_addr().expect("addr").port();
        tx.send_to(b"\x40hi", ("127.0.0.1", port)).expect("send");
        let (n, got) = read_all(&rx, 10);
        assert_eq!(n, 1);
        let want: SocketAddr = format!(
            "[::ffff:127.0.0.1]:{}",
            tx.local_addr().expect("addr").port()
        )
        .parse()
        .expect("addr");
        assert_eq!(got[0].1, want);
    }

    /// Sends `data` from `tx` as one GSO send of `segment`-byte datagrams
    /// (the last one shorter), as nquic's batched sends do.
    fn send_segmented(tx: &UdpSocket, to: SocketAddr, data: &[u8], segment: u16) {
        let size = libc::c_int::from(segment);
        // SAFETY: `size` is a live `int`, its size given.
        let r = unsafe {
            libc::setsockopt(
                tx.as_raw_fd(),
                libc::SOL_UDP,
                libc::UDP_SEGMENT,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0, "UDP_SEGMENT");
        tx.send_to(data, to).expect("send");
    }

    #[test]
    fn splits_gro_buffers_into_their_datagrams_in_order() {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let plain = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let to = rx.local_addr().expect("addr");
        assert_eq!(set_gro(rx.as_raw_fd(), true), 0);
        // 7 datagrams of 1000 bytes and one of 300, numbered by their bytes.
        let run: Vec<u8> = (0..7300).map(|i| (i / 1000) as u8).collect();

        // The kernel really queues the run as one buffer: a plain read
        // (libuv's) would take it for one 7300-byte datagram.
        send_segmented(&tx, to, &run, 1000);
        let mut buf = vec![0u8; 65536];
        let (n, _) = rx.recv_from(&mut buf).expect("recv");
        assert_eq!(n, run.len());

        // A plain datagram, the run, another plain one: `drain` hands over
        // 9 datagrams in order, the run cut at its segment size.
        plain.send_to(b"first", to).expect("send");
        send_segmented(&tx, to, &run, 1000);
        plain.send_to(b"last", to).expect("send");
        let (n, got) = read_all(&rx, 100);
        assert_eq!(n, 10);
        assert_eq!(got[0].0, b"first");
        for (k, (data, from)) in got[1..9].iter().enumerate() {
            assert_eq!(data.len(), if k < 7 { 1000 } else { 300 }, "datagram {k}");
            assert!(data.iter().all(|&b| b == k as u8), "datagram {k}");
            assert_eq!(*from, tx.local_addr().expect("addr"));
        }
        assert_eq!(got[9].0, b"last");

        // GRO off: the kernel cuts runs itself; `drain` reads them the same.
        assert_eq!(set_gro(rx.as_raw_fd(), false), 0);
        send_segmented(&tx, to, &run, 1000);
        let (n, got) = read_all(&rx, 100);
        assert_eq!(n, 8);
        assert_eq!(got.iter().map(|(d, _)| d.len()).sum::<usize>(), run.len());
        assert_eq!(set_gro(-1, true), -libc::EBADF);
    }

    #[test]
    fn a_gro_buffer_read_after_gro_went_off_is_cut_by_its_packets() {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let to = rx.local_addr().expect("addr");
        // Six short-header packets of one path: 0x4_ first bytes, the same
        // 16-byte destination connection ID, 1200 bytes each but the last.
        let cid: Vec<u8> = (0..16u8).map(|i| i * 17 + 5).collect();
        let mut run = Vec::new();
        for k in 0..6u8 {
            let len = if k == 5 { 700 } else { 1200 };
            let start = run.len();
            run.push(0x40 | k);
            run.extend_from_slice(&cid);
            run.extend((0..len - 17).map(|i| (i as u8) ^ k));
            assert_eq!(run.len() - start, len);
        }
        assert_eq!(set_gro(rx.as_raw_fd(), true), 0);
        send_segmented(&tx, to, &run, 1200);
        // GRO goes off while the buffer is queued: it is read without its
        // segment size, as one 6700-byte datagram...
        assert_eq!(set_gro(rx.as_raw_fd(), false), 0);
        let (n, got) = read_all(&rx, 100);
        assert_eq!((n, got[0].0.len()), (1, run.len()));
        // ...unless the drain is told to look for the run's packets.
        assert_eq!(set_gro(rx.as_raw_fd(), true), 0);
        send_segmented(&tx, to, &run, 1200);
        assert_eq!(set_gro(rx.as_raw_fd(), false), 0);
        let mut got = Vec::new();
        let reading = Reading {
            max: 100,
            batch: 1,
            unsized_gro: true,
        };
        let infer = |data: &[u8]| infer_segment(data, 16, |id| id == cid);
        let n = drain(rx.as_raw_fd(), reading, infer, |data, _, _| {
            got.push(data.to_vec());
            true
        });
        assert_eq!(n, 6);
        let sizes: Vec<usize> = got.iter().map(Vec::len).collect();
        assert_eq!(sizes, [1200, 1200, 1200, 1200, 1200, 700]);
        assert_eq!(got.concat(), run);
    }
}

#[cfg(test)]
mod infer_tests {
    use super::infer_segment;

    /// `count` packets of `size` bytes (the last `last`), each a short
    /// header with the connection ID `cids[k % cids.len()]`, then `fill`.
    fn run(cids: &[[u8; 16]], size: usize, count: usize, last: usize, fill: u8) -> Vec<u8> {
        let mut out = Vec::new();
        for k in 0..count {
            let len = if k + 1 == count { last } else { size };
            out.push(0x41);
            out.extend_from_slice(&cids[k % cids.len()]);
            out.extend(std::iter::repeat_n(fill, len - 17));
        }
        out
    }

    #[test]
    fn finds_the_segment_size_of_a_run_and_nothing_else() {
        let (a, b) = ([9u8; 16], [7u8; 16]);
        let known = |id: &[u8]| id == a || id == b;
        let infer = |data: &[u8]| infer_segment(data, 16, known);
        assert_eq!(infer(&run(&[a], 1350, 45, 1350, 0xaa)), Some(1350));
        assert_eq!(infer(&run(&[a], 1200, 3, 37, 0xaa)), Some(1200));
        // Two connections to the same peer in one run.
        assert_eq!(infer(&run(&[a, b], 1200, 4, 1200, 0xaa)), Some(1200));
        // One packet, however long; a long header; an unknown ID; too short.
        assert_eq!(infer(&run(&[a], 1350, 1, 1350, 0xaa)), None);
        let mut long = run(&[a], 1200, 3, 1200, 0xaa);
        long[0] = 0xc1;
        assert_eq!(infer(&long), None);
        assert_eq!(infer(&run(&[[1u8; 16]], 1200, 3, 1200, 0xaa)), None);
        assert_eq!(infer(&[0x41; 20]), None);
        assert_eq!(infer(&[]), None);
        // A known ID inside one packet's bytes, not at every multiple.
        let mut inside = run(&[a], 3000, 1, 3000, 0xaa);
        inside[1000] = 0x41;
        inside[1001..1017].copy_from_slice(&a);
        assert_eq!(infer(&inside), None);
    }
}
