//! Test support for sim5360: start the real binary on a PTY, TCP or stdio with a temporary
//! EFS, and drive it as a DTE would, with timeouts and the whole exchange shown on failure.

mod dte;
mod modem;
pub use modem::open_tty;

pub use dte::Dte;
pub use modem::{ModemProcess, Transport};

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
