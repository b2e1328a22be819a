//! Router behaviour, one rule at a time, with packets built the way clients build them.

use super::*;
use crate::counters::Counters;
use crate::replay::{FAR_FUTURE, WINDOW};
use crate::TAG_LEN;

const ROOM: u64 = 7;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1], port))
}

fn key_for(id: u64) -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    key[..8].copy_from_slice(&id.to_le_bytes());
    key[31] = 0xa5;
    key
}

/// What a voice client knows: its SSRC, key, mode, address and nonce counter.
struct Client {
    id: u64,
    ssrc: u32,
    cipher: Cipher,
    address: SocketAddr,
    counter: u32,
    sequence: u16,
}

impl Client {
    fn join(router: &Router, id: u64, room: u64, mode: Mode) -> Client {
        let ssrc = 1000 + id as u32;
        router
            .add_session(id, ssrc, room, mode, &key_for(id))
            .unwrap();
        Client {
            id,
            ssrc,
            cipher: Cipher::new(mode, &key_for(id)),
            address: addr(40000 + id as u16),
            counter: 0,
            sequence: 0,
        }
    }

    /// The fixed RTP header discord.py writes: version 2, Opus payload type 0x78.
    fn header(&self) -> Vec<u8> {
        let mut h = vec![0x80, 0x78];
        h.extend_from_slice(&self.sequence.to_be_bytes());
        h.extend_from_slice(&(u32::from(self.sequence) * 960).to_be_bytes());
        h.extend_from_slice(&self.ssrc.to_be_bytes());
        h
    }

    /// Seals the next packet with the next counter.
    fn packet(&mut self, payload: &[u8]) -> Vec<u8> {
        let p = self
            .cipher
            .seal_to_vec(&self.header(), payload, self.counter);
        self.counter += 1;
        self.sequence = self.sequence.wrapping_add(1);
        p
    }

    fn packet_with_counter(&self, payload: &[u8], counter: u32) -> Vec<u8> {
        self.cipher.seal_to_vec(&self.header(), payload, counter)
    }

    /// Opens a datagram the router sent to this client; returns (AAD, plaintext, counter).
    fn open(&self, datagram: &[u8]) -> (Vec<u8>, Vec<u8>, u32) {
        let mut d = datagram.to_vec();
        let aad_len = wire::parse_rtp(&d).unwrap().aad_len;
        let counter = self
            .cipher
            .open_in_place(&mut d, aad_len)
            .expect("listener can open");
        let end = d.len() - OVERHEAD;
        (d[..aad_len].to_vec(), d[aad_len..end].to_vec(), counter)
    }

    fn discover(&self, router: &Router, from: SocketAddr) -> (Outcome, Vec<Sent>) {
        let mut req = vec![0u8; 74];
        req[..4].copy_from_slice(&[0, 1, 0, 70]);
        req[4..8].copy_from_slice(&self.ssrc.to_be_bytes());
        run(router, from, &req)
    }
}

type Sent = (SocketAddr, Vec<u8>);

fn run(router: &Router, from: SocketAddr, datagram: &[u8]) -> (Outcome, Vec<Sent>) {
    let mut sent = Vec::new();
    let mut d = datagram.to_vec();
    let outcome = router.process(1, from, &mut d, &mut |to, bytes: &[u8]| {
        sent.push((to, bytes.to_vec()))
    });
    (outcome, sent)
}

/// Two bound clients in ROOM.
fn pair(mode_a: Mode, mode_b: Mode) -> (Router, Client, Client) {
    let router = Router::new();
    let a = Client::join(&router, 1, ROOM, mode_a);
    let b = Client::join(&router, 2, ROOM, mode_b);
    for c in [&a, &b] {
        assert_eq!(c.discover(&router, c.address).0, Outcome::IpDiscovery);
    }
    (router, a, b)
}

fn dropped(reason: DropReason) -> Outcome {
    Outcome::Dropped(reason)
}

