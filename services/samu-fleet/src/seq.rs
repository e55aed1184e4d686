//! Idempotent resends: a sliding window of seen sequence numbers.

/// Remembers which of the last 64 sequence numbers below the highest one were
/// seen, like IPsec's anti-replay window. A resend after a reconnect is
/// recognised even when reports were reordered; anything older than the
/// window counts as seen (it was acknowledged long ago).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqWindow {
    highest: u64,
    /// Bit i set: `highest - i` was seen (bit 0 is `highest` itself).
    seen: u64,
}

impl SeqWindow {
    /// A window restored from storage: everything up to `highest` counts as seen.
    pub fn restored(highest: u64) -> Self {
        Self {
            highest,
            seen: if highest == 0 { 0 } else { u64::MAX },
        }
    }

    /// The highest sequence number seen.
    pub fn highest(&self) -> u64 {
        self.highest
    }

    /// Whether `seq` was seen.
    pub fn contains(&self, seq: u64) -> bool {
        if seq > self.highest {
            return false;
        }
        let back = self.highest - seq;
        back >= 64 || self.seen & (1 << back) != 0
    }

    /// Marks `seq` as seen; returns false when it already was.
    pub fn insert(&mut self, seq: u64) -> bool {
        if self.contains(seq) {
            return false;
        }
        if seq > self.highest {
            let shift = seq - self.highest;
            self.seen = if shift >= 64 { 0 } else { self.seen << shift };
            self.seen |= 1;
            self.highest = seq;
        } else {
            self.seen |= 1 << (self.highest - seq);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_recognised_in_and_out_of_order() {
        let mut w = SeqWindow::default();
        assert!(w.insert(1));
        assert!(w.insert(3));
        assert!(!w.insert(3));
        assert!(w.insert(2), "a late report inside the window is new");
        assert!(!w.insert(2));
        assert!(!w.insert(1));
        assert_eq!(w.highest(), 3);
    }

    #[test]
    fn far_jumps_and_old_numbers() {
        let mut w = SeqWindow::default();
        assert!(w.insert(5));
        assert!(w.insert(500));
        assert!(!w.insert(5), "outside the window counts as seen");
        assert!(w.insert(499));
        assert!(w.insert(437), "63 back is inside the window");
        assert!(!w.insert(436), "64 back is outside");
    }

    #[test]
    fn restored_window_treats_everything_below_as_seen() {
        let mut w = SeqWindow::restored(10);
        assert!(!w.insert(10));
        assert!(!w.insert(7));
        assert!(w.insert(11));
        let mut empty = SeqWindow::restored(0);
        assert!(empty.insert(1));
    }
}
