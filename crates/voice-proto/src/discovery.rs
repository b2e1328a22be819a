//! IP discovery: how a client behind NAT learns the address and port the server sees.
//!
//! Request and response are both 74 bytes, big-endian:
//!
//! ```text
//! | type u16 (1 = request, 2 = response) | length u16 = 70 | SSRC u32 |
//! | address: 64 bytes of ASCII, NUL-padded | port u16 |
//! ```
//!
//! Clients send zeros in the address and port; the server fills in what it observed.
//! discord.py reads the address up to the first NUL and the port from the last two bytes.

use std::net::SocketAddr;

use crate::wire::DISCOVERY_LEN;

const TYPE_RESPONSE: u16 = 2;
const BODY_LEN: u16 = 70;
const ADDRESS_LEN: usize = 64;

/// The SSRC a discovery request asks about. `request` must be a classified
/// [`crate::wire::Kind::DiscoveryRequest`].
pub fn request_ssrc(request: &[u8]) -> u32 {
    u32::from_be_bytes([request[4], request[5], request[6], request[7]])
}

/// Builds the response for `ssrc` as seen from `observed`.
///
/// An IPv4 address seen through a dual-stack socket (`::ffff:a.b.c.d`) is written in its
/// IPv4 form, which is what the client needs to put in SELECT_PROTOCOL.
pub fn response(ssrc: u32, observed: SocketAddr) -> [u8; DISCOVERY_LEN] {
    let mut packet = [0u8; DISCOVERY_LEN];
    packet[0..2].copy_from_slice(&TYPE_RESPONSE.to_be_bytes());
    packet[2..4].copy_from_slice(&BODY_LEN.to_be_bytes());
    packet[4..8].copy_from_slice(&ssrc.to_be_bytes());
    let mut address = AsciiBuf::default();
    // Writing an IP address cannot fail and never exceeds 45 characters (the longest IPv6
    // form), so it always fits and leaves a terminating NUL.
    let _ = std::fmt::Write::write_fmt(
        &mut address,
        format_args!("{}", observed.ip().to_canonical()),
    );
    packet[8..8 + address.len].copy_from_slice(&address.bytes[..address.len]);
    packet[8 + ADDRESS_LEN..].copy_from_slice(&observed.port().to_be_bytes());
    packet
}

/// A fixed stack buffer to format an address into without allocating.
struct AsciiBuf {
    bytes: [u8; ADDRESS_LEN - 1],
    len: usize,
}

impl Default for AsciiBuf {
    fn default() -> Self {
        AsciiBuf {
            bytes: [0; ADDRESS_LEN - 1],
            len: 0,
        }
    }
}

impl std::fmt::Write for AsciiBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.bytes.len() {
            return Err(std::fmt::Error);
        }
        self.bytes[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses a response the way discord.py's `discover_ip` does.
    fn parse_like_discord_py(packet: &[u8]) -> (String, u16) {
        assert_eq!(packet.len(), 74);
        assert_eq!(packet[1], 0x02);
        let end = packet[8..].iter().position(|&b| b == 0).unwrap() + 8;
        let ip = std::str::from_utf8(&packet[8..end]).unwrap().to_owned();
        let port = u16::from_be_bytes([packet[72], packet[73]]);
        (ip, port)
    }

    #[test]
    fn response_layout() {
        let r = response(0x0102_0304, "192.0.2.7:50000".parse().unwrap());
        assert_eq!(&r[..8], &[0, 2, 0, 70, 1, 2, 3, 4]);
        assert_eq!(parse_like_discord_py(&r), ("192.0.2.7".into(), 50000));
    }

    #[test]
    fn ipv6_and_mapped_addresses() {
        let r = response(1, "[::ffff:198.51.100.1]:9".parse().unwrap());
        assert_eq!(parse_like_discord_py(&r), ("198.51.100.1".into(), 9));
        let longest = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535";
        let r = response(1, longest.parse().unwrap());
        assert_eq!(
            parse_like_discord_py(&r),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe".into(), 65535)
        );
    }

    #[test]
    fn request_ssrc_is_big_endian() {
        let mut req = [0u8; 74];
        req[..8].copy_from_slice(&[0, 1, 0, 70, 0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(request_ssrc(&req), 0xdead_beef);
    }
}