fn forwarded(n: u32) -> Outcome {
    Outcome::Forwarded {
        delivered: n,
        undeliverable: 0,
    }
}

#[test]
fn two_sessions_exchange_in_every_mode_pairing() {
    for mode_a in Mode::ALL {
        for mode_b in Mode::ALL {
            let (router, mut a, mut b) = pair(mode_a, mode_b);
            for i in 0..3u8 {
                let payload = [i; 40];
                let packet = a.packet(&payload);
                let (outcome, sent) = run(&router, a.address, &packet);
                assert_eq!(outcome, forwarded(1), "{mode_a} -> {mode_b}");
                assert_eq!(sent.len(), 1);
                assert_eq!(sent[0].0, b.address);
                assert_eq!(sent[0].1.len(), packet.len());
                let (aad, plain, counter) = b.open(&sent[0].1);
                assert_eq!(aad, packet[..12], "the header is relayed unchanged");
                assert_eq!(plain, payload);
                assert_eq!(counter, u32::from(i), "the listener's own send counter");
            }
            let reply = b.packet(b"back");
            let (outcome, sent) = run(&router, b.address, &reply);
            assert_eq!(outcome, forwarded(1));
            assert_eq!(a.open(&sent[0].1).1, b"back");
            assert_eq!(a.open(&sent[0].1).2, 0);
        }
    }
}

#[test]
fn extension_body_and_csrcs_travel_encrypted_and_intact() {
    let (router, a, b) = pair(Mode::Aes256GcmRtpsize, Mode::XChaCha20Poly1305Rtpsize);
    // X bit and one CSRC: AAD = 12 + 4 + the 4-byte extension header.
    let mut aad = a.header();
    aad[0] = 0x80 | 0x10 | 0x01;
    aad.extend_from_slice(&0x0102_0304u32.to_be_bytes());
    aad.extend_from_slice(&[0xbe, 0xde, 0x00, 0x01]);
    let body = [0x51, 0x02, 0xff, 0x00, b'o', b'p', b'u', b's'];
    let packet = a.cipher.seal_to_vec(&aad, &body, 0);
    let (outcome, sent) = run(&router, a.address, &packet);
    assert_eq!(outcome, forwarded(1));
    let (got_aad, plain, _) = b.open(&sent[0].1);
    assert_eq!(got_aad, aad);
    assert_eq!(plain, body);
    // Treating the extension body as AAD instead (the non-rtpsize rule) fails to open.
    let wrong = a
        .cipher
        .seal_to_vec(&[aad.as_slice(), &body[..4]].concat(), &body[4..], 1);
    assert_eq!(
        run(&router, a.address, &wrong).0,
        dropped(DropReason::AuthFailed)
    );
}

#[test]
fn fan_out_skips_self_deaf_and_unbound_listeners() {
    let router = Router::new();
    let mut speaker = Client::join(&router, 1, ROOM, Mode::Aes256GcmRtpsize);
    speaker.discover(&router, speaker.address);
    let listeners: Vec<Client> = (2..12)
        .map(|id| {
            let mode = Mode::ALL[id as usize % 2];
            let c = Client::join(&router, id, ROOM, mode);
            c.discover(&router, c.address);
            c
        })
        .collect();
    let unbound = Client::join(&router, 50, ROOM, Mode::Aes256GcmRtpsize);
    let elsewhere = Client::join(&router, 60, ROOM + 1, Mode::Aes256GcmRtpsize);
    elsewhere.discover(&router, elsewhere.address);
    router.set_flags(listeners[0].id, false, true).unwrap();

    let (outcome, sent) = run(&router, speaker.address, &speaker.packet(b"hello room"));
    assert_eq!(
        outcome,
        Outcome::Forwarded {
            delivered: 9,
            undeliverable: 1
        }
    );
    let destinations: Vec<_> = sent.iter().map(|(to, _)| *to).collect();
    for l in &listeners[1..] {
        let (_, d) = sent.iter().find(|(to, _)| *to == l.address).unwrap();
        assert_eq!(l.open(d).1, b"hello room");
    }
    assert!(!destinations.contains(&listeners[0].address), "deafened");
    assert!(
        !destinations.contains(&speaker.address),
        "not echoed to the sender"
    );
    assert!(
        !destinations.contains(&elsewhere.address),
        "other rooms hear nothing"
    );
    let _ = unbound;
}

