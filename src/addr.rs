//! Socket addresses as they cross the boundary: in as `(ip string, port)`,
//! out as five `u32` words (family, then the address in network order) so the
//! hot path never builds strings.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::error::{CoreError, CoreResult, ErrorCode};

/// Parses an IP literal and port. Zone suffixes (`fe80::1%eth0`) are dropped.
pub fn parse(ip: &str, port: u32) -> CoreResult<SocketAddr> {
    let port = u16::try_from(port).map_err(|_| {
        CoreError::new(
            ErrorCode::OutOfRange,
            format!("port {port} is out of range"),
        )
    })?;
    let literal = ip.split('%').next().unwrap_or(ip);
    let ip: IpAddr = literal.parse().map_err(|_| {
        CoreError::new(
            ErrorCode::InvalidArgValue,
            format!("'{ip}' is not an IP address"),
        )
    })?;
    Ok(SocketAddr::new(ip, port))
}

/// Writes `[family, w0, w1, w2, w3]` for `addr`; IPv4 uses `w0` only.
pub fn encode(addr: &SocketAddr, out: &mut [u32]) {
    match addr.ip() {
        IpAddr::V4(v4) => {
            out[0] = 4;
            out[1] = u32::from(v4);
            out[2] = 0;
            out[3] = 0;
            out[4] = 0;
        }
        IpAddr::V6(v6) => {
            out[0] = 6;
            let o = v6.octets();
            for (i, chunk) in o.chunks_exact(4).enumerate() {
                out[1 + i] = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            }
        }
    }
}

/// The canonical form an address is reported in: IPv4-mapped IPv6 addresses
/// become plain IPv4.
pub fn normalize(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), addr.port()),
            None => addr,
        },
        IpAddr::V4(_) => addr,
    }
}

/// Whether `addr` is an unspecified (wildcard) address.
pub fn is_unspecified(addr: &SocketAddr) -> bool {
    match addr.ip() {
        IpAddr::V4(v4) => v4 == Ipv4Addr::UNSPECIFIED,
        IpAddr::V6(v6) => v6 == Ipv6Addr::UNSPECIFIED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_encodes_both_families() {
        let a = parse("127.0.0.1", 4433).expect("v4");
        let mut w = [0u32; 5];
        encode(&a, &mut w);
        assert_eq!(w, [4, 0x7f00_0001, 0, 0, 0]);
        let b = parse("::1", 1).expect("v6");
        encode(&b, &mut w);
        assert_eq!(w, [6, 0, 0, 0, 1]);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            parse("nope", 1).unwrap_err().code,
            ErrorCode::InvalidArgValue
        );
        assert_eq!(parse("::1", 70000).unwrap_err().code, ErrorCode::OutOfRange);
    }

    #[test]
    fn normalizes_mapped_addresses() {
        let a = parse("::ffff:10.1.2.3", 9).expect("mapped");
        assert_eq!(normalize(a), parse("10.1.2.3", 9).expect("v4"));
    }
}
