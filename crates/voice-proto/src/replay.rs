//! The per-sender replay window over the 32-bit nonce counter.
//!
//! Clients increment the counter once per packet they send (discord.py and @discordjs/voice
//! both start at 0), and it is authenticated, unlike the RTP sequence number which is only
//! AAD. The window remembers which of the last [`WINDOW`] counters below the highest one
//! accepted have been seen, like IPsec's and SRTP's windows.
//!
//! The router asks [`ReplayWindow::check`] only after the tag verified, and calls
//! [`ReplayWindow::accept`] only for a packet it accepts, so a forged packet can never move
//! the window. An authentic packet more than [`FAR_FUTURE`] ahead is refused too: such a
//! jump would push every later real packet off the left edge of the window.
//!
//! The 32-bit counter is widened to 64 bits by taking the candidate nearest the highest
//! accepted value, as SRTP estimates its rollover counter, so a long session survives the
//! counter wrapping.

/// Width of the window in counters. A multiple of 64.
pub const WINDOW: u64 = 1024;
/// How far past the highest accepted counter an authentic packet may jump.
pub const FAR_FUTURE: u64 = 1 << 16;

const WORDS: usize = (WINDOW / 64) as usize;

/// Why [`ReplayWindow::check`] refused a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Already accepted once.
    Replayed,
    /// Left of the window: too old to tell, so refused.
    TooOld,
    /// More than [`FAR_FUTURE`] ahead of the highest accepted counter.
    FarFuture,
}

/// One sender's window.
#[derive(Clone, Debug, Default)]
pub struct ReplayWindow {
    /// The highest accepted counter widened to 64 bits; meaningless until `started`.
    highest: u64,
    started: bool,
    /// Bit `v % WINDOW` is set when counter `v` (within the window) was accepted.
    seen: [u64; WORDS],
}

impl ReplayWindow {
    /// A window that has accepted nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decides whether `counter` is fresh, without changing the window. On success returns
    /// the widened counter to pass to [`ReplayWindow::accept`].
    ///
    /// The first packet of a session is accepted at any counter: only the key holder can
    /// produce it, and clients disagree on where they start.
    pub fn check(&self, counter: u32) -> Result<u64, Rejection> {
        if !self.started {
            return Ok(u64::from(counter));
        }
        let value = self.widen(counter);
        if value > self.highest {
            if value - self.highest > FAR_FUTURE {
                return Err(Rejection::FarFuture);
            }
            return Ok(value);
        }
        if self.highest - value >= WINDOW {
            return Err(Rejection::TooOld);
        }
        if self.is_seen(value) {
            Err(Rejection::Replayed)
        } else {
            Ok(value)
        }
    }

    /// Records a widened counter returned by [`ReplayWindow::check`], sliding the window
    /// forward if it is the new highest.
    pub fn accept(&mut self, value: u64) {
        if !self.started {
            self.started = true;
            self.highest = value;
            self.seen = [0; WORDS];
        } else if value > self.highest {
            let advance = value - self.highest;
            if advance >= WINDOW {
                self.seen = [0; WORDS];
            } else {
                // Forget the counters that fall off the left edge; their slots are reused by
                // the ones just entering on the right. Usually `advance` is 1.
                for v in self.highest + 1..=value {
                    self.clear(v);
                }
            }
            self.highest = value;
        }
        let (word, bit) = slot(value);
        self.seen[word] |= bit;
    }

    /// Check and accept in one step, for callers that hold the window exclusively.
    pub fn check_and_accept(&mut self, counter: u32) -> Result<(), Rejection> {
        let value = self.check(counter)?;
        self.accept(value);
        Ok(())
    }

    /// The highest accepted counter as it appeared on the wire, if any.
    pub fn highest(&self) -> Option<u32> {
        // Truncation keeps the low 32 bits: exactly the wire counter.
        self.started.then_some(self.highest as u32)
    }

