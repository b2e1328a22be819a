//! The AEAD modes of Discord voice v8 (`*_rtpsize`), opened and sealed in place.
//!
//! Both modes share one datagram layout:
//!
//! ```text
//! | AAD: RTP fixed header + CSRCs + extension header | ciphertext | tag (16) | counter (4, BE) |
//! ```
//!
//! The nonce is not sent whole: only a 32-bit big-endian counter goes on the wire, after the
//! tag, and both ends widen it with zero bytes (to 24 bytes for XChaCha20-Poly1305, 12 for
//! AES-256-GCM). The counter doubles as the replay-window sequence (see [`crate::replay`]).
//!
//! Everything here works on caller-owned buffers so the hot path never allocates.

use std::fmt;
use std::str::FromStr;

use aes_gcm::Aes256Gcm;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::XChaCha20Poly1305;

/// Key length of both modes, in bytes.
pub const KEY_LEN: usize = 32;
/// Authentication tag length of both modes, in bytes.
pub const TAG_LEN: usize = 16;
/// The nonce counter appended after the tag, in bytes.
pub const NONCE_SUFFIX_LEN: usize = 4;
/// Bytes a sealed packet carries beyond its AAD and plaintext.
pub const OVERHEAD: usize = TAG_LEN + NONCE_SUFFIX_LEN;

/// An encryption mode a voice session negotiated in SELECT_PROTOCOL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `aead_aes256_gcm_rtpsize`: AES-256-GCM, 12-byte nonce.
    Aes256GcmRtpsize,
    /// `aead_xchacha20_poly1305_rtpsize`: XChaCha20-Poly1305, 24-byte nonce.
    XChaCha20Poly1305Rtpsize,
}

impl Mode {
    /// Every supported mode in server preference order, as READY's `modes` lists them.
    /// AES-256-GCM comes first because it is several times cheaper where AES-NI exists,
    /// which is what Discord itself prefers; discord.py only speaks XChaCha20.
    pub const ALL: [Mode; 2] = [Mode::Aes256GcmRtpsize, Mode::XChaCha20Poly1305Rtpsize];

    /// The protocol name of the mode.
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Aes256GcmRtpsize => "aead_aes256_gcm_rtpsize",
            Mode::XChaCha20Poly1305Rtpsize => "aead_xchacha20_poly1305_rtpsize",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The mode name was not one of [`Mode::ALL`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownMode(pub String);

impl fmt::Display for UnknownMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown encryption mode {:?}", self.0)
    }
}

impl std::error::Error for UnknownMode {}

impl FromStr for Mode {
    type Err = UnknownMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .into_iter()
            .find(|mode| mode.as_str() == s)
            .ok_or_else(|| UnknownMode(s.to_owned()))
    }
}

/// The datagram did not authenticate (or was too short to carry a tag and counter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthError;

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("authentication failed")
    }
}

impl std::error::Error for AuthError {}

/// A keyed cipher for one session. Key schedules (AES round keys, GHASH tables) are
/// computed once here, not per packet; the crates' `zeroize` features wipe them on drop.
#[derive(Clone)]
pub struct Cipher(Inner);

#[derive(Clone)]
enum Inner {
    Aes(Box<Aes256Gcm>),
    XChaCha(XChaCha20Poly1305),
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_tuple("Cipher").field(&self.mode()).finish()
    }
}

impl Cipher {
    /// Keys a cipher for `mode`.
    pub fn new(mode: Mode, key: &[u8; KEY_LEN]) -> Self {
        let key = (*key).into();
        Cipher(match mode {
            Mode::Aes256GcmRtpsize => Inner::Aes(Box::new(Aes256Gcm::new(&key))),
            Mode::XChaCha20Poly1305Rtpsize => Inner::XChaCha(XChaCha20Poly1305::new(&key)),
        })
    }

