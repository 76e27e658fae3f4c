//! The ESMTP dialogue (RFC 5321): EHLO (HELO fallback), AUTH PLAIN or LOGIN as offered,
//! MAIL/RCPT/DATA with dot-stuffing, QUIT. Outcomes: [`super::outcome`]. The message is
//! made on a blocking thread a piece at a time (attachments read from the EFS and encoded
//! as they go) and sent as it comes, so memory stays flat whatever the attachments weigh.

use super::message::{self, DotStuffer, PIECE_RAW};
use super::{Smtp, SmtpState};
use crate::efs::store::FileReader;
use crate::net::{MailTls, NetError, Stream};
use crate::service::ftp::codec::{Reply, ReplyParser};
use crate::service::outcome::MailError::{self, File, Network as NETWORK, Server as SERVER, Timeout as TIMEOUT};
use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::{debug, info};

type JobIo = crate::job::JobIo<Smtp>;

/// What the message is made of: the settings at `AT+SMTPSEND`, the module time in its zone,
/// and the attachments opened by the core (read here, off the core's thread).
#[derive(Debug)]
pub struct Mail {
    pub settings: SmtpState,
    pub date: chrono::DateTime<chrono::FixedOffset>,
    pub message_id: String,
    pub files: Vec<(String, Box<dyn FileReader>)>,
}

/// What to send, and where.
pub struct SmtpJob {
    pub host: String,
    pub port: u16,
    pub auth: Option<(String, String)>,
    pub from: String,
    pub rcpts: Vec<String>,
    pub mail: Mail,
}

impl SmtpJob {
    /// `smtp <host>:<port> [auth user=<user>] from=<addr> rcpts=<n> files=<n>` (no password).
    pub fn label(&self) -> String {
        let auth = self.auth.as_ref().map_or(String::new(), |(u, _)| format!(" auth user={u}"));
        format!(
            "smtp {}:{}{auth} from={} rcpts={} files={}",
            self.host,
            self.port,
            self.from,
            self.rcpts.join(","),
            self.mail.files.len()
        )
    }
}

impl std::fmt::Debug for SmtpJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

/// Message pieces made ahead of the socket: a few, so a slow server holds little.
const PIECES_AHEAD: usize = 4;

/// A piece of the dot-stuffed DATA stream; `None` marks its end (the final `.` sent).
type Piece = Result<Option<Vec<u8>>, MailError>;

pub async fn run(job: SmtpJob, io: JobIo) {
    let SmtpJob { host, port, auth, from, rcpts, mail } = job;
    let (tx, mut rx) = mpsc::channel(PIECES_AHEAD);
    // Reading the attachments and encoding them is blocking work. When the job ends early
    // (a refusal, AT+SMTPSTOP) the receiver goes and the maker stops at its next piece.
    tokio::task::spawn_blocking(move || make(mail, &tx));
    // The first piece before connecting: a message that cannot be made (an attachment
    // that cannot be read) never reaches the server.
    let r = match rx.recv().await {
        Some(Ok(first)) => {
            let env = Envelope { host: &host, port, auth: &auth, from: &from, rcpts: &rcpts };
            send(&env, first, &mut rx, &io).await
        }
        Some(Err(e)) => Err(e),
        None => Err(File),
    };
    if let Err(c) = r {
        info!(%host, port, "SMTP send failed ({})", c.text());
    }
    io.done(r).await;
}

/// Make the message into `tx`, piece by piece.
fn make(mail: Mail, tx: &mpsc::Sender<Piece>) {
    let emit = |piece: Vec<u8>| tx.blocking_send(Ok(Some(piece))).is_ok();
    match pieces(mail, emit) {
        Ok(true) => {
            let _ = tx.blocking_send(Ok(None));
        }
        Ok(false) => {}
        Err(e) => {
            let _ = tx.blocking_send(Err(e));
        }
    }
}

/// The dot-stuffed message, through `emit` a piece at a time (about 80 KB each); false
/// once `emit` says no one takes more.
fn pieces(mail: Mail, mut emit: impl FnMut(Vec<u8>) -> bool) -> Result<bool, MailError> {
    use std::io::Read as _;
    let Mail { settings, date, message_id, files } = mail;
    let built = |e: std::io::Error| {
        info!("building the message: {e}");
        File
    };
    let head = message::head(&settings, date, &message_id, files.len()).map_err(built)?;
    let mut dots = DotStuffer::default();
    let mut out = Vec::new();
    dots.push(&head.bytes, &mut out);
    drop(head.bytes);
    if let Some(boundary) = &head.boundary {
        let mut raw = Vec::with_capacity(PIECE_RAW);
        let mut lines = Vec::new();
        for (name, mut reader) in files {
            dots.push(&message::part_header(boundary, &name).map_err(built)?, &mut out);
            loop {
                // A whole piece (less only at the end of the file).
                raw.clear();
                (&mut reader).take(PIECE_RAW as u64).read_to_end(&mut raw).map_err(|e| {
                    info!("reading the attachment {name}: {e}");
                    File
                })?;
                lines.clear();
                message::base64_lines(&raw, &mut lines);
                dots.push(&lines, &mut out);
                if !emit(std::mem::take(&mut out)) {
                    return Ok(false);
                }
                if raw.len() < PIECE_RAW {
                    break;
                }
            }
            // The CR LF that belongs to the next delimiter line.
            dots.push(b"\r\n", &mut out);
        }
        dots.push(format!("--{boundary}--\r\n").as_bytes(), &mut out);
    }
    dots.finish(&mut out);
    Ok(emit(out))
}