    fn widen(&self, counter: u32) -> u64 {
        const SPAN: u64 = 1 << 32;
        let candidate = (self.highest & !(SPAN - 1)) | u64::from(counter);
        if candidate > self.highest && candidate - self.highest > SPAN / 2 && candidate >= SPAN {
            candidate - SPAN
        } else if candidate < self.highest && self.highest - candidate > SPAN / 2 {
            candidate + SPAN
        } else {
            candidate
        }
    }

    fn is_seen(&self, value: u64) -> bool {
        let (word, bit) = slot(value);
        self.seen[word] & bit != 0
    }

    fn clear(&mut self, value: u64) {
        let (word, bit) = slot(value);
        self.seen[word] &= !bit;
    }
}

fn slot(value: u64) -> (usize, u64) {
    let index = value % WINDOW;
    ((index / 64) as usize, 1 << (index % 64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_then_replay() {
        let mut w = ReplayWindow::new();
        for c in 0..3000 {
            assert_eq!(w.check_and_accept(c), Ok(()), "{c}");
        }
        assert_eq!(w.check(2999), Err(Rejection::Replayed));
        assert_eq!(w.check(2999 - 1023), Err(Rejection::Replayed));
        assert_eq!(w.check(2999 - 1024), Err(Rejection::TooOld));
        assert_eq!(w.highest(), Some(2999));
    }

    #[test]
    fn reordering_inside_the_window_is_accepted_once() {
        let mut w = ReplayWindow::new();
        w.check_and_accept(0).unwrap();
        w.check_and_accept(10).unwrap();
        for c in (1..10).rev() {
            assert_eq!(w.check_and_accept(c), Ok(()));
            assert_eq!(w.check(c), Err(Rejection::Replayed));
        }
        // A jump of exactly the window width clears everything older.
        w.check_and_accept(10 + WINDOW as u32).unwrap();
        assert_eq!(w.check(10), Err(Rejection::TooOld));
        assert_eq!(w.check(11), Ok(11));
    }

    #[test]
    fn slots_reused_after_sliding_are_fresh() {
        let mut w = ReplayWindow::new();
        w.check_and_accept(5).unwrap();
        w.check_and_accept(5 + 500).unwrap();
        // 5 + 1024 shares 5's slot; sliding there must not make it look seen.
        w.check_and_accept(5 + 1000).unwrap();
        assert_eq!(w.check(5 + 1024), Ok(5 + 1024));
        w.check_and_accept(5 + 1024).unwrap();
        assert_eq!(w.check(5 + 1024), Err(Rejection::Replayed));
    }

    #[test]
    fn far_future_is_refused_and_leaves_the_window_alone() {
        let mut w = ReplayWindow::new();
        w.check_and_accept(100).unwrap();
        assert_eq!(
            w.check(100 + FAR_FUTURE as u32 + 1),
            Err(Rejection::FarFuture)
        );
        assert_eq!(w.check(100 + FAR_FUTURE as u32), Ok(100 + FAR_FUTURE));
        assert_eq!(w.check_and_accept(101), Ok(()));
        // Anything further ahead is refused too, however far.
        assert_eq!(w.check(100 + (1 << 31) + 5), Err(Rejection::FarFuture));
        assert_eq!(w.check(u32::MAX), Err(Rejection::FarFuture));
    }

    #[test]
    fn first_packet_anchors_anywhere() {
        let mut w = ReplayWindow::new();
        assert_eq!(w.highest(), None);
        w.check_and_accept(0xdead_beef).unwrap();
        assert_eq!(w.check_and_accept(0xdead_bef0), Ok(()));
        assert_eq!(w.check(0xdead_beef), Err(Rejection::Replayed));
    }

    #[test]
    fn survives_the_counter_wrapping() {
        let mut w = ReplayWindow::new();
        for c in u32::MAX - 5..=u32::MAX {
            w.check_and_accept(c).unwrap();
        }
        for c in 0..5 {
            assert_eq!(w.check_and_accept(c), Ok(()), "{c}");
        }
        assert_eq!(w.check(u32::MAX), Err(Rejection::Replayed));
        assert_eq!(w.check(u32::MAX - 2000), Err(Rejection::TooOld));
        assert_eq!(w.highest(), Some(4));
    }
}
