//! Thin wrappers over the Linux calls the data plane and the measurements need: the
//! monotonic clock, CPU accounting of this process and of the server under test, a
//! level-triggered epoll with a nanosecond timeout, and batched `recvmmsg`.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::fd::RawFd;

/// CLOCK_MONOTONIC in nanoseconds. Speakers stamp packets with it and listeners in the same
/// process read it, so send-to-receive latency needs no clock synchronisation.
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Sleeps until an absolute CLOCK_MONOTONIC time (no drift from computing a relative delay).
pub fn sleep_until_mono(t_ns: u64) {
    let ts = libc::timespec {
        tv_sec: (t_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (t_ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: clock_nanosleep reads the timespec; the remainder pointer may be null.
    unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &ts,
            std::ptr::null_mut(),
        )
    };
}

/// CLOCK_REALTIME in nanoseconds: the clock kernel receive timestamps (SO_TIMESTAMPNS) use.
pub fn real_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `SO_TIMESTAMPNS` (the "old", `timespec`-sized form) from asm-generic/socket.h, shared by
/// x86-64 and arm64; the cmsg type it produces has the same number.
const SO_TIMESTAMPNS: libc::c_int = 35;

/// Asks the kernel to stamp every datagram with its arrival time, so latency excludes the
/// time a datagram waits for the generator's thread.
pub fn enable_rx_timestamps(fd: RawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: the option value is a live c_int of the stated size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// User plus system CPU seconds this process has used (all threads).
pub fn self_cpu_s() -> f64 {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes the struct we pass.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// utime + stime of another process (all its threads), from `/proc/<pid>/stat`, in seconds.
/// Resolution is one clock tick (10 ms): fine over a measurement window of seconds.
pub fn proc_cpu_s(pid: u32) -> io::Result<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may contain spaces; everything after its closing
    // parenthesis is space separated, starting with field 3 (state).
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| io::Error::other("malformed /proc stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> io::Result<f64> {
        fields
            .get(n - 3)
            .and_then(|s| s.parse::<f64>().ok())
            .ok_or_else(|| io::Error::other("malformed /proc stat"))
    };
    // SAFETY: sysconf has no memory effects.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok((field(14)? + field(15)?) / ticks)
}

/// Nanoseconds on CPU summed over a process's live threads (`/proc/<pid>/task/*/schedstat`).
/// Finer than [`proc_cpu_s`]; it misses threads that exit in between, which servers under
/// test do not do during a run.
pub fn proc_sched_ns(pid: u32) -> io::Result<u64> {
    let mut total = 0u64;
    for entry in fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = entry?.path().join("schedstat");
        if let Ok(text) = fs::read_to_string(path) {
            if let Some(ns) = text
                .split_whitespace()
                .next()
                .and_then(|s| s.parse::<u64>().ok())
            {
                total += ns;
            }
        }
    }
    Ok(total)
}

/// Per live thread of a process (`/proc/<pid>/task/<tid>/schedstat`): nanoseconds on CPU
/// and nanoseconds spent runnable but waiting for a CPU. The first finds a server's busiest
/// thread (a single-threaded stage saturates at one core); the second shows other work
/// competing for its core.
pub fn proc_thread_sched(pid: u32) -> io::Result<Vec<(u32, u64, u64)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(format!("/proc/{pid}/task"))? {
        let entry = entry?;
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(text) = fs::read_to_string(entry.path().join("schedstat")) {
            let mut it = text.split_whitespace().map(|s| s.parse::<u64>().ok());
            if let (Some(Some(run)), Some(Some(wait))) = (it.next(), it.next()) {
                out.push((tid, run, wait));
            }
        }
    }
    Ok(out)
}

/// Busy and total ticks of each CPU from `/proc/stat` (busy = all but idle and iowait).
/// Unlike per-process figures this includes softirq work the kernel did on that core for
/// anyone.
pub fn cpu_ticks() -> Vec<(u64, u64)> {
    let Ok(text) = fs::read_to_string("/proc/stat") else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .map(|l| {
            let v: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            let total: u64 = v.iter().take(8).sum();
            let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
            (total - idle, total)
        })
        .collect()
}

/// Datagrams the kernel dropped per local UDP port (receive buffer full), from
/// `/proc/net/udp`. Tells server-side loss (its port) from generator-side loss (ours).
pub fn udp_drops_by_port() -> HashMap<u16, u64> {
    let mut out = HashMap::new();
    let Ok(text) = fs::read_to_string("/proc/net/udp") else {
        return out;
    };
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (Some(local), Some(drops)) = (cols.get(1), cols.last()) else {
            continue;
        };
        let port = local
            .rsplit_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
        if let (Some(port), Ok(d)) = (port, drops.parse::<u64>()) {
            *out.entry(port).or_insert(0) += d;
        }
    }
    out
}