/// Where the message goes.
struct Envelope<'a> {
    host: &'a str,
    port: u16,
    auth: &'a Option<(String, String)>,
    from: &'a str,
    rcpts: &'a [String],
}

struct SmtpConn<'a> {
    io: &'a JobIo,
    stream: Stream,
    parser: ReplyParser,
}

impl SmtpConn<'_> {
    async fn reply(&mut self) -> Result<Reply, MailError> {
        let mut buf = [0u8; 4096];
        loop {
            match self.parser.next_reply() {
                Ok(Some(r)) => {
                    debug!("SMTP < {} {}", r.code, r.text());
                    return Ok(r);
                }
                Ok(None) => {}
                Err(e) => {
                    info!("SMTP server sent garbage: {e}");
                    return Err(SERVER);
                }
            }
            let n = match tokio::time::timeout(self.io.net.io_timeout, self.stream.read(&mut buf)).await {
                Err(_) => return Err(TIMEOUT),
                Ok(Err(e)) => {
                    info!("SMTP connection: {e}");
                    return Err(NETWORK);
                }
                Ok(Ok(0)) => {
                    info!("SMTP server closed the connection");
                    return Err(NETWORK);
                }
                Ok(Ok(n)) => n,
            };
            self.parser.push(&buf[..n]);
        }
    }

    async fn write(&mut self, data: &[u8]) -> Result<(), MailError> {
        for piece in data.chunks(64 * 1024) {
            match tokio::time::timeout(self.io.net.io_timeout, self.stream.write_all(piece)).await {
                Err(_) => return Err(TIMEOUT),
                Ok(Err(e)) => {
                    info!("SMTP connection: {e}");
                    return Err(NETWORK);
                }
                Ok(Ok(())) => {}
            }
        }
        Ok(())
    }

    /// Send a command line (`shown` in logs) and read the reply.
    async fn cmd(&mut self, line: &str, shown: &str) -> Result<Reply, MailError> {
        debug!("SMTP > {shown}");
        self.write(format!("{line}\r\n").as_bytes()).await?;
        self.reply().await
    }

    /// Like `cmd`, but the reply must be of `class` (2 or 3).
    async fn expect(&mut self, line: &str, shown: &str, class: u16) -> Result<Reply, MailError> {
        let r = self.cmd(line, shown).await?;
        if r.class() != class {
            info!("SMTP {shown}: refused with {} {}", r.code, r.text());
            return Err(SERVER);
        }
        Ok(r)
    }
}

