//! The message `AT+SMTPSEND` sends, as a stream: RFC 5322 headers and the text part by
//! mail-builder; the attachments (up to the module's 10 MB) read from the EFS a piece at a
//! time, base64-encoded and dot-stuffed on the way, so a send costs a few hundred KiB
//! whatever the attachments weigh. mail-builder writes a part only from bytes it holds, so
//! the attachment parts' bodies are written here, behind part headers mail-builder writes.
//! Also written here: the encoded words of a non-UTF-8 subject (mail-builder encodes text
//! as UTF-8 only, and the module sends the DTE's bytes in the declared character set).

use super::SmtpState;
use base64::Engine;
use chrono::{DateTime, FixedOffset};
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::{BodyPart, MimePart};

/// Content type by file extension (mime_guess's table), `application/octet-stream` when
/// it has none.
pub fn content_type(name: &str) -> &'static str {
    mime_guess::from_path(name).first_raw().unwrap_or("application/octet-stream")
}

/// RFC 2047 encoded words for `text` in `charset` (plain when it is printable ASCII).
pub fn encode_words(text: &[u8], charset: &str) -> String {
    if text.iter().all(|b| (0x20..0x7f).contains(b)) && !text.windows(2).any(|w| w == b"=?") {
        return String::from_utf8_lossy(text).into_owned();
    }
    let utf8 = charset.eq_ignore_ascii_case("utf-8") || charset.eq_ignore_ascii_case("utf8");
    let mut words = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut n = rest.len().min(45);
        if utf8 {
            // Never cut a UTF-8 sequence between two words.
            while n < rest.len() && n > 0 && (rest[n] & 0xc0) == 0x80 {
                n -= 1;
            }
        } else if n < rest.len() && n % 2 == 1 {
            // Double-byte sets (GB2312, Big5, ...): keep pairs together.
            n -= 1;
        }
        let n = n.max(1);
        words.push(format!("=?{charset}?B?{}?=", base64::engine::general_purpose::STANDARD.encode(&rest[..n])));
        rest = &rest[n..];
    }
    words.join("\r\n ")
}

/// Raw bytes per base64 line (76 characters, RFC 2045).
const LINE_RAW: usize = 57;
/// Raw bytes read from an attachment at a time: 1,024 lines.
pub const PIECE_RAW: usize = LINE_RAW * 1024;

/// The message before its attachments' bodies: the headers and the text part, and when
/// there are attachments, the boundary their parts go between.
#[derive(Debug)]
pub struct Head {
    /// Everything up to the first attachment part (the whole message without attachments).
    pub bytes: Vec<u8>,
    pub boundary: Option<String>,
}

/// Build the head. `date` is the module clock in its time zone; `attachments` is how many
/// parts will follow.
pub fn head(s: &SmtpState, date: DateTime<FixedOffset>, message_id: &str, attachments: usize) -> std::io::Result<Head> {
    let addr = |r: &super::Rcpt| {
        let name = (!r.name.is_empty()).then(|| r.name.clone());
        Address::new_address(name, r.addr.clone())
    };
    let list = |kind: usize| -> Vec<Address<'static>> { s.rcpt[kind].iter().flatten().map(addr).collect() };
    let from_name = (!s.from_name.is_empty()).then(|| s.from_name.clone());
    let mut b = MessageBuilder::new()
        .from(Address::new_address(from_name, s.from_addr.clone()))
        .header("Date", Raw::new(date.format("%a, %d %b %Y %H:%M:%S %z").to_string()))
        .message_id(message_id.to_owned())
        .header("Subject", Raw::new(encode_words(&s.subject, &s.charset)));
    let to = list(0);
    if !to.is_empty() {
        b = b.to(Address::new_list(to));
    }
    let cc = list(1);
    if !cc.is_empty() {
        b = b.cc(Address::new_list(cc));
    }
    // Bcc recipients are only in the envelope.
    let text_type = ContentType::new("text/plain").attribute("charset", s.charset.clone());
    let text = match std::str::from_utf8(&s.body) {
        Ok(t) if s.charset.eq_ignore_ascii_case("utf-8") || s.body.is_ascii() => {
            MimePart::new(text_type, BodyPart::Text(t.to_owned().into()))
        }
        _ => MimePart::new(text_type, BodyPart::Binary(s.body.clone().into())),
    };
    if attachments == 0 {
        return Ok(Head { bytes: b.body(text).write_to_vec()?, boundary: None });
    }
    let boundary = mail_builder::mime::make_boundary("_");
    let mixed = ContentType::new("multipart/mixed").attribute("boundary", boundary.clone());
    let mut bytes = b.body(MimePart::new(mixed, vec![text])).write_to_vec()?;
    // mail-builder closes the multipart (CRLF "--<boundary>--" CRLF); the attachment parts
    // go before that close, so it is written again after them.
    let close = format!("--{boundary}--\r\n");
    if !bytes.ends_with(close.as_bytes()) {
        return Err(std::io::Error::other("the multipart message does not end with its boundary"));
    }
    bytes.truncate(bytes.len() - close.len());
    Ok(Head { bytes, boundary: Some(boundary) })
}

