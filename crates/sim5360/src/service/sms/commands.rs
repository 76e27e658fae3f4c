//! The message service's command rows (27.005 as SIMCom implements it, device spec §4).

use super::error::CmsError;
use super::pdu::{self, Address, Submit, Tpdu};
use super::store::{self, Mem, STAT_NAMES, Stored};
use super::text::{self, Charset};
use super::{SmsState, csca, save_stores, set_csca, state, stores, ussd};
use crate::modem::table::CommandSpec;
use crate::modem::{CmdError, Ctx, Reply, TextSink, Then};
use crate::network::Sim;
use v250::{ArgError, Args};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("+CSMS").read(csms_read).write(csms_write).test_text("+CSMS: (0-1)"),
    CommandSpec::new("+CMGF").read(cmgf_read).write(cmgf_write).test_text("+CMGF: (0-1)"),
    CommandSpec::new("+CSCS").read(cscs_read).write(cscs_write).test_text("+CSCS: (\"IRA\",\"GSM\",\"UCS2\")"),
    CommandSpec::new("+CSCA").read(csca_read).write(csca_write).test_ok(),
    CommandSpec::new("+CSMP").read(csmp_read).write(csmp_write).test_ok(),
    CommandSpec::new("+CSDH").read(csdh_read).write(csdh_write).test_text("+CSDH: (0-1)"),
    CommandSpec::new("+CPMS").read(cpms_read).write(cpms_write).test_text(CPMS_TEST),
    CommandSpec::new("+CNMI").read(cnmi_read).write(cnmi_write).test_text("+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)"),
    CommandSpec::new("+CMGS").write(cmgs).test_ok(),
    CommandSpec::new("+CMGW").exec(cmgw).write(cmgw).test_ok(),
    CommandSpec::new("+CMSS").write(cmss).test_ok(),
    CommandSpec::new("+CMGR").write(cmgr).test_ok(),
    CommandSpec::new("+CMGRD").write(cmgrd).test_ok(),
    CommandSpec::new("+CMGL").exec(cmgl).write(cmgl).test(cmgl_test),
    CommandSpec::new("+CMGD").write(cmgd).test(cmgd_test),
    CommandSpec::new("+CNMA").exec(cnma).write(cnma).test_text("+CNMA: (0-2)"),
    CommandSpec::new("+CUSD").read(ussd::cusd_read).write(ussd::cusd_write).test_text("+CUSD: (0-2)"),
];

/// The storages each memory parameter offers (the SIM7600G-H's lists, spec §4.5).
const CPMS_TEST: &str = "+CPMS: (\"ME\",\"MT\",\"SM\",\"SR\"),(\"ME\",\"MT\",\"SM\"),(\"ME\",\"SM\")";
/// Most bytes kept of a typed body (hex of 140 octets, with room for line breaks).
const ENTRY_MAX: usize = 1024;
/// The SMS prompt: CR LF, `>`, and a space (spec §4.7; not the services' `>`).
const PROMPT: &str = "> ";

/// Parameter errors of the message commands are `+CMS ERROR: 304` in PDU mode and `305`
/// in text mode (27.005 §3.2.5), the reason logged.
fn param_error(ctx: &mut Ctx) -> fn(ArgError) -> CmdError {
    fn pdu_mode(e: ArgError) -> CmdError {
        tracing::info!("SMS parameter: {e}");
        CmsError::InvalidPduParameter.err("invalid parameter")
    }
    fn text_mode(e: ArgError) -> CmdError {
        tracing::info!("SMS parameter: {e}");
        CmsError::InvalidTextParameter.err("invalid parameter")
    }
    if state(ctx).cmgf == 0 { pdu_mode } else { text_mode }
}

/// The SIM must be ready for anything that touches messages.
fn sim_ready(ctx: &Ctx) -> Result<(), CmdError> {
    match ctx.net.sim {
        Sim::Ready => Ok(()),
        Sim::PinRequired => Err(CmsError::SimPinRequired.err("SIM PIN required")),
        Sim::PukRequired => Err(CmsError::SimPukRequired.err("SIM PUK required")),
        Sim::Absent => Err(CmsError::SimNotInserted.err("no SIM")),
    }
}

fn csms_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CSMS: {},1,1,1", state(ctx).csms)))
}

