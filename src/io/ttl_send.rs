//! Optional fast path for hole punching (Linux): one datagram with its own
//! IP TTL (IPv4) or hop limit (IPv6), sent with `sendmsg(2)` and an `IP_TTL`
//! / `IPV6_HOPLIMIT` control message on the descriptor of JavaScript's own
//! `dgram` socket. The TTL applies to that packet only, so nothing else on
//! the socket (QUIC packets flushed meanwhile) is affected, and it works for
//! IPv4 peers of a dual-stack socket, whose TTL Node cannot set.
//!
//! JavaScript asks for it explicitly (`lib/io/ttl-send.ts`) and falls back
//! to `dgram` where this returns an error.

use std::net::IpAddr;

use napi_derive::napi;

/// Sends `data` to `address:port` on socket `fd` (an IPv6 socket when
/// `ipv6`) with IP TTL / hop limit `ttl`. Returns the bytes sent, or a
/// negative errno (`-ENOSYS` where there is no fast path).
#[napi]
pub fn send_with_ttl(
    fd: i32,
    data: napi::bindgen_prelude::Uint8Array,
    address: String,
    port: u32,
    ttl: u32,
    ipv6: bool,
) -> i32 {
    let Ok(ip) = address.parse::<IpAddr>() else {
        return -EINVAL;
    };
    if port > 0xffff || ttl == 0 || ttl > 255 {
        return -EINVAL;
    }
    send(fd, &data, ip, port as u16, ttl as u8, ipv6)
}

const EINVAL: i32 = 22;

#[cfg(not(target_os = "linux"))]
pub fn send(_fd: i32, _data: &[u8], _ip: IpAddr, _port: u16, _ttl: u8, _ipv6: bool) -> i32 {
    -super::batch_send::ENOSYS
}

