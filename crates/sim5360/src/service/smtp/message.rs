//! The message `AT+SMTPSEND` sends: RFC 5322 headers and MIME parts by mail-builder; only
//! the encoded words of a non-UTF-8 subject are written here (mail-builder encodes text as
//! UTF-8 only, and the module sends the DTE's bytes in the declared character set).

use super::SmtpState;
use base64::Engine;
use chrono::{DateTime, FixedOffset};
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::{BodyPart, MimePart};

/// Content type by file extension (what the module would guess for common media).
pub fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "txt" | "log" | "csv" => "text/plain",
        "htm" | "html" => "text/html",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "amr" => "audio/amr",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        "3gp" => "video/3gpp",
        "json" => "application/json",
        "xml" => "application/xml",
        _ => "application/octet-stream",
    }
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

/// One attachment: file name and bytes.
#[derive(Debug)]
pub struct Attachment {
    pub name: String,
    pub data: Vec<u8>,
}

/// Build the message. `date` is the module clock in its time zone.
pub fn build(
    s: &SmtpState,
    date: DateTime<FixedOffset>,
    message_id: &str,
    files: Vec<Attachment>,
) -> std::io::Result<Vec<u8>> {
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
    let body = if files.is_empty() {
        text
    } else {
        let mut parts = vec![text];
        for f in files {
            let ct = content_type(&f.name);
            parts.push(MimePart::new(ct, BodyPart::Binary(f.data.into())).attachment(f.name));
        }
        MimePart::new("multipart/mixed", parts)
    };
    b = b.body(body);
    b.write_to_vec()
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
    fn types() {
        assert_eq!(content_type("a.JPG"), "image/jpeg");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }
}
