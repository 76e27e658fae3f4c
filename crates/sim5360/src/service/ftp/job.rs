//! The dialogue with a real FTP server, generic over plain TCP and TLS. Every io, TLS and
//! protocol failure ends as one of the §5.15 codes.

use super::codec::{self, Reply, ReplyParser};
use super::{Ftp, FtpError, FtpJob, FtpOp, FtpStep, Security};
use crate::job::Input;
use crate::net::{NetConfig, NetError, Stream};
use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

/// Download chunk handed to the core.
const CHUNK: usize = 64 * 1024;

type FtpResult<T> = Result<T, FtpError>;

fn net_code(e: &NetError) -> FtpError {
    match e {
        NetError::Dns(_) => FtpError::Resolve,
        NetError::Timeout => FtpError::Timeout,
        NetError::Connect(_) | NetError::Tls(_) | NetError::Io(_) => FtpError::Network,
    }
}

/// Run a job and report its end.
type JobIo = crate::job::JobIo<Ftp>;

pub async fn run(job: FtpJob, mut io: JobIo) {
    let net = io.net.clone();
    let result = match Control::open(&job, &net).await {
        Ok(mut c) => {
            match job.op.clone() {
                Some(op) => {
                    let r = c.op(op, &mut io).await.map(drop);
                    c.quit().await;
                    r
                }
                None => match c.session(&mut io).await {
                    // A logout the server does not confirm is the logout failure code.
                    Ok(()) if !c.quit().await => Err(FtpError::Logout),
                    other => other,
                },
            }
        }
        Err(code) => Err(code),
    };
    if let Err(code) = result {
        info!(host = %job.host, port = job.port, "FTP job failed: {} {}", code.code(), code.text());
    }
    io.done(result).await;
}

/// The control connection.
struct Control<'a> {
    job: &'a FtpJob,
    net: &'a NetConfig,
    stream: Stream,
    parser: ReplyParser,
    /// TLS on data connections (PROT P).
    protect: bool,
    ascii: Option<bool>,
}

impl<'a> Control<'a> {
    /// Connect, secure as asked, read the greeting and log in.
    async fn open(job: &'a FtpJob, net: &'a NetConfig) -> FtpResult<Self> {
        let tcp = net.connect(job.service(), &job.host, job.port).await.map_err(|e| {
            info!("FTP connect to {}:{}: {e}", job.host, job.port);
            net_code(&e)
        })?;
        let stream = if job.security == Security::Implicit {
            net.tls(tcp, &job.host).await.map_err(|e| net_code(&e))?
        } else {
            Stream::Plain(tcp)
        };
        let mut c = Self { job, net, stream, parser: ReplyParser::default(), protect: false, ascii: None };
        let mut greeting = c.reply().await?;
        while greeting.code == 120 {
            greeting = c.reply().await?;
        }
        if greeting.code != 220 {
            info!("FTP greeting refused: {} {}", greeting.code, greeting.text());
            return Err(FtpError::Rejected);
        }
        if matches!(job.security, Security::ExplicitTls | Security::ExplicitSsl) {
            let verb = if job.security == Security::ExplicitSsl { "AUTH SSL" } else { "AUTH TLS" };
            let r = c.cmd(verb).await?;
            if r.class() != 2 {
                info!("{verb} refused: {} {}", r.code, r.text());
                return Err(FtpError::Rejected);
            }
            let Stream::Plain(tcp) = c.stream else { return Err(FtpError::Unknown) };
            c.stream = net.tls(tcp, &job.host).await.map_err(|e| net_code(&e))?;
        }
        c.login().await?;
        if job.security != Security::Plain {
            c.expect("PBSZ 0", 2).await?;
            c.expect("PROT P", 2).await?;
            c.protect = true;
        }
        Ok(c)
    }

    async fn login(&mut self) -> FtpResult<()> {
        let user = self.job.user.clone();
        let r = self.cmd(&format!("USER {user}")).await?;
        let r = match r.code {
            230 => return Ok(()),
            331 | 332 => {
                let pass = self.job.password.clone();
                self.cmd(&format!("PASS {pass}")).await?
            }
            _ => r,
        };
        if r.code == 230 || r.code == 202 {
            return Ok(());
        }
        info!("FTP login refused: {} {}", r.code, r.text());
        Err(FtpError::Login)
    }

