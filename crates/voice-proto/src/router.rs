//! Sessions, rooms, and the per-datagram decision: the SFU's routing table.
//!
//! The Python control plane changes the table rarely (a session joins, moves, is muted),
//! and receive threads read it for every packet, so the table sits behind one `RwLock`
//! that receive threads hold for a whole batch ([`Router::view`]). State that packets
//! themselves change lives inside each session behind its own small lock or atomic:
//!
//! - the replay window (a `Mutex`: in practice only the thread whose socket the sender's
//!   4-tuple hashes to ever takes it, so it is uncontended);
//! - the bound address (a `Mutex`: set by IP discovery or NAT rebinding, read by fan-out);
//! - the send counter (an `AtomicU32`: any sender's thread may seal for this listener);
//! - when the session was last heard (an `AtomicU64`, for the control plane's timeouts).
//!
//! The rules a datagram meets, in order (see [`RouterView::process`]):
//!
//! 1. Demultiplex ([`crate::wire`]); count and drop RTCP, answer IP discovery for a known
//!    SSRC, count keep-alives (echoing them only to an address a session has bound, so
//!    the port cannot be used to reflect traffic at strangers).
//! 2. Find the sender by SSRC; open the AEAD with its key. Nothing about a packet is
//!    trusted before this, including its counter, so a forged packet changes nothing.
//! 3. Check and advance the replay window.
//! 4. Bind the sender's address if it moved (NAT rebinding). IP discovery, which is not
//!    authenticated, may only bind a session that has no address yet.
//! 5. Refuse muted senders and senders in no room.
//! 6. For every other member of the room that is not deafened and has an address, re-seal
//!    the same AAD and plaintext with the listener's key, mode and next send counter.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::counters::{DropReason, Outcome};
use crate::crypto::{Cipher, Mode, KEY_LEN, OVERHEAD};
use crate::discovery;
use crate::replay::{Rejection, ReplayWindow};
use crate::wire::{self, Kind, RtpError};

/// The largest datagram the router handles. Voice and video packets are kept under the path
/// MTU (about 1200 bytes for Discord's clients); anything larger is dropped as `oversize`.
pub const MAX_DATAGRAM: usize = 2048;

/// The room id that means "in no room". Discord snowflakes are never 0.
pub const NO_ROOM: u64 = 0;

/// `last_heard` before anything was heard.
const NEVER: u64 = u64::MAX;

/// A control-plane request the table refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlError {
    /// `add_session` with a session id that is already present.
    SessionIdInUse(u64),
    /// `add_session` with an SSRC another session holds.
    SsrcInUse(u32),
    /// No session has this id.
    UnknownSession(u64),
    /// The room already holds its limit of sessions.
    RoomFull {
        /// The room.
        room: u64,
        /// Its limit.
        limit: u32,
    },
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlError::SessionIdInUse(id) => write!(f, "session id {id} is already in use"),
            ControlError::SsrcInUse(ssrc) => write!(f, "ssrc {ssrc} is already in use"),
            ControlError::UnknownSession(id) => write!(f, "unknown session {id}"),
            ControlError::RoomFull { room, limit } => {
                write!(f, "room {room} is full (limit {limit})")
            }
        }
    }
}

impl std::error::Error for ControlError {}

/// One voice connection: what the voice WebSocket negotiated, plus packet-path state.
struct Session {
    id: u64,
    ssrc: u32,
    cipher: Cipher,
    // Written only under the table's write lock and read under its read lock, so the lock
    // orders them; atomics only give the shared `Arc` interior mutability.
    room: AtomicU64,
    muted: AtomicBool,
    deaf: AtomicBool,
    address: Mutex<Option<SocketAddr>>,
    send_counter: AtomicU32,
    replay: Mutex<ReplayWindow>,
    last_heard: AtomicU64,
}

#[derive(Default)]
struct Room {
    members: Vec<Arc<Session>>,
    /// 0 means unlimited.
    limit: u32,
}

impl Room {
    fn check_space(&self, room: u64) -> Result<(), ControlError> {
        if self.limit != 0 && self.members.len() >= self.limit as usize {
            return Err(ControlError::RoomFull {
                room,
                limit: self.limit,
            });
        }
        Ok(())
    }
}

#[derive(Default)]
struct Table {
    sessions: HashMap<u64, Arc<Session>>,
    by_ssrc: HashMap<u32, Arc<Session>>,
    rooms: HashMap<u64, Room>,
}

impl Table {
    fn session(&self, id: u64) -> Result<&Arc<Session>, ControlError> {
        self.sessions
            .get(&id)
            .ok_or(ControlError::UnknownSession(id))
    }

    fn has_space(&self, room: u64) -> Result<(), ControlError> {
        match self.rooms.get(&room) {
            Some(r) if room != NO_ROOM => r.check_space(room),
            _ => Ok(()),
        }
    }

