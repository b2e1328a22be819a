//! Mumble 1.3's UDP voice encryption: OCB2 over AES-128 with Mumble's `CryptState` packet
//! framing (one IV byte and a 3-byte tag prefix before the ciphertext) and its IV window.
//!
//! Written from the OCB2 construction (draft-krovetz-ocb-00) and Mumble's documented layout.
//! It includes the XEX* countermeasure Mumble 1.3.1+ applies (eprint 2019/311, section 9): a
//! sender flips one bit of a second-to-last block that is all zero but its last byte, and a
//! receiver refuses a last block equal to `delta` in its first 15 bytes. Our payloads carry
//! random bytes, so neither path triggers in practice, but a murmurd would drop such packets.

use aes::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use aes::Aes128;

pub const BLOCK: usize = 16;
/// Bytes a sealed packet carries before the ciphertext: IV low byte + 3 tag bytes.
pub const HEADER: usize = 4;

type Block = [u8; BLOCK];

/// Multiplication by x in GF(2^128) with OCB2's big-endian bit order ("S2" in Mumble).
fn times2(b: &mut Block) {
    let v = u128::from_be_bytes(*b);
    let carry = (v >> 127) as u8;
    let mut r = (v << 1).to_be_bytes();
    r[BLOCK - 1] ^= carry * 0x87;
    *b = r;
}

/// Multiplication by x+1 ("S3"): b ^ 2b.
fn times3(b: &mut Block) {
    let mut d = *b;
    times2(&mut d);
    xor_into(b, &d);
}

fn xor_into(dst: &mut Block, src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d ^= s;
    }
}

fn aes_enc(cipher: &Aes128, b: &mut Block) {
    let mut a = Array::from(*b);
    cipher.encrypt_block(&mut a);
    *b = a.into();
}

fn aes_dec(cipher: &Aes128, b: &mut Block) {
    let mut a = Array::from(*b);
    cipher.decrypt_block(&mut a);
    *b = a.into();
}

fn length_block(len: usize) -> Block {
    let mut b = [0u8; BLOCK];
    b[8..].copy_from_slice(&((len * 8) as u64).to_be_bytes());
    b
}

/// OCB2 encryption of `plain` into `out` (same length). Returns false only when the XEX*
/// countermeasure found a critical block and `modify_on_xex_star` forbade the bit flip.
pub fn ocb_encrypt(
    cipher: &Aes128,
    plain: &[u8],
    out: &mut [u8],
    nonce: &Block,
    tag: &mut Block,
    modify_on_xex_star: bool,
) -> bool {
    debug_assert_eq!(plain.len(), out.len());
    let mut success = true;
    let mut delta = *nonce;
    aes_enc(cipher, &mut delta);
    let mut checksum = [0u8; BLOCK];
    let mut len = plain.len();
    let mut off = 0;
    while len > BLOCK {
        let block = &plain[off..off + BLOCK];
        // XEX*: the attack needs the second-to-last block to be zero except its last byte.
        let mut flip = false;
        if len - BLOCK <= BLOCK && block[..BLOCK - 1].iter().all(|&b| b == 0) {
            if modify_on_xex_star {
                flip = true;
            } else {
                success = false;
            }
        }
        times2(&mut delta);
        let mut tmp = delta;
        xor_into(&mut tmp, block);
        if flip {
            tmp[0] ^= 1;
        }
        aes_enc(cipher, &mut tmp);
        xor_into(&mut tmp, &delta);
        out[off..off + BLOCK].copy_from_slice(&tmp);
        xor_into(&mut checksum, block);
        if flip {
            checksum[0] ^= 1;
        }
        len -= BLOCK;
        off += BLOCK;
    }
    times2(&mut delta);
    let mut pad = length_block(len);
    xor_into(&mut pad, &delta);
    aes_enc(cipher, &mut pad);
    let mut tmp = pad;
    tmp[..len].copy_from_slice(&plain[off..]);
    xor_into(&mut checksum, &tmp);
    xor_into(&mut tmp, &pad);
    out[off..].copy_from_slice(&tmp[..len]);
    times3(&mut delta);
    let mut t = delta;
    xor_into(&mut t, &checksum);
    aes_enc(cipher, &mut t);
    *tag = t;
    success
}

