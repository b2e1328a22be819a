//! Mumble 1.3 wire formats: the TCP control framing (u16 BE type, u32 BE length, protobuf
//! body) with a tiny protobuf encoder/decoder for the handful of messages a load client needs,
//! and the legacy UDP voice layout with Mumble's own variable-length integers.

/// Control message types (Mumble.proto order).
pub mod msg {
    pub const VERSION: u16 = 0;
    pub const UDP_TUNNEL: u16 = 1;
    pub const AUTHENTICATE: u16 = 2;
    pub const PING: u16 = 3;
    pub const REJECT: u16 = 4;
    pub const SERVER_SYNC: u16 = 5;
    pub const CHANNEL_STATE: u16 = 7;
    pub const USER_STATE: u16 = 9;
    pub const PERMISSION_DENIED: u16 = 12;
    pub const CRYPT_SETUP: u16 = 15;
}

/// UDP packet types (top three bits of the first byte).
pub mod udp {
    pub const PING: u8 = 1;
    pub const VOICE_OPUS: u8 = 4;
}

/// Mumble 1.3.4 as `(major << 16) | (minor << 8) | patch`.
pub const CLIENT_VERSION: u32 = (1 << 16) | (3 << 8) | 4;

// ---- protobuf ---------------------------------------------------------------------------

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a varint field (wire type 0).
pub fn pb_uint(out: &mut Vec<u8>, field: u32, v: u64) {
    put_varint(out, u64::from(field) << 3);
    put_varint(out, v);
}

/// Appends a length-delimited field (wire type 2).
pub fn pb_bytes(out: &mut Vec<u8>, field: u32, v: &[u8]) {
    put_varint(out, (u64::from(field) << 3) | 2);
    put_varint(out, v.len() as u64);
    out.extend_from_slice(v);
}

/// A decoded protobuf field value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PbValue<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed64(u64),
    Fixed32(u32),
}

fn get_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Iterates the fields of a protobuf message; stops at the first malformed field.
pub struct PbFields<'a> {
    buf: &'a [u8],
    pos: usize,
}

pub fn pb_fields(buf: &[u8]) -> PbFields<'_> {
    PbFields { buf, pos: 0 }
}

impl<'a> Iterator for PbFields<'a> {
    type Item = (u32, PbValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let key = get_varint(self.buf, &mut self.pos)?;
        let field = (key >> 3) as u32;
        let value = match key & 7 {
            0 => PbValue::Varint(get_varint(self.buf, &mut self.pos)?),
            1 => {
                let b = self.buf.get(self.pos..self.pos + 8)?;
                self.pos += 8;
                PbValue::Fixed64(u64::from_le_bytes(b.try_into().ok()?))
            }
            2 => {
                let n = get_varint(self.buf, &mut self.pos)? as usize;
                let b = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
                self.pos += n;
                PbValue::Bytes(b)
            }
            5 => {
                let b = self.buf.get(self.pos..self.pos + 4)?;
                self.pos += 4;
                PbValue::Fixed32(u32::from_le_bytes(b.try_into().ok()?))
            }
            _ => return None,
        };
        Some((field, value))
    }
}