#[test]
fn every_drop_reason_is_reported() {
    let (router, mut a, _b) = pair(Mode::XChaCha20Poly1305Rtpsize, Mode::Aes256GcmRtpsize);
    let from = a.address;
    let d = |datagram: &[u8]| run(&router, from, datagram).0;

    assert_eq!(d(&[0x80]), dropped(DropReason::Truncated));
    assert_eq!(d(&[0x80; 12 + TAG_LEN + 3]), dropped(DropReason::Truncated));
    assert_eq!(
        d(&vec![0x80; MAX_DATAGRAM + 1]),
        dropped(DropReason::Oversize)
    );
    assert_eq!(d(&[0x00; 40]), dropped(DropReason::NotRtp));
    let mut stranger = a.packet_with_counter(b"x", 0);
    stranger[8..12].copy_from_slice(&0xffff_ffffu32.to_be_bytes());
    assert_eq!(d(&stranger), dropped(DropReason::UnknownSsrc));
    let mut forged = a.packet_with_counter(b"x", 0);
    forged[14] ^= 1;
    assert_eq!(d(&forged), dropped(DropReason::AuthFailed));

    let first = a.packet(b"first");
    assert_eq!(d(&first), forwarded(1));
    assert_eq!(d(&first), dropped(DropReason::Replayed));
    for _ in 0..WINDOW + 5 {
        assert_eq!(d(&a.packet(b"more")), forwarded(1));
    }
    assert_eq!(
        d(&a.packet_with_counter(b"old", 1)),
        dropped(DropReason::TooOld)
    );
    let far = a.counter + FAR_FUTURE as u32 + 1;
    assert_eq!(
        d(&a.packet_with_counter(b"far", far)),
        dropped(DropReason::FarFuture)
    );
    assert_eq!(
        d(&a.packet(b"next")),
        forwarded(1),
        "an authentic far jump moved nothing"
    );

    router.set_flags(a.id, true, false).unwrap();
    assert_eq!(d(&a.packet(b"muted")), dropped(DropReason::Muted));
    router.set_flags(a.id, false, false).unwrap();
    router.move_session(a.id, NO_ROOM).unwrap();
    assert_eq!(d(&a.packet(b"alone")), dropped(DropReason::NotInRoom));
}

#[test]
fn a_session_added_without_a_room_is_not_in_room() {
    let router = Router::new();
    let mut lone = Client::join(&router, 1, NO_ROOM, Mode::Aes256GcmRtpsize);
    assert_eq!(
        run(&router, lone.address, &lone.packet(b"x")).0,
        dropped(DropReason::NotInRoom)
    );
    assert!(router.room_members(NO_ROOM).is_empty());
}

#[test]
fn forged_far_future_packet_does_not_block_the_real_next_one() {
    let (router, mut a, _b) = pair(Mode::Aes256GcmRtpsize, Mode::XChaCha20Poly1305Rtpsize);
    assert_eq!(run(&router, a.address, &a.packet(b"0")).0, forwarded(1));
    // An attacker who knows the SSRC but not the key claims a counter far ahead.
    let attacker = Cipher::new(Mode::Aes256GcmRtpsize, &[0xee; 32]);
    let forged = attacker.seal_to_vec(&a.header(), b"evil", u32::MAX - 7);
    assert_eq!(
        run(&router, a.address, &forged).0,
        dropped(DropReason::AuthFailed)
    );
    // Also with the real header and payload but only the counter rewritten.
    let mut rewritten = a.packet_with_counter(b"1", a.counter);
    let n = rewritten.len();
    rewritten[n - 4..].copy_from_slice(&(a.counter + 50_000_000).to_be_bytes());
    assert_eq!(
        run(&router, a.address, &rewritten).0,
        dropped(DropReason::AuthFailed)
    );
    assert_eq!(run(&router, a.address, &a.packet(b"1")).0, forwarded(1));
    assert_eq!(run(&router, a.address, &a.packet(b"2")).0, forwarded(1));
}

