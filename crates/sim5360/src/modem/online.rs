//! The online data state (V.250 §5.2.1): after a `CONNECT`, every DTE byte is payload for
//! one job and everything the job receives goes to the DTE raw, until the escape sequence
//! `+++` with the S12 guard time around it returns to command state (the connection stays
//! up; `ATO` goes back), or the job ends.
//!
//! [`Escape`] is the pure escape detector: it holds back a possible `+++` until it is known
//! to be the escape (silence for the guard time after it) or data (anything sooner).

use std::time::{Duration, Instant};

/// The escape character (S2 is not settable on the module: always `+`).
const ESC_CHAR: u8 = b'+';

/// Detects `+++` with at least `guard` of silence before, at most `guard` between the
/// characters, and `guard` of silence after.
#[derive(Debug, Clone)]
pub struct Escape {
    guard: Duration,
    /// When the last byte came (the connection's start counts as one).
    last: Instant,
    /// Escape characters held back (0-3).
    held: u8,
}

impl Escape {
    pub fn new(guard: Duration, now: Instant) -> Self {
        Self { guard, last: now, held: 0 }
    }

    /// Bytes from the DTE at `now`: appends to `out` what is payload. Held characters
    /// that turn out to be data are released in order.
    pub fn feed(&mut self, data: &[u8], now: Instant, out: &mut Vec<u8>) {
        let mut quiet = now.saturating_duration_since(self.last) >= self.guard;
        for &b in data {
            if b == ESC_CHAR && matches!(self.held, 1 | 2) && !quiet {
                self.held += 1;
            } else {
                self.release(out);
                if b == ESC_CHAR && quiet {
                    self.held = 1;
                } else {
                    out.push(b);
                }
            }
            // Bytes of one read arrive together: no silence between them.
            quiet = false;
        }
        if !data.is_empty() {
            self.last = now;
        }
    }

    fn release(&mut self, out: &mut Vec<u8>) {
        out.extend(std::iter::repeat_n(ESC_CHAR, usize::from(self.held)));
        self.held = 0;
    }

    /// When [`Escape::fire`] has something to do: a complete `+++` becomes the escape, a
    /// partial one becomes data.
    pub fn deadline(&self) -> Option<Instant> {
        (self.held > 0).then(|| self.last + self.guard)
    }

    /// Time passed: true if the escape sequence is complete (the held characters are
    /// consumed); a partial sequence whose time is up is appended to `out` as data.
    pub fn fire(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        if self.deadline().is_none_or(|d| d > now) {
            return false;
        }
        if self.held == 3 {
            self.held = 0;
            return true;
        }
        self.release(out);
        false
    }

    /// The held characters, released as data.
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        self.release(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: Duration = Duration::from_secs(1);

    fn run(steps: &[(u64, &[u8])]) -> (Vec<u8>, Escape, Instant) {
        let t0 = Instant::now();
        let mut e = Escape::new(G, t0);
        let mut out = Vec::new();
        let mut now = t0;
        for (ms, data) in steps {
            now = t0 + Duration::from_millis(*ms);
            e.feed(data, now, &mut out);
        }
        (out, e, now)
    }

    #[test]
    fn escape_needs_silence_before_and_after() {
        let (out, mut e, now) = run(&[(100, b"data"), (1200, b"+++")]);
        assert_eq!(out, b"data");
        let mut rest = Vec::new();
        assert!(!e.fire(now + Duration::from_millis(999), &mut rest));
        assert!(e.fire(now + G, &mut rest));
        e.flush(&mut rest);
        assert!(rest.is_empty());
    }

    #[test]
    fn pluses_inside_data_are_data() {
        let (out, e, _) = run(&[(1500, b"a+++b")]);
        assert_eq!(out, b"a+++b");
        assert_eq!(e.deadline(), None);
        let (out, e, _) = run(&[(100, b"x"), (200, b"+++")]);
        assert_eq!(out, b"x+++");
        assert_eq!(e.deadline(), None);
    }

    #[test]
    fn a_byte_after_the_pluses_makes_them_data() {
        let (out, e, _) = run(&[(1500, b"+++"), (1700, b"q")]);
        assert_eq!(out, b"+++q");
        assert_eq!(e.deadline(), None);
    }

    #[test]
    fn pluses_one_at_a_time_within_the_guard() {
        let (out, mut e, now) = run(&[(1500, b"+"), (1800, b"+"), (2100, b"+")]);
        assert!(out.is_empty());
        assert!(e.fire(now + G, &mut Vec::new()));
    }

    #[test]
    fn pluses_too_far_apart_are_data() {
        // The second one may start a new escape: it is held until its time is up.
        let (out, mut e, now) = run(&[(1500, b"+"), (2600, b"+")]);
        assert_eq!(out, b"+");
        let mut rest = Vec::new();
        assert!(!e.fire(now + G, &mut rest));
        assert_eq!(rest, b"+");
        assert_eq!(e.deadline(), None);
    }

    #[test]
    fn four_pluses_are_data() {
        let (out, e, _) = run(&[(1500, b"++++")]);
        assert_eq!(out, b"++++");
        assert_eq!(e.deadline(), None);
    }
}
