//! The data plane shared by both protocols: one UDP socket per simulated client, sharded over
//! a few threads, each with a level-triggered epoll set.
//!
//! Each thread first makes its sessions reachable (Mumble UDP ping echoed; Discord IP
//! discovery answered), paced so the server's socket buffer is not flooded. All threads then
//! start from one instant `t0`: speakers send every 20 ms at fixed phases spread evenly
//! across the period (absolute deadlines, so a late wake-up does not drift the rate), and
//! every received datagram is opened with that listener's own key and its stamp checked
//! against the measured window `[t0 + warmup, t0 + warmup + duration)`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};

use crate::discord::{self, Aead};
use crate::mumble_wire;
use crate::ocb2::CryptState;
use crate::stats::{self, Counters};
use crate::sys::{self, Epoll, RecvBatch, SLOT};

/// Ready sockets taken per epoll call.
const EPOLL_BATCH: usize = 1024;

/// Protocol-specific per-session state.
pub enum Proto {
    Mumble(Box<CryptState>),
    Discord { aead: Aead, ssrc: u32 },
}

/// One simulated client as the planner hands it to the engine.
pub struct SessionPlan {
    pub room: u32,
    /// Global speaker index (0..speakers) if this client speaks.
    pub speaker: Option<u32>,
    pub proto: Proto,
}

struct Speaker {
    id: u32,
    phase_ns: u64,
    seq: u32,
    counter: u32,
    rtp_seq: u16,
    rtp_ts: u32,
    payload: Vec<u8>,
}

struct Session {
    sock: UdpSocket,
    room: u32,
    proto: Proto,
    established: bool,
    handshake_sent_ns: u64,
    keepalives: u32,
    speaker: Option<Speaker>,
}

pub struct EngineConfig {
    pub server: SocketAddr,
    pub payload_len: usize,
    pub period_ns: u64,
    pub warmup_ns: u64,
    pub duration_ns: u64,
    pub drain_ns: u64,
    /// Speakers whose deadline falls within this slack of now are sent in the same wake-up.
    pub slack_ns: u64,
    /// Longest sleep between two harvests of ready sockets.
    pub poll_ns: u64,
    /// Periodic UDP keepalive per session (Mumble's ping, Discord's 8-byte keepalive; real
    /// clients send one every 5 s); 0 disables.
    pub keepalive_ns: u64,
    pub handshake_timeout_ns: u64,
    pub handshake_inflight: usize,
    pub run_id: u32,
    pub total_speakers: u32,
    /// Members of each room, to count expected deliveries (everyone but the sender).
    pub room_sizes: Vec<u32>,
    pub recv_batch: usize,
    /// Per global speaker id: the Mumble session or SSRC forwarded packets must name.
    pub speaker_origins: Vec<u64>,
}

/// Start-line shared by the data-plane threads and the coordinator.
pub struct StartLine {
    pub barrier: Barrier,
    pub t0: AtomicU64,
    pub unestablished: AtomicU64,
}

impl StartLine {
    pub fn new(threads: usize) -> Arc<Self> {
        Arc::new(StartLine {
            barrier: Barrier::new(threads + 1),
            t0: AtomicU64::new(0),
            unestablished: AtomicU64::new(0),
        })
    }
}

