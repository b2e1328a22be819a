//! `voicegen`: a native voice load generator for side-by-side benchmarks of the Spectrus
//! voice router and Mumble's murmurd.
//!
//! Both modes share one scheduler and measurement core ([`engine`]): speakers send
//! Opus-sized payloads at 50 packets/s with start times spread over the 20 ms period, every
//! payload carries a send stamp, and every simulated listener opens what it receives with its
//! own key. One JSON object on stdout reports sends, expected and received deliveries, loss,
//! latency percentiles, the generator's own CPU and, given `--server-pid`, the server's CPU
//! over exactly the measured window.
//!
//! - `mumble`: real Mumble 1.3 clients (TLS control, OCB2-AES128 UDP voice).
//! - `spectrus`: Discord voice v8 UDP clients for sessions a harness already created in the
//!   router (IP discovery, `*_rtpsize` AEAD).

mod discord;
mod engine;
mod mumble_control;
mod mumble_wire;
mod ocb2;
mod stats;
mod sys;

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use serde::Deserialize;
use serde_json::{json, Value};

use engine::{EngineConfig, Proto, SessionPlan, Shard, StartLine};
use stats::Counters;

#[derive(Parser)]
#[command(
    version,
    about = "Native voice load generator (Mumble 1.3 and Discord voice v8 UDP)"
)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Drive a murmurd as Mumble 1.3 clients.
    Mumble(MumbleArgs),
    /// Drive the Spectrus voice router with pre-provisioned Discord voice sessions.
    Spectrus(SpectrusArgs),
}

#[derive(Args, Clone)]
struct Common {
    /// Measured seconds (after warm-up).
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Seconds of load before the measured window opens.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// How long listeners keep reading after the last send, in milliseconds.
    #[arg(long, default_value_t = 500)]
    drain_ms: u64,
    /// Opus-sized payload bytes per packet (the first 20 carry the stamp).
    #[arg(long, default_value_t = 120)]
    payload: usize,
    /// Packets per second per speaker.
    #[arg(long, default_value_t = 50)]
    rate: u32,
    /// Data-plane threads (sessions are sharded round-robin).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Process whose CPU time (all threads) is sampled over the measured window.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Speakers due within this many microseconds are sent in the same wake-up. Small keeps
    /// arrivals at the server smooth, as independent clients' are; large saves generator CPU.
    #[arg(long, default_value_t = 100)]
    slack_us: u64,
    /// Longest sleep between two harvests of received datagrams, in microseconds.
    #[arg(long, default_value_t = 500)]
    poll_us: u64,
    /// Seconds to wait for every session's UDP path (ping echo / IP discovery).
    #[arg(long, default_value_t = 60.0)]
    handshake_timeout: f64,
    /// Handshake datagrams in flight at once.
    #[arg(long, default_value_t = 64)]
    handshake_inflight: usize,
    /// recvmmsg batch size.
    #[arg(long, default_value_t = 16)]
    recv_batch: usize,
}