/// OCB2 decryption of `enc` into `out`. Returns false if the last block is the XEX* forgery
/// shape; the caller still compares the tag.
pub fn ocb_decrypt(
    cipher: &Aes128,
    enc: &[u8],
    out: &mut [u8],
    nonce: &Block,
    tag: &mut Block,
) -> bool {
    debug_assert_eq!(enc.len(), out.len());
    let mut delta = *nonce;
    aes_enc(cipher, &mut delta);
    let mut checksum = [0u8; BLOCK];
    let mut len = enc.len();
    let mut off = 0;
    while len > BLOCK {
        times2(&mut delta);
        let mut tmp = delta;
        xor_into(&mut tmp, &enc[off..off + BLOCK]);
        aes_dec(cipher, &mut tmp);
        xor_into(&mut tmp, &delta);
        out[off..off + BLOCK].copy_from_slice(&tmp);
        xor_into(&mut checksum, &tmp);
        len -= BLOCK;
        off += BLOCK;
    }
    times2(&mut delta);
    let mut pad = length_block(len);
    xor_into(&mut pad, &delta);
    aes_enc(cipher, &mut pad);
    let mut tmp = [0u8; BLOCK];
    tmp[..len].copy_from_slice(&enc[off..]);
    xor_into(&mut tmp, &pad);
    xor_into(&mut checksum, &tmp);
    out[off..].copy_from_slice(&tmp[..len]);
    let success = tmp[..BLOCK - 1] != delta[..BLOCK - 1];
    times3(&mut delta);
    let mut t = delta;
    xor_into(&mut t, &checksum);
    aes_enc(cipher, &mut t);
    *tag = t;
    success
}

/// Why a datagram was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecryptError {
    TooShort,
    /// IV outside the window, or a replay.
    Iv,
    /// Tag mismatch or XEX* forgery shape.
    Auth,
}

/// One direction pair of a Mumble client's UDP crypto: the key, our encrypt IV (the
/// server's `client_nonce`) and our decrypt IV (its `server_nonce`), plus the replay history.
pub struct CryptState {
    cipher: Aes128,
    encrypt_iv: Block,
    decrypt_iv: Block,
    decrypt_history: [u8; 256],
    pub good: u64,
    pub late: u64,
    pub lost: i64,
}

impl CryptState {
    pub fn new(key: &Block, encrypt_iv: &Block, decrypt_iv: &Block) -> Self {
        CryptState {
            cipher: Aes128::new(&Array::from(*key)),
            encrypt_iv: *encrypt_iv,
            decrypt_iv: *decrypt_iv,
            decrypt_history: [0; 256],
            good: 0,
            late: 0,
            lost: 0,
        }
    }

    /// Seals `plain` into `out[..plain.len() + HEADER]` and returns that length.
    pub fn encrypt(&mut self, plain: &[u8], out: &mut [u8]) -> usize {
        // The IV is a little-endian counter: byte 0 first.
        for b in self.encrypt_iv.iter_mut() {
            *b = b.wrapping_add(1);
            if *b != 0 {
                break;
            }
        }
        let mut tag = [0u8; BLOCK];
        let n = plain.len();
        ocb_encrypt(
            &self.cipher,
            plain,
            &mut out[HEADER..HEADER + n],
            &self.encrypt_iv,
            &mut tag,
            true,
        );
        out[0] = self.encrypt_iv[0];
        out[1..4].copy_from_slice(&tag[..3]);
        n + HEADER
    }

