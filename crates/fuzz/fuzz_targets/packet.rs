//! Fuzzes `voice_proto::Router::process` with arbitrary datagrams and table changes.
//!
//! Random bytes almost never carry a valid AEAD tag, so the input is a script: each step is
//! either a raw datagram, a datagram the harness seals with a session's real key (so the
//! replay window, rebinding and fan-out run on fuzzer-chosen headers, counters and
//! payloads), or a control change. Besides "no panic", it checks that every relayed
//! datagram opens under its listener's key to exactly the plaintext that was sent, and
//! that the outcome's count matches the datagrams produced.

#![no_main]

use std::collections::HashMap;
use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use voice_proto::router::NO_ROOM;
use voice_proto::{wire, Cipher, Mode, Outcome, Router};

const ROOM: u64 = 1;
/// Session ids 1..=SESSIONS, SSRC = id, alternating modes.
const SESSIONS: u64 = 4;

fn key(id: u64) -> [u8; 32] {
    [id as u8; 32]
}

fn mode(id: u64) -> Mode {
    Mode::ALL[id as usize % 2]
}

fn address(n: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 20_000 + u16::from(n % 8)))
}

/// Takes `n` bytes from the front of `data`.
fn take<'a>(data: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if data.len() < n {
        return None;
    }
    let (head, tail) = data.split_at(n);
    *data = tail;
    Some(head)
}

fuzz_target!(|input: &[u8]| {
    let router = Router::new();
    let ciphers: HashMap<u64, Cipher> = (1..=SESSIONS)
        .map(|id| (id, Cipher::new(mode(id), &key(id))))
        .collect();
    for id in 1..=SESSIONS {
        router
            .add_session(id, id as u32, ROOM, mode(id), &key(id))
            .unwrap();
    }
    let mut data = input;
    let mut now = 0u64;
    while let Some(&[op, arg]) = take(&mut data, 2) {
        now += 20;
        match op % 4 {
            // A raw datagram, up to 255 bytes, from one of eight addresses.
            0 => {
                let Some(&[len]) = take(&mut data, 1) else {
                    return;
                };
                let Some(bytes) = take(&mut data, usize::from(len)) else {
                    return;
                };
                run(&router, &ciphers, now, address(arg), bytes.to_vec(), None);
            }
            // A datagram sealed with session `arg`'s key (or a wrong one): a header with
            // fuzzer-chosen first byte, payload type and CSRC/extension words, a fuzzer-
            // chosen counter and payload.
            1 | 2 => {
                let Some(head) = take(&mut data, 6) else {
                    return;
                };
                let Some(&[len]) = take(&mut data, 1) else {
                    return;
                };
                let Some(payload) = take(&mut data, usize::from(len)) else {
                    return;
                };
                let id = u64::from(arg % (SESSIONS as u8 + 1)); // 0 = unknown SSRC 0
                let first = 0x80 | (head[0] & 0x3f);
                let mut header = vec![first, head[1], 0, 1, 0, 0, 3, 192];
                header.extend_from_slice(&(id as u32).to_be_bytes());
                let extra_words = usize::from(first & 0x0f) + usize::from(first & 0x10 != 0);
                header.extend(std::iter::repeat_n(0xbe, 4 * extra_words));
                let counter = u32::from_be_bytes([head[2], head[3], head[4], head[5]]);
                let sealer = if op % 4 == 2 {
                    Cipher::new(mode(id), &[0xff; 32])
                } else {
                    Cipher::new(mode(id.max(1)), &key(id.max(1)))
                };
                let datagram = sealer.seal_to_vec(&header, payload, counter);
                let expected = (op % 4 == 1 && id != 0).then(|| payload.to_vec());
                run(
                    &router,
                    &ciphers,
                    now,
                    address(arg >> 4),
                    datagram,
                    expected,
                );
            }
            // A control change on session `arg`.
            _ => {
                let id = u64::from(arg % (SESSIONS as u8)) + 1;
                match arg >> 5 {
                    0 => {
                        let _ = router.set_flags(id, arg & 1 != 0, arg & 2 != 0);
                    }
                    1 => {
                        let _ = router.move_session(id, NO_ROOM);
                    }
                    2 => {
                        let _ = router.move_session(id, ROOM);
                    }
                    3 => router.set_room_limit(ROOM, u32::from(arg & 3)),
                    4 => {
                        router.remove_session(id);
                        let _ = router.add_session(id, id as u32, ROOM, mode(id), &key(id));
                    }
                    _ => {
                        // IP discovery for the session from the address it would use.
                        let mut request = vec![0u8; 74];
                        request[..4].copy_from_slice(&[0, 1, 0, 70]);
                        request[4..8].copy_from_slice(&(id as u32).to_be_bytes());
                        run(&router, &ciphers, now, address(arg), request, None);
                    }
                }
            }
        }
    }
});

/// Processes one datagram and checks what came out. `expected` is the plaintext when the
/// datagram was sealed with its sender's real key.
fn run(
    router: &Router,
    ciphers: &HashMap<u64, Cipher>,
    now: u64,
    from: SocketAddr,
    mut datagram: Vec<u8>,
    expected: Option<Vec<u8>>,
) {
    let original = datagram.clone();
    let mut sent: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
    let outcome = router.process(now, from, &mut datagram, &mut |to, bytes| {
        sent.push((to, bytes.to_vec()))
    });
    match outcome {
        Outcome::Forwarded { delivered, .. } => {
            assert_eq!(delivered as usize, sent.len());
            let plaintext = expected
                .as_deref()
                .expect("only sealed datagrams are accepted");
            for (to, bytes) in &sent {
                assert_eq!(bytes.len(), original.len());
                let aad_len = wire::parse_rtp(bytes).unwrap().aad_len;
                assert_eq!(
                    bytes[..aad_len],
                    original[..aad_len],
                    "AAD relayed unchanged"
                );
                // Several sessions may have bound the same address; one of them must be the
                // listener it was sealed for.
                let opens = (1..=SESSIONS)
                    .filter(|&id| router.session_address(id) == Some(*to))
                    .any(|id| {
                        let mut opened = bytes.clone();
                        ciphers[&id].open_in_place(&mut opened, aad_len).is_ok()
                            && opened[aad_len..opened.len() - 20] == *plaintext
                    });
                assert!(opens, "a relayed datagram opens under its listener's key");
            }
        }
        Outcome::IpDiscovery => assert_eq!(sent.len(), 1),
        Outcome::Keepalive { echoed } => {
            assert_eq!(sent.len(), usize::from(echoed));
            assert!(sent
                .iter()
                .all(|(to, bytes)| *to == from && *bytes == original));
        }
        Outcome::Rtcp | Outcome::Dropped(_) => assert!(sent.is_empty()),
    }
}
