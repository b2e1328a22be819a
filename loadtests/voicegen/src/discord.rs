//! The UDP side of Discord voice v8 as a client speaks it to the Spectrus router: the 74-byte
//! IP discovery exchange and RTP sealed in the `*_rtpsize` AEAD modes.
//!
//! A sealed datagram is `RTP header (AAD) | ciphertext | tag (16) | counter (4, BE)`; the
//! nonce is the counter widened with zero bytes to the cipher's nonce size. This is written
//! independently of the router's own code so the benchmark cross-checks it.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::Aes256Gcm;
use chacha20poly1305::XChaCha20Poly1305;

pub const RTP_HEADER: usize = 12;
pub const TAG: usize = 16;
pub const COUNTER: usize = 4;
pub const DISCOVERY_LEN: usize = 74;
/// Discord clients' UDP keepalive: an 8-byte datagram the server echoes.
pub const KEEPALIVE_LEN: usize = 8;
/// RTP payload type Discord uses for Opus.
const OPUS_PT: u8 = 0x78;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Aes256Gcm,
    XChaCha20Poly1305,
}

impl Mode {
    pub fn parse(name: &str) -> Option<Mode> {
        match name {
            "aead_aes256_gcm_rtpsize" => Some(Mode::Aes256Gcm),
            "aead_xchacha20_poly1305_rtpsize" => Some(Mode::XChaCha20Poly1305),
            _ => None,
        }
    }
}