/// The dialogue; `first` is the message's first piece (or its end), the rest come by `rest`.
async fn send(
    job: &Envelope<'_>,
    first: Option<Vec<u8>>,
    rest: &mut mpsc::Receiver<Piece>,
    io: &JobIo,
) -> Result<(), MailError> {
    let tcp = io.net.connect("smtp", job.host, job.port).await.map_err(|e| {
        info!("SMTP connect to {}:{}: {e}", job.host, job.port);
        if matches!(e, NetError::Timeout) { TIMEOUT } else { NETWORK }
    })?;
    let stream = match io.net.smtp_tls {
        MailTls::Implicit => io.net.tls(tcp, job.host).await.map_err(|e| tls_code(&e))?,
        _ => Stream::Plain(tcp),
    };
    let mut s = SmtpConn { io, stream, parser: ReplyParser::default() };
    let greeting = s.reply().await?;
    if greeting.code != 220 {
        info!("SMTP greeting refused: {} {}", greeting.code, greeting.text());
        return Err(SERVER);
    }
    let mut ehlo = s.cmd("EHLO sim5360", "EHLO sim5360").await?;
    if io.net.smtp_tls == MailTls::Starttls {
        s.expect("STARTTLS", "STARTTLS", 2).await?;
        let SmtpConn { stream: Stream::Plain(tcp), .. } = s else { return Err(SERVER) };
        let stream = io.net.tls(tcp, job.host).await.map_err(|e| tls_code(&e))?;
        s = SmtpConn { io, stream, parser: ReplyParser::default() };
        ehlo = s.cmd("EHLO sim5360", "EHLO sim5360").await?;
    }
    let ehlo = if ehlo.class() == 2 { Some(ehlo) } else { None };
    if ehlo.is_none() {
        s.expect("HELO sim5360", "HELO sim5360", 2).await?;
    }
    if let Some((user, pass)) = &job.auth {
        let offered: Vec<String> = ehlo
            .iter()
            .flat_map(|r| r.lines.iter())
            .filter_map(|l| {
                let u = l.to_ascii_uppercase();
                u.strip_prefix("AUTH").map(|m| m.trim_start_matches(['=', ' ']).to_owned())
            })
            .flat_map(|m| m.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .collect();
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        if offered.iter().any(|m| m == "PLAIN") {
            let token = b64(format!("\0{user}\0{pass}").as_bytes());
            s.expect(&format!("AUTH PLAIN {token}"), "AUTH PLAIN ***", 2).await?;
        } else {
            // LOGIN when offered, and as the last resort when nothing is announced.
            s.expect("AUTH LOGIN", "AUTH LOGIN", 3).await?;
            s.expect(&b64(user.as_bytes()), "<user>", 3).await?;
            s.expect(&b64(pass.as_bytes()), "***", 2).await?;
        }
    }
    let from = format!("MAIL FROM:<{}>", job.from);
    s.expect(&from, &from, 2).await?;
    for r in job.rcpts {
        let line = format!("RCPT TO:<{r}>");
        s.expect(&line, &line, 2).await?;
    }
    s.expect("DATA", "DATA", 3).await?;
    let mut piece = first;
    while let Some(bytes) = piece {
        s.write(&bytes).await?;
        drop(bytes);
        // The maker gone without its end mark (it panicked): the message is not whole, so
        // the final `.` is never sent and the server drops what it got.
        piece = rest.recv().await.unwrap_or(Err(File))?;
    }
    let r = s.reply().await?;
    if r.class() != 2 {
        info!("SMTP message refused: {} {}", r.code, r.text());
        return Err(SERVER);
    }
    let _ = s.cmd("QUIT", "QUIT").await;
    let _ = s.stream.shutdown().await;
    Ok(())
}

fn tls_code(e: &NetError) -> MailError {
    if matches!(e, NetError::Timeout) { TIMEOUT } else { NETWORK }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::efs::store::FileReader;
    use mail_parser::MimeHeaders;

    /// The pieces of a mail with two attachments, one of them over a piece long: put
    /// together they are the MIME message a parser reads back, byte for byte.
    #[test]
    fn pieces_make_the_whole_message() {
        let big: Vec<u8> = (0..PIECE_RAW * 2 + 1000).map(|i| (i * 7 % 251) as u8).collect();
        let small = b".starts with a dot\r\n".to_vec();
        let settings = SmtpState {
            from_addr: "sim@example.test".into(),
            subject: b"two files".to_vec(),
            body: b"line one\r\n.line two\r\n".to_vec(),
            ..SmtpState::default()
        };
        let files: Vec<(String, Box<dyn FileReader>)> = vec![
            ("big.bin".into(), Box::new(std::io::Cursor::new(big.clone()))),
            ("a.txt".into(), Box::new(std::io::Cursor::new(small.clone()))),
        ];
        let date = chrono::DateTime::parse_from_rfc3339("2026-12-02T10:00:00+01:00").unwrap();
        let mail = Mail { settings, date, message_id: "1@sim5360".into(), files };
        let mut got = Vec::new();
        let mut n = 0;
        assert!(
            pieces(mail, |p| {
                n += 1;
                got.extend(p);
                true
            })
            .unwrap()
        );
        assert!(n >= 3, "{n} pieces");
        assert!(got.ends_with(b"\r\n.\r\n"));
        // Undo the dot-stuffing as a server does.
        let body = &got[..got.len() - 3];
        let text = body.split(|&b| b == b'\n').map(|l| l.strip_prefix(b".").unwrap_or(l)).collect::<Vec<_>>();
        let unstuffed = text.join(&b'\n');
        let msg = mail_parser::MessageParser::default().parse(&unstuffed).unwrap();
        assert_eq!(msg.subject(), Some("two files"));
        assert_eq!(msg.body_text(0).unwrap().as_ref(), "line one\r\n.line two\r\n");
        let atts: Vec<_> = msg.attachments().collect();
        assert_eq!(atts.len(), 2);
        assert_eq!(atts[0].attachment_name(), Some("big.bin"));
        assert_eq!(atts[0].contents(), &big[..]);
        assert_eq!(atts[1].attachment_name(), Some("a.txt"));
        assert_eq!(atts[1].contents(), &small[..]);
    }

    /// No one takes more: the maker stops at once.
    #[test]
    fn pieces_stop_when_refused() {
        let files: Vec<(String, Box<dyn FileReader>)> =
            vec![("big.bin".into(), Box::new(std::io::Cursor::new(vec![0u8; PIECE_RAW * 4])))];
        let settings = SmtpState { from_addr: "sim@example.test".into(), ..SmtpState::default() };
        let date = chrono::DateTime::parse_from_rfc3339("2026-12-02T10:00:00+01:00").unwrap();
        let mail = Mail { settings, date, message_id: "1@sim5360".into(), files };
        let mut n = 0;
        assert!(
            !pieces(mail, |_| {
                n += 1;
                false
            })
            .unwrap()
        );
        assert_eq!(n, 1);
    }
}