#[test]
fn a_bit_flip_anywhere_is_never_forwarded_and_changes_nothing() {
    for mode in Mode::ALL {
        let (router, mut a, _b) = pair(mode, mode);
        assert_eq!(
            run(&router, a.address, &a.packet(b"warm up")).0,
            forwarded(1)
        );
        let packet = a.packet(b"twenty bytes of opus");
        let mut counters = Counters::default();
        for bit in 0..packet.len() * 8 {
            let mut flipped = packet.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let (outcome, sent) = run(&router, a.address, &flipped);
            counters.record(outcome);
            assert!(
                matches!(outcome, Outcome::Dropped(_) | Outcome::Rtcp),
                "{mode} bit {bit}: {outcome:?}"
            );
            assert!(sent.is_empty());
        }
        // Header/AAD (bar SSRC and the bits that change the kind or the AAD length),
        // ciphertext, tag and the nonce suffix all fail authentication.
        assert!(counters.dropped(DropReason::AuthFailed) >= (packet.len() as u64 - 6) * 8 - 12);
        // The genuine packet still goes through: nothing above moved the window.
        assert_eq!(run(&router, a.address, &packet).0, forwarded(1), "{mode}");
        assert_eq!(router.session_address(a.id), Some(a.address));
    }
}

#[test]
fn forged_ssrc_from_another_address_fails_and_does_not_rebind() {
    let (router, mut victim, b) = pair(Mode::XChaCha20Poly1305Rtpsize, Mode::Aes256GcmRtpsize);
    let mut mallory = Client::join(&router, 3, ROOM, Mode::XChaCha20Poly1305Rtpsize);
    mallory.discover(&router, mallory.address);
    // Mallory seals with her own (valid) key but claims the victim's SSRC.
    let mut header = victim.header();
    header[8..12].copy_from_slice(&victim.ssrc.to_be_bytes());
    let forged = mallory.cipher.seal_to_vec(&header, b"impostor", 0);
    mallory.counter += 1;
    let (outcome, sent) = run(&router, mallory.address, &forged);
    assert_eq!(outcome, dropped(DropReason::AuthFailed));
    assert!(sent.is_empty());
    assert_eq!(router.session_address(victim.id), Some(victim.address));
    let (outcome, sent) = run(&router, victim.address, &victim.packet(b"real"));
    assert_eq!(outcome, forwarded(2));
    assert!(sent
        .iter()
        .any(|(to, d)| *to == b.address && b.open(d).1 == b"real"));
}