/// Frames a control message: u16 BE type, u32 BE length, body.
pub fn frame(kind: u16, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(6 + body.len());
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Splits complete frames off the front of `buf`; returns (type, body range) items and the
/// number of bytes consumed.
pub fn split_frames(buf: &[u8], out: &mut Vec<(u16, std::ops::Range<usize>)>) -> usize {
    let mut pos = 0;
    while buf.len() - pos >= 6 {
        let kind = u16::from_be_bytes([buf[pos], buf[pos + 1]]);
        let len =
            u32::from_be_bytes([buf[pos + 2], buf[pos + 3], buf[pos + 4], buf[pos + 5]]) as usize;
        if buf.len() - pos - 6 < len {
            break;
        }
        out.push((kind, pos + 6..pos + 6 + len));
        pos += 6 + len;
    }
    pos
}

pub fn version_msg() -> Vec<u8> {
    let mut b = Vec::new();
    pb_uint(&mut b, 1, u64::from(CLIENT_VERSION));
    pb_bytes(&mut b, 2, b"voicegen");
    pb_bytes(&mut b, 3, b"Linux");
    pb_bytes(&mut b, 4, b"loadtest");
    frame(msg::VERSION, &b)
}

pub fn authenticate_msg(username: &str, password: Option<&str>) -> Vec<u8> {
    let mut b = Vec::new();
    pb_bytes(&mut b, 1, username.as_bytes());
    if let Some(pw) = password {
        pb_bytes(&mut b, 2, pw.as_bytes());
    }
    // opus = true: with every client announcing Opus, murmurd picks Opus for the server.
    pb_uint(&mut b, 5, 1);
    frame(msg::AUTHENTICATE, &b)
}

pub fn ping_msg(timestamp: u64) -> Vec<u8> {
    let mut b = Vec::new();
    pb_uint(&mut b, 1, timestamp);
    frame(msg::PING, &b)
}

/// ChannelState asking for a permanent sub-channel of root.
pub fn create_channel_msg(name: &str) -> Vec<u8> {
    let mut b = Vec::new();
    pb_uint(&mut b, 2, 0); // parent = root
    pb_bytes(&mut b, 3, name.as_bytes());
    pb_uint(&mut b, 8, 0); // temporary = false: temporary channels vanish when empty
    frame(msg::CHANNEL_STATE, &b)
}

/// UserState moving our own session into a channel.
pub fn move_msg(session: u32, channel_id: u32) -> Vec<u8> {
    let mut b = Vec::new();
    pb_uint(&mut b, 1, u64::from(session));
    pb_uint(&mut b, 5, u64::from(channel_id));
    frame(msg::USER_STATE, &b)
}

// ---- UDP ----------------------------------------------------------------------------------

/// Appends a Mumble PacketDataStream varint (big-endian prefix code, not protobuf's).
pub fn pds_put(out: &mut [u8], pos: &mut usize, v: u64) {
    let mut w = |b: u8| {
        out[*pos] = b;
        *pos += 1;
    };
    if v < 0x80 {
        w(v as u8);
    } else if v < 0x4000 {
        w((v >> 8) as u8 | 0x80);
        w(v as u8);
    } else if v < 0x20_0000 {
        w((v >> 16) as u8 | 0xC0);
        w((v >> 8) as u8);
        w(v as u8);
    } else if v < 0x1000_0000 {
        w((v >> 24) as u8 | 0xE0);
        w((v >> 16) as u8);
        w((v >> 8) as u8);
        w(v as u8);
    } else if v < 0x1_0000_0000 {
        w(0xF0);
        for shift in [24, 16, 8, 0] {
            w((v >> shift) as u8);
        }
    } else {
        w(0xF4);
        for b in v.to_be_bytes() {
            w(b);
        }
    }
}

/// Reads a PacketDataStream varint (non-negative forms only; voice never uses the others).
pub fn pds_get(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut next = || -> Option<u64> {
        let b = *buf.get(*pos)?;
        *pos += 1;
        Some(u64::from(b))
    };
    let v = next()?;
    if v & 0x80 == 0 {
        Some(v & 0x7f)
    } else if v & 0xC0 == 0x80 {
        Some(((v & 0x3f) << 8) | next()?)
    } else if v & 0xF0 == 0xF0 {
        match v & 0xFC {
            0xF0 => Some((next()? << 24) | (next()? << 16) | (next()? << 8) | next()?),
            0xF4 => {
                let mut r = 0;
                for _ in 0..8 {
                    r = (r << 8) | next()?;
                }
                Some(r)
            }
            _ => None,
        }
    } else if v & 0xF0 == 0xE0 {
        Some(((v & 0x0f) << 24) | (next()? << 16) | (next()? << 8) | next()?)
    } else if v & 0xE0 == 0xC0 {
        Some(((v & 0x1f) << 16) | (next()? << 8) | next()?)
    } else {
        None
    }
}

/// Writes a client-to-server Opus voice packet (target 0: normal speech) and returns its
/// length: header, sequence, Opus length (no terminator bit: the speaker keeps talking),
/// payload. No positional audio.
pub fn build_voice(out: &mut [u8], sequence: u64, payload: &[u8]) -> usize {
    out[0] = udp::VOICE_OPUS << 5;
    let mut pos = 1;
    pds_put(out, &mut pos, sequence);
    pds_put(out, &mut pos, payload.len() as u64);
    out[pos..pos + payload.len()].copy_from_slice(payload);
    pos + payload.len()
}

/// Writes a UDP ping (type 1 + varint timestamp), which murmurd echoes back.
pub fn build_ping(out: &mut [u8], timestamp: u64) -> usize {
    out[0] = udp::PING << 5;
    let mut pos = 1;
    pds_put(out, &mut pos, timestamp);
    pos
}

/// A voice packet as murmurd forwards it: header, sender session, sequence, Opus frame.
#[derive(Debug, PartialEq, Eq)]
pub struct ForwardedVoice<'a> {
    pub session: u64,
    pub sequence: u64,
    pub payload: &'a [u8],
}