#[derive(Args)]
struct MumbleArgs {
    /// murmurd address (host:port; TCP and UDP share the port).
    #[arg(long)]
    server: String,
    /// SuperUser password (set with `murmurd -supw`), used to create the room channels
    /// (needed when --rooms > 1).
    #[arg(long)]
    superuser_password: Option<String>,
    #[arg(long, default_value_t = 1)]
    rooms: u32,
    #[arg(long, default_value_t = 1)]
    speakers_per_room: u32,
    #[arg(long, default_value_t = 10)]
    listeners_per_room: u32,
    /// Channel name prefix; room i is channel "<prefix><i>".
    #[arg(long, default_value = "vg-room-")]
    channel_prefix: String,
    /// TLS connections handshaking at once during setup.
    #[arg(long, default_value_t = 32)]
    connect_parallel: usize,
    /// TCP Ping interval in seconds, as Mumble clients send (0 disables).
    #[arg(long, default_value_t = 5.0)]
    tcp_ping: f64,
    /// UDP ping interval in seconds, as Mumble clients send (0 disables).
    #[arg(long, default_value_t = 5.0)]
    udp_ping: f64,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct SpectrusArgs {
    /// JSON file: {"server": "host:port", "sessions": [{ssrc, key_hex, mode, room, role}]}.
    #[arg(long)]
    provision: PathBuf,
    /// UDP keepalive interval in seconds, as Discord clients send (0 disables).
    #[arg(long, default_value_t = 5.0)]
    udp_keepalive: f64,
    #[command(flatten)]
    common: Common,
}

#[derive(Deserialize)]
struct Provision {
    server: String,
    sessions: Vec<ProvisionedSession>,
}

#[derive(Deserialize)]
struct ProvisionedSession {
    ssrc: u32,
    key_hex: String,
    mode: String,
    room: u64,
    role: String,
}

fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("bad address {addr:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("address {addr:?} resolves to nothing"))
}

fn hex32(s: &str) -> Result<[u8; 32], String> {
    if s.len() != 64 {
        return Err(format!("key_hex must be 64 hex digits, got {}", s.len()));
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

fn run_id() -> u32 {
    // Distinguishes this run's packets from stragglers of an earlier one on reused ports.
    (sys::mono_ns() as u32) ^ std::process::id().rotate_left(16)
}

fn engine_config(
    c: &Common,
    server: SocketAddr,
    room_sizes: Vec<u32>,
    speaker_origins: Vec<u64>,
) -> EngineConfig {
    EngineConfig {
        server,
        payload_len: c.payload,
        period_ns: 1_000_000_000 / u64::from(c.rate.max(1)),
        warmup_ns: (c.warmup * 1e9) as u64,
        duration_ns: (c.duration * 1e9) as u64,
        drain_ns: c.drain_ms * 1_000_000,
        slack_ns: c.slack_us * 1000,
        poll_ns: c.poll_us * 1000,
        keepalive_ns: 0,
        handshake_timeout_ns: (c.handshake_timeout * 1e9) as u64,
        handshake_inflight: c.handshake_inflight.max(1),
        run_id: run_id(),
        total_speakers: speaker_origins.len() as u32,
        room_sizes,
        recv_batch: c.recv_batch,
        speaker_origins,
    }
}

/// CPU samples of the server, of this process and of each core at one instant.
struct CpuSample {
    server_stat_s: Option<f64>,
    server_sched_ns: Option<u64>,
    server_threads: Vec<(u32, u64, u64)>,
    self_threads: Vec<(u32, u64, u64)>,
    cores: Vec<(u64, u64)>,
    self_s: f64,
}

fn sample(server_pid: Option<u32>) -> CpuSample {
    CpuSample {
        server_stat_s: server_pid.and_then(|p| sys::proc_cpu_s(p).ok()),
        server_sched_ns: server_pid.and_then(|p| sys::proc_sched_ns(p).ok()),
        server_threads: server_pid
            .and_then(|p| sys::proc_thread_sched(p).ok())
            .unwrap_or_default(),
        self_threads: sys::proc_thread_sched(std::process::id()).unwrap_or_default(),
        cores: sys::cpu_ticks(),
        self_s: sys::self_cpu_s(),
    }
}

/// Drop counters of the server's port and of ours, before and after a run.
struct Drops {
    server: u64,
    ours: u64,
}

fn drops(server_port: u16, our_ports: &HashSet<u16>) -> Drops {
    let all = sys::udp_drops_by_port();
    Drops {
        server: all.get(&server_port).copied().unwrap_or(0),
        ours: all
            .iter()
            .filter(|(p, _)| our_ports.contains(p))
            .map(|(_, d)| d)
            .sum(),
    }
}

fn sleep_until(t_ns: u64) {
    let now = sys::mono_ns();
    if t_ns > now {
        std::thread::sleep(Duration::from_nanos(t_ns - now));
    }
}

struct RunOutcome {
    counters: Counters,
    window_s: f64,
    before: CpuSample,
    after: CpuSample,
    drops_before: Drops,
    drops_after: Drops,
}

/// Shards the sessions, runs the threads from a common start line, samples CPU exactly at the
/// window edges, and merges the counters.
fn run_engine(
    plans: Vec<SessionPlan>,
    cfg: EngineConfig,
    threads: usize,
    server_pid: Option<u32>,
) -> Result<RunOutcome, String> {
    let threads = threads.max(1).min(plans.len().max(1));
    let sockets = engine::open_sockets(cfg.server, plans.len())
        .map_err(|e| format!("opening UDP sockets: {e}"))?;
    let our_ports: HashSet<u16> = sockets
        .iter()
        .filter_map(|s| s.local_addr().ok().map(|a| a.port()))
        .collect();
    let server_port = cfg.server.port();
    let drops_before = drops(server_port, &our_ports);
    let mut per_thread: Vec<Vec<_>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, pair) in plans.into_iter().zip(sockets).enumerate() {
        per_thread[i % threads].push(pair);
    }
    let cfg = Arc::new(cfg);
    let start = StartLine::new(threads);
    let handles: Vec<_> = per_thread
        .into_iter()
        .enumerate()
        .map(|(k, plans)| {
            let cfg = cfg.clone();
            let start = start.clone();
            std::thread::Builder::new()
                .name(format!("voicegen-{k}"))
                .spawn(move || {
                    let shard = Shard::new(plans, &cfg);
                    engine::run_shard(shard, &cfg, &start)
                })
                .expect("spawn data-plane thread")
        })
        .collect();
    start.barrier.wait();
    let missing = start.unestablished.load(Ordering::SeqCst);
    let t0 = if missing == 0 {
        sys::mono_ns() + 100_000_000
    } else {
        0
    };
    start.t0.store(t0, Ordering::SeqCst);
    start.barrier.wait();
    if t0 == 0 {
        for h in handles {
            let _ = h.join();
        }
        return Err(format!(
            "{missing} sessions never got a UDP answer (ping echo / IP discovery)"
        ));
    }
    let win_start = t0 + cfg.warmup_ns;
    let win_end = win_start + cfg.duration_ns;
    sleep_until(win_start);
    let before = sample(server_pid);
    let t_before = sys::mono_ns();
    sleep_until(win_end);
    let after = sample(server_pid);
    let window_s = (sys::mono_ns() - t_before) as f64 / 1e9;
    let mut counters = Counters::default();
    for h in handles {
        let c = h
            .join()
            .map_err(|_| "data-plane thread panicked".to_string())?;
        counters.merge(&c);
    }
    let drops_after = drops(server_port, &our_ports);
    Ok(RunOutcome {
        counters,
        window_s,
        before,
        after,
        drops_before,
        drops_after,
    })
}

/// Per thread over the window, busiest first: the share of the window it ran and the share
/// it sat runnable waiting for a CPU (other work on its core, or its own sibling threads).
fn thread_deltas(
    before: &[(u32, u64, u64)],
    after: &[(u32, u64, u64)],
    window_s: f64,
) -> Vec<[f64; 2]> {
    let before: HashMap<u32, (u64, u64)> = before
        .iter()
        .map(|&(t, run, wait)| (t, (run, wait)))
        .collect();
    let mut out: Vec<[f64; 2]> = after
        .iter()
        .filter_map(|&(tid, run, wait)| {
            let &(run0, wait0) = before.get(&tid)?;
            let share = |a: u64, b: u64| a.saturating_sub(b) as f64 / 1e9 / window_s;
            Some([share(run, run0), share(wait, wait0)])
        })
        .collect();
    out.sort_by(|a, b| b[0].total_cmp(&a[0]));
    out
}

fn report(out: &RunOutcome, cfg_duration: f64, mut extra: serde_json::Map<String, Value>) -> Value {
    let c = &out.counters;
    let loss = if c.expected_window == 0 {
        0.0
    } else {
        1.0 - c.received_window as f64 / c.expected_window as f64
    };
    let server_cpu_s = match (out.before.server_stat_s, out.after.server_stat_s) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let server_sched_s = match (out.before.server_sched_ns, out.after.server_sched_ns) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / 1e9),
        _ => None,
    };
    let gen_cpu_s = out.after.self_s - out.before.self_s;
    let server_threads = thread_deltas(
        &out.before.server_threads,
        &out.after.server_threads,
        out.window_s,
    );
    let generator_threads = thread_deltas(
        &out.before.self_threads,
        &out.after.self_threads,
        out.window_s,
    );
    let core_utils: Vec<f64> = out
        .before
        .cores
        .iter()
        .zip(&out.after.cores)
        .map(|((b0, t0), (b1, t1))| {
            if t1 > t0 {
                (b1 - b0) as f64 / (t1 - t0) as f64
            } else {
                0.0
            }
        })
        .collect();
    let per_pkt = |cpu: Option<f64>| {
        cpu.filter(|_| c.received_window > 0)
            .map(|s| s * 1e6 / c.received_window as f64)
    };
    let mut v = json!({
        "duration_s": cfg_duration,
        "window_s": out.window_s,
        "sent": c.sent_window,
        "expected": c.expected_window,
        "received": c.received_window,
        "loss_ratio": loss,
        "forwarded_pps": c.received_window as f64 / cfg_duration,
        "latency_us": c.latency.summary(),
        "latency_app_us": c.latency_app.summary(),
        "server_cpu_s": server_cpu_s,
        "server_cpu_util": server_cpu_s.map(|s| s / out.window_s),
        "server_cpu_us_per_forwarded": per_pkt(server_cpu_s),
        "server_sched_cpu_s": server_sched_s,
        "server_sched_us_per_forwarded": per_pkt(server_sched_s),
        // [run share, runqueue-wait share] per thread, busiest first.
        "server_thread_shares": server_threads,
        "generator_thread_shares": generator_threads,
        "core_utils": core_utils,
        "generator_cpu_s": gen_cpu_s,
        "generator_cpu_util": gen_cpu_s / out.window_s,
        "generator_us_per_packet": if c.received_window + c.sent_window > 0 {
            gen_cpu_s * 1e6 / (c.received_window + c.sent_window) as f64
        } else { 0.0 },
        "counters": {
            "sent_total": c.sent_total,
            "received_total": c.received_total,
            "received_warmup": c.received_warmup,
            "decrypt_failures": c.decrypt_failures,
            "foreign": c.foreign,
            "misattributed": c.misattributed,
            "control_echoes": c.control_echoes,
            "send_errors": c.send_errors,
            "recv_errors": c.recv_errors,
            "sends_late_over_2ms": c.sends_late_over_2ms,
            "max_send_lateness_us": c.max_send_lateness_us,
            "server_socket_drops": out.drops_after.server.saturating_sub(out.drops_before.server),
            "generator_socket_drops": out.drops_after.ours.saturating_sub(out.drops_before.ours),
        },
    });
    if let Value::Object(m) = &mut v {
        m.append(&mut extra);
    }
    v
}

