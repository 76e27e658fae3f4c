//! The core's deadline table: handlers and services ask to be called back at a time
//! (`Timers::at`), the modem reports the earliest deadline through `Modem::poll_timeout`,
//! and `Modem::handle_timeout` runs what is due, in deadline order. Time is an input, so
//! transcripts drive it with virtual time.

use super::Ctx;
use std::collections::BTreeMap;
use std::time::Instant;

pub type TimerId = u64;

/// What to do when a deadline passes: `fire(ctx, tag)`. `name` shows in logs.
#[derive(Debug, Clone, Copy)]
pub struct Timer {
    pub name: &'static str,
    pub fire: fn(&mut Ctx, u64),
    pub tag: u64,
}

/// Pending deadlines (part of `Ctx`).
#[derive(Debug, Default)]
pub struct Timers {
    next: TimerId,
    due: BTreeMap<(Instant, TimerId), Timer>,
}

impl Timers {
    /// Call `timer` at `when`.
    pub fn at(&mut self, when: Instant, timer: Timer) -> TimerId {
        self.next += 1;
        self.due.insert((when, self.next), timer);
        self.next
    }

    /// Forget timer `id` (a no-op once it has fired).
    pub fn cancel(&mut self, id: TimerId) {
        self.due.retain(|(_, t), _| *t != id);
    }

    /// Whether timer `id` is still pending.
    pub fn pending(&self, id: TimerId) -> bool {
        self.due.keys().any(|(_, t)| *t == id)
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.due.keys().next().map(|(at, _)| *at)
    }

    /// The earliest timer due at `now`, taken out.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let (&key, _) = self.due.iter().next().filter(|((at, _), _)| *at <= now)?;
        self.due.remove(&key)
    }

    pub fn clear(&mut self) {
        self.due.clear();
    }
}