/// The source address of client `i`: each gets its own loopback address (all of 127/8 is
/// local), so servers see distinct clients as they would on a network. Sharing one address
/// would make murmurd try every unmatched user's key on each new UDP peer from it, which is
/// quadratic and, with its 24-bit tags, produced false matches at a few thousand users.
pub fn client_ip(server: SocketAddr, i: usize) -> IpAddr {
    if server.ip().is_loopback() && server.is_ipv4() {
        let i = i as u32;
        IpAddr::V4(Ipv4Addr::new(
            127,
            10 + (i / 50_000) as u8,
            ((i / 200) % 250) as u8,
            (1 + i % 200) as u8,
        ))
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}

/// Creates one connected, non-blocking UDP socket per session, each from its client's address.
pub fn open_sockets(server: SocketAddr, n: usize) -> std::io::Result<Vec<UdpSocket>> {
    (0..n)
        .map(|i| {
            let s = UdpSocket::bind(SocketAddr::new(client_ip(server, i), 0))?;
            s.connect(server)?;
            s.set_nonblocking(true)?;
            sys::enable_rx_timestamps(s.as_raw_fd())?;
            Ok(s)
        })
        .collect()
}

fn xorshift(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

pub struct Shard {
    sessions: Vec<Session>,
    /// Speaker session indices sorted by phase: they stay in this order forever.
    speaker_order: Vec<usize>,
}

impl Shard {
    pub fn new(plans: Vec<(SessionPlan, UdpSocket)>, cfg: &EngineConfig) -> Shard {
        let mut sessions = Vec::with_capacity(plans.len());
        for (plan, sock) in plans {
            let speaker = plan.speaker.map(|id| {
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (u64::from(id) << 17 | 1);
                let payload = (0..cfg.payload_len)
                    .map(|_| xorshift(&mut rng) as u8)
                    .collect();
                Speaker {
                    id,
                    phase_ns: cfg.period_ns * u64::from(id) / u64::from(cfg.total_speakers.max(1)),
                    seq: 0,
                    counter: xorshift(&mut rng) as u32,
                    rtp_seq: xorshift(&mut rng) as u16,
                    rtp_ts: xorshift(&mut rng) as u32,
                    payload,
                }
            });
            sessions.push(Session {
                sock,
                room: plan.room,
                proto: plan.proto,
                established: false,
                handshake_sent_ns: 0,
                keepalives: 0,
                speaker,
            });
        }
        let mut speaker_order: Vec<usize> = (0..sessions.len())
            .filter(|&i| sessions[i].speaker.is_some())
            .collect();
        speaker_order.sort_by_key(|&i| sessions[i].speaker.as_ref().map(|s| s.phase_ns));
        Shard {
            sessions,
            speaker_order,
        }
    }
}

enum Outcome {
    Echo,
    /// The stamp, and for Mumble the sender session murmurd wrote in front of the frame.
    Voice(Option<stats::Stamp>, Option<u64>),
    Foreign,
    Undecryptable,
}

struct Worker<'a> {
    cfg: &'a EngineConfig,
    sessions: Vec<Session>,
    counters: Counters,
    batch: RecvBatch,
    plain: Vec<u8>,
    out: Vec<u8>,
    win_start: u64,
    win_end: u64,
}

impl Worker<'_> {
    /// Sends the handshake datagram: a UDP ping (Mumble) or IP discovery (Discord).
    fn send_handshake(&mut self, i: usize, now: u64) {
        let s = &mut self.sessions[i];
        let n = match &mut s.proto {
            Proto::Mumble(cs) => {
                let plen = mumble_wire::build_ping(&mut self.plain, now);
                cs.encrypt(&self.plain[..plen], &mut self.out)
            }
            Proto::Discord { ssrc, .. } => {
                let req = discord::discovery_request(*ssrc);
                self.out[..req.len()].copy_from_slice(&req);
                req.len()
            }
        };
        if s.sock.send(&self.out[..n]).is_err() {
            self.counters.send_errors += 1;
        }
        s.handshake_sent_ns = now;
    }

    /// A periodic keepalive as real clients send: Mumble's encrypted UDP ping, or the 8-byte
    /// keepalive (a little-endian counter) Discord clients send and servers echo.
    fn send_keepalive(&mut self, i: usize, now: u64) {
        match self.sessions[i].proto {
            Proto::Mumble(_) => self.send_handshake(i, now),
            Proto::Discord { .. } => {
                let s = &mut self.sessions[i];
                s.keepalives = s.keepalives.wrapping_add(1);
                let mut ka = [0u8; discord::KEEPALIVE_LEN];
                ka[..4].copy_from_slice(&s.keepalives.to_le_bytes());
                if s.sock.send(&ka).is_err() {
                    self.counters.send_errors += 1;
                }
            }
        }
    }

    fn send_voice(&mut self, i: usize, due: u64) {
        // Stamp with a fresh clock read: a wake-up may send many packets in a row.
        let now = sys::mono_ns();
        let late_us = now.saturating_sub(due) / 1000;
        if late_us > 2000 {
            self.counters.sends_late_over_2ms += 1;
        }
        self.counters.max_send_lateness_us = self.counters.max_send_lateness_us.max(late_us);
        let in_window = now >= self.win_start && now < self.win_end;
        let room_size = self.cfg.room_sizes[self.sessions[i].room as usize];
        let run_id = self.cfg.run_id;
        let s = &mut self.sessions[i];
        let sp = s.speaker.as_mut().expect("only speakers are scheduled");
        let stamp = stats::Stamp {
            sent_mono_ns: now,
            sent_real_ns: sys::real_ns(),
            speaker: sp.id,
            seq: sp.seq,
            run_id,
        };
        stats::write_stamp(&mut sp.payload, &stamp);
        let n = match &mut s.proto {
            Proto::Mumble(cs) => {
                // Mumble sequence numbers count 10 ms frames: one 20 ms packet advances two.
                let plen =
                    mumble_wire::build_voice(&mut self.plain, u64::from(sp.seq) * 2, &sp.payload);
                cs.encrypt(&self.plain[..plen], &mut self.out)
            }
            Proto::Discord { aead, ssrc } => {
                let n = discord::seal_rtp(
                    aead,
                    &mut self.out,
                    sp.rtp_seq,
                    sp.rtp_ts,
                    *ssrc,
                    sp.counter,
                    &sp.payload,
                );
                sp.rtp_seq = sp.rtp_seq.wrapping_add(1);
                sp.rtp_ts = sp.rtp_ts.wrapping_add(960);
                sp.counter = sp.counter.wrapping_add(1);
                n
            }
        };
        sp.seq = sp.seq.wrapping_add(1);
        match s.sock.send(&self.out[..n]) {
            Ok(_) => {
                self.counters.sent_total += 1;
                if in_window {
                    self.counters.sent_window += 1;
                    self.counters.expected_window += u64::from(room_size.saturating_sub(1));
                }
            }
            Err(_) => self.counters.send_errors += 1,
        }
    }

    fn record(&mut self, stamp: Option<stats::Stamp>, origin: Option<u64>, rx_real: Option<u64>) {
        let Some(st) = stamp.filter(|st| st.run_id == self.cfg.run_id) else {
            self.counters.foreign += 1;
            return;
        };
        // The server must say who spoke: murmurd's session field, the RTP SSRC for Discord.
        let expected_origin = self.cfg.speaker_origins.get(st.speaker as usize).copied();
        if origin != expected_origin {
            self.counters.misattributed += 1;
        }
        let now = sys::mono_ns();
        self.counters.received_total += 1;
        if st.sent_mono_ns < self.win_start {
            self.counters.received_warmup += 1;
        } else if st.sent_mono_ns < self.win_end {
            self.counters.received_window += 1;
            let rx_real = rx_real.unwrap_or_else(sys::real_ns);
            self.counters
                .latency
                .add(rx_real.saturating_sub(st.sent_real_ns) / 1000);
            self.counters
                .latency_app
                .add(now.saturating_sub(st.sent_mono_ns) / 1000);
        }
    }

    /// Drains one ready socket (one recvmmsg batch; level triggering brings us back).
    fn on_readable(&mut self, i: usize) {
        let fd = self.sessions[i].sock.as_raw_fd();
        let n = match self.batch.recv(fd) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(_) => {
                self.counters.recv_errors += 1;
                return;
            }
        };
        for k in 0..n {
            let pkt = self.batch.packet(k);
            let outcome = match &mut self.sessions[i].proto {
                Proto::Mumble(cs) => match cs.decrypt(pkt, &mut self.plain) {
                    Ok(plen) if plen > 0 => {
                        let plain = &self.plain[..plen];
                        if plain[0] >> 5 == mumble_wire::udp::PING {
                            Outcome::Echo
                        } else {
                            match mumble_wire::parse_forwarded_voice(plain) {
                                Some(v) => {
                                    Outcome::Voice(stats::read_stamp(v.payload), Some(v.session))
                                }
                                None => Outcome::Foreign,
                            }
                        }
                    }
                    Ok(_) => Outcome::Foreign,
                    Err(_) => Outcome::Undecryptable,
                },
                Proto::Discord { aead, .. } => {
                    if discord::is_discovery_response(pkt) || pkt.len() == discord::KEEPALIVE_LEN {
                        Outcome::Echo
                    } else {
                        match discord::open_rtp(aead, pkt) {
                            Ok(o) => {
                                let ssrc = u64::from(o.ssrc);
                                Outcome::Voice(stats::read_stamp(&pkt[o.payload]), Some(ssrc))
                            }
                            Err(_) => Outcome::Undecryptable,
                        }
                    }
                }
            };
            match outcome {
                Outcome::Echo => {
                    self.counters.control_echoes += 1;
                    self.sessions[i].established = true;
                }
                Outcome::Voice(stamp, origin) => {
                    let rx = self.batch.rx_time(k);
                    self.record(stamp, origin, rx)
                }
                Outcome::Foreign => self.counters.foreign += 1,
                Outcome::Undecryptable => self.counters.decrypt_failures += 1,
            }
        }
    }

    /// Waits up to `timeout_ns` for readable sockets and drains one batch from each; returns
    /// how many were ready.
    fn poll(&mut self, ep: &mut Epoll, ready: &mut Vec<u64>, timeout_ns: u64) -> usize {
        if ep.wait(timeout_ns, ready).is_err() {
            self.counters.recv_errors += 1;
            return 0;
        }
        // Keep the token vector's capacity across calls.
        let tokens = std::mem::take(ready);
        for &t in &tokens {
            self.on_readable(t as usize);
        }
        let n = tokens.len();
        *ready = tokens;
        n
    }

    /// Makes every session reachable before the clock starts; returns how many are not.
    fn handshake(&mut self, ep: &mut Epoll, ready: &mut Vec<u64>) -> u64 {
        let deadline = sys::mono_ns() + self.cfg.handshake_timeout_ns;
        let retry_ns = 500_000_000;
        let mut next = 0usize;
        loop {
            let now = sys::mono_ns();
            let mut outstanding = self
                .sessions
                .iter()
                .filter(|s| !s.established && s.handshake_sent_ns != 0)
                .filter(|s| now - s.handshake_sent_ns < retry_ns)
                .count();
            // Pace: keep a bounded number in flight so the server's receive buffer never
            // overflows (murmurd also tries every unmatched user's key on an unknown peer).
            let n = self.sessions.len();
            let mut scanned = 0;
            while outstanding < self.cfg.handshake_inflight && scanned < n {
                let i = next;
                next = (next + 1) % n.max(1);
                scanned += 1;
                let s = &self.sessions[i];
                if s.established
                    || (s.handshake_sent_ns != 0 && now - s.handshake_sent_ns < retry_ns)
                {
                    continue;
                }
                self.send_handshake(i, now);
                outstanding += 1;
            }
            let missing = self.sessions.iter().filter(|s| !s.established).count() as u64;
            if missing == 0 || now > deadline {
                return missing;
            }
            self.poll(ep, ready, 2_000_000);
        }
    }
}