/// `AT+CSMS=<service>`: 0 (phase 2) or 1 (phase 2+: a `+CMT` is acknowledged with
/// `AT+CNMA`); kept until a restart.
fn csms_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let e = param_error(ctx);
    let service = args.next_in::<u8>(0..=1).map_err(e)?;
    args.finish().map_err(e)?;
    let st = state(ctx);
    st.csms = service;
    st.ack_pending = false;
    Ok(Reply::line("+CSMS: 1,1,1"))
}

fn cmgf_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CMGF: {}", state(ctx).cmgf)))
}

fn cmgf_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let e = param_error(ctx);
    let v = args.opt_in::<u8>(0..=1).map_err(e)?.unwrap_or(0);
    args.finish().map_err(e)?;
    state(ctx).cmgf = v;
    Ok(Reply::ok())
}

fn cscs_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CSCS: \"{}\"", state(ctx).cscs.name())))
}

fn cscs_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let name = args.next_str()?;
    args.finish()?;
    let cs = Charset::parse(name).ok_or(CmdError::Refused("unknown character set"))?;
    state(ctx).cscs = cs;
    Ok(Reply::ok())
}

fn csca_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    sim_ready(ctx)?;
    let a = csca(ctx);
    let cs = state(ctx).cscs;
    Ok(Reply::line(format!("+CSCA: \"{}\",{}", text::encode_param(cs, &a.number), a.toa)))
}

/// A phone number the DTE gave: digits, `*`, `#`, and one leading `+`; at most 20 digits.
fn number(ctx: &mut Ctx, raw: &str, toa: Option<u8>) -> Result<Address, CmdError> {
    let n = text::decode_param(state(ctx).cscs, raw);
    let digits = n.strip_prefix('+').unwrap_or(&n);
    if digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'*' || b == b'#') {
        let code = if state(ctx).cmgf == 0 { CmsError::InvalidPduParameter } else { CmsError::InvalidTextParameter };
        return Err(code.err("not a phone number"));
    }
    Ok(match toa {
        Some(t) => Address::with_type(&n, t),
        None => Address::parse(&n),
    })
}

fn csca_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    sim_ready(ctx)?;
    let e = param_error(ctx);
    let raw = args.next_str().map_err(e)?;
    let toa = args.opt_in::<u8>(128..=255).map_err(e)?;
    args.finish().map_err(e)?;
    let a = number(ctx, raw, toa)?;
    set_csca(ctx, a);
    Ok(Reply::ok())
}

fn csmp_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let [fo, vp, pid, dcs] = state(ctx).csmp;
    Ok(Reply::line(format!("+CSMP: {fo},{vp},{pid},{dcs}")))
}

fn csmp_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let e = param_error(ctx);
    let mut v = state(ctx).csmp;
    for slot in &mut v {
        if let Some(x) = args.opt_in::<u8>(0..=255).map_err(e)? {
            *slot = x;
        }
    }
    args.finish().map_err(e)?;
    state(ctx).csmp = v;
    Ok(Reply::ok())
}

fn csdh_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CSDH: {}", state(ctx).csdh)))
}

fn csdh_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let e = param_error(ctx);
    let v = args.opt_in::<u8>(0..=1).map_err(e)?.unwrap_or(0);
    args.finish().map_err(e)?;
    state(ctx).csdh = v;
    Ok(Reply::ok())
}

fn cpms_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    sim_ready(ctx)?;
    let mem = state(ctx).mem;
    let s = stores(ctx);
    let parts: Vec<String> = mem
        .iter()
        .map(|m| {
            let (u, t) = s.counts(*m);
            format!("\"{}\",{u},{t}", m.name())
        })
        .collect();
    Ok(Reply::line(format!("+CPMS: {}", parts.join(","))))
}

fn cpms_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    sim_ready(ctx)?;
    let e = param_error(ctx);
    let mut mem = state(ctx).mem;
    let allowed: [&[Mem]; 3] =
        [&[Mem::ME, Mem::MT, Mem::SM, Mem::SR], &[Mem::ME, Mem::MT, Mem::SM], &[Mem::ME, Mem::SM]];
    for (i, slot) in mem.iter_mut().enumerate() {
        let name = if i == 0 { Some(args.next_str().map_err(e)?) } else { args.opt_str().map_err(e)? };
        let Some(name) = name else { break };
        match Mem::parse(name) {
            Some(m) if allowed[i].contains(&m) => *slot = m,
            _ => return Err(CmsError::NotAllowed.err("storage not offered")),
        }
    }
    args.finish().map_err(e)?;
    state(ctx).mem = mem;
    let s = stores(ctx);
    let counts: Vec<String> = mem
        .iter()
        .map(|m| {
            let (u, t) = s.counts(*m);
            format!("{u},{t}")
        })
        .collect();
    Ok(Reply::line(format!("+CPMS: {}", counts.join(","))))
}

