//! Batched UDP I/O on Linux: `recvmmsg` and `sendmmsg` over reusable buffers.
//!
//! A syscall per datagram costs about as much as everything else on the packet path put
//! together, so datagrams come in and go out up to [`BATCH`] at a time. The buffers are
//! allocated once per thread; the syscall descriptors (`mmsghdr`, `iovec`) are rebuilt
//! before each call from the buffers' heap addresses, so nothing self-referential is kept.
//!
//! This module holds all of the crate's `unsafe` code; each block says what it relies on.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;
use std::ptr;

use voice_proto::MAX_DATAGRAM;

/// Datagrams per `recvmmsg` call.
pub const BATCH: usize = 32;
/// Datagrams queued before a `sendmmsg` call: one received batch fanned out to a few
/// listeners each fits, and a large room flushes several times per batch.
pub const SEND_BATCH: usize = 128;

/// One received datagram.
pub struct Received<'a> {
    /// Where it came from.
    pub from: SocketAddr,
    /// Its bytes (the router decrypts them in place).
    pub data: &'a mut [u8],
    /// The kernel cut it short: it was larger than [`MAX_DATAGRAM`].
    pub truncated: bool,
}

/// Buffers for one `recvmmsg` batch.
pub struct RecvBatch {
    buffers: Vec<[u8; MAX_DATAGRAM]>,
    addresses: Vec<libc::sockaddr_storage>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    filled: usize,
}

impl RecvBatch {
    /// Allocates buffers for [`BATCH`] datagrams.
    pub fn new() -> Self {
        RecvBatch {
            buffers: vec![[0; MAX_DATAGRAM]; BATCH],
            // SAFETY: all-zero bytes are a valid value of these plain C structs.
            addresses: vec![unsafe { zeroed() }; BATCH],
            iovecs: vec![
                libc::iovec {
                    iov_base: ptr::null_mut(),
                    iov_len: 0
                };
                BATCH
            ],
            headers: vec![unsafe { zeroed() }; BATCH],
            filled: 0,
        }
    }

    /// Blocks until at least one datagram arrives (or the socket's read timeout passes, or
    /// the socket is shut down), then takes whatever else is already queued, up to
    /// [`BATCH`]. Returns how many datagrams were received.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        for i in 0..BATCH {
            self.iovecs[i] = libc::iovec {
                iov_base: self.buffers[i].as_mut_ptr().cast(),
                iov_len: MAX_DATAGRAM,
            };
            let header = &mut self.headers[i];
            header.msg_hdr.msg_name = ptr::from_mut(&mut self.addresses[i]).cast();
            header.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            header.msg_hdr.msg_iov = ptr::from_mut(&mut self.iovecs[i]);
            header.msg_hdr.msg_iovlen = 1;
            header.msg_hdr.msg_control = ptr::null_mut();
            header.msg_hdr.msg_controllen = 0;
            header.msg_hdr.msg_flags = 0;
            header.msg_len = 0;
        }
        // SAFETY: every header points at a live iovec and sockaddr_storage owned by `self`,
        // each iovec at a live buffer of MAX_DATAGRAM bytes; none of them move or are
        // touched elsewhere during the call, and the count matches the array length.
        // MSG_WAITFORONE blocks only for the first datagram.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.headers.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                ptr::null_mut(),
            )
        };
        if n < 0 {
            self.filled = 0;
            return Err(io::Error::last_os_error());
        }
        self.filled = n as usize;
        Ok(self.filled)
    }

    /// Iterates over the datagrams of the last [`RecvBatch::recv`].
    pub fn iter_mut(&mut self) -> impl Iterator<Item = Received<'_>> {
        self.headers[..self.filled]
            .iter()
            .zip(&self.addresses)
            .zip(self.buffers.iter_mut())
            .filter_map(|((header, address), buffer)| {
                let len = (header.msg_len as usize).min(MAX_DATAGRAM);
                Some(Received {
                    // A datagram without a usable source address cannot be answered or
                    // routed; the kernel always supplies one for UDP.
                    from: decode(address, header.msg_hdr.msg_namelen)?,
                    data: &mut buffer[..len],
                    truncated: header.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
                })
            })
    }
}

