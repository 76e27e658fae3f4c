//! Byte pipes between a DTE and the modem: a pseudo-terminal we create, a real serial
//! device, TCP, stdio; plus UART pacing, the trace recorder and the stop signals.

pub mod fd;
pub mod pace;
pub mod pty;
pub mod serial;
pub mod signals;
pub mod stdio;
pub mod tcp;
pub mod trace;
pub mod usb;

use nix::sys::termios::{self, BaudRate, SetArg};
use std::os::fd::AsFd;

/// Put a terminal in raw 8N1 mode at `baud`, like a UART: no echo, no line editing, no
/// CR/LF translation, no flow control.
pub fn make_raw(fd: impl AsFd, baud: u32) -> nix::Result<()> {
    let mut t = termios::tcgetattr(&fd)?;
    termios::cfmakeraw(&mut t);
    t.control_flags.insert(termios::ControlFlags::CLOCAL | termios::ControlFlags::CREAD);
    t.control_flags.remove(termios::ControlFlags::CRTSCTS);
    if let Some(b) = baud_rate(baud) {
        termios::cfsetspeed(&mut t, b)?;
    }
    t.control_chars[termios::SpecialCharacterIndices::VMIN as usize] = 1;
    t.control_chars[termios::SpecialCharacterIndices::VTIME as usize] = 0;
    termios::tcsetattr(&fd, SetArg::TCSANOW, &t)
}

/// Change the speed (autobaud, 0, keeps it) and the hardware flow control of a terminal.
pub fn set_line(fd: impl AsFd, line: crate::modem::settings::SerialLine) -> nix::Result<()> {
    let mut t = termios::tcgetattr(&fd)?;
    if let Some(b) = baud_rate(line.baud) {
        termios::cfsetspeed(&mut t, b)?;
    }
    t.control_flags.set(termios::ControlFlags::CRTSCTS, line.rtscts);
    termios::tcsetattr(&fd, SetArg::TCSADRAIN, &t)
}

/// The termios constant of each `AT+IPR` rate a serial device can be set to. The module's
/// 3200000 and 3686400 have no Linux constant: on `--serial` they are refused (by
/// `--baud` and by `AT+IPR`, see [`serial_rate_ok`]); on the other transports every rate
/// of `AT+IPR=?` only sets the pacing.
const TERMIOS_RATES: &[(u32, BaudRate)] = &[
    (300, BaudRate::B300),
    (600, BaudRate::B600),
    (1200, BaudRate::B1200),
    (2400, BaudRate::B2400),
    (4800, BaudRate::B4800),
    (9600, BaudRate::B9600),
    (19200, BaudRate::B19200),
    (38400, BaudRate::B38400),
    (57600, BaudRate::B57600),
    (115200, BaudRate::B115200),
    (230400, BaudRate::B230400),
    (460800, BaudRate::B460800),
    (921600, BaudRate::B921600),
    (4000000, BaudRate::B4000000),
];

/// termios constant for a rate, `None` for autobaud (0) or a rate a serial device cannot
/// take.
pub fn baud_rate(baud: u32) -> Option<BaudRate> {
    TERMIOS_RATES.iter().find(|(r, _)| *r == baud).map(|(_, b)| *b)
}

/// Whether a serial device can run at `baud` (0, autobaud, keeps the current speed).
pub fn serial_rate_ok(baud: u32) -> bool {
    baud == 0 || baud_rate(baud).is_some()
}

/// A byte count the kernel keeps for `fd`, read with `request` (TIOCINQ: unread input of
/// a terminal; TIOCOUTQ, which is SIOCOUTQ: a TCP socket's bytes not yet acknowledged), or
/// None when the kernel does not say.
pub fn queued(fd: impl AsFd, request: libc::Ioctl) -> Option<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: both requests write one int for a descriptor of their kind, which `fd` keeps
    // open for the call. nix has no safe wrapper for either.
    #[allow(unsafe_code, reason = "TIOCINQ/TIOCOUTQ have no safe wrapper; contract upheld above")]
    let r = unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&fd.as_fd()), request, &mut n) };
    (r == 0).then(|| usize::try_from(n).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modem::settings::BAUD_RATES;

    #[test]
    fn every_termios_rate_is_a_module_rate() {
        for (r, _) in TERMIOS_RATES {
            assert!(BAUD_RATES.contains(r), "{r} is not an AT+IPR rate");
        }
        let unsupported: Vec<u32> = BAUD_RATES.iter().copied().filter(|r| !serial_rate_ok(*r)).collect();
        assert_eq!(unsupported, [3200000, 3686400]);
    }
}
