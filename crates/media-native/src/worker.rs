//! Receive threads: sockets, the batch loop, shutdown, and panic capture.
//!
//! Each thread owns one UDP socket. With more than one thread the sockets share a port
//! through `SO_REUSEPORT`, and the kernel hashes each sender's 4-tuple to one of them, so a
//! sender's packets (and its replay window) stay on one thread.
//!
//! A thread stops when [`Workers::stop`] sets the stop flag and shuts the sockets down for
//! reading, which wakes a blocked `recvmmsg` at once on Linux; the 100 ms read timeout is
//! the fallback that bounds the wait regardless. A panic on a thread is caught, recorded in
//! [`Shared`], and reported by the next Python call, so it never goes unnoticed.

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use voice_proto::{Counters, DropReason, Outcome, Router};

use crate::udp::{forbid_fragmentation, RecvBatch, SendBatch};

/// How long a blocked receive waits before re-checking the stop flag.
const READ_TIMEOUT: Duration = Duration::from_millis(100);
/// Socket buffers sized for bursts: a 32-datagram batch fanned out to a large room.
const SOCKET_BUFFER: usize = 4 << 20;

/// State the receive threads and the Python object share.
pub struct Shared {
    /// The routing table and packet processor.
    pub router: Router,
    counters: Mutex<Counters>,
    send_errors: AtomicU64,
    recv_errors: AtomicU64,
    stop: AtomicBool,
    panic: Mutex<Option<String>>,
    epoch: Instant,
}

impl Shared {
    /// Fresh state; `now` for the router counts milliseconds from here.
    pub fn new() -> Self {
        Shared {
            router: Router::new(),
            counters: Mutex::default(),
            send_errors: AtomicU64::new(0),
            recv_errors: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            panic: Mutex::new(None),
            epoch: Instant::now(),
        }
    }

    /// Milliseconds since [`Shared::new`]: the clock passed to the router.
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// A snapshot of every counter, in a stable order.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        let totals = self
            .counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        totals
            .iter()
            .chain([
                ("send_errors", self.send_errors.load(Ordering::Relaxed)),
                ("recv_errors", self.recv_errors.load(Ordering::Relaxed)),
            ])
            .collect()
    }

    /// The message of the first worker panic, if any.
    pub fn panic_message(&self) -> Option<String> {
        self.panic
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether the workers were told to stop.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn merge(&self, local: &mut Counters) {
        if !local.is_empty() {
            self.counters
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .merge(local);
            *local = Counters::default();
        }
    }

    fn record_panic(&self, message: String) {
        self.panic
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(message);
    }
}

impl Default for Shared {
    fn default() -> Self {
        Self::new()
    }
}

/// Binds `threads` UDP sockets to `address` (sharing one port when more than one) and
/// returns them with the address actually bound (the port resolved if 0 was asked for).
pub fn bind(address: SocketAddr, threads: usize) -> io::Result<(Vec<Socket>, SocketAddr)> {
    let mut sockets = Vec::with_capacity(threads);
    let mut bound = address;
    for _ in 0..threads {
        let socket = Socket::new(Domain::for_address(bound), Type::DGRAM, Some(Protocol::UDP))?;
        if threads > 1 {
            // Only when asked: on a single socket it would let another process of the same
            // user bind the port too and take a share of the traffic.
            socket.set_reuse_port(true)?;
        }
        socket.set_read_timeout(Some(READ_TIMEOUT))?;
        // Best effort: the kernel caps these at net.core.{r,w}mem_max.
        let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
        let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
        forbid_fragmentation(socket.as_raw_fd(), bound.is_ipv6())?;
        socket.bind(&SockAddr::from(bound))?;
        if bound.port() == 0 {
            bound = socket
                .local_addr()?
                .as_socket()
                .ok_or_else(|| io::Error::other("bound socket has no IP address"))?;
        }
        sockets.push(socket);
    }
    Ok((sockets, bound))
}

/// Running receive threads.
pub struct Workers {
    shared: Arc<Shared>,
    sockets: Vec<Arc<Socket>>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts one thread per socket.
    pub fn start(shared: &Arc<Shared>, sockets: Vec<Socket>) -> io::Result<Self> {
        let mut workers = Workers {
            shared: Arc::clone(shared),
            sockets: Vec::new(),
            threads: Vec::new(),
        };
        for (i, socket) in sockets.into_iter().enumerate() {
            let socket = Arc::new(socket);
            let thread_socket = Arc::clone(&socket);
            let thread_shared = Arc::clone(shared);
            let spawned = std::thread::Builder::new()
                .name(format!("voice-rx-{i}"))
                .spawn(move || {
                    supervise(&thread_shared, || {
                        receive_loop(&thread_socket, &thread_shared)
                    })
                });
            workers.sockets.push(socket);
            // On failure, dropping `workers` stops the threads already started.
            workers.threads.push(spawned?);
        }
        Ok(workers)
    }