/// Datagrams queued for one `sendmmsg` call.
pub struct SendBatch {
    buffers: Vec<[u8; MAX_DATAGRAM]>,
    lengths: Vec<usize>,
    addresses: Vec<libc::sockaddr_storage>,
    address_lengths: Vec<libc::socklen_t>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    queued: usize,
    /// Datagrams the kernel refused (counted, never retried: voice is real-time).
    pub errors: u64,
}

impl SendBatch {
    /// Allocates room for [`SEND_BATCH`] datagrams.
    pub fn new() -> Self {
        SendBatch {
            buffers: vec![[0; MAX_DATAGRAM]; SEND_BATCH],
            lengths: vec![0; SEND_BATCH],
            // SAFETY: all-zero bytes are a valid value of these plain C structs.
            addresses: vec![unsafe { zeroed() }; SEND_BATCH],
            address_lengths: vec![0; SEND_BATCH],
            iovecs: vec![
                libc::iovec {
                    iov_base: ptr::null_mut(),
                    iov_len: 0
                };
                SEND_BATCH
            ],
            headers: vec![unsafe { zeroed() }; SEND_BATCH],
            queued: 0,
            errors: 0,
        }
    }

    /// Queues a datagram, sending the queue first if it is full. `bytes` is at most
    /// [`MAX_DATAGRAM`] long: the router never produces more than it received.
    pub fn push(&mut self, fd: RawFd, to: SocketAddr, bytes: &[u8]) {
        if self.queued == SEND_BATCH {
            self.flush(fd);
        }
        let i = self.queued;
        self.buffers[i][..bytes.len()].copy_from_slice(bytes);
        self.lengths[i] = bytes.len();
        self.address_lengths[i] = encode(to, &mut self.addresses[i]);
        self.queued += 1;
    }

    /// Sends everything queued. Blocks while the socket's send buffer is full, which is the
    /// back-pressure we want: the receive queue then absorbs the burst, or drops in the
    /// kernel, rather than this thread spinning.
    pub fn flush(&mut self, fd: RawFd) {
        let count = self.queued;
        self.queued = 0;
        for i in 0..count {
            self.iovecs[i] = libc::iovec {
                iov_base: self.buffers[i].as_mut_ptr().cast(),
                iov_len: self.lengths[i],
            };
            let header = &mut self.headers[i];
            header.msg_hdr.msg_name = ptr::from_mut(&mut self.addresses[i]).cast();
            header.msg_hdr.msg_namelen = self.address_lengths[i];
            header.msg_hdr.msg_iov = ptr::from_mut(&mut self.iovecs[i]);
            header.msg_hdr.msg_iovlen = 1;
            header.msg_hdr.msg_control = ptr::null_mut();
            header.msg_hdr.msg_controllen = 0;
            header.msg_hdr.msg_flags = 0;
            header.msg_len = 0;
        }
        let mut sent = 0;
        while sent < count {
            // SAFETY: headers[sent..count] point at live iovecs, addresses and buffers owned
            // by `self` and set up above; the kernel only reads them.
            let n = unsafe {
                libc::sendmmsg(
                    fd,
                    self.headers[sent..count].as_mut_ptr(),
                    (count - sent) as libc::c_uint,
                    0,
                )
            };
            if n > 0 {
                sent += n as usize;
            } else if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            } else {
                // sendmmsg reports an error only for the first datagram it could not send
                // (an unreachable destination, say): skip that one and send the rest.
                self.errors += 1;
                sent += 1;
            }
        }
    }
}