    /// The mode this cipher was keyed for.
    pub fn mode(&self) -> Mode {
        match self.0 {
            Inner::Aes(_) => Mode::Aes256GcmRtpsize,
            Inner::XChaCha(_) => Mode::XChaCha20Poly1305Rtpsize,
        }
    }

    /// Authenticates and decrypts a whole `*_rtpsize` datagram in place.
    ///
    /// `datagram[..aad_len]` is the cleartext AAD; on success the plaintext replaces the
    /// ciphertext at `datagram[aad_len..datagram.len() - OVERHEAD]` and the wire counter is
    /// returned. On failure the buffer is left as it was: both crates verify the tag before
    /// they decrypt anything.
    pub fn open_in_place(&self, datagram: &mut [u8], aad_len: usize) -> Result<u32, AuthError> {
        let body_end = datagram
            .len()
            .checked_sub(OVERHEAD)
            .filter(|&end| end >= aad_len)
            .ok_or(AuthError)?;
        let (head, trailer) = datagram.split_at_mut(body_end);
        let (tag, suffix) = trailer.split_at(TAG_LEN);
        let counter = u32::from_be_bytes([suffix[0], suffix[1], suffix[2], suffix[3]]);
        let (aad, body) = head.split_at_mut(aad_len);
        let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| AuthError)?;
        let tag = tag.into();
        let result = match &self.0 {
            Inner::Aes(c) => {
                c.decrypt_inout_detached(&aes_nonce(counter).into(), aad, body.into(), &tag)
            }
            Inner::XChaCha(c) => {
                c.decrypt_inout_detached(&xchacha_nonce(counter).into(), aad, body.into(), &tag)
            }
        };
        result.map(|()| counter).map_err(|_| AuthError)
    }

    /// Seals a packet in place and returns its sealed length.
    ///
    /// On entry `buf[..aad_len]` holds the AAD and `buf[aad_len..plain_end]` the plaintext;
    /// `buf` must have room for [`OVERHEAD`] more bytes after `plain_end`. The tag and the
    /// big-endian `counter` are written there.
    ///
    /// # Panics
    /// If `aad_len > plain_end` or `buf` is shorter than `plain_end + OVERHEAD`: both are
    /// caller bugs, not properties of untrusted input.
    pub fn seal_in_place(
        &self,
        buf: &mut [u8],
        aad_len: usize,
        plain_end: usize,
        counter: u32,
    ) -> usize {
        let total = plain_end + OVERHEAD;
        let (head, trailer) = buf[..total].split_at_mut(plain_end);
        let (aad, body) = head.split_at_mut(aad_len);
        let tag = match &self.0 {
            Inner::Aes(c) => c.encrypt_inout_detached(&aes_nonce(counter).into(), aad, body.into()),
            Inner::XChaCha(c) => {
                c.encrypt_inout_detached(&xchacha_nonce(counter).into(), aad, body.into())
            }
        }
        // Both ciphers fail only on messages longer than 2^32 blocks, far beyond a datagram.
        .expect("AEAD seal of a datagram-sized message cannot fail");
        trailer[..TAG_LEN].copy_from_slice(&tag);
        trailer[TAG_LEN..].copy_from_slice(&counter.to_be_bytes());
        total
    }

    /// Seals `aad || plaintext` into a new datagram. A convenience for clients, tests and load
    /// generators; the router uses [`Cipher::seal_in_place`] on a reused buffer instead.
    pub fn seal_to_vec(&self, aad: &[u8], plaintext: &[u8], counter: u32) -> Vec<u8> {
        let mut buf = Vec::with_capacity(aad.len() + plaintext.len() + OVERHEAD);
        buf.extend_from_slice(aad);
        buf.extend_from_slice(plaintext);
        buf.resize(aad.len() + plaintext.len() + OVERHEAD, 0);
        let plain_end = aad.len() + plaintext.len();
        self.seal_in_place(&mut buf, aad.len(), plain_end, counter);
        buf
    }
}

