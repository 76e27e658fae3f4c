//! UART timing: 8N1 carries 10 bits per byte, so at `baud` a byte takes `10 / baud` s.
//! Used on both directions when `--pace` is given, so firmware sees real line timing
//! whatever the transport.

use std::time::Duration;
use tokio::time::Instant;

/// Keeps the time at which the line is next free.
#[derive(Debug)]
pub struct Pacer {
    free_at: Instant,
}

impl Default for Pacer {
    fn default() -> Self {
        Self { free_at: Instant::now() }
    }
}

/// Time `n` bytes take at `baud` (autobaud 0 counts as 115200).
pub fn byte_time(n: usize, baud: u32) -> Duration {
    let baud = if baud == 0 { 115_200 } else { baud };
    Duration::from_secs_f64(n as f64 * 10.0 / f64::from(baud))
}

impl Pacer {
    /// Account for `n` bytes and wait until they would have crossed the line.
    pub async fn wait(&mut self, n: usize, baud: u32) {
        let now = Instant::now();
        let start = self.free_at.max(now);
        self.free_at = start + byte_time(n, baud);
        tokio::time::sleep_until(self.free_at).await;
    }

    /// Account for `n` bytes sent now (or as soon as the line is free).
    pub fn account(&mut self, n: usize, baud: u32) {
        let start = self.free_at.max(Instant::now());
        self.free_at = start + byte_time(n, baud);
    }

    /// Whether the line is free now.
    pub fn is_free(&self) -> bool {
        self.free_at <= Instant::now()
    }

    /// When the line is next free.
    pub fn free_at(&self) -> Instant {
        self.free_at
    }

    /// Resolves once the line is free.
    pub async fn free(&self) {
        tokio::time::sleep_until(self.free_at).await;
    }

    /// Largest chunk worth sending in one go (about 10 ms of line time).
    pub fn chunk(baud: u32) -> usize {
        let baud = if baud == 0 { 115_200 } else { baud };
        (baud as usize / 1000).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(byte_time(1152, 115200), Duration::from_millis(100));
        assert_eq!(byte_time(96, 9600), Duration::from_millis(100));
        assert_eq!(Pacer::chunk(9600), 9);
    }
}