/// Raises the open-file limit to its hard maximum: every simulated client owns a UDP socket
/// (and, for Mumble, a TCP connection).
pub fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write only the struct we pass.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
    lim.rlim_cur
}

/// A level-triggered epoll set. Level triggering lets the data plane read one batch per ready
/// socket per wake-up without the extra `EAGAIN` read an edge-triggered loop needs.
pub struct Epoll {
    fd: RawFd,
    events: Vec<libc::epoll_event>,
}

impl Epoll {
    pub fn new(capacity: usize) -> io::Result<Self> {
        // SAFETY: plain syscall.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Epoll {
            fd,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; capacity.max(1)],
        })
    }

    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: ev outlives the call; the kernel copies it.
        let rc = unsafe { libc::epoll_ctl(self.fd, libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `timeout_ns` and returns the tokens of ready sockets.
    pub fn wait(&mut self, timeout_ns: u64, out: &mut Vec<u64>) -> io::Result<()> {
        out.clear();
        let ts = libc::timespec {
            tv_sec: (timeout_ns / 1_000_000_000) as libc::time_t,
            tv_nsec: (timeout_ns % 1_000_000_000) as libc::c_long,
        };
        // SAFETY: the events buffer has `len` valid slots; epoll_pwait2 writes at most that many.
        let n = unsafe {
            libc::epoll_pwait2(
                self.fd,
                self.events.as_mut_ptr(),
                self.events.len() as libc::c_int,
                &ts,
                std::ptr::null(),
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                return Ok(());
            }
            return Err(err);
        }
        out.extend(self.events[..n as usize].iter().map(|e| e.u64));
        Ok(())
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.fd) };
    }
}

/// Size of one receive slot: voice packets here are a few hundred bytes at most.
pub const SLOT: usize = 2048;

/// Control-message space per datagram: one `timespec` cmsg fits with room to spare.
const CTRL: usize = 64;

/// Reusable buffers for `recvmmsg` on connected sockets (no source addresses needed), with
/// room for each datagram's kernel receive timestamp.
pub struct RecvBatch {
    bufs: Vec<[u8; SLOT]>,
    iovs: Vec<libc::iovec>,
    ctrls: Vec<[u64; CTRL / 8]>,
    hdrs: Vec<libc::mmsghdr>,
}

// SAFETY: the raw pointers only point into this struct's own heap buffers.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    pub fn new(n: usize) -> Self {
        let mut bufs = vec![[0u8; SLOT]; n];
        let mut iovs: Vec<libc::iovec> = bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: SLOT,
            })
            .collect();
        let mut ctrls = vec![[0u64; CTRL / 8]; n];
        let hdrs = iovs
            .iter_mut()
            .zip(ctrls.iter_mut())
            .map(|(iov, ctrl)| {
                // SAFETY: an all-zero mmsghdr is valid (null name, no control data).
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_iov = iov;
                h.msg_hdr.msg_iovlen = 1;
                h.msg_hdr.msg_control = ctrl.as_mut_ptr().cast();
                h
            })
            .collect();
        // The Vec heap buffers never move after this point (no pushes), so the pointers
        // stored above stay valid when the RecvBatch itself is moved.
        RecvBatch {
            bufs,
            iovs,
            ctrls,
            hdrs,
        }
    }

    /// Reads up to the batch size without blocking; returns how many datagrams arrived.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        debug_assert_eq!(self.iovs.len(), self.hdrs.len());
        debug_assert_eq!(self.ctrls.len(), self.hdrs.len());
        // The kernel shrinks msg_controllen to what it wrote: give each slot its full space.
        for h in &mut self.hdrs {
            h.msg_hdr.msg_controllen = CTRL as _;
        }
        // SAFETY: every header points at a live iovec and buffer owned by self.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                self.hdrs.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Kernel arrival time (CLOCK_REALTIME ns) of the i-th datagram, if the socket asked
    /// for timestamps.
    pub fn rx_time(&self, i: usize) -> Option<u64> {
        let hdr = &self.hdrs[i].msg_hdr;
        // SAFETY: the header's control pointer and length describe our own buffer, which the
        // kernel filled; the CMSG_* helpers stay within msg_controllen.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(hdr);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == SO_TIMESTAMPNS {
                    let ts = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::timespec>());
                    return Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
                }
                c = libc::CMSG_NXTHDR(hdr, c);
            }
        }
        None
    }

    /// The i-th datagram of the last [`RecvBatch::recv`], writable so AEADs can open in place.
    pub fn packet(&mut self, i: usize) -> &mut [u8] {
        let len = (self.hdrs[i].msg_len as usize).min(SLOT);
        &mut self.bufs[i][..len]
    }
}
