//! The POP3 dialogue (RFC 1939): USER/PASS, then STAT, LIST, TOP, UIDL, RETR, DELE on
//! request until QUIT. Multi-line answers are dot-unstuffed; RETR streams the message.
//! What the server sends is read by the sans-IO [`super::reply`].

use super::reply::{self, BodyLine, LineReader, MAX_LINE, Status, TooLong, lines_of, numbers};
use super::{Pop3, Pop3Op, Pop3Step};
use crate::job::Input;
use crate::net::{MailTls, NetError, Stream};
use crate::service::outcome::MailError::{self, Network as NETWORK, Server as SERVER, Timeout as TIMEOUT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::{debug, info};

/// RETR data handed to the core in pieces of about this size.
const CHUNK: usize = 32 * 1024;

#[derive(Clone)]
pub struct Pop3Job {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Pop3Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pop3Job")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"***")
            .finish()
    }
}

type JobIo = crate::job::JobIo<Pop3>;

impl Pop3Job {
    /// `pop3 <host>:<port> user=<user> session` (the job's label; no password).
    pub fn label(&self) -> String {
        format!("pop3 {}:{} user={} session", self.host, self.port, self.user)
    }
}

pub async fn run(job: Pop3Job, mut io: JobIo) {
    let r = session(&job, &mut io).await;
    if let Err(c) = r {
        info!(host = %job.host, port = job.port, "POP3 session ended: {}", c.text());
    }
    io.done(r).await;
}

struct Conn<'a> {
    io: &'a mut JobIo,
    stream: Stream,
    lines: LineReader,
}

impl Conn<'_> {
    async fn line(&mut self) -> Result<Vec<u8>, MailError> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.lines.next_line() {
                Ok(Some(line)) => return Ok(line),
                Err(TooLong) => {
                    info!("POP3 line over {MAX_LINE} bytes");
                    return Err(SERVER);
                }
                Ok(None) => {}
            }
            match tokio::time::timeout(self.io.net.io_timeout, self.stream.read(&mut buf)).await {
                Err(_) => return Err(TIMEOUT),
                Ok(Err(e)) => {
                    info!("POP3 connection: {e}");
                    return Err(NETWORK);
                }
                Ok(Ok(0)) => {
                    // Inside a line or between lines: the answer was cut by the network.
                    info!("POP3 server closed the connection ({} bytes of a line held)", self.lines.pending());
                    return Err(NETWORK);
                }
                Ok(Ok(n)) => self.lines.push(&buf[..n]),
            }
        }
    }

    /// A `+OK` / `-ERR` status line; the text after `+OK`.
    async fn status(&mut self) -> Result<String, MailError> {
        let l = self.line().await?;
        match reply::status(&l) {
            Status::Ok(text) => {
                debug!("POP3 < +OK {text}");
                Ok(text)
            }
            Status::Err(text) => {
                info!("POP3 server: {text}");
                Err(SERVER)
            }
        }
    }

    async fn cmd(&mut self, line: &str, shown: &str) -> Result<String, MailError> {
        debug!("POP3 > {shown}");
        let data = format!("{line}\r\n");
        let w = self.stream.write_all(data.as_bytes());
        match tokio::time::timeout(self.io.net.io_timeout, w).await {
            Err(_) => return Err(TIMEOUT),
            Ok(Err(e)) => {
                info!("POP3 connection: {e}");
                return Err(NETWORK);
            }
            Ok(Ok(())) => {}
        }
        self.status().await
    }

    /// Lines of a multi-line answer, dot-unstuffed (each with its CR LF), appended to
    /// `buf` until it holds `until` bytes or the final `.` came; true at the final `.`.
    async fn body_into(&mut self, buf: &mut Vec<u8>, until: usize) -> Result<bool, MailError> {
        while buf.len() < until {
            let l = self.line().await?;
            match reply::body_line(&l) {
                BodyLine::End => return Ok(true),
                BodyLine::Line(text) => buf.extend_from_slice(text),
            }
        }
        Ok(false)
    }
}

