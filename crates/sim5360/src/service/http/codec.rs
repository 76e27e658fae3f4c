//! Where an HTTP/1.x response ends (RFC 9112 §6.3), watching the bytes go by: the module
//! passes responses through raw, but must know when one is complete on a keep-alive
//! connection. Status line and headers, then a body delimited by `Content-Length`, by
//! chunked transfer coding, by nothing (HEAD, 1xx, 204, 304), or by the connection's end.

use thiserror::Error;

/// Longest status line + headers accepted.
pub const MAX_HEAD: usize = 64 * 1024;
/// Longest chunk-size line (with extensions) or trailer line accepted.
const MAX_LINE: usize = 8 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    #[error("response head over {MAX_HEAD} bytes")]
    HeadTooLong,
    #[error("not an HTTP/1.x status line: {0:?}")]
    BadStatus(String),
    #[error("bad Content-Length")]
    BadLength,
    #[error("bad chunk size line")]
    BadChunk,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Body {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Chunk {
    /// Reading the size line.
    Size(Vec<u8>),
    /// `n` data bytes left, then CRLF.
    Data(u64),
    /// The CRLF after chunk data (bytes seen so far).
    DataEnd(u8),
    /// Trailer lines after the last chunk, up to an empty line.
    Trailer(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Head(Vec<u8>),
    Body(Body),
    Done,
}

/// Tracks one response. See the module documentation.
#[derive(Debug, Clone)]
pub struct ResponseFramer {
    head_request: bool,
    state: State,
    /// Status of the final (non-1xx) response, once seen.
    pub status: Option<u16>,
}

impl ResponseFramer {
    /// For the response to a request with `method` (HEAD responses have no body).
    pub fn new(method: &str) -> Self {
        Self { head_request: method.eq_ignore_ascii_case("HEAD"), state: State::Head(Vec::new()), status: None }
    }

    /// True once the response is complete.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// True when the body runs until the server closes (no length, not chunked).
    pub fn until_close(&self) -> bool {
        self.state == State::Body(Body::UntilClose)
    }

    /// Observe the next bytes; returns how many belong to this response (the rest, if
    /// any, came after its end).
    pub fn feed(&mut self, data: &[u8]) -> Result<usize, FrameError> {
        let mut i = 0;
        while i < data.len() && self.state != State::Done {
            i += self.step(&data[i..])?;
        }
        Ok(i)
    }

    fn step(&mut self, data: &[u8]) -> Result<usize, FrameError> {
        match &mut self.state {
            State::Done => Ok(0),
            State::Head(head) => {
                let mut used = 0;
                for &b in data {
                    used += 1;
                    head.push(b);
                    // Refuse what is not HTTP at once, instead of waiting for a blank line
                    // that may never come.
                    if head.len() <= 7 && !b"HTTP/1.".starts_with(head) {
                        return Err(FrameError::BadStatus(String::from_utf8_lossy(head).into_owned()));
                    }
                    if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
                        let head = std::mem::take(head);
                        self.state = self.after_head(&head)?;
                        return Ok(used);
                    }
                    if head.len() > MAX_HEAD {
                        return Err(FrameError::HeadTooLong);
                    }
                }
                Ok(used)
            }
            State::Body(Body::UntilClose) => Ok(data.len()),
            State::Body(Body::Length(left)) => {
                let n = (*left).min(data.len() as u64);
                *left -= n;
                if *left == 0 {
                    self.state = State::Done;
                }
                Ok(n as usize)
            }
            State::Body(Body::Chunked(c)) => {
                let (used, next) = chunk_step(c, data)?;
                if next {
                    self.state = State::Done;
                }
                Ok(used)
            }
        }
    }

    fn after_head(&mut self, head: &[u8]) -> Result<State, FrameError> {
        let text = String::from_utf8_lossy(head);
        let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
        let status_line = lines.next().unwrap_or("");
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        let code: u16 = parts
            .next()
            .and_then(|c| c.parse().ok())
            .filter(|c| (100..=999).contains(c) && version.starts_with("HTTP/1."))
            .ok_or_else(|| FrameError::BadStatus(status_line.chars().take(80).collect()))?;
        if (100..200).contains(&code) {
            // An interim response: the real one follows.
            return Ok(State::Head(Vec::new()));
        }
        self.status = Some(code);
        let (mut length, mut chunked) = (None, false);
        for l in lines {
            let Some((name, value)) = l.split_once(':') else { continue };
            let value = value.trim();
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = Some(value.parse::<u64>().map_err(|_| FrameError::BadLength)?);
            } else if name.trim().eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().split(',').any(|t| t.trim() == "chunked");
            }
        }
        if self.head_request || code == 204 || code == 304 {
            return Ok(State::Done);
        }
        Ok(match (chunked, length) {
            (true, _) => State::Body(Body::Chunked(Chunk::Size(Vec::new()))),
            (false, Some(0)) => State::Done,
            (false, Some(n)) => State::Body(Body::Length(n)),
            (false, None) => State::Body(Body::UntilClose),
        })
    }
}

