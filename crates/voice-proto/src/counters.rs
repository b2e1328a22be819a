//! What happened to each datagram, and the counters that add it up.
//!
//! [`crate::Router::process`] returns an [`Outcome`] for every datagram rather than bumping
//! shared counters itself: receive threads count into a private [`Counters`] and merge it
//! into a shared total once per batch, so no cache line is written by every packet on every
//! core. Every datagram is counted as `received` and as exactly one of: accepted media,
//! an IP discovery, a keep-alive, RTCP, or one drop reason.

/// Why a datagram was dropped. Every drop has exactly one reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Shorter than its headers, tag and nonce counter.
    Truncated,
    /// Larger than [`crate::MAX_DATAGRAM`]; no voice client sends these.
    Oversize,
    /// Neither RTP version 2, RTCP, IP discovery nor a keep-alive.
    NotRtp,
    /// RTP or IP discovery for an SSRC no session holds.
    UnknownSsrc,
    /// The AEAD tag did not verify: forged, corrupted, or sealed with another key or mode.
    AuthFailed,
    /// Authentic, but its nonce counter was already accepted.
    Replayed,
    /// Authentic, but its counter is left of the replay window.
    TooOld,
    /// Authentic, but its counter jumps too far ahead of the highest accepted one.
    FarFuture,
    /// Authentic, but the sender is server-muted.
    Muted,
    /// Authentic, but the sender is in no room.
    NotInRoom,
}

impl DropReason {
    /// Every reason, in the order counters list them.
    pub const ALL: [DropReason; 10] = [
        DropReason::Truncated,
        DropReason::Oversize,
        DropReason::NotRtp,
        DropReason::UnknownSsrc,
        DropReason::AuthFailed,
        DropReason::Replayed,
        DropReason::TooOld,
        DropReason::FarFuture,
        DropReason::Muted,
        DropReason::NotInRoom,
    ];

    /// The reason's name; its counter is `dropped_<name>`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::Truncated => "truncated",
            DropReason::Oversize => "oversize",
            DropReason::NotRtp => "not_rtp",
            DropReason::UnknownSsrc => "unknown_ssrc",
            DropReason::AuthFailed => "auth_failed",
            DropReason::Replayed => "replayed",
            DropReason::TooOld => "too_old",
            DropReason::FarFuture => "far_future",
            DropReason::Muted => "muted",
            DropReason::NotInRoom => "not_in_room",
        }
    }

    /// The counter name, `dropped_<reason>`.
    pub const fn counter_name(self) -> &'static str {
        match self {
            DropReason::Truncated => "dropped_truncated",
            DropReason::Oversize => "dropped_oversize",
            DropReason::NotRtp => "dropped_not_rtp",
            DropReason::UnknownSsrc => "dropped_unknown_ssrc",
            DropReason::AuthFailed => "dropped_auth_failed",
            DropReason::Replayed => "dropped_replayed",
            DropReason::TooOld => "dropped_too_old",
            DropReason::FarFuture => "dropped_far_future",
            DropReason::Muted => "dropped_muted",
            DropReason::NotInRoom => "dropped_not_in_room",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// What [`crate::Router::process`] did with one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Authentic media, fanned out to the sender's room.
    Forwarded {
        /// Datagrams produced, one per listener that has an address and is not deafened.
        delivered: u32,
        /// Listeners skipped because they have not bound an address yet.
        undeliverable: u32,
    },
    /// An IP discovery request, answered.
    IpDiscovery,
    /// A keep-alive; `echoed` when it came from a session's bound address and was echoed.
    Keepalive {
        /// Whether an echo was sent back.
        echoed: bool,
    },
    /// RTCP, counted and dropped.
    Rtcp,
    /// Dropped, for the given reason.
    Dropped(DropReason),
}

/// Counts of outcomes. Plain integers: each thread owns one and merges it into a total.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Datagrams processed.
    pub received: u64,
    /// Authentic media packets accepted for fan-out (each may yield many datagrams).
    pub accepted: u64,
    /// Datagrams sent to listeners by fan-out.
    pub forwarded: u64,
    /// Listeners skipped by fan-out because they had no bound address.
    pub undeliverable: u64,
    /// IP discovery requests answered.
    pub ip_discovery: u64,
    /// Keep-alives received.
    pub keepalive: u64,
    /// Keep-alives echoed back to a bound session address.
    pub keepalive_echoed: u64,
    /// RTCP packets received (and dropped: the SFU does not relay or act on RTCP; each
    /// client's reports describe its link to us, which no other client can use).
    pub rtcp: u64,
    dropped: [u64; DropReason::ALL.len()],
}