fn check_payload(c: &Common) -> Result<(), String> {
    // Mumble caps UDP voice datagrams at 1024 bytes; stay below that for both protocols.
    if c.payload < stats::STAMP_LEN || c.payload > 900 {
        return Err(format!(
            "--payload must be {}..=900 bytes",
            stats::STAMP_LEN
        ));
    }
    Ok(())
}

fn run_mumble(a: MumbleArgs) -> Result<Value, String> {
    check_payload(&a.common)?;
    let server = resolve(&a.server)?;
    let setup_start = Instant::now();
    let rooms = a.rooms.max(1);
    let room_size = a.speakers_per_room + a.listeners_per_room;
    let mut control = mumble_control::Control::new(server).map_err(|e| e.to_string())?;
    // One room is the root channel: users land there on connect, so neither the SuperUser
    // nor any move is needed. murmurd broadcasts every join and every move to every user
    // (O(users^2) control messages), and skipping the moves halves that setup cost.
    let names: Vec<Option<String>> = if rooms == 1 {
        vec![None]
    } else {
        (0..rooms)
            .map(|r| Some(format!("{}{r}", a.channel_prefix)))
            .collect()
    };
    if rooms > 1 {
        let password = a
            .superuser_password
            .as_deref()
            .ok_or("--superuser-password is needed to create channels for --rooms > 1")?;
        let wanted: Vec<String> = names.iter().flatten().cloned().collect();
        control
            .create_channels(password, &wanted, Duration::from_secs(120))
            .map_err(|e| format!("creating channels: {e}"))?;
    }
    let tag = format!("{:x}", run_id() & 0xffff);
    let mut specs = Vec::new();
    let mut roles = Vec::new();
    let mut speaker_id = 0u32;
    for (r, name) in names.iter().enumerate() {
        for k in 0..room_size {
            let speaker = (k < a.speakers_per_room).then(|| {
                speaker_id += 1;
                speaker_id - 1
            });
            roles.push((r as u32, speaker));
            specs.push(mumble_control::UserSpec {
                username: format!("vg{tag}-{r}-{k}"),
                password: None,
                channel: name.clone(),
                // Session i's UDP socket binds the same address (engine::open_sockets).
                source_ip: Some(engine::client_ip(server, specs.len())),
            });
        }
    }
    let keys = control
        .connect_users(&specs, a.connect_parallel.max(1), Duration::from_secs(600))
        .map_err(|e| format!("connecting users: {e}"))?;
    eprintln!(
        "voicegen: {} users connected in {:.1} s; waiting for murmurd's broadcasts to finish",
        keys.len(),
        setup_start.elapsed().as_secs_f64()
    );
    control
        .settle(Duration::from_millis(500), Duration::from_secs(300))
        .map_err(|e| format!("waiting for murmurd to settle: {e}"))?;
    let connect_s = setup_start.elapsed().as_secs_f64();

    let stop = Arc::new(AtomicBool::new(false));
    let tcp_ping = Duration::from_secs_f64(a.tcp_ping.max(0.0));
    let control_thread = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("voicegen-control".into())
            .spawn(move || {
                let r = control.serve(&stop, tcp_ping);
                (control, r)
            })
            .expect("spawn control thread")
    };

    let plans: Vec<SessionPlan> = roles
        .iter()
        .zip(&keys)
        .map(|(&(room, speaker), k)| SessionPlan {
            room,
            speaker,
            proto: engine::mumble_proto(&k.key, &k.client_nonce, &k.server_nonce),
        })
        .collect();
    let speaker_origins: Vec<u64> = roles
        .iter()
        .zip(&keys)
        .filter(|((_, speaker), _)| speaker.is_some())
        .map(|(_, k)| u64::from(k.session))
        .collect();
    let mut cfg = engine_config(
        &a.common,
        server,
        vec![room_size; rooms as usize],
        speaker_origins,
    );
    cfg.keepalive_ns = (a.udp_ping.max(0.0) * 1e9) as u64;
    let outcome = run_engine(plans, cfg, a.common.threads, a.common.server_pid);
    stop.store(true, Ordering::Relaxed);
    let (control, serve_result) = control_thread
        .join()
        .map_err(|_| "control thread panicked".to_string())?;
    let outcome = outcome?;
    serve_result.map_err(|e| format!("control connection failed during the run: {e}"))?;

    let mut extra = serde_json::Map::new();
    extra.insert("mode".into(), json!("mumble"));
    extra.insert(
        "workload".into(),
        json!({
            "rooms": rooms,
            "speakers_per_room": a.speakers_per_room,
            "listeners_per_room": a.listeners_per_room,
            "sessions": keys.len(),
            "speakers": speaker_id,
            "payload_bytes": a.common.payload,
            "rate_pps": a.common.rate,
        }),
    );
    extra.insert("generator_threads".into(), json!(a.common.threads));
    extra.insert("setup_s".into(), json!(connect_s));
    extra.insert(
        "mumble".into(),
        json!({
            "tcp_tunnelled_voice": control.stats.tunnelled_voice,
            "crypt_resync_requests": control.stats.resync_requests,
            "tcp_pings_sent": control.stats.pings_sent,
            "control_messages": control.stats.messages,
        }),
    );
    Ok(report(&outcome, a.common.duration, extra))
}