async fn session(job: &Pop3Job, io: &mut JobIo) -> Result<(), MailError> {
    let tcp = io.net.connect("pop3", &job.host, job.port).await.map_err(|e| {
        info!("POP3 connect to {}:{}: {e}", job.host, job.port);
        if matches!(e, NetError::Timeout) { TIMEOUT } else { NETWORK }
    })?;
    let tls_code = |e: NetError| if matches!(e, NetError::Timeout) { TIMEOUT } else { NETWORK };
    let mode = io.net.pop3_tls;
    let stream = match mode {
        MailTls::Implicit => io.net.tls(tcp, &job.host).await.map_err(tls_code)?,
        _ => Stream::Plain(tcp),
    };
    let mut c = Conn { io, stream, lines: LineReader::default() };
    c.status().await?;
    if mode == MailTls::Starttls {
        c.cmd("STLS", "STLS").await?;
        // What came in the clear after the `+OK` is dropped with the plain reader.
        let Conn { io, stream, .. } = c;
        let Stream::Plain(tcp) = stream else { return Err(SERVER) };
        let stream = io.net.tls(tcp, &job.host).await.map_err(tls_code)?;
        c = Conn { io, stream, lines: LineReader::default() };
    }
    c.cmd(&format!("USER {}", job.user), "USER ...").await?;
    c.cmd(&format!("PASS {}", job.password), "PASS ***").await?;
    if !c.io.step(Ok(Pop3Step::Ok)).await {
        return Ok(());
    }
    loop {
        // Idle: wait for an operation, noticing a server that drops the session.
        if c.lines.pending() > 0 {
            info!("POP3 server spoke out of turn");
            return Err(SERVER);
        }
        let op = {
            let Conn { io, stream, .. } = &mut c;
            let mut probe = [0u8; 1];
            tokio::select! {
                input = io.recv() => match input {
                    Some(Input::Op(op)) => op,
                    Some(Input::Close) | None => return Ok(()),
                    Some(_) => continue,
                },
                r = stream.read(&mut probe) => {
                    return match r {
                        Ok(0) => {
                            info!("POP3 server dropped the session");
                            Err(NETWORK)
                        }
                        Ok(_) => {
                            info!("POP3 server spoke out of turn");
                            Err(SERVER)
                        }
                        Err(_) => Err(NETWORK),
                    };
                }
            }
        };
        let r = run_op(&mut c, op.clone()).await;
        if op == Pop3Op::Quit {
            return r.map(drop);
        }
        if matches!(r, Err(NETWORK | TIMEOUT)) {
            return r.map(drop);
        }
        if !c.io.step(r).await {
            return Ok(());
        }
    }
}

async fn run_op(c: &mut Conn<'_>, op: Pop3Op) -> Result<Pop3Step, MailError> {
    match op {
        Pop3Op::Stat => {
            let (count, octets) = numbers(&c.cmd("STAT", "STAT").await?);
            Ok(Pop3Step::Stat { count, octets })
        }
        Pop3Op::List(Some(n)) => Ok(Pop3Step::List(vec![numbers(&c.cmd(&format!("LIST {n}"), "LIST n").await?)])),
        Pop3Op::List(None) => {
            c.cmd("LIST", "LIST").await?;
            let mut buf = Vec::new();
            c.body_into(&mut buf, usize::MAX).await?;
            let lines = lines_of(&buf);
            Ok(Pop3Step::List(lines.iter().filter(|l| l.split_whitespace().count() >= 2).map(|l| numbers(l)).collect()))
        }
        Pop3Op::Top(n) => {
            c.cmd(&format!("TOP {n} 0"), "TOP n 0").await?;
            let mut buf = Vec::new();
            c.body_into(&mut buf, usize::MAX).await?;
            let mut lines = lines_of(&buf);
            while lines.last().is_some_and(String::is_empty) {
                lines.pop();
            }
            Ok(Pop3Step::Header(lines))
        }
        Pop3Op::Uidl(n) => {
            let r = c.cmd(&format!("UIDL {n}"), "UIDL n").await?;
            Ok(Pop3Step::Uidl(reply::uidl(&r)))
        }
        Pop3Op::Retr(n) => {
            c.cmd(&format!("RETR {n}"), "RETR n").await?;
            let mut chunk = Vec::with_capacity(CHUNK + 1024);
            loop {
                let end = c.body_into(&mut chunk, CHUNK).await?;
                if !chunk.is_empty() && !c.io.data(std::mem::take(&mut chunk)).await {
                    return Err(NETWORK);
                }
                if end {
                    break;
                }
            }
            Ok(Pop3Step::Ok)
        }
        Pop3Op::Dele(n) => c.cmd(&format!("DELE {n}"), "DELE n").await.map(|_| Pop3Step::Ok),
        Pop3Op::Quit => c.cmd("QUIT", "QUIT").await.map(|_| Pop3Step::Ok),
    }
}