#[test]
fn ip_discovery_answers_and_binds_once() {
    let router = Router::new();
    let mut a = Client::join(&router, 1, ROOM, Mode::Aes256GcmRtpsize);
    let b = Client::join(&router, 2, ROOM, Mode::Aes256GcmRtpsize);
    b.discover(&router, b.address);

    let (outcome, sent) = a.discover(&router, a.address);
    assert_eq!(outcome, Outcome::IpDiscovery);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, a.address);
    assert_eq!(sent[0].1, discovery::response(a.ssrc, a.address));
    assert_eq!(router.session_address(a.id), Some(a.address));

    // A later discovery from elsewhere is answered (it reveals only the asker's own
    // address) but must not steal the session's audio.
    let thief = addr(6666);
    let (outcome, sent) = a.discover(&router, thief);
    assert_eq!(outcome, Outcome::IpDiscovery);
    assert_eq!(sent[0].0, thief);
    assert_eq!(router.session_address(a.id), Some(a.address));

    // Authentic, fresh media from a new address is NAT rebinding: follow it.
    let moved = addr(7777);
    let packet = a.packet(b"after nat rebinding");
    assert_eq!(run(&router, moved, &packet).0, forwarded(1));
    assert_eq!(router.session_address(a.id), Some(moved));
    // A replay of it from the old address is refused and does not move it back.
    assert_eq!(
        run(&router, a.address, &packet).0,
        dropped(DropReason::Replayed)
    );
    assert_eq!(router.session_address(a.id), Some(moved));

    // Listeners are sent to the newly bound address.
    let (_, sent) = run(
        &router,
        b.address,
        &b.cipher
            .seal_to_vec(&[0x80, 0x78, 0, 0, 0, 0, 0, 0, 0, 0, 0x03, 0xea], b"hi", 0),
    );
    assert_eq!(sent[0].0, moved);

    // Unknown SSRCs get no answer.
    let mut req = vec![0u8; 74];
    req[..8].copy_from_slice(&[0, 1, 0, 70, 0, 0, 0x99, 0x99]);
    let (outcome, sent) = run(&router, thief, &req);
    assert_eq!(outcome, dropped(DropReason::UnknownSsrc));
    assert!(sent.is_empty());
}

#[test]
fn first_authentic_packet_binds_a_session_that_skipped_discovery() {
    let router = Router::new();
    let mut a = Client::join(&router, 1, ROOM, Mode::XChaCha20Poly1305Rtpsize);
    let b = Client::join(&router, 2, ROOM, Mode::XChaCha20Poly1305Rtpsize);
    assert_eq!(
        run(&router, a.address, &a.packet(b"x")).0,
        Outcome::Forwarded {
            delivered: 0,
            undeliverable: 1
        }
    );
    assert_eq!(router.session_address(a.id), Some(a.address));
    assert_eq!(router.session_address(b.id), None);
}

#[test]
fn keepalives_are_counted_and_echoed_only_to_bound_addresses() {
    let (router, a, _b) = pair(Mode::Aes256GcmRtpsize, Mode::Aes256GcmRtpsize);
    // @discordjs/voice: u32 little-endian counter, four zero bytes.
    let keepalive = [5, 0, 0, 0, 0, 0, 0, 0];
    let (outcome, sent) = run(&router, a.address, &keepalive);
    assert_eq!(outcome, Outcome::Keepalive { echoed: true });
    assert_eq!(sent, vec![(a.address, keepalive.to_vec())]);
    let (outcome, sent) = run(&router, addr(9), &keepalive);
    assert_eq!(outcome, Outcome::Keepalive { echoed: false });
    assert!(sent.is_empty(), "no reflection to strangers");
    router.remove_session(a.id);
    assert_eq!(
        run(&router, a.address, &keepalive).0,
        Outcome::Keepalive { echoed: false }
    );
}

#[test]
fn rtcp_is_counted_and_never_forwarded() {
    let (router, a, _b) = pair(Mode::Aes256GcmRtpsize, Mode::Aes256GcmRtpsize);
    let mut header = a.header();
    header[1] = 201; // receiver report
    let rr = a.cipher.seal_to_vec(&header[..8], &[0; 24], 0);
    let (outcome, sent) = run(&router, a.address, &rr);
    assert_eq!(outcome, Outcome::Rtcp);
    assert!(sent.is_empty());
}

