//! USSD (device spec §5): `AT+CUSD=<n>[,"<str>"[,<dcs>]]` answers `OK` at once; the
//! network's answer follows as `+CUSD: <m>,"<str>",<dcs>` after [`ANSWER_DELAY`]. The
//! network is a table of codes (defaults below, extended or replaced with `--ussd
//! CODE=TEXT`); `*111#` opens a menu session that a reply (`AT+CUSD=1,"1"`) continues and
//! `AT+CUSD=2` cancels. An unknown code gets `+CUSD: 4` (operation not supported), as a
//! network answers one.

use super::pdu;
use super::text::Charset;
use super::{SmsConfig, state};
use crate::modem::{CmdError, CmeError, Ctx, Reply, Urc};
use std::time::Duration;
use v250::Args;

/// From the request to the network's answer.
pub const ANSWER_DELAY: Duration = Duration::from_millis(500);
/// The data coding scheme of every answer: GSM 7-bit, language unspecified.
const DCS: u8 = 15;
const MENU: &str = "*111#";
const MENU_TEXT: &str = "1 Balance\n2 My number";

/// The answers a network gives without configuration; `{msisdn}` is the module's number.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("*100#", "Your balance is 10.00 EUR."),
    ("*#100#", "Your number is {msisdn}."),
    ("*101#", "Your balance is 10.00 EUR."),
];

/// `AT+CUSD` settings and the session.
#[derive(Debug, Default)]
pub struct UssdState {
    /// Result code presentation (0 off, 1 on).
    pub n: u8,
    /// A menu session waits for the user's reply.
    session: bool,
    /// The answer the network is about to give: `<m>` and the text (None: `+CUSD: <m>`).
    pending: Option<(u8, Option<String>)>,
}

pub fn cusd_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CUSD: {}", state(ctx).ussd.n)))
}

/// A request string in the TE character set: a plain code (`*100#`) is taken as it is
/// whatever the set (TinyGSM sends it plain under HEX); otherwise UCS2 and HEX are hex.
fn decode_request(cs: Charset, s: &str) -> String {
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'*' || b == b'#' || b == b'+') {
        return s.to_owned();
    }
    match cs {
        Charset::Ucs2 | Charset::Hex => match pdu::from_hex(s.as_bytes()) {
            Ok(b) if cs == Charset::Ucs2 => pdu::ucs2_decode(&b),
            Ok(b) => b.iter().map(|c| *c as char).collect(),
            Err(_) => s.to_owned(),
        },
        _ => s.to_owned(),
    }
}

/// An answer in the TE character set: UCS2 as UCS2 hex, HEX as hex of the characters
/// (TinyGSM hex-decodes a dcs 15 answer), else plain.
fn encode_answer(cs: Charset, text: &str) -> String {
    match cs {
        Charset::Ucs2 => pdu::to_hex(&pdu::ucs2_encode(text)),
        Charset::Hex => {
            pdu::to_hex(&text.chars().map(|c| if (c as u32) < 256 { c as u8 } else { b'?' }).collect::<Vec<_>>())
        }
        _ => text.to_owned(),
    }
}

/// What the network answers to `request`: `<m>` and the text.
fn answer(ctx: &mut Ctx, request: &str) -> (u8, Option<String>) {
    let own = ctx.profile.identity.msisdn.clone();
    let cfg = ctx.configs.get::<SmsConfig>().map(|c| c.ussd.clone()).unwrap_or_default();
    let lookup = |code: &str| -> Option<String> {
        cfg.iter()
            .rev()
            .find(|(c, _)| c == code)
            .map(|(_, t)| t.clone())
            .or_else(|| DEFAULTS.iter().find(|(c, _)| *c == code).map(|(_, t)| (*t).to_owned()))
            .map(|t| t.replace("{msisdn}", &own))
    };
    let st = &mut state(ctx).ussd;
    if std::mem::take(&mut st.session) {
        return match request {
            "1" => (0, lookup("*100#")),
            "2" => (0, lookup("*#100#")),
            _ => (2, Some("Invalid choice.".into())),
        };
    }
    if let Some(t) = lookup(request) {
        return (0, Some(t));
    }
    if request == MENU {
        st.session = true;
        return (1, Some(MENU_TEXT.into()));
    }
    (4, None)
}

/// `AT+CUSD=<n>[,"<str>"[,<dcs>]]`.
pub fn cusd_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let n = args.next_in::<u8>(0..=2)?;
    let request = args.opt_str()?;
    let _dcs = args.opt_in::<u8>(0..=255)?;
    args.finish()?;
    if n == 2 {
        let st = &mut state(ctx).ussd;
        st.session = false;
        st.pending = None;
        return Ok(Reply::ok());
    }
    state(ctx).ussd.n = n;
    let Some(request) = request else { return Ok(Reply::ok()) };
    ctx.net.require_sim()?;
    if !ctx.net.registered() || ctx.net.cfun != 1 {
        return Err(CmdError::cme(CmeError::NoNetworkService, "not registered"));
    }
    let cs = state(ctx).cscs;
    let request = decode_request(cs, request);
    let a = answer(ctx, &request);
    tracing::info!(code = %request, m = a.0, "USSD request");
    state(ctx).ussd.pending = Some(a);
    ctx.after(ANSWER_DELAY, "ussd answer", answered, 0);
    Ok(Reply::ok())
}

fn answered(ctx: &mut Ctx, _: u64) {
    let st = state(ctx);
    let cs = st.cscs;
    let Some((m, text)) = st.ussd.pending.take() else { return };
    if st.ussd.n == 0 {
        return;
    }
    let line = match text {
        Some(t) => format!("+CUSD: {m},\"{}\",{DCS}", encode_answer(cs, &t)),
        None => format!("+CUSD: {m}"),
    };
    ctx.urcs.push(Urc::Line(line));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_answer_charsets() {
        assert_eq!(decode_request(Charset::Ucs2, "002A0031003000300023"), "*100#");
        assert_eq!(decode_request(Charset::Hex, "*100#"), "*100#");
        assert_eq!(decode_request(Charset::Hex, "2A31303023"), "*100#");
        assert_eq!(encode_answer(Charset::Hex, "Hi"), "4869");
        assert_eq!(encode_answer(Charset::Ucs2, "Hi"), "00480069");
        assert_eq!(encode_answer(Charset::Gsm, "Hi"), "Hi");
    }
}
