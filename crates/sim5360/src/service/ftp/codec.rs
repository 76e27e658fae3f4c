//! Pure FTP parsing (RFC 959): replies, the PASV address, the PORT argument, and the
//! ASCII-type line-end conversion. No I/O; fuzzed through the unit tests' inputs.

use std::net::{Ipv4Addr, SocketAddrV4};
use thiserror::Error;

/// Longest reply line accepted; a server sending more is misbehaving.
pub const MAX_LINE: usize = 8192;
/// Most lines in one multi-line reply.
pub const MAX_LINES: usize = 1000;

/// A complete server reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// Text of every line, code and separator removed.
    pub lines: Vec<String>,
}

impl Reply {
    pub fn class(&self) -> u16 {
        self.code / 100
    }

    pub fn text(&self) -> String {
        self.lines.join(" | ")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecError {
    #[error("reply line longer than {MAX_LINE} bytes")]
    LineTooLong,
    #[error("malformed reply line {0:?}")]
    Malformed(String),
    #[error("reply with more than {MAX_LINES} lines")]
    TooManyLines,
}

/// Assembles replies from bytes as they arrive.
#[derive(Debug, Default)]
pub struct ReplyParser {
    buf: Vec<u8>,
    pending: Option<(u16, Vec<String>)>,
}

fn parse_code(line: &[u8]) -> Option<u16> {
    if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) || !(b'1'..=b'5').contains(&line[0]) {
        return None;
    }
    std::str::from_utf8(&line[..3]).ok()?.parse().ok()
}

impl ReplyParser {
    /// Add received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete reply, if the buffered bytes hold one.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, CodecError> {
        loop {
            let Some(end) = self.buf.iter().position(|b| *b == b'\n') else {
                if self.buf.len() > MAX_LINE {
                    return Err(CodecError::LineTooLong);
                }
                // A reply starts with a code: refuse garbage at once instead of waiting
                // for a line end that may never come.
                if self.pending.is_none() && !self.buf.is_empty() {
                    let b = &self.buf;
                    let bad = !(b'1'..=b'5').contains(&b[0])
                        || b.iter().take(3).any(|c| !c.is_ascii_digit())
                        || b.get(3).is_some_and(|c| !matches!(c, b' ' | b'-' | b'\r'));
                    if bad {
                        return Err(CodecError::Malformed(String::from_utf8_lossy(&b[..b.len().min(16)]).into_owned()));
                    }
                }
                return Ok(None);
            };
            if end > MAX_LINE {
                return Err(CodecError::LineTooLong);
            }
            let mut line: Vec<u8> = self.buf.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let text = String::from_utf8_lossy(&line).into_owned();
            match self.pending.as_mut() {
                None => {
                    let code = parse_code(&line).ok_or_else(|| CodecError::Malformed(text.clone()))?;
                    let rest = text.get(4..).unwrap_or("").to_owned();
                    match line.get(3) {
                        Some(b'-') => self.pending = Some((code, vec![rest])),
                        Some(b' ') | None => return Ok(Some(Reply { code, lines: vec![rest] })),
                        _ => return Err(CodecError::Malformed(text)),
                    }
                }
                Some((code, lines)) => {
                    if lines.len() >= MAX_LINES {
                        return Err(CodecError::TooManyLines);
                    }
                    // The last line repeats the code followed by a space.
                    if parse_code(&line) == Some(*code) && matches!(line.get(3), Some(b' ') | None) {
                        lines.push(text.get(4..).unwrap_or("").to_owned());
                        let (code, lines) = self.pending.take().unwrap_or_default();
                        return Ok(Some(Reply { code, lines }));
                    }
                    lines.push(text);
                }
            }
        }
    }
}

/// The address in a `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)` reply.
pub fn parse_pasv(text: &str) -> Option<SocketAddrV4> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let nums: Vec<u16> = text[start..]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(6)
        .map(|s| s.parse().ok())
        .collect::<Option<_>>()?;
    if nums.len() != 6 || nums.iter().any(|n| *n > 255) {
        return None;
    }
    let ip = Ipv4Addr::new(nums[0] as u8, nums[1] as u8, nums[2] as u8, nums[3] as u8);
    Some(SocketAddrV4::new(ip, nums[4] * 256 + nums[5]))
}

