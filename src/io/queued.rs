//! Whether more datagrams wait on JavaScript's own UDP socket: `FIONREAD`
//! (ioctl(2); udp(7): the size of the next queued datagram) on its
//! descriptor. After a `'message'`, this tells a lone datagram, whose events
//! can be handled at once, from a queue, which is read with `recvmmsg`
//! (`batch_recv`) and handled once per event-loop turn (see `#onMessage` in
//! `lib/socket.ts`). About 140 ns on Linux 6 (a cheap system call); off
//! Linux, JavaScript passes no descriptor and this is never asked.

/// Whether a datagram is queued on socket `fd`. False when none is, and when
/// the call fails (a closed descriptor: `EBADF`). A queued empty datagram
/// reads as none; `dgram` then delivers it as a `'message'` of its own.
#[cfg(target_os = "linux")]
pub fn queued(fd: i32) -> bool {
    let mut bytes: libc::c_int = 0;
    // SAFETY: FIONREAD writes one `int`, and `bytes` is a live one.
    let r = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut bytes as *mut libc::c_int) };
    r == 0 && bytes > 0
}

/// Off Linux no descriptor is passed (the fast paths are Linux-only).
#[cfg(not(target_os = "linux"))]
pub fn queued(_fd: i32) -> bool {
    false
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    use super::queued;

    #[test]
    fn tells_a_queued_datagram_from_an_empty_queue() {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        assert!(!queued(rx.as_raw_fd()));
        tx.send_to(b"one", rx.local_addr().expect("addr"))
            .expect("send");
        // Loopback delivery completes within send_to.
        assert!(queued(rx.as_raw_fd()));
        let mut buf = [0u8; 8];
        rx.recv_from(&mut buf).expect("recv");
        assert!(!queued(rx.as_raw_fd()));
    }

    #[test]
    fn a_closed_descriptor_is_no_queue() {
        let fd = UdpSocket::bind("127.0.0.1:0").expect("bind").as_raw_fd();
        // The socket is dropped (closed) at the end of the statement above.
        assert!(!queued(fd));
        assert!(!queued(-1));
    }
}
