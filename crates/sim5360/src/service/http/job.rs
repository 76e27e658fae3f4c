//! Connections to web servers. `Once`: relay one request and its response (codes of §6.2).
//! `Session`: a byte pipe for the HTTPS stack, with the outcome in the SIM7600 HTTPS table
//! (0 closed by us, 4 peer closed, 5 timeout, 6 transfer failed, 9 network error,
//! 13 DNS error, 14 connect error, 15 handshake error).

use super::codec::{ResponseFramer, request_method};
use super::{HttpCode, HttpJob, HttpMode};
use crate::modem::{JobInput, ServiceEvent};
use crate::service::JobIo;
use crate::service::net::{NetError, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::info;

const CHUNK: usize = 64 * 1024;
/// Session reads are smaller: the DTE pulls them through a bounded cache.
const SESSION_CHUNK: usize = 64 * 1024;

/// Session outcome codes (SIM7600 HTTPS table, spec §7.7).
pub mod session_code {
    pub const PEER_CLOSED: u16 = 4;
    pub const TIMEOUT: u16 = 5;
    pub const TRANSFER: u16 = 6;
    pub const NETWORK: u16 = 9;
    pub const DNS: u16 = 13;
    pub const CONNECT: u16 = 14;
    pub const HANDSHAKE: u16 = 15;
}

pub async fn run(job: HttpJob, mut io: JobIo) {
    let result = match job.mode.clone() {
        HttpMode::Once { request } => once(&job, &request, &io).await.map_err(|c| {
            info!(host = %job.host, port = job.port, "HTTP request failed: {} {}", c.code(), c.text());
            c.code()
        }),
        HttpMode::Session => session(&job, &mut io).await,
    };
    io.send(ServiceEvent::Done(result)).await;
}

async fn connect(job: &HttpJob, io: &JobIo) -> Result<Stream, NetError> {
    let tcp = io.net.connect(&job.host, job.port).await?;
    if job.tls { io.net.tls(tcp, &job.host).await } else { Ok(Stream::Plain(tcp)) }
}

async fn once(job: &HttpJob, request: &[u8], io: &JobIo) -> Result<(), HttpCode> {
    let mut s = connect(job, io).await.map_err(|e| {
        info!("HTTP connect to {}:{}: {e}", job.host, job.port);
        match e {
            NetError::Dns(_) => HttpCode::Resolve,
            NetError::Timeout => HttpCode::Timeout,
            _ => HttpCode::Network,
        }
    })?;
    let t = io.net.io_timeout;
    match tokio::time::timeout(t, s.write_all(request)).await {
        Err(_) => return Err(HttpCode::Timeout),
        Ok(Err(e)) => {
            info!("HTTP send: {e}");
            return Err(HttpCode::Network);
        }
        Ok(Ok(())) => {}
    }
    let mut framer = ResponseFramer::new(&request_method(request));
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match tokio::time::timeout(t, s.read(&mut buf)).await {
            Err(_) => return Err(HttpCode::Timeout),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Ok(Err(e)) => {
                info!("HTTP receive: {e}");
                return Err(HttpCode::Transfer);
            }
            Ok(Ok(n)) => n,
        };
        if n == 0 {
            if framer.until_close() {
                return Ok(());
            }
            info!("HTTP server closed after {total} bytes, before the response was complete");
            return Err(HttpCode::Transfer);
        }
        let used = framer.feed(&buf[..n]).map_err(|e| {
            info!("HTTP response not understood: {e}");
            HttpCode::Unknown
        })?;
        total += used as u64;
        if used > 0 && !io.send(ServiceEvent::Data(buf[..used].to_vec())).await {
            return Err(HttpCode::Transfer);
        }
        if framer.is_done() {
            let _ = s.shutdown().await;
            return Ok(());
        }
    }
}

async fn session(job: &HttpJob, io: &mut JobIo) -> Result<(), u16> {
    use session_code::*;
    let s = connect(job, io).await.map_err(|e| {
        info!("HTTPS session to {}:{}: {e}", job.host, job.port);
        match e {
            NetError::Dns(_) => DNS,
            NetError::Timeout => TIMEOUT,
            NetError::Tls(_) => HANDSHAKE,
            _ => CONNECT,
        }
    })?;
    if !io.send(ServiceEvent::Step(Ok(Vec::new()))).await {
        return Ok(());
    }
    let (mut rd, mut wr) = tokio::io::split(s);
    let mut buf = vec![0u8; SESSION_CHUNK];
    let t = io.net.io_timeout;
    loop {
        tokio::select! {
            input = io.recv() => match input {
                Some(JobInput::Data(d)) => match tokio::time::timeout(t, wr.write_all(&d)).await {
                    Err(_) => return Err(TIMEOUT),
                    Ok(Err(e)) => {
                        info!("HTTPS send: {e}");
                        return Err(TRANSFER);
                    }
                    Ok(Ok(())) => {}
                },
                Some(JobInput::End | JobInput::Op(_)) => {}
                Some(JobInput::Close) | None => {
                    let _ = tokio::time::timeout(t, wr.shutdown()).await;
                    return Ok(());
                }
            },
            r = rd.read(&mut buf) => match r {
                Ok(0) => return Err(PEER_CLOSED),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(PEER_CLOSED),
                Err(e) => {
                    info!("HTTPS receive: {e}");
                    return Err(NETWORK);
                }
                Ok(n) => {
                    if !io.send(ServiceEvent::Data(buf[..n].to_vec())).await {
                        return Ok(());
                    }
                }
            },
        }
    }
}