fn cnmi_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let [a, b, c, d, f] = state(ctx).cnmi;
    Ok(Reply::line(format!("+CNMI: {a},{b},{c},{d},{f}")))
}

fn cnmi_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let e = param_error(ctx);
    let mut v = state(ctx).cnmi;
    let ranges = [(0, 2), (0, 3), (0, 2), (0, 2), (0, 1)];
    for (slot, (lo, hi)) in v.iter_mut().zip(ranges) {
        if let Some(x) = args.opt_in::<u8>(lo..=hi).map_err(e)? {
            *slot = x;
        }
    }
    args.finish().map_err(e)?;
    if v[2] == 1 || v[2] == 3 {
        return Err(CmsError::NotSupported.err("cell broadcast routing not supported"));
    }
    let was_buffering = state(ctx).cnmi[0] == 0;
    state(ctx).cnmi = v;
    if was_buffering && v[0] != 0 {
        super::flush_buffered(ctx);
    }
    Ok(Reply::ok())
}

/// What a typed message becomes.
#[derive(Debug, Clone, Copy)]
enum Purpose {
    /// `AT+CMGS`: sent.
    Send,
    /// `AT+CMGW`: stored in mem2 with this status.
    Write(u8),
}

/// A text-mode body being typed.
#[derive(Debug)]
struct TextEntry {
    da: Address,
    purpose: Purpose,
}

impl TextSink for TextEntry {
    fn finish(self: Box<Self>, ctx: &mut Ctx, body: Vec<u8>) -> Result<Reply, CmdError> {
        let st = state(ctx);
        let (cs, [fo, vp, pid, dcs]) = (st.cscs, st.csmp);
        let ud = text::body_to_ud(cs, dcs, &body)?;
        let (fo, vp) = match (fo >> 3) & 3 {
            2 => (fo, vec![vp]),
            // An absolute or enhanced period cannot come from one number: none is sent.
            _ => (fo & !0x18, Vec::new()),
        };
        let s =
            Submit { fo: (fo & !pdu::MTI_MASK & !pdu::UDHI) | pdu::MTI_SUBMIT, mr: 0, da: self.da, pid, dcs, vp, ud };
        finish_entry(ctx, self.purpose, Tpdu::Submit(s), None)
    }
}

/// A PDU-mode entry: hex of the SMSC field and a TPDU of `len` octets.
#[derive(Debug)]
struct PduEntry {
    len: usize,
    purpose: Purpose,
}

fn pdu_error(why: &'static str) -> CmdError {
    CmsError::InvalidPduParameter.err(why)
}

impl TextSink for PduEntry {
    fn finish(self: Box<Self>, ctx: &mut Ctx, typed: Vec<u8>) -> Result<Reply, CmdError> {
        // Line breaks and spaces around the hex (Arduino's println before Ctrl-Z) are
        // not part of it.
        let hex: Vec<u8> = typed.into_iter().filter(|b| !b.is_ascii_whitespace()).collect();
        let raw = pdu::from_hex(&hex).map_err(|_| pdu_error("PDU is not hex"))?;
        let (sca, tpdu) = pdu::split_smsc(&raw).map_err(|_| pdu_error("bad SMSC field"))?;
        if tpdu.len() != self.len {
            tracing::info!("PDU has {} TPDU octets, the command said {}", tpdu.len(), self.len);
            return Err(pdu_error("PDU length does not match"));
        }
        let t = Tpdu::decode(tpdu).map_err(|e| {
            tracing::info!("PDU: {e}");
            pdu_error("PDU cannot be decoded")
        })?;
        finish_entry(ctx, self.purpose, t, sca)
    }
}