    fn join(&mut self, room: u64, session: &Arc<Session>) {
        session.room.store(room, Relaxed);
        if room != NO_ROOM {
            self.rooms
                .entry(room)
                .or_default()
                .members
                .push(Arc::clone(session));
        }
    }

    fn leave(&mut self, session: &Session) {
        let room = session.room.swap(NO_ROOM, Relaxed);
        if let Some(r) = self.rooms.get_mut(&room) {
            r.members.retain(|m| m.id != session.id);
            if r.members.is_empty() && r.limit == 0 {
                self.rooms.remove(&room);
            }
        }
    }
}

/// The routing table and packet processor. Share it between threads with an `Arc`.
#[derive(Default)]
pub struct Router {
    table: RwLock<Table>,
    /// Which session each bound address belongs to, for keep-alive echoes. Outside the
    /// table because packets (discovery, rebinding) change it while the table is only read.
    bound: RwLock<HashMap<SocketAddr, u64>>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = self.read();
        f.debug_struct("Router")
            .field("sessions", &table.sessions.len())
            .field("rooms", &table.rooms.len())
            .finish()
    }
}

/// Locks, ignoring poison: every critical section here leaves its data consistent at each
/// step, so a panic elsewhere while a lock was held does not make the data unusable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Router {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, Table> {
        self.table.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Read access for a batch of datagrams: one lock acquisition for the whole batch.
    /// Control changes wait until the view is dropped, so keep batches short.
    pub fn view(&self) -> RouterView<'_> {
        RouterView {
            router: self,
            table: self.read(),
        }
    }

    /// Processes one datagram; see [`RouterView::process`].
    pub fn process<F: FnMut(SocketAddr, &[u8])>(
        &self,
        now: u64,
        from: SocketAddr,
        datagram: &mut [u8],
        out: &mut F,
    ) -> Outcome {
        self.view().process(now, from, datagram, out)
    }

    /// Adds a session in `room` ([`NO_ROOM`] for none). Its address is bound later by IP
    /// discovery or its first authentic packet.
    pub fn add_session(
        &self,
        id: u64,
        ssrc: u32,
        room: u64,
        mode: Mode,
        key: &[u8; KEY_LEN],
    ) -> Result<(), ControlError> {
        let mut table = self.write();
        if table.sessions.contains_key(&id) {
            return Err(ControlError::SessionIdInUse(id));
        }
        if table.by_ssrc.contains_key(&ssrc) {
            return Err(ControlError::SsrcInUse(ssrc));
        }
        table.has_space(room)?;
        let session = Arc::new(Session {
            id,
            ssrc,
            cipher: Cipher::new(mode, key),
            room: AtomicU64::new(NO_ROOM),
            muted: AtomicBool::new(false),
            deaf: AtomicBool::new(false),
            address: Mutex::new(None),
            send_counter: AtomicU32::new(0),
            replay: Mutex::new(ReplayWindow::new()),
            last_heard: AtomicU64::new(NEVER),
        });
        table.join(room, &session);
        table.by_ssrc.insert(ssrc, Arc::clone(&session));
        table.sessions.insert(id, session);
        Ok(())
    }

    /// Removes a session; false if there was none. Its SSRC and address are freed at once.
    pub fn remove_session(&self, id: u64) -> bool {
        let mut table = self.write();
        let Some(session) = table.sessions.remove(&id) else {
            return false;
        };
        table.by_ssrc.remove(&session.ssrc);
        table.leave(&session);
        let address = lock(&session.address).take();
        if let Some(address) = address {
            self.unindex(address, id);
        }
        true
    }

    /// Moves a session to another room ([`NO_ROOM`] to leave). Moving to the room it is in
    /// already succeeds even when that room is full.
    pub fn move_session(&self, id: u64, room: u64) -> Result<(), ControlError> {
        let mut table = self.write();
        let session = Arc::clone(table.session(id)?);
        if session.room.load(Relaxed) == room {
            return Ok(());
        }
        table.has_space(room)?;
        table.leave(&session);
        table.join(room, &session);
        Ok(())
    }

    /// Replaces a session's mode and key (the voice WebSocket's SELECT_PROTOCOL chose
    /// another mode, or the key rotates), keeping its SSRC, room, flags and bound address.
    /// Nonce counters and the replay window start afresh: they belong to the old key.
    pub fn rekey(&self, id: u64, mode: Mode, key: &[u8; KEY_LEN]) -> Result<(), ControlError> {
        let mut table = self.write();
        let old = Arc::clone(table.session(id)?);
        let room = old.room.load(Relaxed);
        let session = Arc::new(Session {
            id,
            ssrc: old.ssrc,
            cipher: Cipher::new(mode, key),
            room: AtomicU64::new(NO_ROOM),
            muted: AtomicBool::new(old.muted.load(Relaxed)),
            deaf: AtomicBool::new(old.deaf.load(Relaxed)),
            address: Mutex::new(*lock(&old.address)),
            send_counter: AtomicU32::new(0),
            replay: Mutex::new(ReplayWindow::new()),
            last_heard: AtomicU64::new(old.last_heard.load(Relaxed)),
        });
        // The old Arc leaves every index the table keeps; the bound-address index is by id.
        table.leave(&old);
        table.join(room, &session);
        table.by_ssrc.insert(session.ssrc, Arc::clone(&session));
        table.sessions.insert(id, session);
        Ok(())
    }

    /// Sets server mute (its packets are dropped) and deafen (it is sent nothing).
    pub fn set_flags(&self, id: u64, muted: bool, deafened: bool) -> Result<(), ControlError> {
        let table = self.write();
        let session = table.session(id)?;
        session.muted.store(muted, Relaxed);
        session.deaf.store(deafened, Relaxed);
        Ok(())
    }

    /// Limits how many sessions later `add_session`/`move_session` calls may put in `room`
    /// (0 = unlimited). Sessions already there stay.
    pub fn set_room_limit(&self, room: u64, limit: u32) {
        let mut table = self.write();
        if limit == 0 {
            if let Some(r) = table.rooms.get_mut(&room) {
                r.limit = 0;
                if r.members.is_empty() {
                    table.rooms.remove(&room);
                }
            }
        } else {
            table.rooms.entry(room).or_default().limit = limit;
        }
    }

    /// The address a session is bound to; `None` if it has none yet or is unknown.
    pub fn session_address(&self, id: u64) -> Option<SocketAddr> {
        let table = self.read();
        let session = table.sessions.get(&id)?;
        let address = *lock(&session.address);
        address
    }

    /// The `now` of the session's last authentic packet (`Ok(None)` if none yet).
    pub fn last_heard(&self, id: u64) -> Result<Option<u64>, ControlError> {
        let table = self.read();
        let heard = table.session(id)?.last_heard.load(Relaxed);
        Ok((heard != NEVER).then_some(heard))
    }

    /// Session ids in a room, in join order.
    pub fn room_members(&self, room: u64) -> Vec<u64> {
        let table = self.read();
        table
            .rooms
            .get(&room)
            .map_or_else(Vec::new, |r| r.members.iter().map(|m| m.id).collect())
    }

    /// Number of sessions.
    pub fn session_count(&self) -> usize {
        self.read().sessions.len()
    }

    fn unindex(&self, address: SocketAddr, id: u64) {
        let mut bound = self.bound.write().unwrap_or_else(PoisonError::into_inner);
        if bound.get(&address) == Some(&id) {
            bound.remove(&address);
        }
    }
}