    /// Opens a datagram into `out` and returns the plaintext length. Follows Mumble's
    /// window rules: in-order, late (up to 30 back, without moving the IV), or lost packets
    /// skipped ahead, with a 256-entry replay history.
    pub fn decrypt(&mut self, src: &[u8], out: &mut [u8]) -> Result<usize, DecryptError> {
        if src.len() < HEADER {
            return Err(DecryptError::TooShort);
        }
        let plain_len = src.len() - HEADER;
        let saved = self.decrypt_iv;
        let ivbyte = src[0];
        let mut restore = false;
        let mut late = 0u64;
        let mut lost = 0i64;
        let iv0 = self.decrypt_iv[0];
        if iv0.wrapping_add(1) == ivbyte {
            // In order.
            if ivbyte > iv0 {
                self.decrypt_iv[0] = ivbyte;
            } else {
                self.decrypt_iv[0] = ivbyte;
                self.carry_up();
            }
        } else {
            let mut diff = ivbyte as i32 - iv0 as i32;
            if diff > 128 {
                diff -= 256;
            } else if diff < -128 {
                diff += 256;
            }
            if ivbyte < iv0 && diff > -30 && diff < 0 {
                // Late, no wrap-around.
                late = 1;
                lost = -1;
                self.decrypt_iv[0] = ivbyte;
                restore = true;
            } else if ivbyte > iv0 && diff > -30 && diff < 0 {
                // Late, from before the last wrap of the low byte.
                late = 1;
                lost = -1;
                self.decrypt_iv[0] = ivbyte;
                for b in self.decrypt_iv[1..].iter_mut() {
                    let was = *b;
                    *b = b.wrapping_sub(1);
                    if was != 0 {
                        break;
                    }
                }
                restore = true;
            } else if ivbyte > iv0 && diff > 0 {
                lost = (ivbyte - iv0 - 1) as i64;
                self.decrypt_iv[0] = ivbyte;
            } else if ivbyte < iv0 && diff > 0 {
                lost = 256 - iv0 as i64 + ivbyte as i64 - 1;
                self.decrypt_iv[0] = ivbyte;
                self.carry_up();
            } else {
                return Err(DecryptError::Iv);
            }
            if self.decrypt_history[self.decrypt_iv[0] as usize] == self.decrypt_iv[1] {
                self.decrypt_iv = saved;
                return Err(DecryptError::Iv);
            }
        }
        let mut tag = [0u8; BLOCK];
        let shape_ok = ocb_decrypt(
            &self.cipher,
            &src[HEADER..],
            &mut out[..plain_len],
            &self.decrypt_iv,
            &mut tag,
        );
        if !shape_ok || tag[..3] != src[1..4] {
            self.decrypt_iv = saved;
            return Err(DecryptError::Auth);
        }
        self.decrypt_history[self.decrypt_iv[0] as usize] = self.decrypt_iv[1];
        if restore {
            self.decrypt_iv = saved;
        }
        self.good += 1;
        self.late += late;
        self.lost += lost;
        Ok(plain_len)
    }

