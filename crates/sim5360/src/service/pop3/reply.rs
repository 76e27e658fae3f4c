//! What a POP3 server sends (RFC 1939), sans IO: bytes in, whole lines out; status lines
//! (`+OK` / `-ERR`), multi-line answers (dot-unstuffed, ended by `.`) and the numbers of
//! STAT, LIST and UIDL lines. The job (`job.rs`) reads the socket and feeds this; the
//! fuzz target `pop3_reply` feeds it anything.

/// Longest line accepted from the server (LF included).
pub const MAX_LINE: usize = 64 * 1024;

/// A line longer than [`MAX_LINE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong;

/// Server bytes cut into lines.
#[derive(Debug, Default)]
pub struct LineReader {
    buf: Vec<u8>,
    /// Where the bytes not yet taken start.
    start: usize,
    /// How far `buf[start..]` is known to hold no LF.
    scanned: usize,
}

impl LineReader {
    pub fn push(&mut self, data: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
            self.scanned = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next whole line, its LF (and CR) included; `None` until more comes.
    pub fn next_line(&mut self) -> Result<Option<Vec<u8>>, TooLong> {
        let rest = &self.buf[self.start..];
        let Some(lf) = rest[self.scanned..].iter().position(|&b| b == b'\n').map(|i| i + self.scanned) else {
            self.scanned = rest.len();
            return if rest.len() >= MAX_LINE { Err(TooLong) } else { Ok(None) };
        };
        if lf + 1 > MAX_LINE {
            return Err(TooLong);
        }
        let line = rest[..=lf].to_vec();
        self.start += lf + 1;
        self.scanned = 0;
        // Keep the buffer from growing with what was taken.
        if self.start >= 64 * 1024 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        Ok(Some(line))
    }

    /// Bytes held that do not make a whole line yet.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }
}

/// A status line: `+OK <text>` or anything else (`-ERR <text>`, garbage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Ok(String),
    Err(String),
}

/// Read a status line.
pub fn status(line: &[u8]) -> Status {
    let text = String::from_utf8_lossy(line).trim_end().to_owned();
    match text.strip_prefix("+OK") {
        Some(rest) => Status::Ok(rest.trim().to_owned()),
        None => Status::Err(text),
    }
}

/// A line of a multi-line answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLine<'a> {
    /// The terminating `.` line.
    End,
    /// A line of the answer, dot-unstuffed, its line end kept.
    Line(&'a [u8]),
}

pub fn body_line(line: &[u8]) -> BodyLine<'_> {
    match line {
        b".\r\n" | b".\n" => BodyLine::End,
        [b'.', b'.', ..] => BodyLine::Line(&line[1..]),
        _ => BodyLine::Line(line),
    }
}

/// The numbers of a STAT or LIST line (`<n> <size> ...`); what does not parse is 0.
pub fn numbers(line: &str) -> (u64, u64) {
    let mut it = line.split_whitespace().map(|w| w.parse().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// The unique id of a `UIDL <n>` answer (`<n> <uid>`); empty when there is none.
pub fn uidl(text: &str) -> String {
    text.split_whitespace().nth(1).unwrap_or("").to_owned()
}

/// The lines of a multi-line answer's text, line ends removed.
pub fn lines_of(buf: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(buf).lines().map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(r: &mut LineReader) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| r.next_line().unwrap()).collect()
    }

    #[test]
    fn lines_across_pushes() {
        let mut r = LineReader::default();
        r.push(b"+OK ready\r\n+OK 2 ");
        assert_eq!(all(&mut r), [b"+OK ready\r\n".to_vec()]);
        assert_eq!(r.pending(), 6);
        r.push(b"320\r\n");
        assert_eq!(all(&mut r), [b"+OK 2 320\r\n".to_vec()]);
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn a_long_line_is_refused() {
        let mut r = LineReader::default();
        r.push(&vec![b'x'; MAX_LINE]);
        assert_eq!(r.next_line(), Err(TooLong));
        let mut r = LineReader::default();
        let mut line = vec![b'x'; MAX_LINE - 1];
        line.push(b'\n');
        r.push(&line);
        assert_eq!(r.next_line().unwrap().unwrap().len(), MAX_LINE);
    }

    #[test]
    fn statuses_and_bodies() {
        assert_eq!(status(b"+OK 3 messages\r\n"), Status::Ok("3 messages".into()));
        assert_eq!(status(b"-ERR no such message\r\n"), Status::Err("-ERR no such message".into()));
        assert_eq!(body_line(b".\r\n"), BodyLine::End);
        assert_eq!(body_line(b"..hidden\r\n"), BodyLine::Line(b".hidden\r\n"));
        assert_eq!(body_line(b".x\r\n"), BodyLine::Line(b".x\r\n"));
        assert_eq!(numbers("2 320"), (2, 320));
        assert_eq!(numbers("x"), (0, 0));
        assert_eq!(uidl("1 abc-1"), "abc-1");
    }
}