fn finish_entry(ctx: &mut Ctx, purpose: Purpose, t: Tpdu, sca: Option<Address>) -> Result<Reply, CmdError> {
    match (purpose, t) {
        (Purpose::Send, Tpdu::Submit(s)) => {
            let mr = super::submit(ctx, s, sca)?;
            Ok(Reply::line(format!("+CMGS: {mr}")))
        }
        (Purpose::Send, _) => Err(pdu_error("only an SMS-SUBMIT can be sent")),
        (Purpose::Write(stat), t) => {
            let mem2 = state(ctx).mem[1];
            let index = stores(ctx)
                .add(mem2, Stored::new(stat, sca.as_ref(), &t.encode()))
                .ok_or(CmsError::MemoryFull.err("storage full"))?;
            save_stores(ctx);
            Ok(Reply::line(format!("+CMGW: {index}")))
        }
    }
}

fn entry(sink: Box<dyn TextSink>, lines: bool) -> Result<Reply, CmdError> {
    Ok(Reply::ok().then(Then::Text { max: ENTRY_MAX, prompt: PROMPT, lines, sink }))
}

/// `AT+CMGS="<da>"[,<toda>]` (text) / `AT+CMGS=<length>` (PDU): the prompt, then the body
/// up to Ctrl-Z (ESC cancels).
fn cmgs(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    sim_ready(ctx)?;
    open_entry(ctx, args, Purpose::Send)
}

/// `AT+CMGW[="<da>"[,<toda>[,<stat>]]]` (text) / `AT+CMGW=<length>[,<stat>]` (PDU).
fn cmgw(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    sim_ready(ctx)?;
    open_entry(ctx, args, Purpose::Write(store::STO_UNSENT))
}

fn open_entry(ctx: &mut Ctx, mut args: Args<'_>, purpose: Purpose) -> Result<Reply, CmdError> {
    let e = param_error(ctx);
    let writing = matches!(purpose, Purpose::Write(_));
    if state(ctx).cmgf == 0 {
        let len = usize::from(args.next_in::<u8>(7..=164).map_err(e)?);
        let stat = if writing { args.opt_in::<u8>(0..=3).map_err(e)? } else { None };
        args.finish().map_err(e)?;
        let purpose = stat.map_or(purpose, Purpose::Write);
        return entry(Box::new(PduEntry { len, purpose }), false);
    }
    let raw = if writing && args.is_empty() { "" } else { args.next_str().map_err(e)? };
    let toa = args.opt_in::<u8>(128..=255).map_err(e)?;
    let stat = if writing {
        match args.opt_str().map_err(e)? {
            None => None,
            Some(s) => Some(
                STAT_NAMES[..4]
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(s))
                    .ok_or(CmsError::InvalidTextParameter.err("unknown status"))? as u8,
            ),
        }
    } else {
        None
    };
    args.finish().map_err(e)?;
    if raw.is_empty() && !writing {
        return Err(CmsError::InvalidTextParameter.err("no destination"));
    }
    let da = number(ctx, raw, toa)?;
    let purpose = stat.map_or(purpose, Purpose::Write);
    entry(Box::new(TextEntry { da, purpose }), true)
}

/// `AT+CMSS=<index>[,"<da>"[,<toda>]]`: send a stored SMS-SUBMIT from mem2.
fn cmss(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    sim_ready(ctx)?;
    let e = param_error(ctx);
    let index = usize::from(args.next_in::<u16>(0..=9999).map_err(e)?);
    let da = args.opt_str().map_err(e)?;
    let toa = args.opt_in::<u8>(128..=255).map_err(e)?;
    args.finish().map_err(e)?;
    let da = da.map(|d| number(ctx, d, toa)).transpose()?;
    let mem2 = state(ctx).mem[1];
    let slot = stores(ctx).slot(mem2, index).ok_or(CmsError::InvalidIndex.err("no such index"))?;
    let msg = slot.clone().ok_or(CmsError::InvalidIndex.err("empty index"))?;
    let Some((sca, Tpdu::Submit(mut s), _)) = msg.parts() else {
        return Err(CmsError::NotAllowed.err("not an SMS-SUBMIT"));
    };
    if let Some(da) = da {
        s.da = da;
    }
    let mr = super::submit(ctx, s, sca)?;
    if let Some(Some(m)) = stores(ctx).slot(mem2, index)
        && m.stat == store::STO_UNSENT
    {
        m.stat = store::STO_SENT;
        save_stores(ctx);
    }
    Ok(Reply::line(format!("+CMSS: {mr}")))
}