/// The `PORT` argument for a local address.
pub fn port_arg(addr: SocketAddrV4) -> String {
    let o = addr.ip().octets();
    format!("{},{},{},{},{},{}", o[0], o[1], o[2], o[3], addr.port() >> 8, addr.port() & 0xff)
}

/// ASCII type on the wire: every bare LF becomes CR LF (existing CR LF pairs are kept).
/// `last_cr` carries whether the previous chunk ended with CR.
pub fn to_netascii(data: &[u8], last_cr: &mut bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 16);
    for &b in data {
        if b == b'\n' && !*last_cr {
            out.push(b'\r');
        }
        out.push(b);
        *last_cr = b == b'\r';
    }
    out
}

/// Size of a file from a `213 <size>` reply.
pub fn parse_size(r: &Reply) -> Option<u64> {
    (r.code == 213).then(|| r.lines.first()?.trim().parse().ok()).flatten()
}

/// Directory from a `257 "<dir>" ...` reply (doubled quotes inside are one quote).
pub fn parse_pwd(r: &Reply) -> Option<String> {
    let t = r.lines.first()?;
    let start = t.find('"')? + 1;
    let mut out = String::new();
    let mut chars = t[start..].chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            if chars.peek() == Some(&'"') {
                chars.next();
                out.push('"');
            } else {
                return Some(out);
            }
        } else {
            out.push(c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> Result<Vec<Reply>, CodecError> {
        let mut p = ReplyParser::default();
        let mut out = Vec::new();
        for b in input {
            p.push(std::slice::from_ref(b));
            while let Some(r) = p.next_reply()? {
                out.push(r);
            }
        }
        Ok(out)
    }

    #[test]
    fn single_and_multi_line() {
        let r = all(b"220 ready\r\n230-Welcome\r\n 230 not the end\r\n230 Logged in\r\n").unwrap();
        assert_eq!(r[0], Reply { code: 220, lines: vec!["ready".into()] });
        assert_eq!(r[1].code, 230);
        assert_eq!(r[1].lines, vec!["Welcome", " 230 not the end", "Logged in"]);
        assert_eq!(all(b"200\r\n").unwrap()[0].code, 200);
    }

    #[test]
    fn garbage_without_line_end_is_an_error_at_once() {
        let mut p = ReplyParser::default();
        p.push(b"\x8a\x01");
        assert!(p.next_reply().is_err());
        let mut p = ReplyParser::default();
        p.push(b"22");
        assert_eq!(p.next_reply(), Ok(None));
        p.push(b"0x");
        assert!(p.next_reply().is_err());
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(all(b"\x00\xffhello\r\n").is_err());
        assert!(all(b"999 nope\r\n").is_err());
        assert!(all(b"220xready\r\n").is_err());
        assert!(all(&[b'2'; MAX_LINE + 2]).is_err());
    }

    #[test]
    fn pasv_and_port() {
        assert_eq!(parse_pasv("Entering Passive Mode (127,0,0,1,156,64).").unwrap().to_string(), "127.0.0.1:40000");
        assert_eq!(parse_pasv("=127,0,0,1,0,21").unwrap().port(), 21);
        assert!(parse_pasv("(300,0,0,1,1,1)").is_none());
        assert!(parse_pasv("no numbers").is_none());
        assert_eq!(port_arg("10.1.2.3:40000".parse().unwrap()), "10,1,2,3,156,64");
    }

    #[test]
    fn netascii() {
        let mut cr = false;
        assert_eq!(to_netascii(b"a\nb\r\nc\r", &mut cr), b"a\r\nb\r\nc\r");
        assert_eq!(to_netascii(b"\nd\n", &mut cr), b"\nd\r\n");
    }

    #[test]
    fn pwd_and_size() {
        let r = Reply { code: 257, lines: vec![r#""/a ""b""" is current"#.into()] };
        assert_eq!(parse_pwd(&r).unwrap(), r#"/a "b""#);
        assert_eq!(parse_size(&Reply { code: 213, lines: vec!["1234".into()] }), Some(1234));
    }
}
