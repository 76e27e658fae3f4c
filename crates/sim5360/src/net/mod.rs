//! Connections to real servers: DNS through the host resolver with a timeout, TCP with a
//! timeout, and TLS (rustls) verified against the system roots plus `--ca` files, or not
//! at all with `--tls-insecure` (as the real module, which does not check certificates).

pub mod link;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tracing::{debug, warn};

/// TLS for the e-mail services, which the SIM5360 does not have: off unless asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum MailTls {
    /// Plain TCP, as the real module.
    #[default]
    Off,
    /// Upgrade the plain connection (SMTP STARTTLS, POP3 STLS).
    Starttls,
    /// TLS from the first byte (SMTPS, POP3S).
    Implicit,
}

/// Send buffer of a service connection (the kernel doubles it).
const SEND_BUFFER: u32 = 64 * 1024;

/// Network settings shared by every job.
#[derive(Debug, Clone)]
pub struct NetConfig {
    pub tls: Arc<rustls::ClientConfig>,
    /// SMTP over TLS (beyond the real module; off by default).
    pub smtp_tls: MailTls,
    /// POP3 over TLS (beyond the real module; off by default).
    pub pop3_tls: MailTls,
    pub dns_timeout: Duration,
    pub connect_timeout: Duration,
    /// Longest wait for any single read or write of a dialogue.
    pub io_timeout: Duration,
    /// Faults and network conditions the control channel set (shared with the core).
    pub rules: Arc<link::LinkRules>,
}

