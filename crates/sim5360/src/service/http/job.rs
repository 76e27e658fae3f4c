//! Connections to web servers. `Once`: relay one request and its response (codes of §6.2).
//! `Session`: a byte pipe for the HTTPS stack, with the outcome in the SIM7600 HTTPS table
//! (0 closed by us, 4 peer closed, 5 timeout, 6 transfer failed, 9 network error,
//! 13 DNS error, 14 connect error, 15 handshake error).

use super::codec::{ResponseFramer, request_method};
use super::{Http, HttpError, HttpJob, HttpSession, SessionError};
use crate::job::{Input, JobIo, JobRx, JobTx};
use crate::net::{NetConfig, NetError, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::info;

const CHUNK: usize = 64 * 1024;
/// Session reads are smaller: the DTE pulls them through a bounded cache.
const SESSION_CHUNK: usize = 64 * 1024;

/// One `AT+CHTTPACT` exchange: relay `request`, pass the response back, close.
pub async fn run_once(job: HttpJob, request: Vec<u8>, io: JobIo<Http>) {
    let result = once(&job, &request, &io).await;
    if let Err(c) = result {
        info!(host = %job.host, port = job.port, "HTTP request failed: {} {}", c.code(), c.text());
    }
    io.done(result).await;
}

/// An HTTPS session: a byte pipe until `Close` or the server closes. Reading the server
/// and writing to it go on at the same time, so a server that stops reading while it
/// sends (or sends while the DTE's data waits to go) never stalls the session's reads.
pub async fn run_session(job: HttpJob, io: JobIo<HttpSession>) {
    let (tx, rx) = io.split();
    let result = session(&job, &tx, rx).await;
    tx.done(result).await;
}

async fn connect(job: &HttpJob, net: &NetConfig) -> Result<Stream, NetError> {
    let tcp = net.connect(if job.tls { "https" } else { "http" }, &job.host, job.port).await?;
    if job.tls { net.tls(tcp, &job.host).await } else { Ok(Stream::Plain(tcp)) }
}

async fn once(job: &HttpJob, request: &[u8], io: &JobIo<Http>) -> Result<(), HttpError> {
    let mut s = connect(job, &io.net).await.map_err(|e| {
        info!("HTTP connect to {}:{}: {e}", job.host, job.port);
        match e {
            NetError::Dns(_) => HttpError::Resolve,
            NetError::Timeout => HttpError::Timeout,
            _ => HttpError::Network,
        }
    })?;
    let t = io.net.io_timeout;
    match tokio::time::timeout(t, s.write_all(request)).await {
        Err(_) => return Err(HttpError::Timeout),
        Ok(Err(e)) => {
            info!("HTTP send: {e}");
            return Err(HttpError::Network);
        }
        Ok(Ok(())) => {}
    }
    let mut framer = ResponseFramer::new(&request_method(request));
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match tokio::time::timeout(t, s.read(&mut buf)).await {
            Err(_) => return Err(HttpError::Timeout),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Ok(Err(e)) => {
                info!("HTTP receive: {e}");
                return Err(HttpError::Transfer);
            }
            Ok(Ok(n)) => n,
        };
        if n == 0 {
            if framer.until_close() {
                return Ok(());
            }
            info!("HTTP server closed after {total} bytes, before the response was complete");
            return Err(HttpError::Transfer);
        }
        let used = framer.feed(&buf[..n]).map_err(|e| {
            info!("HTTP response not understood: {e}");
            HttpError::Unknown
        })?;
        total += used as u64;
        if used > 0 && !io.data(buf[..used].to_vec()).await {
            return Err(HttpError::Transfer);
        }
        if framer.is_done() {
            let _ = s.shutdown().await;
            return Ok(());
        }
    }
}

async fn session(job: &HttpJob, tx: &JobTx<HttpSession>, mut rx: JobRx<HttpSession>) -> Result<(), SessionError> {
    use SessionError::*;
    let s = connect(job, &tx.net).await.map_err(|e| {
        info!("HTTPS session to {}:{}: {e}", job.host, job.port);
        match e {
            NetError::Dns(_) => Dns,
            NetError::Timeout => Timeout,
            NetError::Tls(_) => Handshake,
            _ => Connect,
        }
    })?;
    if !tx.step(Ok(())).await {
        return Ok(());
    }
    let (mut rd, mut wr) = tokio::io::split(s);
    let t = tx.net.io_timeout;
    let reader = async {
        let mut buf = vec![0u8; SESSION_CHUNK];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) => return Err(PeerClosed),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(PeerClosed),
                Err(e) => {
                    info!("HTTPS receive: {e}");
                    return Err(Network);
                }
                Ok(n) => {
                    if !tx.data(buf[..n].to_vec()).await {
                        return Ok(());
                    }
                }
            }
        }
    };
    let writer = async {
        loop {
            match rx.recv().await {
                Some(Input::Data(d)) => match tokio::time::timeout(t, wr.write_all(&d)).await {
                    Err(_) => return Err(Timeout),
                    Ok(Err(e)) => {
                        info!("HTTPS send: {e}");
                        return Err(Transfer);
                    }
                    Ok(Ok(())) => {}
                },
                Some(Input::End | Input::Op(_)) => {}
                Some(Input::Close) | None => {
                    let _ = tokio::time::timeout(t, wr.shutdown()).await;
                    return Ok(());
                }
            }
        }
    };
    tokio::select! {
        r = reader => r,
        w = writer => w,
    }
}
