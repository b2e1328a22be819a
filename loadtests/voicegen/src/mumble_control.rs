//! Mumble TLS control connections, all on one thread with mio and rustls.
//!
//! Setup: a SuperUser connection creates the rooms as permanent channels; then every simulated
//! user connects (a bounded number of handshakes in flight), authenticates with Opus, takes
//! its session id and UDP keys from ServerSync/CryptSetup, and moves itself into its room.
//! Afterwards the same thread keeps every connection drained (murmurd broadcasts each join
//! and move to everyone), answers nothing, sends a TCP Ping every few seconds as real clients
//! do, and counts voice that arrives tunnelled over TCP, which must stay zero for a UDP run.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};

use crate::mumble_wire::{self as wire, msg, PbValue};

/// murmurd generates a self-signed certificate: the load client accepts anything, as a Mumble
/// client does after the user clicks through the warning.
#[derive(Debug)]
struct AcceptAnyCert(Vec<SignatureScheme>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.clone()
    }
}

fn tls_config() -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let schemes = provider
        .signature_verification_algorithms
        .supported_schemes();
    let cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(schemes)))
        .with_no_client_auth();
    Arc::new(cfg)
}

/// What a connected user needs for UDP.
#[derive(Debug, Clone)]
pub struct UdpKeys {
    pub session: u32,
    pub key: [u8; 16],
    pub client_nonce: [u8; 16],
    pub server_nonce: [u8; 16],
}

pub struct UserSpec {
    pub username: String,
    pub password: Option<String>,
    /// Channel to move into after ServerSync (None: stay in root).
    pub channel: Option<String>,
    /// Local address to connect from (None: the kernel's choice).
    pub source_ip: Option<IpAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Authenticating,
    Moving(u32),
    Ready,
}

struct Conn {
    sock: TcpStream,
    tls: ClientConnection,
    inbuf: Vec<u8>,
    state: State,
    channel: Option<String>,
    session: Option<u32>,
    crypt: Option<([u8; 16], [u8; 16], [u8; 16])>,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct ControlStats {
    /// Voice packets murmurd tunnelled over TCP instead of UDP.
    pub tunnelled_voice: u64,
    /// CryptSetup resync requests from murmurd (it failed to decrypt our UDP).
    pub resync_requests: u64,
    pub messages: u64,
    pub bytes: u64,
    pub pings_sent: u64,
}

pub struct Control {
    poll: Poll,
    cfg: Arc<ClientConfig>,
    server: SocketAddr,
    conns: Vec<Conn>,
    pub channels: HashMap<String, u32>,
    pub stats: ControlStats,
    frames: Vec<(u16, std::ops::Range<usize>)>,
    readbuf: Vec<u8>,
}

fn err(s: impl Into<String>) -> io::Error {
    io::Error::other(s.into())
}

fn nonce16(b: &[u8]) -> Option<[u8; 16]> {
    b.try_into().ok()
}

impl Control {
    pub fn new(server: SocketAddr) -> io::Result<Self> {
        Ok(Control {
            poll: Poll::new()?,
            cfg: tls_config(),
            server,
            conns: Vec::new(),
            channels: HashMap::new(),
            stats: ControlStats::default(),
            frames: Vec::new(),
            readbuf: vec![0u8; 64 * 1024],
        })
    }