/// AES-256-GCM's 12-byte nonce: the counter, big-endian, then eight zero bytes.
fn aes_nonce(counter: u32) -> [u8; 12] {
    let mut nonce = [0; 12];
    nonce[..4].copy_from_slice(&counter.to_be_bytes());
    nonce
}

/// XChaCha20-Poly1305's 24-byte nonce: the counter, big-endian, then twenty zero bytes.
fn xchacha_nonce(counter: u32) -> [u8; 24] {
    let mut nonce = [0; 24];
    nonce[..4].copy_from_slice(&counter.to_be_bytes());
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::Aead;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Checks an AEAD against a published vector through the same in-place calls the
    /// router uses (detached tag, caller buffer), both directions.
    fn check_vector<C: AeadInOut + KeyInit>(
        key: &str,
        nonce: &str,
        aad: &str,
        plaintext: &[u8],
        ciphertext: &str,
        tag: &str,
    ) {
        let cipher = C::new_from_slice(&hex(key)).unwrap();
        let nonce = hex(nonce);
        let nonce = nonce.as_slice().try_into().unwrap();
        let aad = hex(aad);
        let mut buf = plaintext.to_vec();
        let got_tag = cipher
            .encrypt_inout_detached(nonce, &aad, buf.as_mut_slice().into())
            .unwrap();
        assert_eq!(buf, hex(ciphertext));
        assert_eq!(got_tag.as_slice(), hex(tag).as_slice());
        cipher
            .decrypt_inout_detached(nonce, &aad, buf.as_mut_slice().into(), &got_tag)
            .unwrap();
        assert_eq!(buf, plaintext);
        // A wrong tag is refused and leaves the ciphertext untouched.
        let mut bad_tag = got_tag.clone();
        bad_tag[0] ^= 1;
        let mut sealed = hex(ciphertext);
        assert!(cipher
            .decrypt_inout_detached(nonce, &aad, sealed.as_mut_slice().into(), &bad_tag)
            .is_err());
        assert_eq!(sealed, hex(ciphertext));
    }

    /// draft-irtf-cfrg-xchacha-03, appendix A.3.1.
    #[test]
    fn xchacha20_poly1305_draft_vector() {
        check_vector::<XChaCha20Poly1305>(
            "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
            "404142434445464748494a4b4c4d4e4f5051525354555657",
            "50515253c0c1c2c3c4c5c6c7",
            b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip \
              for the future, sunscreen would be it.",
            "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb
             731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452
             2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
             21f9664c97637da9768812f615c68b13b52e",
            "c0875924c1c7987947deafd8780acf49",
        );
    }

    const GCM_K15: &str = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
    const GCM_P15: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
                           1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
    const GCM_C15: &str = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa
                           8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";

    /// McGrew & Viega, "The Galois/Counter Mode of Operation", test case 13.
    #[test]
    fn aes256_gcm_test_case_13() {
        check_vector::<Aes256Gcm>(
            &"00".repeat(32),
            &"00".repeat(12),
            "",
            b"",
            "",
            "530f8afbc74536b9a963b4f1c4cb738b",
        );
    }

    /// Test case 14.
    #[test]
    fn aes256_gcm_test_case_14() {
        check_vector::<Aes256Gcm>(
            &"00".repeat(32),
            &"00".repeat(12),
            "",
            &[0; 16],
            "cea7403d4d606b6e074ec5d3baf39d18",
            "d0d1c8a799996bf0265b98b5d48ab919",
        );
    }

    /// Test case 15.
    #[test]
    fn aes256_gcm_test_case_15() {
        check_vector::<Aes256Gcm>(
            GCM_K15,
            "cafebabefacedbaddecaf888",
            "",
            &hex(GCM_P15),
            GCM_C15,
            "b094dac5d93471bdec1a502270e3cc6c",
        );
    }

    /// Test case 16: 60-byte plaintext and 20-byte AAD, neither a whole number of blocks.
    #[test]
    fn aes256_gcm_test_case_16() {
        let hex_chars: String = GCM_P15.split_whitespace().collect();
        let c16: String = GCM_C15.split_whitespace().collect();
        check_vector::<Aes256Gcm>(
            GCM_K15,
            "cafebabefacedbaddecaf888",
            "feedfacedeadbeeffeedfacedeadbeefabaddad2",
            &hex(&hex_chars[..120]),
            &c16[..120],
            "76fc6ece0f4e1768cddf8853bb2d551b",
        );
    }

    #[test]
    fn mode_names_round_trip_and_order() {
        for mode in Mode::ALL {
            assert_eq!(mode.as_str().parse::<Mode>().unwrap(), mode);
        }
        assert_eq!(Mode::ALL[0].as_str(), "aead_aes256_gcm_rtpsize");
        assert_eq!(
            "xsalsa20_poly1305".parse::<Mode>(),
            Err(UnknownMode("xsalsa20_poly1305".into()))
        );
    }

    /// The packet format matches the primitives used the way discord.py uses PyNaCl:
    /// `header + Aead(key).encrypt(data, header, nonce).ciphertext + nonce[:4]`.
    #[test]
    fn packet_format_matches_the_reference_construction() {
        let key = [7u8; 32];
        let header = hex("80 78 0001 00000960 0000abcd");
        let payload = b"opus frame";
        let counter = 0x0102_0304;
        for mode in Mode::ALL {
            let sealed = Cipher::new(mode, &key).seal_to_vec(&header, payload, counter);
            let reference_body = match mode {
                Mode::XChaCha20Poly1305Rtpsize => XChaCha20Poly1305::new(&key.into())
                    .encrypt(
                        &xchacha_nonce(counter).into(),
                        aes_gcm::aead::Payload {
                            msg: payload,
                            aad: &header,
                        },
                    )
                    .unwrap(),
                Mode::Aes256GcmRtpsize => Aes256Gcm::new(&key.into())
                    .encrypt(
                        &aes_nonce(counter).into(),
                        aes_gcm::aead::Payload {
                            msg: payload,
                            aad: &header,
                        },
                    )
                    .unwrap(),
            };
            let mut expected = header.clone();
            expected.extend_from_slice(&reference_body);
            expected.extend_from_slice(&[1, 2, 3, 4]);
            assert_eq!(sealed, expected, "{mode}");
        }
    }

    #[test]
    fn seal_open_round_trip_both_modes() {
        let key = [0x42; 32];
        let aad = [0x90, 0x78, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xbe, 0xde, 0, 1];
        for mode in Mode::ALL {
            let cipher = Cipher::new(mode, &key);
            let mut packet = cipher.seal_to_vec(&aad, b"\x10\x20\x30\x40payload", 99);
            assert_eq!(packet.len(), aad.len() + 11 + OVERHEAD);
            assert_eq!(cipher.open_in_place(&mut packet, aad.len()), Ok(99));
            assert_eq!(
                &packet[aad.len()..aad.len() + 11],
                b"\x10\x20\x30\x40payload"
            );
            // The other mode, or another key, does not open it.
            let mut again = cipher.seal_to_vec(&aad, b"x", 1);
            let other = Mode::ALL.into_iter().find(|m| *m != mode).unwrap();
            assert_eq!(
                Cipher::new(other, &key).open_in_place(&mut again.clone(), aad.len()),
                Err(AuthError)
            );
            assert_eq!(
                Cipher::new(mode, &[0x43; 32]).open_in_place(&mut again, aad.len()),
                Err(AuthError)
            );
        }
    }

    #[test]
    fn short_datagrams_fail_cleanly() {
        let cipher = Cipher::new(Mode::Aes256GcmRtpsize, &[1; 32]);
        for len in 0..OVERHEAD + 12 {
            let mut buf = vec![0u8; len];
            assert_eq!(cipher.open_in_place(&mut buf, 12), Err(AuthError), "{len}");
        }
    }
}