impl Counters {
    /// Counts one outcome.
    pub fn record(&mut self, outcome: Outcome) {
        self.received += 1;
        match outcome {
            Outcome::Forwarded {
                delivered,
                undeliverable,
            } => {
                self.accepted += 1;
                self.forwarded += u64::from(delivered);
                self.undeliverable += u64::from(undeliverable);
            }
            Outcome::IpDiscovery => self.ip_discovery += 1,
            Outcome::Keepalive { echoed } => {
                self.keepalive += 1;
                self.keepalive_echoed += u64::from(echoed);
            }
            Outcome::Rtcp => self.rtcp += 1,
            Outcome::Dropped(reason) => self.dropped[reason.index()] += 1,
        }
    }

    /// Datagrams dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()]
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Counters) {
        for ((_, mine), (_, theirs)) in self.fields_mut().zip(other.iter()) {
            *mine += theirs;
        }
    }

    /// True when nothing has been counted.
    pub fn is_empty(&self) -> bool {
        self.received == 0
    }

    /// Every counter by name, including every `dropped_<reason>` (zero or not).
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        [
            ("received", self.received),
            ("accepted", self.accepted),
            ("forwarded", self.forwarded),
            ("undeliverable", self.undeliverable),
            ("ip_discovery", self.ip_discovery),
            ("keepalive", self.keepalive),
            ("keepalive_echoed", self.keepalive_echoed),
            ("rtcp", self.rtcp),
        ]
        .into_iter()
        .chain(
            DropReason::ALL
                .into_iter()
                .map(|r| (r.counter_name(), self.dropped(r))),
        )
    }

    /// The same fields as [`Counters::iter`], in the same order, mutably.
    fn fields_mut(&mut self) -> impl Iterator<Item = (&'static str, &mut u64)> {
        [
            ("received", &mut self.received),
            ("accepted", &mut self.accepted),
            ("forwarded", &mut self.forwarded),
            ("undeliverable", &mut self.undeliverable),
            ("ip_discovery", &mut self.ip_discovery),
            ("keepalive", &mut self.keepalive),
            ("keepalive_echoed", &mut self.keepalive_echoed),
            ("rtcp", &mut self.rtcp),
        ]
        .into_iter()
        .chain(
            DropReason::ALL
                .into_iter()
                .map(DropReason::counter_name)
                .zip(self.dropped.iter_mut()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_indexed_in_order() {
        for (i, r) in DropReason::ALL.into_iter().enumerate() {
            assert_eq!(r.index(), i);
            assert_eq!(r.counter_name(), format!("dropped_{}", r.as_str()));
        }
    }

    #[test]
    fn record_merge_and_names() {
        let mut a = Counters::default();
        a.record(Outcome::Forwarded {
            delivered: 3,
            undeliverable: 1,
        });
        a.record(Outcome::Dropped(DropReason::Replayed));
        a.record(Outcome::Keepalive { echoed: true });
        a.record(Outcome::Rtcp);
        a.record(Outcome::IpDiscovery);
        let mut total = Counters::default();
        total.merge(&a);
        total.merge(&a);
        let map: std::collections::HashMap<_, _> = total.iter().collect();
        assert_eq!(map.len(), 8 + DropReason::ALL.len());
        assert_eq!(map["received"], 10);
        assert_eq!(map["forwarded"], 6);
        assert_eq!(map["undeliverable"], 2);
        assert_eq!(map["dropped_replayed"], 2);
        assert_eq!(map["dropped_muted"], 0);
        assert_eq!(map["keepalive_echoed"], 2);
        assert_eq!(
            (map["rtcp"], map["ip_discovery"], map["accepted"]),
            (2, 2, 2)
        );
        let names: Vec<_> = total.iter().map(|(n, _)| n).collect();
        let mut copy = total.clone();
        let mut_names: Vec<_> = copy.fields_mut().map(|(n, _)| n).collect();
        assert_eq!(names, mut_names);
    }
}