    fn open(&mut self, spec: &UserSpec) -> io::Result<usize> {
        // A blocking connect to loopback completes at once; the rest is non-blocking.
        let raw = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
        if let Some(ip) = spec.source_ip {
            // The UDP socket of the same client binds this address too: murmurd matches a
            // new UDP peer against the users connected from the same IP.
            raw.bind(&SocketAddr::new(ip, 0).into())?;
        }
        raw.connect(&self.server.into())?;
        let std_sock: std::net::TcpStream = raw.into();
        std_sock.set_nodelay(true)?;
        std_sock.set_nonblocking(true)?;
        let mut sock = TcpStream::from_std(std_sock);
        let idx = self.conns.len();
        self.poll.registry().register(
            &mut sock,
            Token(idx),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let name = ServerName::try_from("murmur").expect("static name");
        let mut tls = ClientConnection::new(self.cfg.clone(), name).map_err(io::Error::other)?;
        // rustls buffers plaintext written before the handshake completes.
        tls.writer().write_all(&wire::version_msg())?;
        tls.writer().write_all(&wire::authenticate_msg(
            &spec.username,
            spec.password.as_deref(),
        ))?;
        self.conns.push(Conn {
            sock,
            tls,
            inbuf: Vec::new(),
            state: State::Authenticating,
            channel: spec.channel.clone(),
            session: None,
            crypt: None,
        });
        self.service(idx)?;
        Ok(idx)
    }

    fn send(&mut self, idx: usize, frame: &[u8]) -> io::Result<()> {
        self.conns[idx].tls.writer().write_all(frame)?;
        self.flush(idx)
    }

    fn flush(&mut self, idx: usize) -> io::Result<()> {
        let c = &mut self.conns[idx];
        while c.tls.wants_write() {
            match c.tls.write_tls(&mut c.sock) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads everything available on one connection and handles complete messages.
    fn service(&mut self, idx: usize) -> io::Result<()> {
        loop {
            let c = &mut self.conns[idx];
            match c.tls.read_tls(&mut c.sock) {
                Ok(0) => {
                    return Err(err(format!(
                        "murmurd closed connection {idx} (session {:?})",
                        c.session
                    )))
                }
                Ok(_) => {
                    c.tls
                        .process_new_packets()
                        .map_err(|e| err(format!("TLS: {e}")))?;
                    loop {
                        match c.tls.reader().read(&mut self.readbuf) {
                            Ok(0) => break,
                            Ok(n) => c.inbuf.extend_from_slice(&self.readbuf[..n]),
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(e) => return Err(e),
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        self.handle_frames(idx)?;
        self.flush(idx)
    }

    fn handle_frames(&mut self, idx: usize) -> io::Result<()> {
        let mut frames = std::mem::take(&mut self.frames);
        frames.clear();
        let mut inbuf = std::mem::take(&mut self.conns[idx].inbuf);
        let used = wire::split_frames(&inbuf, &mut frames);
        let mut result = Ok(());
        for (kind, range) in frames.iter().cloned() {
            self.stats.messages += 1;
            self.stats.bytes += (range.len() + 6) as u64;
            if let Err(e) = self.handle(idx, kind, &inbuf[range]) {
                result = Err(e);
                break;
            }
        }
        // Keep the partial tail (and the buffer's capacity) for the next read.
        inbuf.drain(..used);
        self.conns[idx].inbuf = inbuf;
        self.frames = frames;
        result
    }

    fn handle(&mut self, idx: usize, kind: u16, body: &[u8]) -> io::Result<()> {
        match kind {
            msg::UDP_TUNNEL => self.stats.tunnelled_voice += 1,
            msg::CRYPT_SETUP => {
                let (mut key, mut cn, mut sn) = (None, None, None);
                for (f, v) in wire::pb_fields(body) {
                    if let PbValue::Bytes(b) = v {
                        match f {
                            1 => key = nonce16(b),
                            2 => cn = nonce16(b),
                            3 => sn = nonce16(b),
                            _ => {}
                        }
                    }
                }
                match (key, cn, sn) {
                    (Some(k), Some(c), Some(s)) => self.conns[idx].crypt = Some((k, c, s)),
                    _ => self.stats.resync_requests += 1,
                }
            }
            msg::CHANNEL_STATE => {
                let (mut id, mut name) = (None, None);
                for (f, v) in wire::pb_fields(body) {
                    match (f, v) {
                        (1, PbValue::Varint(x)) => id = Some(x as u32),
                        (3, PbValue::Bytes(b)) => name = Some(String::from_utf8_lossy(b)),
                        _ => {}
                    }
                }
                if let (Some(id), Some(name)) = (id, name) {
                    self.channels.insert(name.into_owned(), id);
                }
            }
            msg::SERVER_SYNC => {
                let session = wire::pb_fields(body).find_map(|(f, v)| match (f, v) {
                    (1, PbValue::Varint(x)) => Some(x as u32),
                    _ => None,
                });
                let session = session.ok_or_else(|| err("ServerSync without session"))?;
                let c = &mut self.conns[idx];
                c.session = Some(session);
                match c.channel.clone() {
                    None => c.state = State::Ready,
                    Some(name) => {
                        let id = *self
                            .channels
                            .get(&name)
                            .ok_or_else(|| err(format!("channel {name:?} does not exist")))?;
                        self.conns[idx].state = State::Moving(id);
                        self.send(idx, &wire::move_msg(session, id))?;
                    }
                }
            }
            msg::USER_STATE => {
                let c = &mut self.conns[idx];
                if let State::Moving(target) = c.state {
                    let (mut session, mut channel) = (None, None);
                    for (f, v) in wire::pb_fields(body) {
                        match (f, v) {
                            (1, PbValue::Varint(x)) => session = Some(x as u32),
                            (5, PbValue::Varint(x)) => channel = Some(x as u32),
                            _ => {}
                        }
                    }
                    if session == c.session && channel == Some(target) {
                        c.state = State::Ready;
                    }
                }
            }
            msg::REJECT | msg::PERMISSION_DENIED => {
                let reason = wire::pb_fields(body)
                    .find_map(|(f, v)| match (f, v) {
                        (2 | 4, PbValue::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
                        _ => None,
                    })
                    .unwrap_or_default();
                let what = if kind == msg::REJECT {
                    "rejected"
                } else {
                    "permission denied"
                };
                return Err(err(format!("murmurd {what} connection {idx}: {reason}")));
            }
            _ => {}
        }
        Ok(())
    }

    /// One round of the event loop.
    fn pump(&mut self, events: &mut Events, timeout: Duration) -> io::Result<()> {
        self.poll.poll(events, Some(timeout))?;
        let ready: Vec<usize> = events.iter().map(|e| e.token().0).collect();
        for idx in ready {
            self.service(idx)?;
        }
        Ok(())
    }

    /// Connects the SuperUser and creates any of `names` that do not exist yet.
    pub fn create_channels(
        &mut self,
        password: &str,
        names: &[String],
        timeout: Duration,
    ) -> io::Result<()> {
        let su = self.open(&UserSpec {
            username: "SuperUser".into(),
            password: Some(password.into()),
            channel: None,
            source_ip: None,
        })?;
        let deadline = Instant::now() + timeout;
        let mut events = Events::with_capacity(1024);
        while self.conns[su].state != State::Ready {
            if Instant::now() > deadline {
                return Err(err("SuperUser login timed out"));
            }
            self.pump(&mut events, Duration::from_millis(50))?;
        }
        for name in names {
            if !self.channels.contains_key(name) {
                self.send(su, &wire::create_channel_msg(name))?;
            }
        }
        while names.iter().any(|n| !self.channels.contains_key(n)) {
            if Instant::now() > deadline {
                return Err(err("channel creation timed out"));
            }
            self.pump(&mut events, Duration::from_millis(50))?;
        }
        Ok(())
    }

    /// Connects every user, at most `parallel` handshakes at a time, and returns their keys
    /// in the order of `specs`.
    pub fn connect_users(
        &mut self,
        specs: &[UserSpec],
        parallel: usize,
        timeout: Duration,
    ) -> io::Result<Vec<UdpKeys>> {
        let deadline = Instant::now() + timeout;
        let mut events = Events::with_capacity(1024);
        let first = self.conns.len();
        let mut next = 0usize;
        let mut ready_count = 0usize;
        let mut counted = vec![false; specs.len()];
        while ready_count < specs.len() {
            let in_flight = next - ready_count;
            let mut opened = 0;
            while next < specs.len() && in_flight + opened < parallel {
                self.open(&specs[next])?;
                next += 1;
                opened += 1;
            }
            if Instant::now() > deadline {
                return Err(err(format!(
                    "only {ready_count} of {} users got ready in time",
                    specs.len()
                )));
            }
            self.pump(&mut events, Duration::from_millis(20))?;
            for (k, seen) in counted.iter_mut().enumerate().take(next) {
                if !*seen && self.conns[first + k].state == State::Ready {
                    *seen = true;
                    ready_count += 1;
                }
            }
        }
        self.conns[first..]
            .iter()
            .map(|c| {
                let (key, client_nonce, server_nonce) =
                    c.crypt.ok_or_else(|| err("no CryptSetup received"))?;
                Ok(UdpKeys {
                    session: c.session.expect("ready implies ServerSync"),
                    key,
                    client_nonce,
                    server_nonce,
                })
            })
            .collect()
    }

    /// Reads until murmurd has sent nothing for `quiet`: its join/move broadcasts are O(users²)
    /// and must be finished before the measured window starts.
    pub fn settle(&mut self, quiet: Duration, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut events = Events::with_capacity(1024);
        let mut last_bytes = self.stats.bytes;
        let mut quiet_since = Instant::now();
        while Instant::now() < deadline {
            self.pump(&mut events, Duration::from_millis(20))?;
            if self.stats.bytes != last_bytes {
                last_bytes = self.stats.bytes;
                quiet_since = Instant::now();
            } else if quiet_since.elapsed() >= quiet {
                return Ok(());
            }
        }
        Err(err("murmurd's control traffic did not settle"))
    }

    /// Keeps every connection drained and pinged until `stop` is set.
    pub fn serve(&mut self, stop: &AtomicBool, ping_every: Duration) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let n = self.conns.len().max(1);
        let start = Instant::now();
        // Pings are spread over the interval rather than sent all at once.
        let mut next_ping = 0usize;
        let mut cycle = 0u32;
        while !stop.load(Ordering::Relaxed) {
            self.pump(&mut events, Duration::from_millis(10))?;
            if ping_every.is_zero() || self.conns.is_empty() {
                continue;
            }
            loop {
                let due = start
                    + ping_every * cycle
                    + ping_every.mul_f64((next_ping as f64 + 1.0) / n as f64);
                if due > Instant::now() {
                    break;
                }
                let ts = start.elapsed().as_micros() as u64;
                self.send(next_ping, &wire::ping_msg(ts))?;
                self.stats.pings_sent += 1;
                next_ping += 1;
                if next_ping == self.conns.len() {
                    next_ping = 0;
                    cycle += 1;
                }
            }
        }
        Ok(())
    }
}
