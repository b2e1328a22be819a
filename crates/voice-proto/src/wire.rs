//! Demultiplexing of voice UDP datagrams and the RTP header parse.
//!
//! One UDP port carries four kinds of datagram, told apart by length and first bytes:
//!
//! - IP discovery: exactly 74 bytes starting `00 01 00 46` (see [`crate::discovery`]).
//!   Its first byte has version bits 0, so it can never be mistaken for RTP.
//! - Keep-alive: exactly 8 bytes. @discordjs/voice sends a little-endian u32 counter and four
//!   zero bytes every 5 s; other clients put other things in them, so any 8-byte datagram
//!   counts. Nothing authenticated is that short (12-byte header + 16-byte tag + 4-byte
//!   counter is the minimum), so there is no ambiguity.
//! - RTCP: version 2 and, per RFC 5761 §4, a second byte whose low seven bits are 72..=76
//!   (packet types 200..=204 with the marker bit position folded in).
//! - RTP: version 2, everything else.
//!
//! For `*_rtpsize` modes the cleartext AAD is the 12-byte fixed header, the CSRC list, and,
//! when the X bit is set, only the 4-byte extension *header* (profile, length in 32-bit
//! words). The extension *body* travels encrypted at the start of the ciphertext, so its
//! length cannot be checked before decryption and is not needed to route the packet.

use crate::crypto::OVERHEAD;

/// Length of an IP discovery request or response.
pub const DISCOVERY_LEN: usize = 74;
/// Length of a UDP keep-alive.
pub const KEEPALIVE_LEN: usize = 8;
/// The RTP fixed header.
pub const RTP_FIXED_HEADER_LEN: usize = 12;

/// What a datagram is, judged from its first bytes and length only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A 74-byte IP discovery request (type 1, length 70).
    DiscoveryRequest,
    /// An 8-byte keep-alive.
    Keepalive,
    /// An RTCP packet (RFC 5761 demultiplexing).
    Rtcp,
    /// An RTP packet; [`parse_rtp`] says whether it is well formed.
    Rtp,
    /// Too short to tell what it is.
    Truncated,
    /// Anything else: wrong RTP version, a discovery *response* sent to us, and so on.
    NotRtp,
}

/// Classifies a datagram.
pub fn classify(datagram: &[u8]) -> Kind {
    match datagram.len() {
        0 | 1 => return Kind::Truncated,
        KEEPALIVE_LEN => return Kind::Keepalive,
        DISCOVERY_LEN if datagram[..4] == [0x00, 0x01, 0x00, 0x46] => {
            return Kind::DiscoveryRequest
        }
        _ => {}
    }
    if datagram[0] >> 6 != 2 {
        return Kind::NotRtp;
    }
    if (72..=76).contains(&(datagram[1] & 0x7f)) {
        Kind::Rtcp
    } else {
        Kind::Rtp
    }
}

/// The routing-relevant part of an RTP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpHeader {
    /// Payload type (seven bits).
    pub payload_type: u8,
    /// RTP sequence number. Informational: replay protection uses the nonce counter, which
    /// is authenticated, rather than this field, which is only AAD.
    pub sequence: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Synchronisation source: which session sent the packet.
    pub ssrc: u32,
    /// Bytes of cleartext AAD at the start of the datagram.
    pub aad_len: usize,
}

/// Why an RTP datagram could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtpError {
    /// Shorter than its header (with CSRCs and extension header) plus tag and counter.
    Truncated,
    /// Not RTP version 2.
    NotRtp,
}

/// Parses the cleartext part of an `*_rtpsize` RTP datagram and checks there is room for
/// the tag and nonce counter after the AAD.
pub fn parse_rtp(datagram: &[u8]) -> Result<RtpHeader, RtpError> {
    if datagram.is_empty() {
        return Err(RtpError::Truncated);
    }
    if datagram[0] >> 6 != 2 {
        return Err(RtpError::NotRtp);
    }
    if datagram.len() < RTP_FIXED_HEADER_LEN {
        return Err(RtpError::Truncated);
    }
    let csrc_count = usize::from(datagram[0] & 0x0f);
    let has_extension = datagram[0] & 0x10 != 0;
    let aad_len = RTP_FIXED_HEADER_LEN + 4 * csrc_count + if has_extension { 4 } else { 0 };
    if datagram.len() < aad_len + OVERHEAD {
        return Err(RtpError::Truncated);
    }
    let be32 = |at: usize| {
        u32::from_be_bytes([
            datagram[at],
            datagram[at + 1],
            datagram[at + 2],
            datagram[at + 3],
        ])
    };
    Ok(RtpHeader {
        payload_type: datagram[1] & 0x7f,
        sequence: u16::from_be_bytes([datagram[2], datagram[3]]),
        timestamp: be32(4),
        ssrc: be32(8),
        aad_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(first: u8, extra: usize) -> Vec<u8> {
        let mut p = vec![first, 0x78, 0, 1, 0, 0, 0, 2, 0xde, 0xad, 0xbe, 0xef];
        p.resize(p.len() + extra, 0);
        p
    }

    #[test]
    fn classifies_each_kind() {
        let mut discovery = vec![0u8; 74];
        discovery[..4].copy_from_slice(&[0, 1, 0, 70]);
        assert_eq!(classify(&discovery), Kind::DiscoveryRequest);
        // A response (type 2) sent to the server is not a request.
        discovery[1] = 2;
        assert_eq!(classify(&discovery), Kind::NotRtp);
        // The legacy 70-byte discovery is no longer answered by Discord either.
        assert_eq!(classify(&[0u8; 70]), Kind::NotRtp);
        assert_eq!(classify(&[1, 0, 0, 0, 0, 0, 0, 0]), Kind::Keepalive);
        assert_eq!(classify(&[0x80]), Kind::Truncated);
        assert_eq!(classify(&[]), Kind::Truncated);
        assert_eq!(classify(&rtp(0x80, 20)), Kind::Rtp);
        for pt in 200..=204u8 {
            let mut p = rtp(0x80, 20);
            p[1] = pt;
            assert_eq!(classify(&p), Kind::Rtcp, "{pt}");
        }
        let mut p = rtp(0x80, 20);
        p[1] = 0x80 | 0x78; // marker bit set, Opus
        assert_eq!(classify(&p), Kind::Rtp);
        assert_eq!(classify(&rtp(0x40, 20)), Kind::NotRtp);
    }

    #[test]
    fn aad_covers_header_csrcs_and_extension_header_only() {
        let p = rtp(0x80, OVERHEAD);
        let h = parse_rtp(&p).unwrap();
        assert_eq!(
            (h.aad_len, h.ssrc, h.sequence, h.timestamp),
            (12, 0xdead_beef, 1, 2)
        );
        assert_eq!(h.payload_type, 0x78);
        // Two CSRCs and an extension header.
        let p = rtp(0x92, 8 + 4 + OVERHEAD);
        assert_eq!(parse_rtp(&p).unwrap().aad_len, 12 + 8 + 4);
        // Fifteen CSRCs, one byte short of room for the tag and counter.
        let p = rtp(0x8f, 60 + OVERHEAD - 1);
        assert_eq!(parse_rtp(&p), Err(RtpError::Truncated));
        assert_eq!(
            parse_rtp(&rtp(0x80, OVERHEAD - 1)),
            Err(RtpError::Truncated)
        );
        assert_eq!(parse_rtp(&[0x80; 5]), Err(RtpError::Truncated));
        assert_eq!(parse_rtp(&rtp(0xc0, 40)), Err(RtpError::NotRtp));
    }
}