    fn carry_up(&mut self) {
        for b in self.decrypt_iv[1..].iter_mut() {
            *b = b.wrapping_add(1);
            if *b != 0 {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq16() -> Block {
        core::array::from_fn(|i| i as u8)
    }

    /// Vectors of draft-krovetz-ocb-00, the same ones Mumble's own crypt test checks.
    #[test]
    fn ocb2_draft_vectors() {
        let key = seq16();
        let cipher = Aes128::new(&Array::from(key));
        let mut tag = [0u8; BLOCK];
        assert!(ocb_encrypt(&cipher, &[], &mut [], &key, &mut tag, true));
        assert_eq!(
            tag,
            [
                0xBF, 0x31, 0x08, 0x13, 0x07, 0x73, 0xAD, 0x5E, 0xC7, 0x0E, 0xC6, 0x9E, 0x78, 0x75,
                0xA7, 0xB0
            ]
        );
        let plain: Vec<u8> = (0..40).collect();
        let mut enc = [0u8; 40];
        assert!(ocb_encrypt(&cipher, &plain, &mut enc, &key, &mut tag, true));
        assert_eq!(
            tag,
            [
                0x9D, 0xB0, 0xCD, 0xF8, 0x80, 0xF7, 0x3E, 0x3E, 0x10, 0xD4, 0xEB, 0x32, 0x17, 0x76,
                0x66, 0x88
            ]
        );
        assert_eq!(
            enc,
            [
                0xF7, 0x5D, 0x6B, 0xC8, 0xB4, 0xDC, 0x8D, 0x66, 0xB8, 0x36, 0xA2, 0xB0, 0x8B, 0x32,
                0xA6, 0x36, 0x9F, 0x1C, 0xD3, 0xC5, 0x22, 0x8D, 0x79, 0xFD, 0x6C, 0x26, 0x7F, 0x5F,
                0x6A, 0xA7, 0xB2, 0x31, 0xC7, 0xDF, 0xB9, 0xD5, 0x99, 0x51, 0xAE, 0x9C
            ]
        );
        let mut dec = [0u8; 40];
        let mut tag2 = [0u8; BLOCK];
        assert!(ocb_decrypt(&cipher, &enc, &mut dec, &key, &mut tag2));
        assert_eq!(dec.as_slice(), plain.as_slice());
        assert_eq!(tag, tag2);
    }

    #[test]
    fn round_trip_every_length() {
        let key = [7u8; 16];
        let (a, b) = ([0x55u8; 16], [0x33u8; 16]);
        let mut tx = CryptState::new(&key, &a, &b);
        let mut rx = CryptState::new(&key, &b, &a);
        for len in 0..200usize {
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            let mut wire = vec![0u8; len + HEADER];
            let n = tx.encrypt(&plain, &mut wire);
            let mut out = vec![0u8; len];
            assert_eq!(rx.decrypt(&wire[..n], &mut out), Ok(len));
            assert_eq!(out, plain);
        }
    }

    #[test]
    fn window_late_lost_replay_and_wrap() {
        let key = [9u8; 16];
        // Non-zero IV bytes: the replay history starts zeroed, as murmurd's does, so an IV
        // whose second byte is 0 would look like a replay (real nonces are random).
        let (a, b) = ([0x55u8; 16], [0x55u8; 16]);
        let mut tx = CryptState::new(&key, &a, &b);
        let mut rx = CryptState::new(&key, &b, &a);
        let plain = [1u8; 30];
        let mut out = [0u8; 64];
        let mut packets = Vec::new();
        for _ in 0..600 {
            let mut w = vec![0u8; 64];
            let n = tx.encrypt(&plain, &mut w);
            w.truncate(n);
            packets.push(w);
        }
        // In order across two wraps of the low IV byte, skipping every tenth (lost).
        let mut held = Vec::new();
        for (i, p) in packets.iter().enumerate() {
            if i % 10 == 3 {
                held.push(p.clone());
                continue;
            }
            assert!(rx.decrypt(p, &mut out).is_ok(), "packet {i}");
            // Deliver the held one late, two packets after it.
            if i % 10 == 5 {
                let late = held.pop().unwrap();
                assert!(
                    rx.decrypt(&late, &mut out).is_ok(),
                    "late packet before {i}"
                );
                // A replay of it is refused.
                assert_eq!(rx.decrypt(&late, &mut out), Err(DecryptError::Iv));
            }
        }
        assert_eq!(rx.late, 60);
        // Tampering breaks the tag.
        let mut w = vec![0u8; 64];
        let n = tx.encrypt(&plain, &mut w);
        w[10] ^= 0x40;
        assert_eq!(rx.decrypt(&w[..n], &mut out), Err(DecryptError::Auth));
    }

    #[test]
    fn xex_star_block_is_flipped_not_refused() {
        let key = [3u8; 16];
        let cipher = Aes128::new(&Array::from(key));
        // Second-to-last block all zero but its last byte: the critical shape.
        let mut plain = [0u8; 32];
        plain[15] = 0x80;
        plain[16..].fill(0xAB);
        let nonce = [1u8; 16];
        let mut enc = [0u8; 32];
        let mut tag = [0u8; 16];
        assert!(!ocb_encrypt(
            &cipher, &plain, &mut enc, &nonce, &mut tag, false
        ));
        assert!(ocb_encrypt(
            &cipher, &plain, &mut enc, &nonce, &mut tag, true
        ));
        let mut dec = [0u8; 32];
        let mut tag2 = [0u8; 16];
        assert!(ocb_decrypt(&cipher, &enc, &mut dec, &nonce, &mut tag2));
        assert_eq!(tag, tag2);
        assert_eq!(dec[0], 1, "the receiver sees the flipped bit");
        assert_eq!(dec[1..], plain[1..]);
    }
}
