//! A bounded receive cache, for the services whose data the DTE pulls with a command
//! (`AT+CHTTPSRECV`, `AT+CFTPSCACHERD`) instead of having it pushed.

/// Bound of a receive cache: past it the job stops reading from the server (the runner
/// takes no more of that job's events until the DTE has read some: `Modem::paused_jobs`).
pub const CACHE_MAX: usize = 256 * 1024;

/// The receive cache: bytes appended at the back, taken from the front, in bulk copies.
#[derive(Debug, Default)]
pub struct Cache {
    buf: Vec<u8>,
    start: usize,
}

impl Cache {
    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// At its bound: the job feeding it must wait.
    pub fn is_full(&self) -> bool {
        self.is_full_with(0)
    }

    /// Would be at its bound with `more` bytes.
    pub fn is_full_with(&self, more: usize) -> bool {
        self.len() + more >= CACHE_MAX
    }

    pub fn push(&mut self, data: &[u8]) {
        // Reclaim the consumed front once it is the larger part.
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Take up to `n` bytes from the front.
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.len());
        let out = self.buf[self.start..self.start + n].to_vec();
        self.start += n;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        out
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::Cache;

    #[test]
    fn cache_is_fifo() {
        let mut c = Cache::default();
        c.push(b"hello");
        assert_eq!(c.take(2), b"he");
        c.push(b" world");
        assert_eq!(c.len(), 9);
        assert_eq!(c.take(100), b"llo world");
        assert!(c.is_empty());
        assert_eq!(c.take(1), b"");
    }
}