fn run_spectrus(a: SpectrusArgs) -> Result<Value, String> {
    check_payload(&a.common)?;
    let text = std::fs::read_to_string(&a.provision)
        .map_err(|e| format!("reading {}: {e}", a.provision.display()))?;
    let prov: Provision =
        serde_json::from_str(&text).map_err(|e| format!("provision file: {e}"))?;
    let server = resolve(&prov.server)?;
    // Rooms are dense indices here, in order of first appearance.
    let mut room_index: HashMap<u64, u32> = HashMap::new();
    let mut room_sizes: Vec<u32> = Vec::new();
    let mut plans = Vec::with_capacity(prov.sessions.len());
    let mut speakers = 0u32;
    let mut speaker_origins = Vec::new();
    for s in &prov.sessions {
        let next = room_index.len() as u32;
        let room = *room_index.entry(s.room).or_insert(next);
        if room as usize == room_sizes.len() {
            room_sizes.push(0);
        }
        room_sizes[room as usize] += 1;
        let mode =
            discord::Mode::parse(&s.mode).ok_or_else(|| format!("unknown mode {:?}", s.mode))?;
        let speaker = match s.role.as_str() {
            "speaker" => {
                speaker_origins.push(u64::from(s.ssrc));
                speakers += 1;
                Some(speakers - 1)
            }
            "listener" => None,
            other => return Err(format!("unknown role {other:?}")),
        };
        plans.push(SessionPlan {
            room,
            speaker,
            proto: Proto::Discord {
                aead: discord::Aead::new(mode, &hex32(&s.key_hex)?),
                ssrc: s.ssrc,
            },
        });
    }
    let n_sessions = plans.len();
    let n_rooms = room_sizes.len();
    let mut cfg = engine_config(&a.common, server, room_sizes, speaker_origins);
    cfg.keepalive_ns = (a.udp_keepalive.max(0.0) * 1e9) as u64;
    let outcome = run_engine(plans, cfg, a.common.threads, a.common.server_pid)?;
    let mut extra = serde_json::Map::new();
    extra.insert("mode".into(), json!("spectrus"));
    extra.insert(
        "workload".into(),
        json!({
            "rooms": n_rooms,
            "sessions": n_sessions,
            "speakers": speakers,
            "payload_bytes": a.common.payload,
            "rate_pps": a.common.rate,
        }),
    );
    extra.insert("generator_threads".into(), json!(a.common.threads));
    Ok(report(&outcome, a.common.duration, extra))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    sys::raise_nofile_limit();
    let result = match cli.mode {
        Mode::Mumble(a) => run_mumble(a),
        Mode::Spectrus(a) => run_spectrus(a),
    };
    match result {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("voicegen: {e}");
            ExitCode::FAILURE
        }
    }
}