#[test]
fn mute_deafen_and_move_change_who_hears() {
    let router = Router::new();
    let mut clients: Vec<Client> = (1..=3)
        .map(|id| Client::join(&router, id, ROOM, Mode::XChaCha20Poly1305Rtpsize))
        .collect();
    for c in &clients {
        c.discover(&router, c.address);
    }
    let heard_by = |router: &Router, c: &mut Client| -> Vec<SocketAddr> {
        let (_, sent) = run(router, c.address, &c.packet(b"x"));
        let mut to: Vec<_> = sent.into_iter().map(|(to, _)| to).collect();
        to.sort();
        to
    };
    let (a1, a2, a3) = (clients[0].address, clients[1].address, clients[2].address);
    assert_eq!(heard_by(&router, &mut clients[0]), vec![a2, a3]);
    router.set_flags(3, false, true).unwrap();
    assert_eq!(heard_by(&router, &mut clients[0]), vec![a2]);
    // Deafened sessions may still speak.
    assert_eq!(heard_by(&router, &mut clients[2]), vec![a1, a2]);
    router.set_flags(3, false, false).unwrap();
    router.move_session(2, ROOM + 1).unwrap();
    assert_eq!(heard_by(&router, &mut clients[0]), vec![a3]);
    assert_eq!(heard_by(&router, &mut clients[1]), Vec::<SocketAddr>::new());
    router.move_session(3, ROOM + 1).unwrap();
    assert_eq!(heard_by(&router, &mut clients[1]), vec![a3]);
    assert_eq!(router.room_members(ROOM + 1), vec![2, 3]);
    assert_eq!(router.room_members(ROOM), vec![1]);
}

#[test]
fn control_errors() {
    let router = Router::new();
    let key = [1; 32];
    router
        .add_session(1, 11, ROOM, Mode::Aes256GcmRtpsize, &key)
        .unwrap();
    assert_eq!(
        router.add_session(1, 12, ROOM, Mode::Aes256GcmRtpsize, &key),
        Err(ControlError::SessionIdInUse(1))
    );
    assert_eq!(
        router.add_session(2, 11, ROOM, Mode::Aes256GcmRtpsize, &key),
        Err(ControlError::SsrcInUse(11))
    );
    assert_eq!(
        router.move_session(9, ROOM),
        Err(ControlError::UnknownSession(9))
    );
    assert_eq!(
        router.set_flags(9, true, true),
        Err(ControlError::UnknownSession(9))
    );
    assert_eq!(router.last_heard(9), Err(ControlError::UnknownSession(9)));
    assert_eq!(router.session_address(9), None);
    assert!(!router.remove_session(9));

    router.set_room_limit(ROOM, 2);
    router
        .add_session(2, 12, ROOM, Mode::Aes256GcmRtpsize, &key)
        .unwrap();
    let full = ControlError::RoomFull {
        room: ROOM,
        limit: 2,
    };
    assert_eq!(
        router.add_session(3, 13, ROOM, Mode::Aes256GcmRtpsize, &key),
        Err(full.clone())
    );
    router
        .add_session(3, 13, ROOM + 1, Mode::Aes256GcmRtpsize, &key)
        .unwrap();
    assert_eq!(router.move_session(3, ROOM), Err(full));
    assert_eq!(
        router.move_session(2, ROOM),
        Ok(()),
        "staying put is not joining"
    );
    // A limit on an empty room is kept for later; lowering it below the count evicts no one.
    router.set_room_limit(99, 1);
    router.move_session(3, 99).unwrap();
    assert!(matches!(
        router.move_session(2, 99),
        Err(ControlError::RoomFull { .. })
    ));
    router.set_room_limit(ROOM, 1);
    assert_eq!(router.room_members(ROOM), vec![1, 2]);
    router.set_room_limit(ROOM, 0);
    router.move_session(3, ROOM).unwrap();
    assert_eq!(router.room_members(ROOM), vec![1, 2, 3]);

    // A removed session's SSRC and id are free again.
    assert!(router.remove_session(1));
    router
        .add_session(1, 11, NO_ROOM, Mode::XChaCha20Poly1305Rtpsize, &key)
        .unwrap();
    assert_eq!(router.session_count(), 3);
}

#[test]
fn removing_a_session_stops_its_packets() {
    let (router, mut a, _b) = pair(Mode::Aes256GcmRtpsize, Mode::Aes256GcmRtpsize);
    assert!(router.remove_session(a.id));
    assert_eq!(
        run(&router, a.address, &a.packet(b"x")).0,
        dropped(DropReason::UnknownSsrc)
    );
}