/// Why a connection could not be made or broke.
#[derive(Debug, Error)]
pub enum NetError {
    #[error("cannot resolve {0}")]
    Dns(String),
    #[error("timed out")]
    Timeout,
    #[error("connection failed: {0}")]
    Connect(io::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
}

#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl NetConfig {
    /// System roots plus `extra_ca` PEM files; no verification at all when `insecure`.
    pub fn new(extra_ca: &[PathBuf], insecure: bool) -> anyhow::Result<Self> {
        use rustls::pki_types::pem::PemObject;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder =
            rustls::ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
        let config = if insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
                .with_no_client_auth()
        } else {
            let mut roots = rustls::RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs();
            for e in &native.errors {
                debug!("system root certificates: {e}");
            }
            let (added, _) = roots.add_parsable_certificates(native.certs);
            debug!(added, "system root certificates loaded");
            for path in extra_ca {
                let mut n = 0;
                for cert in
                    CertificateDer::pem_file_iter(path).map_err(|e| anyhow::anyhow!("--ca {}: {e}", path.display()))?
                {
                    let cert = cert.map_err(|e| anyhow::anyhow!("--ca {}: {e}", path.display()))?;
                    roots.add(cert).map_err(|e| anyhow::anyhow!("--ca {}: {e}", path.display()))?;
                    n += 1;
                }
                if n == 0 {
                    anyhow::bail!("--ca {}: no certificate in it", path.display());
                }
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        Ok(Self {
            tls: Arc::new(config),
            smtp_tls: MailTls::Off,
            pop3_tls: MailTls::Off,
            dns_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(15),
            io_timeout: Duration::from_secs(30),
            rules: Arc::default(),
        })
    }

    /// One limit for every network wait (DNS and connect get at most this too).
    pub fn set_timeout(&mut self, t: Duration) {
        self.io_timeout = t;
        self.connect_timeout = t.min(self.connect_timeout);
        self.dns_timeout = t.min(self.dns_timeout);
    }

    /// Connect `service` (`ftp`, `http`, ...: what faults select) by name or address,
    /// trying each resolved address in turn; through the link's relay when faults or
    /// conditions apply (see [`link`]).
    pub async fn connect(&self, service: &'static str, host: &str, port: u16) -> Result<TcpStream, NetError> {
        Ok(self.connect_peer(service, host, port).await?.0)
    }

    /// As [`Self::connect`], with the address reached (the server's, also when the link's
    /// rules put a relay in between).
    pub async fn connect_peer(
        &self,
        service: &'static str,
        host: &str,
        port: u16,
    ) -> Result<(TcpStream, std::net::SocketAddr), NetError> {
        self.before(service, host).await?;
        let addrs: Vec<_> = match tokio::time::timeout(self.dns_timeout, tokio::net::lookup_host((host, port))).await {
            Err(_) => return Err(NetError::Dns(host.to_owned())),
            Ok(Err(e)) => {
                debug!("resolving {host}: {e}");
                return Err(NetError::Dns(host.to_owned()));
            }
            Ok(Ok(a)) => a.collect(),
        };
        let s = self.connect_any(addrs, NetError::Dns(host.to_owned())).await?;
        let peer = s.peer_addr().map_err(NetError::Connect)?;
        Ok((self.through_link(service, s).await?, peer))
    }

    /// Connect `service` to an address (an FTP data connection), under the same rules.
    pub async fn connect_to(&self, service: &'static str, addr: std::net::SocketAddr) -> Result<TcpStream, NetError> {
        self.before(service, &addr.ip().to_string()).await?;
        let s = self.connect_any(vec![addr], NetError::Timeout).await?;
        self.through_link(service, s).await
    }

    /// What the link's rules do before a connection: refuse it, fail its name, or delay
    /// it (DNS time and one round trip). Also what an exchange that is no connection
    /// (SNTP's datagrams) gets of them.
    pub async fn before(&self, service: &'static str, host: &str) -> Result<(), NetError> {
        match self.rules.before_connect(service) {
            link::Before::Refuse => Err(NetError::Connect(io::Error::from(io::ErrorKind::ConnectionRefused))),
            link::Before::DnsFail => Err(NetError::Dns(host.to_owned())),
            link::Before::Go { extra_delay } => {
                if !extra_delay.is_zero() {
                    tokio::time::sleep(extra_delay).await;
                }
                Ok(())
            }
        }
    }

    async fn through_link(&self, service: &'static str, s: TcpStream) -> Result<TcpStream, NetError> {
        if self.rules.needs_relay(service) { Ok(link::relay(self.rules.clone(), service, s).await?) } else { Ok(s) }
    }

    async fn connect_any(&self, addrs: Vec<std::net::SocketAddr>, mut last: NetError) -> Result<TcpStream, NetError> {
        for addr in addrs {
            let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4() } else { tokio::net::TcpSocket::new_v6() };
            let socket = match socket {
                Ok(s) => s,
                Err(e) => {
                    last = NetError::Connect(e);
                    continue;
                }
            };
            // A module's stack buffers what the server has not taken in tens of KiB, not
            // the megabytes a host autotunes to: so a server that stops reading soon holds
            // back its service (and what the module holds shows in its own counters).
            if let Err(e) = socket.set_send_buffer_size(SEND_BUFFER) {
                debug!("SO_SNDBUF: {e}");
            }
            match tokio::time::timeout(self.connect_timeout, socket.connect(addr)).await {
                Ok(Ok(s)) => {
                    let _ = s.set_nodelay(true);
                    return Ok(s);
                }
                Ok(Err(e)) => last = NetError::Connect(e),
                Err(_) => last = NetError::Timeout,
            }
        }
        Err(last)
    }

    /// TLS client handshake on `tcp` for `host` (SNI and verification name).
    pub async fn tls(&self, tcp: TcpStream, host: &str) -> Result<Stream, NetError> {
        let name =
            ServerName::try_from(host.to_owned()).map_err(|e| NetError::Tls(format!("bad server name {host}: {e}")))?;
        let connector = tokio_rustls::TlsConnector::from(self.tls.clone());
        match tokio::time::timeout(self.connect_timeout, connector.connect(name, tcp)).await {
            Err(_) => Err(NetError::Timeout),
            Ok(Err(e)) => {
                warn!("TLS handshake with {host} failed: {e}");
                Err(NetError::Tls(e.to_string()))
            }
            Ok(Ok(s)) => Ok(Stream::Tls(Box::new(s))),
        }
    }
}

/// A plain or TLS connection.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, data),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, data),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