#[cfg(target_os = "linux")]
pub fn send(fd: i32, data: &[u8], ip: IpAddr, port: u16, ttl: u8, ipv6: bool) -> i32 {
    use std::mem::{size_of, zeroed};

    use super::batch_send::linux::sockaddr;

    if fd < 0 {
        return -libc::EBADF;
    }
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    let dest = match ip {
        IpAddr::V4(v4) => [u32::from(port), 4, u32::from(v4), 0, 0, 0],
        IpAddr::V6(v6) => {
            let w = v6.octets();
            let word = |i: usize| u32::from_be_bytes([w[i], w[i + 1], w[i + 2], w[i + 3]]);
            [u32::from(port), 6, word(0), word(4), word(8), word(12)]
        }
    };
    let Some((mut name, namelen)) = sockaddr(&dest, ipv6) else {
        return -libc::EAFNOSUPPORT;
    };
    // The packet leaves through the IPv4 stack for IPv4 destinations, even
    // on a dual-stack socket (Linux accepts IP_TTL there, RFC 3493 §3.7).
    let (level, kind) = match ip {
        IpAddr::V4(_) => (libc::IPPROTO_IP, libc::IP_TTL),
        IpAddr::V6(_) => (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT),
    };
    #[repr(C, align(8))]
    struct Control([u8; 32]);
    let mut control = Control([0; 32]);
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: all-zero bytes are a valid `msghdr`; every pointer set below
    // points into locals that outlive the `sendmsg` call, and the control
    // buffer is aligned and large enough for one `c_int` control message.
    unsafe {
        let mut msg: libc::msghdr = zeroed();
        msg.msg_name = (&mut name as *mut libc::sockaddr_in6).cast();
        msg.msg_namelen = namelen;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(size_of::<libc::c_int>() as u32) as _;
        let c = libc::CMSG_FIRSTHDR(&msg);
        if c.is_null() {
            return -libc::EINVAL;
        }
        (*c).cmsg_level = level;
        (*c).cmsg_type = kind;
        (*c).cmsg_len = libc::CMSG_LEN(size_of::<libc::c_int>() as u32) as _;
        let value = libc::c_int::from(ttl);
        std::ptr::copy_nonoverlapping(
            value.to_ne_bytes().as_ptr(),
            libc::CMSG_DATA(c),
            size_of::<libc::c_int>(),
        );
        loop {
            let r = libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT);
            if r >= 0 {
                return r as i32;
            }
            let e = std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO);
            if e != libc::EINTR {
                return -e;
            }
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    use super::send;

    /// The TTL (IPv4, IP_RECVTTL) or hop limit (IPv6, IPV6_RECVHOPLIMIT) a
    /// received packet carried.
    fn recv_ttl(rx: &UdpSocket) -> (Vec<u8>, i32) {
        use std::mem::{size_of, zeroed};
        let v6 = rx.local_addr().is_ok_and(|a| a.is_ipv6());
        let (level, option, kind) = if v6 {
            (
                libc::IPPROTO_IPV6,
                libc::IPV6_RECVHOPLIMIT,
                libc::IPV6_HOPLIMIT,
            )
        } else {
            (libc::IPPROTO_IP, libc::IP_RECVTTL, libc::IP_TTL)
        };
        let on: libc::c_int = 1;
        let mut buf = [0u8; 64];
        #[repr(C, align(8))]
        struct Control([u8; 64]);
        let mut control = Control([0; 64]);
        // SAFETY: plain socket calls on a live descriptor with local buffers.
        unsafe {
            libc::setsockopt(
                rx.as_raw_fd(),
                level,
                option,
                (&on as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as u32,
            );
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            let mut msg: libc::msghdr = zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.0.as_mut_ptr().cast();
            msg.msg_controllen = control.0.len() as _;
            let n = libc::recvmsg(rx.as_raw_fd(), &mut msg, 0);
            assert!(n >= 0, "recvmsg");
            let mut ttl = -1;
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == level && (*c).cmsg_type == kind {
                    let mut v = [0u8; 4];
                    std::ptr::copy_nonoverlapping(libc::CMSG_DATA(c), v.as_mut_ptr(), 4);
                    ttl = i32::from_ne_bytes(v);
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
            (buf[..n as usize].to_vec(), ttl)
        }
    }

    #[test]
    fn each_packet_carries_its_own_ttl_from_ipv4_and_dual_stack_sockets() {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = rx.local_addr().expect("addr").port();
        let v4 = UdpSocket::bind("127.0.0.1:0").expect("bind");
        assert_eq!(
            send(
                v4.as_raw_fd(),
                b"a",
                "127.0.0.1".parse().unwrap(),
                port,
                3,
                false
            ),
            1
        );
        assert_eq!(recv_ttl(&rx), (b"a".to_vec(), 3));
        v4.send_to(b"b", ("127.0.0.1", port)).expect("send");
        assert_eq!(recv_ttl(&rx).1, 64, "the socket's own TTL is untouched");
        let Ok(dual) = UdpSocket::bind("[::]:0") else {
            return; // no IPv6 here
        };
        for to in ["127.0.0.1", "::ffff:127.0.0.1"] {
            assert_eq!(
                send(dual.as_raw_fd(), b"c", to.parse().unwrap(), port, 2, true),
                1
            );
            assert_eq!(recv_ttl(&rx), (b"c".to_vec(), 2), "to {to}");
        }
        assert_eq!(
            send(-1, b"x", "127.0.0.1".parse().unwrap(), port, 2, false),
            -libc::EBADF
        );
    }

    #[test]
    fn ipv6_packets_carry_their_own_hop_limit() {
        let (Ok(rx), Ok(tx)) = (UdpSocket::bind("[::1]:0"), UdpSocket::bind("[::1]:0")) else {
            return; // no IPv6 loopback here
        };
        let port = rx.local_addr().expect("addr").port();
        assert_eq!(
            send(tx.as_raw_fd(), b"h", "::1".parse().unwrap(), port, 3, true),
            1
        );
        assert_eq!(recv_ttl(&rx), (b"h".to_vec(), 3));
        tx.send_to(b"i", ("::1", port)).expect("send");
        assert_ne!(
            recv_ttl(&rx).1,
            3,
            "the socket's own hop limit is untouched"
        );
    }
}