#[test]
fn last_heard_tracks_authentic_packets_only() {
    let (router, mut a, _b) = pair(Mode::Aes256GcmRtpsize, Mode::Aes256GcmRtpsize);
    assert_eq!(router.last_heard(a.id), Ok(None));
    let mut forged = a.packet_with_counter(b"x", 5);
    forged[20] ^= 0x10;
    router.process(500, a.address, &mut forged, &mut |_, _| {});
    assert_eq!(router.last_heard(a.id), Ok(None));
    let mut p = a.packet(b"x");
    router.process(1234, a.address, &mut p, &mut |_, _| {});
    assert_eq!(router.last_heard(a.id), Ok(Some(1234)));
}

#[test]
fn concurrent_processing_and_control_changes() {
    use std::sync::atomic::AtomicUsize;
    let router = Arc::new(Router::new());
    let speakers: Vec<Client> = (1..=4)
        .map(|id| {
            let c = Client::join(&router, id, ROOM, Mode::ALL[id as usize % 2]);
            c.discover(&router, c.address);
            c
        })
        .collect();
    let delivered = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for mut speaker in speakers {
            let router = Arc::clone(&router);
            let delivered = Arc::clone(&delivered);
            scope.spawn(move || {
                for _ in 0..500 {
                    let mut p = speaker.packet(b"concurrent");
                    let view = router.view();
                    let outcome = view.process(0, speaker.address, &mut p, &mut |_, _| {
                        delivered.fetch_add(1, Relaxed);
                    });
                    assert!(matches!(outcome, Outcome::Forwarded { .. }), "{outcome:?}");
                }
            });
        }
        let router = Arc::clone(&router);
        scope.spawn(move || {
            for i in 0..200u64 {
                router
                    .add_session(
                        100 + i,
                        5000 + i as u32,
                        ROOM,
                        Mode::Aes256GcmRtpsize,
                        &[3; 32],
                    )
                    .unwrap();
                router.set_flags(100 + i, false, i % 2 == 0).unwrap();
                assert!(router.remove_session(100 + i));
            }
        });
    });
    assert_eq!(delivered.load(Relaxed), 4 * 500 * 3);
}

#[test]
fn rekey_keeps_address_room_and_flags_and_starts_counters_afresh() {
    let (router, mut a, mut b) = pair(Mode::Aes256GcmRtpsize, Mode::Aes256GcmRtpsize);
    let _ = run(&router, a.address, &a.packet(b"before"));
    let new_key = [7u8; KEY_LEN];
    router
        .rekey(b.id, Mode::XChaCha20Poly1305Rtpsize, &new_key)
        .unwrap();
    b.cipher = Cipher::new(Mode::XChaCha20Poly1305Rtpsize, &new_key);
    // b's address stays bound: it hears a without a new discovery, under the new key,
    // and the router's nonce counter toward it starts again at 0.
    let (outcome, sent) = run(&router, a.address, &a.packet(b"after"));
    assert_eq!(outcome, forwarded(1));
    assert_eq!(sent[0].0, b.address);
    let (_, plain, counter) = b.open(&sent[0].1);
    assert_eq!((plain.as_slice(), counter), (&b"after"[..], 0));
    // b speaks under the new key from counter 0 again; the old key no longer opens.
    b.counter = 0;
    let (outcome, sent) = run(&router, b.address, &b.packet(b"new key"));
    assert_eq!(outcome, forwarded(1));
    assert_eq!(a.open(&sent[0].1).1, b"new key");
    let old = Cipher::new(Mode::Aes256GcmRtpsize, &key_for(b.id));
    let stale = old.seal_to_vec(&b.header(), b"old key", 99);
    assert_eq!(
        run(&router, b.address, &stale).0,
        dropped(DropReason::AuthFailed)
    );
    assert!(matches!(
        router.rekey(99, Mode::Aes256GcmRtpsize, &new_key),
        Err(ControlError::UnknownSession(99))
    ));
}
