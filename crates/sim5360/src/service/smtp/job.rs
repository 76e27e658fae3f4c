//! The ESMTP dialogue (RFC 5321): EHLO (HELO fallback), AUTH PLAIN or LOGIN as offered,
//! MAIL/RCPT/DATA with dot-stuffing, QUIT. Outcomes: [`super::outcome`].

use super::message::{self, Attachment};
use super::{Smtp, SmtpState};
use crate::efs::store::FileReader;
use crate::service::ftp::codec::{Reply, ReplyParser};
use crate::service::net::{MailTls, NetError, Stream};
use crate::service::outcome::MailError::{self, File, Network as NETWORK, Server as SERVER, Timeout as TIMEOUT};
use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::{debug, info};

type JobIo = crate::service::JobIo<Smtp>;

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

pub async fn run(job: SmtpJob, io: JobIo) {
    let SmtpJob { host, port, auth, from, rcpts, mail } = job;
    // Reading the attachments and encoding them is blocking work.
    let built = tokio::task::spawn_blocking(move || build(mail)).await;
    let r = match built {
        Ok(Ok(message)) => {
            send(&Envelope { host: &host, port, auth: &auth, from: &from, rcpts: &rcpts }, &message, &io).await
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(File),
    };
    if let Err(c) = r {
        info!(%host, port, "SMTP send failed ({})", c.text());
    }
    io.done(r).await;
}

/// The message, with its attachments read in.
fn build(mail: Mail) -> Result<Vec<u8>, MailError> {
    use std::io::Read as _;
    let mut files = Vec::with_capacity(mail.files.len());
    for (name, mut reader) in mail.files {
        let mut data = Vec::new();
        if let Err(e) = reader.read_to_end(&mut data) {
            info!("reading the attachment {name}: {e}");
            return Err(File);
        }
        files.push(Attachment { name, data });
    }
    message::build(&mail.settings, mail.date, &mail.message_id, files).map_err(|e| {
        info!("building the message: {e}");
        File
    })
}

/// Where the message goes.
struct Envelope<'a> {
    host: &'a str,
    port: u16,
    auth: &'a Option<(String, String)>,
    from: &'a str,
    rcpts: &'a [String],
}

/// Dot-stuffing (RFC 5321 §4.5.2) of a CRLF message, plus the final `.` line.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 5);
    let mut at_line_start = true;
    for &b in message {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
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

async fn send(job: &Envelope<'_>, message: &[u8], io: &JobIo) -> Result<(), MailError> {
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
    s.write(&dot_stuff(message)).await?;
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
    use super::dot_stuff;

    #[test]
    fn stuffing() {
        assert_eq!(dot_stuff(b".a\r\nb\r\n..c\r\n"), b"..a\r\nb\r\n...c\r\n.\r\n");
        assert_eq!(dot_stuff(b"x"), b"x\r\n.\r\n");
    }
}