/// The lines that show a stored message: `+CMGR:`/`+CMGL:` (`prefix`, with `index` for a
/// list) and the PDU or the body.
fn show(ctx: &mut Ctx, m: &Stored, list_index: Option<usize>) -> Vec<String> {
    let st: &SmsState = state(ctx);
    let (cmgf, cs, csdh) = (st.cmgf, st.cscs, st.csdh);
    let (prefix, lead) = match list_index {
        Some(i) => ("+CMGL", format!("{i},")),
        None => ("+CMGR", String::new()),
    };
    if cmgf == 0 {
        return vec![format!("{prefix}: {lead}{},,{}", m.stat, m.tpdu_len()), pdu::to_hex(&m.pdu)];
    }
    let stat = STAT_NAMES.get(m.stat as usize).copied().unwrap_or("REC READ");
    let Some((sca, t, _)) = m.parts() else {
        return vec![format!("{prefix}: {lead}\"{stat}\",\"\",\"\""), String::new()];
    };
    let sca = sca.unwrap_or(Address { number: String::new(), toa: pdu::TOA_UNKNOWN });
    let p = |n: &str| text::encode_param(cs, n);
    match t {
        Tpdu::Deliver(d) => {
            let (body, len) = text::ud_to_body(cs, d.dcs, &d.ud.decode(d.dcs, d.fo & pdu::UDHI != 0));
            let mut h = format!("{prefix}: {lead}\"{stat}\",\"{}\",\"\",\"{}\"", p(&d.oa.number), d.scts.text());
            if csdh == 1 {
                if list_index.is_some() {
                    h.push_str(&format!(",{},{len}", d.oa.toa));
                } else {
                    h.push_str(&format!(
                        ",{},{},{},{},\"{}\",{},{len}",
                        d.oa.toa,
                        d.fo,
                        d.pid,
                        d.dcs,
                        p(&sca.number),
                        sca.toa
                    ));
                }
            }
            vec![h, String::from_utf8_lossy(&body).into_owned()]
        }
        Tpdu::Submit(s) => {
            let (body, len) = text::ud_to_body(cs, s.dcs, &s.ud.decode(s.dcs, s.fo & pdu::UDHI != 0));
            let mut h = format!("{prefix}: {lead}\"{stat}\",\"{}\",\"\"", p(&s.da.number));
            if list_index.is_some() {
                h.push(',');
                if csdh == 1 {
                    h.push_str(&format!(",{},{len}", s.da.toa));
                }
            } else if csdh == 1 {
                let vp = s.vp.first().filter(|_| s.vp.len() == 1).map(u8::to_string).unwrap_or_default();
                h.push_str(&format!(
                    ",{},{},{},{},{vp},\"{}\",{},{len}",
                    s.da.toa,
                    s.fo,
                    s.pid,
                    s.dcs,
                    p(&sca.number),
                    sca.toa
                ));
            }
            vec![h, String::from_utf8_lossy(&body).into_owned()]
        }
        Tpdu::Status(r) => vec![format!(
            "{prefix}: {lead}\"{stat}\",{},{},\"{}\",{},\"{}\",\"{}\",{}",
            r.fo,
            r.mr,
            p(&r.ra.number),
            r.ra.toa,
            r.scts.text(),
            r.dt.text(),
            r.st
        )],
    }
}

/// Read `index` of mem1: its lines (none for an empty index), marking it read.
fn read_index(ctx: &mut Ctx, args: &mut Args<'_>) -> Result<Option<(Mem, usize, Vec<String>)>, CmdError> {
    sim_ready(ctx)?;
    let e = param_error(ctx);
    let index = usize::from(args.next_in::<u16>(0..=9999).map_err(e)?);
    // SIMCom's `<mode>` (1: do not mark as read).
    let keep = args.opt_in::<u8>(0..=1).map_err(e)?.unwrap_or(0) == 1;
    args.finish().map_err(e)?;
    let mem1 = state(ctx).mem[0];
    let slot = stores(ctx).slot(mem1, index).ok_or(CmsError::InvalidIndex.err("no such index"))?;
    let Some(m) = slot.clone() else { return Ok(None) };
    if m.stat == store::REC_UNREAD && !keep {
        if let Some(Some(s)) = stores(ctx).slot(mem1, index) {
            s.stat = store::REC_READ;
        }
        save_stores(ctx);
    }
    Ok(Some((mem1, index, show(ctx, &m, None))))
}

/// `AT+CMGR=<index>`: the message; an empty index answers just `OK` (docs/commands.md).
fn cmgr(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    Ok(read_index(ctx, &mut args)?.map_or_else(Reply::ok, |(_, _, lines)| Reply::lines(lines)))
}