/// One step of the chunked decoder: (bytes used, response finished).
fn chunk_step(c: &mut Chunk, data: &[u8]) -> Result<(usize, bool), FrameError> {
    match c {
        Chunk::Size(line) => {
            for (i, &b) in data.iter().enumerate() {
                line.push(b);
                if b == b'\n' {
                    let text = String::from_utf8_lossy(line);
                    let hex = text.trim_end().split(';').next().unwrap_or("").trim();
                    let size = u64::from_str_radix(hex, 16).map_err(|_| FrameError::BadChunk)?;
                    *c = if size == 0 { Chunk::Trailer(Vec::new()) } else { Chunk::Data(size) };
                    return Ok((i + 1, false));
                }
                if line.len() > MAX_LINE {
                    return Err(FrameError::BadChunk);
                }
            }
            Ok((data.len(), false))
        }
        Chunk::Data(left) => {
            let n = (*left).min(data.len() as u64);
            *left -= n;
            if *left == 0 {
                *c = Chunk::DataEnd(0);
            }
            Ok((n as usize, false))
        }
        Chunk::DataEnd(seen) => {
            let b = data[0];
            match (*seen, b) {
                (0, b'\r') => *seen = 1,
                (_, b'\n') => *c = Chunk::Size(Vec::new()),
                _ => return Err(FrameError::BadChunk),
            }
            Ok((1, false))
        }
        Chunk::Trailer(line) => {
            for (i, &b) in data.iter().enumerate() {
                line.push(b);
                if b == b'\n' {
                    if line == b"\r\n" || line == b"\n" {
                        return Ok((i + 1, true));
                    }
                    line.clear();
                } else if line.len() > MAX_LINE {
                    return Err(FrameError::BadChunk);
                }
            }
            Ok((data.len(), false))
        }
    }
}

/// The method of a raw request (its first word).
pub fn request_method(request: &[u8]) -> String {
    let end = request.iter().position(|b| *b == b' ' || *b == b'\r' || *b == b'\n').unwrap_or(request.len());
    String::from_utf8_lossy(&request[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed byte by byte; returns bytes used before done.
    fn run(method: &str, input: &[u8]) -> (usize, bool) {
        let mut f = ResponseFramer::new(method);
        let mut used = 0;
        for b in input {
            used += f.feed(std::slice::from_ref(b)).unwrap();
            if f.is_done() {
                break;
            }
        }
        (used, f.is_done())
    }

    #[test]
    fn content_length() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA";
        assert_eq!(run("GET", r), (r.len() - 5, true));
        let mut f = ResponseFramer::new("GET");
        assert_eq!(f.feed(r).unwrap(), r.len() - 5);
        assert_eq!(f.status, Some(200));
    }

    #[test]
    fn chunked() {
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nchunk one\n\r\n3;x=y\r\nabc\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        assert_eq!(run("GET", r), (r.len() - 4, true));
    }

    #[test]
    fn no_body_cases() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
        assert_eq!(run("HEAD", r), (r.len(), true));
        let r = b"HTTP/1.1 304 Not Modified\r\n\r\n";
        assert_eq!(run("GET", r), (r.len(), true));
        let r = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(run("POST", r), (r.len(), true));
    }

    #[test]
    fn until_close() {
        let mut f = ResponseFramer::new("GET");
        assert_eq!(f.feed(b"HTTP/1.0 200 OK\r\n\r\nabc").unwrap(), 22);
        assert!(f.until_close() && !f.is_done());
    }

    #[test]
    fn garbage_is_refused_at_once() {
        let mut f = ResponseFramer::new("GET");
        assert_eq!(f.feed(b"HTTP"), Ok(4));
        assert!(ResponseFramer::new("GET").feed(b"HTX").is_err());
        assert!(ResponseFramer::new("GET").feed(b"\x8a").is_err());
    }

    #[test]
    fn garbage() {
        assert!(ResponseFramer::new("GET").feed(b"\x00\x01garbage\r\n\r\n").is_err());
        assert!(ResponseFramer::new("GET").feed(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(
            ResponseFramer::new("GET").feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err()
        );
        assert!(ResponseFramer::new("GET").feed(&vec![b'a'; MAX_HEAD + 10]).is_err());
    }

    #[test]
    fn method() {
        assert_eq!(request_method(b"HEAD / HTTP/1.1\r\n"), "HEAD");
        assert_eq!(request_method(b""), "");
    }
}
