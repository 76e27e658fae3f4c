//! Test support for sim5360.
//!
//! - Real third-party servers on 127.0.0.1 with ephemeral ports, each a child process in a
//!   temp dir, stopped on drop (also when the test panics): [`Pop3Server`] (dovecot),
//!   [`SmtpServer`] (aiosmtpd), [`FtpServer`] (pyftpdlib), [`HttpServer`] (nginx), all with
//!   TLS from a [`TestCa`] made per run; [`NtpServer`] (chrony). [`Gpsd`] reads the
//!   modem's NMEA port; [`ModemManager`] drives it as Linux does; [`LwipClient`] is lwIP's
//!   PPP client (ESP-IDF's PPP code, built from Debian's lwip source) making data calls;
//!   [`MuxClient`] a 27.010 multiplexer client (the DTE's side, from the standard). `scripts/install-deps.sh` installs them; a server
//!   that cannot start is an error with the reason, never a skipped test.
//! - Misbehaving [`Peer`]s for fault tests.
//! - The real `sim5360` binary on a PTY, TCP or stdio ([`ModemProcess`]) and a [`Dte`]
//!   driver with timeouts that shows the whole exchange when an expectation fails.

mod ca;
pub mod cmux;
mod control;
mod dte;
mod ftp;
mod gateways;
mod gpsd;
pub mod http;
mod lwip;
mod mm;
mod modem;
mod ntp;
mod peers;
mod pop3;
pub mod process;
mod smtp;
mod sockets;

pub use ca::TestCa;
pub use cmux::MuxClient;
pub use control::control_http;
pub use dte::Dte;
pub use ftp::FtpServer;
pub use gateways::{SerialportGsm, Smsd};
pub use gpsd::Gpsd;
pub use http::HttpServer;
pub use lwip::{LwipClient, LwipRun, lwip_client, run_lwip};
pub use mm::ModemManager;
pub use modem::{ModemProcess, Transport, open_tty, raw_tty, ready_modem};
pub use ntp::NtpServer;
pub use peers::{Peer, Unanswered, ftp_truncating, pop3_dropping_after_login, smtp_dropping_in_data};
pub use pop3::Pop3Server;
pub use smtp::{Received, SmtpOptions, SmtpServer};
pub use sockets::{EchoServer, MqttBroker, Subscriber};

/// `bytes` with CR, LF and non-printables escaped, for failure messages.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        match b {
            b'\r' => s.push_str("<CR>"),
            b'\n' => s.push_str("<LF>\n"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("<x{b:02X}>")),
        }
    }
    s
}