/// An attachment part's delimiter line and headers, up to its (base64) body.
pub fn part_header(boundary: &str, name: &str) -> std::io::Result<Vec<u8>> {
    let mut out = format!("--{boundary}\r\n").into_bytes();
    MimePart::new(content_type(name), BodyPart::Binary(Vec::new().into()))
        .attachment(name.to_owned())
        // A Content-Transfer-Encoding of its own makes mail-builder write the (empty) body
        // as it is: the base64 lines follow from the file.
        .header("Content-Transfer-Encoding", Raw::new("base64"))
        .write_part(&mut out)?;
    Ok(out)
}

/// `raw` (a multiple of 57 bytes, or the file's last piece) as base64 lines, each CR LF.
pub fn base64_lines(raw: &[u8], out: &mut Vec<u8>) {
    let engine = &base64::engine::general_purpose::STANDARD;
    for line in raw.chunks(LINE_RAW) {
        let at = out.len();
        out.resize(at + line.len().div_ceil(3) * 4, 0);
        // The buffer is sized for the line, so encoding cannot run out of room.
        let n = engine.encode_slice(line, &mut out[at..]).unwrap_or(0);
        out.truncate(at + n);
        out.extend_from_slice(b"\r\n");
    }
}

/// Dot-stuffing (RFC 5321 §4.5.2) of a CR LF message given in pieces, and the final `.`
/// line.
#[derive(Debug)]
pub struct DotStuffer {
    at_line_start: bool,
    last: [u8; 2],
}

impl Default for DotStuffer {
    fn default() -> Self {
        Self { at_line_start: true, last: [0; 2] }
    }
}

impl DotStuffer {
    /// `data` stuffed, appended to `out`.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<u8>) {
        out.reserve(data.len() + 8);
        let mut from = 0;
        for (i, &b) in data.iter().enumerate() {
            if self.at_line_start && b == b'.' {
                out.extend_from_slice(&data[from..i]);
                out.push(b'.');
                from = i;
            }
            self.at_line_start = b == b'\n';
        }
        out.extend_from_slice(&data[from..]);
        match data {
            [.., a, b] => self.last = [*a, *b],
            [b] => self.last = [self.last[1], *b],
            [] => {}
        }
    }

    /// The end of data: a CR LF if the message did not end with one, then `.` CR LF.
    pub fn finish(self, out: &mut Vec<u8>) {
        if self.last != *b"\r\n" {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(encode_words(b"Hello", "utf-8"), "Hello");
        let w = encode_words("Grüße aus dem Modul".as_bytes(), "utf-8");
        assert!(w.starts_with("=?utf-8?B?"), "{w}");
        let long = "é".repeat(40);
        for word in encode_words(long.as_bytes(), "utf-8").split("\r\n ") {
            let b64 = word.trim_start_matches("=?utf-8?B?").trim_end_matches("?=");
            let raw = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
            assert!(std::str::from_utf8(&raw).is_ok(), "a word cut a character");
        }
        assert!(encode_words(&[0xc4, 0xe3, 0xba, 0xc3], "gb2312").starts_with("=?gb2312?B?xOO6ww==?="));
    }

    #[test]
    fn stuffing() {
        let stuff = |pieces: &[&[u8]]| {
            let mut d = DotStuffer::default();
            let mut out = Vec::new();
            for p in pieces {
                d.push(p, &mut out);
            }
            d.finish(&mut out);
            out
        };
        assert_eq!(stuff(&[b".a\r\nb\r\n..c\r\n"]), b"..a\r\nb\r\n...c\r\n.\r\n");
        assert_eq!(stuff(&[b"x"]), b"x\r\n.\r\n");
        // A line start and the CR LF at the end split across pieces.
        assert_eq!(stuff(&[b"a\r\n", b".b\r", b"\n"]), b"a\r\n..b\r\n.\r\n");
        assert_eq!(stuff(&[b"a\r", b"\n", b""]), b"a\r\n.\r\n");
    }

    #[test]
    fn lines() {
        let raw: Vec<u8> = (0..=255u8).cycle().take(2 * LINE_RAW + 4).collect();
        let mut out = Vec::new();
        base64_lines(&raw, &mut out);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        assert_eq!(lines.iter().map(|l| l.len()).collect::<Vec<_>>(), [76, 76, 8]);
        let back = base64::engine::general_purpose::STANDARD.decode(lines.concat()).unwrap();
        assert_eq!(back, raw);
    }

    #[test]
    fn types() {
        assert_eq!(content_type("a.JPG"), "image/jpeg");
        assert_eq!(content_type("C:/Picture/shot.png"), "image/png");
        assert_eq!(content_type("log.txt"), "text/plain");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }
}