/// Runs one shard to completion: handshake, start line, send/receive, drain.
pub fn run_shard(shard: Shard, cfg: &EngineConfig, start: &StartLine) -> Counters {
    let Shard {
        sessions,
        speaker_order,
    } = shard;
    let mut ep = Epoll::new(EPOLL_BATCH).expect("epoll");
    for (i, s) in sessions.iter().enumerate() {
        ep.add(s.sock.as_raw_fd(), i as u64).expect("epoll add");
    }
    let mut w = Worker {
        cfg,
        sessions,
        counters: Counters::default(),
        batch: RecvBatch::new(cfg.recv_batch.max(1)),
        plain: vec![0u8; SLOT],
        out: vec![0u8; SLOT + 64],
        win_start: 0,
        win_end: 0,
    };
    let mut ready = Vec::with_capacity(1024);

    let missing = w.handshake(&mut ep, &mut ready);
    start.unestablished.fetch_add(missing, Ordering::SeqCst);
    start.barrier.wait(); // handshakes done everywhere
    start.barrier.wait(); // coordinator has published t0
    let t0 = start.t0.load(Ordering::SeqCst);
    if t0 == 0 {
        return w.counters; // aborted
    }
    w.win_start = t0 + cfg.warmup_ns;
    w.win_end = w.win_start + cfg.duration_ns;
    let stop_at = w.win_end + cfg.drain_ns;

    let period = cfg.period_ns;
    let mut cursor = 0usize;
    let mut cycle = 0u64;
    let due_of = |w: &Worker, cursor: usize, cycle: u64| -> u64 {
        let i = speaker_order[cursor];
        t0 + cycle * period + w.sessions[i].speaker.as_ref().map_or(0, |s| s.phase_ns)
    };
    // Keepalives reuse the same round-robin idea over all sessions.
    let n_sessions = w.sessions.len() as u64;
    let mut ka_cursor = 0u64;
    let mut ka_cycle = 0u64;
    let ka_due = |c: u64, k: u64| t0 + k * cfg.keepalive_ns + cfg.keepalive_ns * c / n_sessions;

    loop {
        let now = sys::mono_ns();
        if !speaker_order.is_empty() {
            loop {
                let due = due_of(&w, cursor, cycle);
                if due >= w.win_end || due > now + cfg.slack_ns {
                    break;
                }
                w.send_voice(speaker_order[cursor], due);
                cursor += 1;
                if cursor == speaker_order.len() {
                    cursor = 0;
                    cycle += 1;
                }
            }
        }
        if cfg.keepalive_ns > 0 && n_sessions > 0 {
            while ka_due(ka_cursor, ka_cycle) <= now && ka_due(ka_cursor, ka_cycle) < w.win_end {
                w.send_keepalive(ka_cursor as usize, now);
                ka_cursor += 1;
                if ka_cursor == n_sessions {
                    ka_cursor = 0;
                    ka_cycle += 1;
                }
            }
        }
        if now >= stop_at {
            break;
        }
        // After the window nothing is sent: the next deadline must not stay in the past, or
        // the loop would spin through the drain (and, under SCHED_FIFO, starve the thread
        // that samples CPU at the window's end).
        let next_send = if speaker_order.is_empty() {
            stop_at
        } else {
            let due = due_of(&w, cursor, cycle);
            if due >= w.win_end {
                stop_at
            } else {
                due.min(stop_at)
            }
        };
        // Harvest whatever is ready without blocking, then sleep a short quantum: waking per
        // datagram costs the generator a context switch each (the dominant cost in profiles),
        // and latency does not suffer since it is taken from kernel arrival timestamps.
        while w.poll(&mut ep, &mut ready, 0) >= EPOLL_BATCH {}
        let after = sys::mono_ns();
        let wake = next_send.min(after + cfg.poll_ns).min(stop_at);
        sys::sleep_until_mono(wake);
    }
    w.counters
}

/// Cryptographic state for one Mumble client from its CryptSetup.
pub fn mumble_proto(key: &[u8; 16], client_nonce: &[u8; 16], server_nonce: &[u8; 16]) -> Proto {
    // The client encrypts with the server's client_nonce and decrypts with its server_nonce.
    Proto::Mumble(Box::new(CryptState::new(key, client_nonce, server_nonce)))
}