pub fn parse_forwarded_voice(plain: &[u8]) -> Option<ForwardedVoice<'_>> {
    if plain.first()? >> 5 != udp::VOICE_OPUS {
        return None;
    }
    let mut pos = 1;
    let session = pds_get(plain, &mut pos)?;
    let sequence = pds_get(plain, &mut pos)?;
    let size = (pds_get(plain, &mut pos)? & 0x1fff) as usize;
    let payload = plain.get(pos..pos + size)?;
    Some(ForwardedVoice {
        session,
        sequence,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pds_round_trip() {
        for v in [
            0u64,
            1,
            0x7f,
            0x80,
            0x3fff,
            0x4000,
            0x1f_ffff,
            0x20_0000,
            0x0fff_ffff,
            0x1000_0000,
            0xffff_ffff,
            0x1_0000_0000,
            u64::MAX >> 1,
        ] {
            let mut buf = [0u8; 16];
            let mut pos = 0;
            pds_put(&mut buf, &mut pos, v);
            let mut rpos = 0;
            assert_eq!(pds_get(&buf, &mut rpos), Some(v), "{v:#x}");
            assert_eq!(rpos, pos);
        }
    }

    #[test]
    fn voice_as_forwarded_parses() {
        let payload = [9u8; 120];
        let mut pkt = [0u8; 256];
        let n = build_voice(&mut pkt, 1234, &payload);
        // murmurd inserts the sender's session after the header byte.
        let mut fwd = vec![pkt[0]];
        let mut tmp = [0u8; 9];
        let mut pos = 0;
        pds_put(&mut tmp, &mut pos, 42);
        fwd.extend_from_slice(&tmp[..pos]);
        fwd.extend_from_slice(&pkt[1..n]);
        let v = parse_forwarded_voice(&fwd).unwrap();
        assert_eq!((v.session, v.sequence), (42, 1234));
        assert_eq!(v.payload, &payload);
    }

    #[test]
    fn protobuf_round_trip_and_frames() {
        let m = move_msg(77, 5);
        let mut frames = Vec::new();
        let mut stream = m.clone();
        stream.extend_from_slice(&ping_msg(3)[..4]); // a partial frame stays behind
        let used = split_frames(&stream, &mut frames);
        assert_eq!(used, m.len());
        assert_eq!(frames.len(), 1);
        let (kind, range) = frames[0].clone();
        assert_eq!(kind, msg::USER_STATE);
        let fields: Vec<_> = pb_fields(&stream[range]).collect();
        assert_eq!(
            fields,
            vec![(1, PbValue::Varint(77)), (5, PbValue::Varint(5))]
        );
    }
}