    /// QUIT and close; true when the server confirmed with a 2xx reply.
    async fn quit(&mut self) -> bool {
        let mut confirmed = false;
        if self.send("QUIT").await.is_ok() {
            let r = tokio::time::timeout(Duration::from_secs(2), self.reply()).await;
            confirmed = matches!(r, Ok(Ok(ref reply)) if reply.class() == 2);
        }
        let _ = self.stream.shutdown().await;
        confirmed
    }

    /// Take operations until Logout (or the core goes away).
    async fn session(&mut self, io: &mut JobIo) -> FtpResult<()> {
        if !io.step(Ok(FtpStep::Ok)).await {
            return Ok(());
        }
        loop {
            let op = match io.recv().await {
                Some(Input::Op(op)) => op,
                Some(Input::Close) | None => return Ok(()),
                Some(other) => {
                    debug!("FTP session: unexpected input {other:?}");
                    continue;
                }
            };
            if op == FtpOp::Logout {
                return Ok(());
            }
            let r = self.op(op, io).await;
            // A broken control connection ends the session.
            if matches!(r, Err(FtpError::Network | FtpError::Timeout)) {
                return r.map(drop);
            }
            if !io.step(r).await {
                return Ok(());
            }
        }
    }

    /// Perform one operation.
    async fn op(&mut self, op: FtpOp, io: &mut JobIo) -> FtpResult<FtpStep> {
        match op {
            FtpOp::Get { path, rest, ascii } => {
                self.set_type(ascii).await?;
                // The expected size (binary type only) catches a transfer cut short.
                let size = if ascii { None } else { codec::parse_size(&self.cmd(&format!("SIZE {path}")).await?) };
                if rest > 0 {
                    self.expect(&format!("REST {rest}"), 3).await?;
                }
                let got = self.download(&format!("RETR {path}"), io).await?;
                if let Some(size) = size
                    && got + rest != size
                {
                    info!("RETR {path}: got {got} bytes from offset {rest}, size is {size}");
                    return Err(FtpError::Transfer);
                }
                Ok(FtpStep::Ok)
            }
            FtpOp::List { path, ascii } => {
                self.set_type(ascii).await?;
                let cmd = match path {
                    Some(p) if !p.is_empty() => format!("LIST {p}"),
                    _ => "LIST".to_owned(),
                };
                self.download(&cmd, io).await?;
                Ok(FtpStep::Ok)
            }
            FtpOp::Put { path, rest, ascii } => {
                self.set_type(ascii).await?;
                if rest > 0 {
                    self.expect(&format!("REST {rest}"), 3).await?;
                }
                self.upload(&format!("STOR {path}"), ascii, io).await?;
                Ok(FtpStep::Ok)
            }
            FtpOp::Mkd(p) => self.expect(&format!("MKD {p}"), 2).await.map(|_| FtpStep::Ok),
            FtpOp::Rmd(p) => self.expect(&format!("RMD {p}"), 2).await.map(|_| FtpStep::Ok),
            FtpOp::Dele(p) => self.expect(&format!("DELE {p}"), 2).await.map(|_| FtpStep::Ok),
            FtpOp::Cwd(p) => self.expect(&format!("CWD {p}"), 2).await.map(|_| FtpStep::Ok),
            FtpOp::Pwd => {
                let r = self.expect("PWD", 2).await?;
                Ok(FtpStep::Dir(codec::parse_pwd(&r).unwrap_or_else(|| r.text())))
            }
            FtpOp::Size(p) => {
                self.set_type(false).await?;
                let r = self.expect(&format!("SIZE {p}"), 2).await?;
                codec::parse_size(&r).map(FtpStep::Size).ok_or(FtpError::Rejected)
            }
            FtpOp::Logout => Ok(FtpStep::Ok),
        }
    }

    async fn set_type(&mut self, ascii: bool) -> FtpResult<()> {
        if self.ascii != Some(ascii) {
            self.expect(if ascii { "TYPE A" } else { "TYPE I" }, 2).await?;
            self.ascii = Some(ascii);
        }
        Ok(())
    }