/// `AT+CMGRD=<index>`: read, then delete.
fn cmgrd(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let Some((mem, index, lines)) = read_index(ctx, &mut args)? else { return Ok(Reply::ok()) };
    if let Some(slot) = stores(ctx).slot(mem, index) {
        *slot = None;
    }
    save_stores(ctx);
    Ok(Reply::lines(lines))
}

fn cmgl_test(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(if state(ctx).cmgf == 0 {
        "+CMGL: (0-4)".to_owned()
    } else {
        format!("+CMGL: ({})", STAT_NAMES.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(","))
    }))
}

/// `AT+CMGL[=<stat>[,<mode>]]`: every message of mem1 with that status (4 / `"ALL"`:
/// all); the default is received unread. Listed unread messages become read.
fn cmgl(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    sim_ready(ctx)?;
    let e = param_error(ctx);
    let text_mode = state(ctx).cmgf == 1;
    let stat = if args.is_empty() {
        0
    } else if text_mode {
        let s = args.next_str().map_err(e)?;
        STAT_NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(s))
            .ok_or(CmsError::InvalidTextParameter.err("unknown status"))? as u8
    } else {
        args.next_in::<u8>(0..=4).map_err(e)?
    };
    let keep = args.opt_in::<u8>(0..=1).map_err(e)?.unwrap_or(0) == 1;
    args.finish().map_err(e)?;
    let mem1 = state(ctx).mem[0];
    let mut lines = Vec::new();
    let mut changed = false;
    for i in stores(ctx).indexes(mem1) {
        let Some(Some(m)) = stores(ctx).slot(mem1, i).map(|s| s.clone()) else { continue };
        if stat != 4 && m.stat != stat {
            continue;
        }
        lines.extend(show(ctx, &m, Some(i)));
        if m.stat == store::REC_UNREAD && !keep {
            if let Some(Some(s)) = stores(ctx).slot(mem1, i) {
                s.stat = store::REC_READ;
            }
            changed = true;
        }
    }
    if changed {
        save_stores(ctx);
    }
    Ok(Reply::lines(lines))
}

fn cmgd_test(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    sim_ready(ctx)?;
    let mem1 = state(ctx).mem[0];
    let used: Vec<String> = stores(ctx).indexes(mem1).iter().map(usize::to_string).collect();
    Ok(Reply::line(format!("+CMGD: ({}),(0-4)", used.join(","))))
}

/// `AT+CMGD=<index>[,<delflag>]`: 0 that index (an empty one is fine), 1 every read
/// message, 2 read and sent, 3 read, sent and unsent, 4 all (the index is then ignored).
fn cmgd(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    sim_ready(ctx)?;
    let e = param_error(ctx);
    let index = usize::from(args.next_in::<u16>(0..=9999).map_err(e)?);
    let flag = args.opt_in::<u8>(0..=4).map_err(e)?.unwrap_or(0);
    args.finish().map_err(e)?;
    let mem1 = state(ctx).mem[0];
    let s = stores(ctx);
    if flag == 0 {
        let slot = s.slot(mem1, index).ok_or(CmsError::InvalidIndex.err("no such index"))?;
        *slot = None;
    } else {
        let doomed: &[u8] = match flag {
            1 => &[store::REC_READ],
            2 => &[store::REC_READ, store::STO_SENT],
            3 => &[store::REC_READ, store::STO_SENT, store::STO_UNSENT],
            _ => &[store::REC_READ, store::STO_SENT, store::STO_UNSENT, store::REC_UNREAD],
        };
        for i in s.indexes(mem1) {
            if let Some(slot) = s.slot(mem1, i)
                && slot.as_ref().is_some_and(|m| doomed.contains(&m.stat))
            {
                *slot = None;
            }
        }
    }
    save_stores(ctx);
    Ok(Reply::ok())
}

/// `AT+CNMA`: acknowledges the last `+CMT` under `AT+CSMS=1`; with nothing to
/// acknowledge (or `AT+CSMS=0`), `+CMS ERROR: 340`. The virtual network never resends,
/// so an acknowledgement that does not come changes nothing else.
fn cnma(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let st = state(ctx);
    if !std::mem::take(&mut st.ack_pending) {
        return Err(CmsError::NoAckExpected.err("no acknowledgement expected"));
    }
    Ok(Reply::ok())
}