    /// Number of threads still running.
    #[cfg(test)]
    pub fn running(&self) -> usize {
        self.threads.iter().filter(|t| !t.is_finished()).count()
    }

    /// Stops and joins every thread; the sockets close when the last reference goes.
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        for socket in &self.sockets {
            // Wakes a thread blocked in recvmmsg. Linux returns ENOTCONN for an unconnected
            // UDP socket yet still marks it shut and wakes the waiters; the read timeout
            // covers any kernel that does not.
            let _ = socket.shutdown(Shutdown::Read);
        }
        for thread in self.threads.drain(..) {
            // A panic was already caught and recorded by `supervise`.
            let _ = thread.join();
        }
        self.sockets.clear();
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Runs a thread's body, catching a panic so it is recorded rather than lost.
fn supervise(shared: &Shared, body: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(body)) {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".to_owned());
        let name = std::thread::current()
            .name()
            .unwrap_or("voice-rx")
            .to_owned();
        shared.record_panic(format!("{name}: {message}"));
    }
}

fn receive_loop(socket: &Socket, shared: &Shared) {
    let fd = socket.as_raw_fd();
    let mut rx = RecvBatch::new();
    let mut tx = SendBatch::new();
    let mut local = Counters::default();
    while !shared.stopped() {
        if let Err(e) = rx.recv(fd) {
            if !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
            ) {
                shared.recv_errors.fetch_add(1, Ordering::Relaxed);
                // Do not spin if the error persists.
                std::thread::sleep(Duration::from_millis(1));
            }
            continue;
        }
        if shared.stopped() {
            // The wake-up from `Workers::stop`, not traffic.
            break;
        }
        let now = shared.now_ms();
        {
            // One read lock for the batch; dropped before the send syscalls below unless
            // a large fan-out fills the send queue first.
            let view = shared.router.view();
            for datagram in rx.iter_mut() {
                let outcome = if datagram.truncated {
                    Outcome::Dropped(DropReason::Oversize)
                } else {
                    view.process(now, datagram.from, datagram.data, &mut |to, bytes| {
                        tx.push(fd, to, bytes)
                    })
                };
                local.record(outcome);
            }
        }
        // Counters first, so anyone who saw a forwarded datagram also sees it counted.
        shared.merge(&mut local);
        tx.flush(fd);
        if tx.errors > 0 {
            shared
                .send_errors
                .fetch_add(std::mem::take(&mut tx.errors), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    fn start(threads: usize) -> (Arc<Shared>, Workers, SocketAddr) {
        let shared = Arc::new(Shared::new());
        let (sockets, address) = bind("127.0.0.1:0".parse().unwrap(), threads).unwrap();
        let workers = Workers::start(&shared, sockets).unwrap();
        (shared, workers, address)
    }

    fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn counter(shared: &Shared, name: &str) -> u64 {
        shared
            .counters()
            .into_iter()
            .find(|(n, _)| *n == name)
            .unwrap()
            .1
    }

    #[test]
    fn threads_share_one_port_and_stop_promptly() {
        let (shared, workers, address) = start(3);
        assert_ne!(address.port(), 0);
        assert_eq!(workers.running(), 3);
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.send_to(&[0u8; 40], address).unwrap();
        wait_for("the datagram to be counted", || {
            counter(&shared, "dropped_not_rtp") == 1
        });
        let started = Instant::now();
        workers.stop();
        // Woken by shutdown, not by the read timeout.
        assert!(started.elapsed() < READ_TIMEOUT, "{:?}", started.elapsed());
        assert!(shared.stopped());
    }

    #[test]
    fn a_panic_on_a_worker_is_recorded_not_lost() {
        let shared = Arc::new(Shared::new());
        let thread_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("voice-rx-test".into())
            .spawn(move || supervise(&thread_shared, || panic!("boom")))
            .unwrap()
            .join()
            .expect("the panic is caught inside the thread");
        assert_eq!(
            shared.panic_message().as_deref(),
            Some("voice-rx-test: boom")
        );
        // Only the first panic is kept: it is the cause, later ones are usually effects.
        supervise(&shared, || panic!("{}", String::from("second")));
        assert_eq!(
            shared.panic_message().as_deref(),
            Some("voice-rx-test: boom")
        );
    }
}