/// One session's AEAD, keyed with that session's own secret.
pub enum Aead {
    Aes(Box<Aes256Gcm>),
    XChaCha(Box<XChaCha20Poly1305>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenError;

impl Aead {
    pub fn new(mode: Mode, key: &[u8; 32]) -> Aead {
        match mode {
            Mode::Aes256Gcm => Aead::Aes(Box::new(
                Aes256Gcm::new_from_slice(key).expect("32-byte key"),
            )),
            Mode::XChaCha20Poly1305 => Aead::XChaCha(Box::new(
                XChaCha20Poly1305::new_from_slice(key).expect("32-byte key"),
            )),
        }
    }

    /// Encrypts `buf[aad_len..]` in place with `buf[..aad_len]` as AAD; returns the tag.
    fn seal(&self, counter: u32, buf: &mut [u8], aad_len: usize) -> [u8; TAG] {
        let (aad, body) = buf.split_at_mut(aad_len);
        let c = counter.to_be_bytes();
        let tag = match self {
            Aead::Aes(a) => {
                let mut n = [0u8; 12];
                n[..4].copy_from_slice(&c);
                a.encrypt_inout_detached(&n.into(), aad, body.into())
            }
            Aead::XChaCha(a) => {
                let mut n = [0u8; 24];
                n[..4].copy_from_slice(&c);
                a.encrypt_inout_detached(&n.into(), aad, body.into())
            }
        }
        .expect("voice packets are far below AEAD length limits");
        tag.into()
    }

    fn open(&self, counter: u32, buf: &mut [u8], aad_len: usize, tag: &[u8; TAG]) -> bool {
        let (aad, body) = buf.split_at_mut(aad_len);
        let c = counter.to_be_bytes();
        match self {
            Aead::Aes(a) => {
                let mut n = [0u8; 12];
                n[..4].copy_from_slice(&c);
                a.decrypt_inout_detached(&n.into(), aad, body.into(), &(*tag).into())
            }
            Aead::XChaCha(a) => {
                let mut n = [0u8; 24];
                n[..4].copy_from_slice(&c);
                a.decrypt_inout_detached(&n.into(), aad, body.into(), &(*tag).into())
            }
        }
        .is_ok()
    }
}

/// The IP discovery request a session sends from its own socket before anything else.
pub fn discovery_request(ssrc: u32) -> [u8; DISCOVERY_LEN] {
    let mut p = [0u8; DISCOVERY_LEN];
    p[0..2].copy_from_slice(&1u16.to_be_bytes());
    p[2..4].copy_from_slice(&70u16.to_be_bytes());
    p[4..8].copy_from_slice(&ssrc.to_be_bytes());
    p
}

pub fn is_discovery_response(p: &[u8]) -> bool {
    p.len() == DISCOVERY_LEN && p[0..2] == 2u16.to_be_bytes() && p[2..4] == 70u16.to_be_bytes()
}

/// Writes a sealed RTP packet into `out` and returns its length.
pub fn seal_rtp(
    aead: &Aead,
    out: &mut [u8],
    seq: u16,
    timestamp: u32,
    ssrc: u32,
    counter: u32,
    payload: &[u8],
) -> usize {
    out[0] = 0x80;
    out[1] = OPUS_PT;
    out[2..4].copy_from_slice(&seq.to_be_bytes());
    out[4..8].copy_from_slice(&timestamp.to_be_bytes());
    out[8..12].copy_from_slice(&ssrc.to_be_bytes());
    let end = RTP_HEADER + payload.len();
    out[RTP_HEADER..end].copy_from_slice(payload);
    let tag = aead.seal(counter, &mut out[..end], RTP_HEADER);
    out[end..end + TAG].copy_from_slice(&tag);
    out[end + TAG..end + TAG + COUNTER].copy_from_slice(&counter.to_be_bytes());
    end + TAG + COUNTER
}

/// An opened RTP packet: the sender's SSRC and the decrypted payload's range in the buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Opened {
    pub ssrc: u32,
    pub payload: std::ops::Range<usize>,
}

/// Opens a sealed RTP datagram in place. CSRCs and the extension header stay in the AAD as
/// rtpsize specifies; an extension body is decrypted and then skipped.
pub fn open_rtp(aead: &Aead, pkt: &mut [u8]) -> Result<Opened, OpenError> {
    let len = pkt.len();
    if len < RTP_HEADER + TAG + COUNTER || pkt[0] & 0xC0 != 0x80 {
        return Err(OpenError);
    }
    let cc = (pkt[0] & 0x0f) as usize;
    let has_ext = pkt[0] & 0x10 != 0;
    let mut aad = RTP_HEADER + 4 * cc;
    if has_ext {
        aad += 4;
    }
    let body_end = len - TAG - COUNTER;
    if aad > body_end {
        return Err(OpenError);
    }
    let counter = u32::from_be_bytes(pkt[len - COUNTER..].try_into().map_err(|_| OpenError)?);
    let tag: [u8; TAG] = pkt[body_end..body_end + TAG]
        .try_into()
        .map_err(|_| OpenError)?;
    if !aead.open(counter, &mut pkt[..body_end], aad, &tag) {
        return Err(OpenError);
    }
    let mut start = aad;
    if has_ext {
        let words = u16::from_be_bytes([pkt[aad - 2], pkt[aad - 1]]) as usize;
        start += 4 * words;
        if start > body_end {
            return Err(OpenError);
        }
    }
    let ssrc = u32::from_be_bytes(pkt[8..12].try_into().map_err(|_| OpenError)?);
    Ok(Opened {
        ssrc,
        payload: start..body_end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_both_modes() {
        for mode in [Mode::Aes256Gcm, Mode::XChaCha20Poly1305] {
            let aead = Aead::new(mode, &[5u8; 32]);
            let payload: Vec<u8> = (0..120).map(|i| i as u8).collect();
            let mut pkt = [0u8; 512];
            let n = seal_rtp(&aead, &mut pkt, 7, 960, 0xABCD, 41, &payload);
            assert_eq!(n, 12 + 120 + 16 + 4);
            assert_eq!(&pkt[n - 4..n], &41u32.to_be_bytes());
            let mut copy = pkt[..n].to_vec();
            let o = open_rtp(&aead, &mut copy).unwrap();
            assert_eq!(o.ssrc, 0xABCD);
            assert_eq!(&copy[o.payload], payload.as_slice());
            // The header is authenticated: changing the sequence breaks the tag.
            let mut bad = pkt[..n].to_vec();
            bad[3] ^= 1;
            assert_eq!(open_rtp(&aead, &mut bad), Err(OpenError));
            // Another session's key cannot open it.
            let other = Aead::new(mode, &[6u8; 32]);
            assert!(open_rtp(&other, &mut pkt[..n].to_vec()).is_err());
        }
    }

    #[test]
    fn discovery_shapes() {
        let req = discovery_request(0x01020304);
        assert_eq!(&req[..8], &[0, 1, 0, 70, 1, 2, 3, 4]);
        let mut resp = req;
        resp[1] = 2;
        assert!(is_discovery_response(&resp));
        assert!(!is_discovery_response(&req));
    }
}