/// Whether a datagram may move a session that already has an address.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rebind {
    /// Authenticated and fresh: follow the client to its new address (NAT rebinding).
    Allowed,
    /// Unauthenticated (IP discovery): bind only a session with no address yet, so that
    /// anyone who learns an SSRC cannot redirect its audio.
    OnlyIfUnbound,
}

/// The table held for reading while a batch of datagrams is processed.
pub struct RouterView<'a> {
    router: &'a Router,
    table: RwLockReadGuard<'a, Table>,
}

impl RouterView<'_> {
    /// Processes one datagram received from `from` at time `now` (milliseconds on any
    /// monotonic clock the caller likes; it is only stored for [`Router::last_heard`]).
    ///
    /// Calls `out(destination, datagram)` for every datagram to send: the fan-out, an IP
    /// discovery answer or a keep-alive echo. `datagram` is decrypted in place and its
    /// contents are unspecified afterwards. Returns what happened, for counting.
    pub fn process<F: FnMut(SocketAddr, &[u8])>(
        &self,
        now: u64,
        from: SocketAddr,
        datagram: &mut [u8],
        out: &mut F,
    ) -> Outcome {
        if datagram.len() > MAX_DATAGRAM {
            return Outcome::Dropped(DropReason::Oversize);
        }
        match wire::classify(datagram) {
            Kind::Truncated => Outcome::Dropped(DropReason::Truncated),
            Kind::NotRtp => Outcome::Dropped(DropReason::NotRtp),
            // Counted, not relayed: see `Counters::rtcp`.
            Kind::Rtcp => Outcome::Rtcp,
            Kind::Keepalive => self.keepalive(from, datagram, out),
            Kind::DiscoveryRequest => self.discovery(from, datagram, out),
            Kind::Rtp => self.media(now, from, datagram, out),
        }
    }

    fn keepalive<F: FnMut(SocketAddr, &[u8])>(
        &self,
        from: SocketAddr,
        datagram: &[u8],
        out: &mut F,
    ) -> Outcome {
        // Discord has echoed keep-alives, and @discordjs/voice before 0.15 gave up on the
        // connection after 60 s without echoes. Echo only to addresses a session owns.
        let bound = self
            .router
            .bound
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let echoed = bound.contains_key(&from);
        drop(bound);
        if echoed {
            out(from, datagram);
        }
        Outcome::Keepalive { echoed }
    }

    fn discovery<F: FnMut(SocketAddr, &[u8])>(
        &self,
        from: SocketAddr,
        datagram: &[u8],
        out: &mut F,
    ) -> Outcome {
        let ssrc = discovery::request_ssrc(datagram);
        // Only SSRCs we handed out are answered: the port is no free address oracle.
        let Some(session) = self.table.by_ssrc.get(&ssrc) else {
            return Outcome::Dropped(DropReason::UnknownSsrc);
        };
        self.bind(session, from, Rebind::OnlyIfUnbound);
        out(from, &discovery::response(ssrc, from));
        Outcome::IpDiscovery
    }

    fn media<F: FnMut(SocketAddr, &[u8])>(
        &self,
        now: u64,
        from: SocketAddr,
        datagram: &mut [u8],
        out: &mut F,
    ) -> Outcome {
        let header = match wire::parse_rtp(datagram) {
            Ok(header) => header,
            Err(RtpError::Truncated) => return Outcome::Dropped(DropReason::Truncated),
            Err(RtpError::NotRtp) => return Outcome::Dropped(DropReason::NotRtp),
        };
        let Some(sender) = self.table.by_ssrc.get(&header.ssrc) else {
            return Outcome::Dropped(DropReason::UnknownSsrc);
        };
        let Ok(counter) = sender.cipher.open_in_place(datagram, header.aad_len) else {
            return Outcome::Dropped(DropReason::AuthFailed);
        };
        {
            let mut window = lock(&sender.replay);
            match window.check(counter) {
                Ok(value) => window.accept(value),
                Err(rejection) => {
                    return Outcome::Dropped(match rejection {
                        Rejection::Replayed => DropReason::Replayed,
                        Rejection::TooOld => DropReason::TooOld,
                        Rejection::FarFuture => DropReason::FarFuture,
                    })
                }
            }
        }
        // From here on the packet is authentic and fresh. Someone on the path who copies a
        // packet and races it here from another address could rebind the session; they gain
        // nothing they could not do by dropping packets, as they cannot read or forge the
        // audio, and the client's next packet binds it back.
        sender.last_heard.store(now, Relaxed);
        self.bind(sender, from, Rebind::Allowed);
        if sender.muted.load(Relaxed) {
            return Outcome::Dropped(DropReason::Muted);
        }
        let room_id = sender.room.load(Relaxed);
        let room = match self.table.rooms.get(&room_id) {
            Some(room) if room_id != NO_ROOM => room,
            _ => return Outcome::Dropped(DropReason::NotInRoom),
        };

        let aad_len = header.aad_len;
        let plain_end = datagram.len() - OVERHEAD;
        let mut buf = [0u8; MAX_DATAGRAM];
        // Sealing leaves the AAD as it is, so it is copied once; the plaintext is copied
        // again for each listener because sealing encrypts it in place.
        buf[..aad_len].copy_from_slice(&datagram[..aad_len]);
        let (mut delivered, mut undeliverable) = (0, 0);
        for listener in &room.members {
            if listener.id == sender.id || listener.deaf.load(Relaxed) {
                continue;
            }
            let Some(address) = *lock(&listener.address) else {
                undeliverable += 1;
                continue;
            };
            buf[aad_len..plain_end].copy_from_slice(&datagram[aad_len..plain_end]);
            // Each listener's counter is its own nonce sequence under its own key, so a
            // nonce is never reused under a key; wrapping after 2^32 packets is what
            // clients do too.
            let counter = listener.send_counter.fetch_add(1, Relaxed);
            let len = listener
                .cipher
                .seal_in_place(&mut buf, aad_len, plain_end, counter);
            out(address, &buf[..len]);
            delivered += 1;
        }
        Outcome::Forwarded {
            delivered,
            undeliverable,
        }
    }

    fn bind(&self, session: &Session, from: SocketAddr, rebind: Rebind) {
        let mut address = lock(&session.address);
        match *address {
            Some(current) if current == from => return,
            Some(_) if rebind == Rebind::OnlyIfUnbound => return,
            _ => {}
        }
        let previous = address.replace(from);
        // Updated while the session's address lock is held, so the index never disagrees
        // with the session for long; lock order is table, session address, index.
        let mut bound = self
            .router
            .bound
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(previous) = previous {
            if bound.get(&previous) == Some(&session.id) {
                bound.remove(&previous);
            }
        }
        bound.insert(from, session.id);
    }
}

#[cfg(test)]
mod tests;
