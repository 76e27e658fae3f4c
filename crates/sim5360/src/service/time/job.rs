//! The time queries: SNTP (RFC 4330, by rsntp) and the `Date` header of an HTTP `HEAD /`.

use super::{HtpServer, TimeError, TimeQuery};
use crate::job::JobIo;
use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::info;

/// Largest HTTP head read.
const HEAD_MAX: usize = 16 * 1024;

/// Ask `server` (`<host>[:<port>]`) for the time.
pub async fn ntp(server: String, io: JobIo<TimeQuery>) {
    // rsntp has its own UDP socket, so of the link's rules only what acts before a
    // connection applies: refuse, dns_fail and the conditions' DNS time and round trip.
    if let Err(e) = io.net.before("time", &server).await {
        info!("NTP {server}: {e}");
        return io.done(Err(TimeError::Network)).await;
    }
    let config = rsntp::Config::default().timeout(io.net.io_timeout.min(std::time::Duration::from_secs(10)));
    let client = rsntp::AsyncSntpClient::with_config(config);
    let result = match client.synchronize(server.as_str()).await {
        Ok(r) => r.datetime().into_chrono_datetime().map_err(|e| {
            info!("NTP {server}: unusable time: {e}");
            TimeError::BadTime
        }),
        Err(e) => {
            info!("NTP {server}: {e}");
            Err(TimeError::Network)
        }
    };
    let result = match result {
        Ok(t) => {
            if !io.step(Ok(t)).await {
                return;
            }
            Ok(())
        }
        Err(e) => Err(e),
    };
    io.done(result).await;
}

/// Ask each server in turn for `HEAD /`; the first `Date:` wins.
pub async fn htp(servers: Vec<HtpServer>, io: JobIo<TimeQuery>) {
    let mut result = Err(TimeError::Network);
    for s in &servers {
        match head_date(s, &io).await {
            Ok(t) => {
                if !io.step(Ok(t)).await {
                    return;
                }
                result = Ok(());
                break;
            }
            Err(e) => {
                result = Err(e);
            }
        }
    }
    io.done(result).await;
}

async fn head_date(s: &HtpServer, io: &JobIo<TimeQuery>) -> Result<DateTime<Utc>, TimeError> {
    let mut tcp = io.net.connect("time", &s.host, s.port).await.map_err(|e| {
        info!("HTTP time {}:{}: {e}", s.host, s.port);
        TimeError::Network
    })?;
    let version = if s.version == 0 { "1.0" } else { "1.1" };
    let request = format!("HEAD / HTTP/{version}\r\nHost: {}\r\nConnection: close\r\n\r\n", s.host);
    let t = io.net.io_timeout;
    tokio::time::timeout(t, tcp.write_all(request.as_bytes()))
        .await
        .map_err(|_| TimeError::Network)?
        .map_err(|_| TimeError::Network)?;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < HEAD_MAX {
        let n = tokio::time::timeout(t, tcp.read(&mut buf)).await.map_err(|_| TimeError::Network)?.unwrap_or(0);
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    date_header(&head).ok_or_else(|| {
        info!("HTTP time {}:{}: no usable Date header", s.host, s.port);
        TimeError::BadTime
    })
}

/// The `Date:` of an HTTP response head (RFC 7231 IMF-fixdate, e.g.
/// `Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn date_header(head: &[u8]) -> Option<DateTime<Utc>> {
    let text = String::from_utf8_lossy(head);
    let value = text.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim().eq_ignore_ascii_case("date").then(|| value.trim().to_owned())
    })?;
    DateTime::parse_from_rfc2822(&value).ok().map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn http_date() {
        let head = b"HTTP/1.1 200 OK\r\nServer: nginx\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n";
        assert_eq!(date_header(head), Some(Utc.with_ymd_and_hms(1994, 11, 6, 8, 49, 37).unwrap()));
        assert_eq!(date_header(b"HTTP/1.1 200 OK\r\nDate: yesterday\r\n\r\n"), None);
        assert_eq!(date_header(b"HTTP/1.1 200 OK\r\n\r\n"), None);
    }
}