/// Sets Don't Fragment on everything the socket sends. Besides keeping voice whole (a
/// datagram over the path MTU is refused and counted rather than fragmented), it spares
/// the kernel an IP ID per datagram: Linux gives unconnected DF datagrams ID 0 instead of
/// hashing one (`__ip_select_ident`), about 5% of the fan-out's CPU here.
pub fn forbid_fragmentation(fd: RawFd, ipv6: bool) -> io::Result<()> {
    let (level, name, value) = if ipv6 {
        (libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER, libc::IPV6_PMTUDISC_DO)
    } else {
        (libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, libc::IP_PMTUDISC_DO)
    };
    // SAFETY: `value` is a live c_int and its size is passed; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            ptr::from_ref(&value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads a socket address the kernel wrote.
fn decode(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match i32::from(storage.ss_family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, the length says it
            // is complete, and sockaddr_storage is large and aligned enough for any family.
            let sin = unsafe { &*ptr::from_ref(storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &*ptr::from_ref(storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                u32::from_be(sin6.sin6_flowinfo),
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Writes a socket address for the kernel; returns its length.
fn encode(address: SocketAddr, storage: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match address {
        SocketAddr::V4(v4) => {
            // SAFETY: all-zero is a valid sockaddr_in.
            let mut sin: libc::sockaddr_in = unsafe { zeroed() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
            // SAFETY: sockaddr_storage is large and aligned enough for a sockaddr_in.
            unsafe {
                ptr::from_mut(storage)
                    .cast::<libc::sockaddr_in>()
                    .write(sin)
            };
            size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(v6) => {
            // SAFETY: all-zero is a valid sockaddr_in6.
            let mut sin6: libc::sockaddr_in6 = unsafe { zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_flowinfo = v6.flowinfo().to_be();
            sin6.sin6_addr.s6_addr = v6.ip().octets();
            sin6.sin6_scope_id = v6.scope_id();
            // SAFETY: sockaddr_storage is large and aligned enough for a sockaddr_in6.
            unsafe {
                ptr::from_mut(storage)
                    .cast::<libc::sockaddr_in6>()
                    .write(sin6)
            };
            size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    #[test]
    fn addresses_round_trip() {
        for text in [
            "127.0.0.1:5",
            "[::1]:65535",
            "[fe80::1%2]:9",
            "[::ffff:10.0.0.1]:1",
        ] {
            let address: SocketAddr = text.parse().unwrap();
            // SAFETY: all-zero is a valid sockaddr_storage.
            let mut storage = unsafe { zeroed() };
            let len = encode(address, &mut storage);
            assert_eq!(decode(&storage, len), Some(address));
        }
    }

    #[test]
    fn batches_go_out_and_come_back() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let to = b.local_addr().unwrap();
        let mut out = SendBatch::new();
        // More than one send batch and more than one receive batch.
        for i in 0..(SEND_BATCH + 10) {
            out.push(a.as_raw_fd(), to, &[i as u8; 100]);
        }
        out.flush(a.as_raw_fd());
        assert_eq!(out.errors, 0);
        let mut rx = RecvBatch::new();
        let mut seen = Vec::new();
        while seen.len() < SEND_BATCH + 10 {
            let n = rx.recv(b.as_raw_fd()).unwrap();
            assert!((1..=BATCH).contains(&n));
            for d in rx.iter_mut() {
                assert_eq!(d.from, a.local_addr().unwrap());
                assert!(!d.truncated);
                assert_eq!(d.data.len(), 100);
                seen.push(d.data[0]);
            }
        }
        let expected: Vec<u8> = (0..SEND_BATCH + 10).map(|i| i as u8).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn oversize_datagrams_are_flagged_truncated() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        a.send_to(&vec![7u8; MAX_DATAGRAM + 1], b.local_addr().unwrap())
            .unwrap();
        let mut rx = RecvBatch::new();
        assert_eq!(rx.recv(b.as_raw_fd()).unwrap(), 1);
        let d = rx.iter_mut().next().unwrap();
        assert!(d.truncated);
        assert_eq!(d.data.len(), MAX_DATAGRAM);
    }
}
