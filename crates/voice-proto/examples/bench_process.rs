//! Micro-benchmark of `Router::process`: one speaker, ten listeners, per mode.
//!
//! Prints nanoseconds per processed packet and per forwarded datagram. Packets are sealed
//! before timing starts, so the figures cover only the server's work: demux, open, replay
//! window, and ten re-seals. No sockets: the kernel's share (several microseconds per
//! `sendmmsg`ed datagram here) is not included.
//!
//! Run: `cargo run --release -p voice-proto --example bench_process [packets]`
//!
//! The Python wheel is built with poly1305's portable backend (see
//! `crates/media-native/pyproject.toml`); to measure what it ships, add
//! `--config 'build.rustflags=["--cfg", "poly1305_backend=\"soft\""]'`.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Instant;

use voice_proto::{Cipher, Mode, Outcome, Router};

const LISTENERS: u64 = 10;
/// A 20 ms Opus frame at 64 kbit/s.
const PAYLOAD_LEN: usize = 160;
const ROOM: u64 = 1;

fn main() {
    let packets: u32 = std::env::args()
        .nth(1)
        .map_or(100_000, |n| n.parse().expect("packets"));
    for mode in Mode::ALL {
        bench(mode, packets);
    }
}

fn bench(mode: Mode, packets: u32) {
    let router = Router::new();
    let speaker_key = [0x11; 32];
    let speaker_ssrc = 1;
    let speaker_addr = SocketAddr::from(([127, 0, 0, 1], 10_000));
    router
        .add_session(1, speaker_ssrc, ROOM, mode, &speaker_key)
        .unwrap();
    for id in 2..2 + LISTENERS {
        router
            .add_session(id, id as u32, ROOM, mode, &[id as u8; 32])
            .unwrap();
        // Bind each listener's address through IP discovery, as a client would.
        let mut discovery = [0u8; 74];
        discovery[..4].copy_from_slice(&[0, 1, 0, 70]);
        discovery[4..8].copy_from_slice(&(id as u32).to_be_bytes());
        let from = SocketAddr::from(([127, 0, 0, 1], 10_000 + id as u16));
        router.process(0, from, &mut discovery, &mut |_, _| {});
    }

    let cipher = Cipher::new(mode, &speaker_key);
    let payload = [0x5a; PAYLOAD_LEN];
    let mut prepared: Vec<Vec<u8>> = (0..packets)
        .map(|i| {
            let mut header = [0x80, 0x78, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            header[2..4].copy_from_slice(&(i as u16).to_be_bytes());
            header[4..8].copy_from_slice(&(i * 960).to_be_bytes());
            header[8..12].copy_from_slice(&speaker_ssrc.to_be_bytes());
            cipher.seal_to_vec(&header, &payload, i)
        })
        .collect();

    let mut forwarded = 0u64;
    let started = Instant::now();
    // One read lock per batch of 32, as the native receive loop takes it.
    for batch in prepared.chunks_mut(32) {
        let view = router.view();
        for packet in batch {
            let outcome = view.process(0, speaker_addr, packet, &mut |to, bytes| {
                black_box((to, bytes));
            });
            match outcome {
                Outcome::Forwarded { delivered, .. } => forwarded += u64::from(delivered),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(forwarded, u64::from(packets) * LISTENERS);
    let per_packet = elapsed.as_nanos() as f64 / f64::from(packets);
    println!(
        "{:<32} 1 -> {LISTENERS} listeners, {PAYLOAD_LEN}-byte payload: {:>8.0} ns/packet, {:>6.0} ns/forwarded datagram, {:>6.2} M datagrams/s/core",
        mode.as_str(),
        per_packet,
        per_packet / LISTENERS as f64,
        forwarded as f64 / elapsed.as_secs_f64() / 1e6,
    );
}