    /// Open the data connection for `cmd` and read it to the end into events.
    async fn download(&mut self, cmd: &str, io: &mut JobIo) -> FtpResult<u64> {
        let mut data = self.data_connection(cmd).await?;
        let mut total = 0u64;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match tokio::time::timeout(self.net.io_timeout, data.read(&mut buf)).await {
                Err(_) => return Err(FtpError::Timeout),
                Ok(Err(e)) => {
                    // A TLS peer that closes without close_notify has still sent everything
                    // it meant to; the final reply decides.
                    if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        0
                    } else {
                        info!("{cmd}: data connection failed: {e}");
                        return Err(FtpError::Transfer);
                    }
                }
                Ok(Ok(n)) => n,
            };
            if n == 0 {
                break;
            }
            total += n as u64;
            if !io.data(buf[..n].to_vec()).await {
                return Err(FtpError::Transfer);
            }
        }
        drop(data);
        self.transfer_end(cmd).await?;
        Ok(total)
    }

    /// Open the data connection for `cmd` and feed it the job's input up to `End`.
    async fn upload(&mut self, cmd: &str, ascii: bool, io: &mut JobIo) -> FtpResult<()> {
        let mut data = self.data_connection(cmd).await?;
        if !io.ready().await {
            return Err(FtpError::Transfer);
        }
        let mut last_cr = false;
        loop {
            match io.recv().await {
                Some(Input::Data(d)) => {
                    let d = if ascii { codec::to_netascii(&d, &mut last_cr) } else { d };
                    match tokio::time::timeout(self.net.io_timeout, data.write_all(&d)).await {
                        Err(_) => return Err(FtpError::Timeout),
                        Ok(Err(e)) => {
                            info!("{cmd}: data connection failed: {e}");
                            return Err(FtpError::Transfer);
                        }
                        Ok(Ok(())) => {}
                    }
                }
                Some(Input::End) => break,
                Some(Input::Op(_) | Input::Close) => return Err(FtpError::NotAllowed),
                None => return Err(FtpError::Transfer),
            }
        }
        if let Err(e) = data.shutdown().await {
            info!("{cmd}: closing the data connection: {e}");
            return Err(FtpError::Transfer);
        }
        // Wait for the server to close its side before dropping ours: closing a socket
        // with unread bytes (a TLS 1.3 session ticket, say) sends a reset, and a reset
        // makes the server's kernel discard data it has not read yet - a truncated file.
        let drain = async {
            let mut b = [0u8; 4096];
            while matches!(data.read(&mut b).await, Ok(n) if n > 0) {}
        };
        let _ = tokio::time::timeout(self.net.io_timeout, drain).await;
        drop(data);
        self.transfer_end(cmd).await
    }

    /// The reply after a transfer: 226/250 complete, anything else failed.
    async fn transfer_end(&mut self, cmd: &str) -> FtpResult<()> {
        let r = self.reply().await.map_err(|c| if c == FtpError::Network { FtpError::Transfer } else { c })?;
        if r.class() == 2 {
            return Ok(());
        }
        info!("{cmd}: transfer ended with {} {}", r.code, r.text());
        Err(if r.code == 426 || r.code == 451 { FtpError::Transfer } else { FtpError::Rejected })
    }

    /// Passive or active data connection for `cmd`, with TLS when PROT P is on.
    async fn data_connection(&mut self, cmd: &str) -> FtpResult<Stream> {
        let peer = self.stream.tcp().peer_addr().map_err(|_| FtpError::Network)?;
        let tcp = if self.job.passive {
            let r = self.expect("PASV", 2).await?;
            let mut addr = codec::parse_pasv(&r.text()).ok_or_else(|| {
                info!("unparsable PASV reply {}", r.text());
                FtpError::Rejected
            })?;
            if let IpAddr::V4(ip) = peer.ip()
                && (self.job.single_ip || addr.ip().is_unspecified())
            {
                addr = SocketAddrV4::new(ip, addr.port());
            }
            let tcp = match self.net.connect_to(self.job.service(), SocketAddr::V4(addr)).await {
                Err(NetError::Timeout) => return Err(FtpError::Timeout),
                Err(e) => {
                    info!("data connection to {addr}: {e}");
                    return Err(FtpError::Transfer);
                }
                Ok(s) => s,
            };
            self.start_transfer(cmd).await?;
            tcp
        } else {
            let local = self.stream.tcp().local_addr().map_err(|_| FtpError::Network)?;
            let IpAddr::V4(ip) = local.ip() else { return Err(FtpError::Network) };
            let listener = TcpListener::bind((ip, 0)).await.map_err(|_| FtpError::Network)?;
            let port = listener.local_addr().map_err(|_| FtpError::Network)?.port();
            self.expect(&format!("PORT {}", codec::port_arg(SocketAddrV4::new(ip, port))), 2).await?;
            self.start_transfer(cmd).await?;
            match tokio::time::timeout(self.net.connect_timeout, listener.accept()).await {
                Err(_) => return Err(FtpError::Timeout),
                Ok(Err(_)) => return Err(FtpError::Transfer),
                Ok(Ok((s, _))) => s,
            }
        };
        let _ = tcp.set_nodelay(true);
        if self.protect {
            self.net.tls(tcp, &self.job.host).await.map_err(|e| {
                info!("TLS on the data connection: {e}");
                FtpError::Transfer
            })
        } else {
            Ok(Stream::Plain(tcp))
        }
    }

    /// Send the transfer command and wait for 150/125.
    async fn start_transfer(&mut self, cmd: &str) -> FtpResult<()> {
        let r = self.cmd(cmd).await?;
        if r.class() == 1 {
            return Ok(());
        }
        info!("{cmd} refused: {} {}", r.code, r.text());
        Err(if r.code == 425 || r.code == 426 { FtpError::Transfer } else { FtpError::Rejected })
    }

    /// Send `cmd`; the reply must be of `class` (2 or 3), else 211 (rejected).
    async fn expect(&mut self, cmd: &str, class: u16) -> FtpResult<Reply> {
        let r = self.cmd(cmd).await?;
        if r.class() == class {
            return Ok(r);
        }
        let shown = if cmd.starts_with("PASS ") { "PASS ***" } else { cmd };
        info!("FTP {shown}: refused with {} {}", r.code, r.text());
        Err(FtpError::Rejected)
    }

    async fn cmd(&mut self, cmd: &str) -> FtpResult<Reply> {
        self.send(cmd).await?;
        self.reply().await
    }

    async fn send(&mut self, cmd: &str) -> FtpResult<()> {
        let shown = if cmd.starts_with("PASS ") { "PASS ***" } else { cmd };
        debug!("FTP > {shown}");
        let line = format!("{cmd}\r\n");
        match tokio::time::timeout(self.net.io_timeout, self.stream.write_all(line.as_bytes())).await {
            Err(_) => Err(FtpError::Timeout),
            Ok(Err(e)) => {
                info!("FTP control connection: {e}");
                Err(FtpError::Network)
            }
            Ok(Ok(())) => Ok(()),
        }
    }

    async fn reply(&mut self) -> FtpResult<Reply> {
        let mut buf = [0u8; 4096];
        loop {
            match self.parser.next_reply() {
                Ok(Some(r)) => {
                    debug!("FTP < {} {}", r.code, r.text());
                    return Ok(r);
                }
                Ok(None) => {}
                // Replies too big for the module's buffers are its memory error.
                Err(e @ (codec::CodecError::LineTooLong | codec::CodecError::TooManyLines)) => {
                    warn!("FTP server reply too large: {e}");
                    return Err(FtpError::Memory);
                }
                Err(e) => {
                    warn!("FTP server sent garbage: {e}");
                    return Err(FtpError::Unknown);
                }
            }
            let n = match tokio::time::timeout(self.net.io_timeout, self.stream.read(&mut buf)).await {
                Err(_) => return Err(FtpError::Timeout),
                Ok(Err(e)) => {
                    info!("FTP control connection: {e}");
                    return Err(FtpError::Network);
                }
                Ok(Ok(n)) => n,
            };
            if n == 0 {
                info!("FTP server closed the control connection");
                return Err(FtpError::Network);
            }
            self.parser.push(&buf[..n]);
        }
    }
}
