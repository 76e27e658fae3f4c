//! The message service (device spec §4, §5): SMS in text and PDU mode over the SM, ME and
//! SR storages, with the network side the emulator plays, and USSD (`ussd.rs`).
//!
//! There is no SMSC here, so the module's network is this file: every message the DTE
//! sends gets a message reference and a line in the outbox (`sms-outbox.jsonl` in the
//! state directory, docs/commands.md); one sent to the module's own number (`AT+CNUM`)
//! comes back as an SMS-DELIVER after [`SmsConfig::delivery_delay`]; a status report
//! follows when one was asked for. Every incoming message goes through [`deliver`], the
//! one entry the control channel and fleets will use too: it stores the message or routes
//! it to the DTE as `AT+CNMI` says, with `+CMTI`/`+CMT`/`+SMS FULL`.

mod commands;
pub mod error;
pub mod pdu;
pub mod store;
pub mod text;
pub mod ussd;

pub use commands::COMMANDS;

use crate::modem::{CmdError, Ctx, Service, Urc};
pub use error::CmsError;
use pdu::{Address, Deliver, Scts, StatusReport, Submit, Tpdu};
use std::collections::BTreeMap;
use std::time::Duration;
use store::{Mem, Stored, Stores};
use text::Charset;

/// Capacity of the module's own storage (ME), as the SIM7600 reports it (spec §4.5).
pub const ME_CAPACITY: usize = 23;
/// Capacity of the status-report storage (SR). UNCERTAIN (docs/commands.md).
pub const SR_CAPACITY: usize = 20;
/// Most URCs held while `AT+CNMI` mode 0 buffers them; older ones are dropped first.
const BUFFERED_MAX: usize = 32;
/// NV keys.
const NV_CSCA: &str = "sms-csca";
/// The network outbox: one JSON object per line per message the DTE sent.
pub const OUTBOX: &str = "sms-outbox.jsonl";

/// Settings from the command line.
#[derive(Debug, Clone)]
pub struct SmsConfig {
    /// Slots of the SIM's storage (SM); SIMs hold 10 to 255.
    pub sim_capacity: usize,
    /// The SMSC number `AT+CSCA?` shows until the DTE sets another.
    pub smsc: String,
    /// From `AT+CMGS` to a message to the own number arriving, and to a status report.
    pub delivery_delay: Duration,
    /// USSD codes and their answers, in addition to (or replacing) the defaults.
    pub ussd: Vec<(String, String)>,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self { sim_capacity: 50, smsc: "+15555550000".into(), delivery_delay: Duration::from_secs(1), ussd: Vec::new() }
    }
}

/// Something the network will do later (a timer's tag names it).
#[derive(Debug, Clone)]
enum Pending {
    /// An SMS arrives.
    Deliver(Deliver),
    /// A status report for message `mr` to `to`, submitted at `submitted`.
    Report { mr: u8, to: Address, submitted: Scts },
}

/// The state of the message service.
#[derive(Debug)]
pub struct SmsState {
    /// `AT+CMGF`: 0 PDU, 1 text.
    pub cmgf: u8,
    pub cscs: Charset,
    /// `AT+CSMP`: fo, vp, pid, dcs.
    pub csmp: [u8; 4],
    pub csdh: u8,
    /// `AT+CPMS`: mem1 (read, list, delete), mem2 (write, send from storage), mem3
    /// (where received messages go).
    pub mem: [Mem; 3],
    /// `AT+CNMI`: mode, mt, bm, ds, bfr.
    pub cnmi: [u8; 5],
    /// The storages, loaded from NV on first use.
    stores: Option<Stores>,
    csca: Option<Address>,
    /// The next message reference.
    mr: u8,
    /// URCs held while `AT+CNMI` mode is 0.
    buffered: Vec<Urc>,
    pending: BTreeMap<u64, Pending>,
    next_pending: u64,
    pub ussd: ussd::UssdState,
    /// `AT+CSMS=<service>`: 1 = a routed message (`+CMT`) waits for `AT+CNMA`.
    pub csms: u8,
    /// A `+CMT` went out under `AT+CSMS=1` and `AT+CNMA` has not acknowledged it.
    pub ack_pending: bool,
}

impl Default for SmsState {
    fn default() -> Self {
        Self {
            cmgf: 0,
            cscs: Charset::Ira,
            csmp: [17, 167, 0, 0],
            csdh: 0,
            mem: [Mem::SM; 3],
            cnmi: [2, 1, 0, 0, 0],
            stores: None,
            csca: None,
            mr: 0,
            buffered: Vec::new(),
            pending: BTreeMap::new(),
            next_pending: 1,
            ussd: ussd::UssdState::default(),
            csms: 0,
            ack_pending: false,
        }
    }
}

impl Service for SmsState {}

pub(crate) fn state(ctx: &mut Ctx) -> &mut SmsState {
    ctx.services.get_mut::<SmsState>()
}

fn config(ctx: &Ctx) -> SmsConfig {
    ctx.configs.get::<SmsConfig>().cloned().unwrap_or_default()
}

/// The storages, loaded on first use (a damaged file is logged and set aside empty, never
/// overwritten until a message is stored).
pub fn stores(ctx: &mut Ctx) -> &mut Stores {
    if ctx.services.get::<SmsState>().is_none_or(|s| s.stores.is_none()) {
        let cap = config(ctx).sim_capacity;
        let loaded = match ctx.nv.load(store::NV_STORE) {
            None => Stores::empty(cap, ME_CAPACITY, SR_CAPACITY),
            Some(raw) => match Stores::load(&raw, cap, ME_CAPACITY, SR_CAPACITY) {
                Ok((s, 0)) => s,
                Ok((s, n)) => {
                    tracing::warn!("{n} stored messages do not fit the storages' capacities and are left out");
                    s
                }
                Err(e) => {
                    tracing::warn!("ignoring a damaged {}: {e}", store::NV_STORE);
                    Stores::empty(cap, ME_CAPACITY, SR_CAPACITY)
                }
            },
        };
        state(ctx).stores = Some(loaded);
    }
    state(ctx).stores.get_or_insert_with(Stores::default)
}

pub fn save_stores(ctx: &mut Ctx) {
    let json = stores(ctx).to_json();
    ctx.nv_save(store::NV_STORE, json);
}

/// The SMSC address (`AT+CSCA`).
pub fn csca(ctx: &mut Ctx) -> Address {
    if let Some(a) = &state(ctx).csca {
        return a.clone();
    }
    let saved = ctx.nv.load(NV_CSCA).and_then(|raw| {
        let s = String::from_utf8(raw).ok()?;
        let (num, toa) = s.rsplit_once(',')?;
        Some(Address::with_type(num, toa.trim().parse().ok()?))
    });
    let a = saved.unwrap_or_else(|| Address::parse(&config(ctx).smsc));
    state(ctx).csca = Some(a.clone());
    a
}

pub fn set_csca(ctx: &mut Ctx, a: Address) {
    ctx.nv_save(NV_CSCA, format!("{},{}", a.number, a.toa).into_bytes());
    state(ctx).csca = Some(a);
}

/// Emit a message-service URC, or hold it while `AT+CNMI` mode 0 asks for that.
fn indicate(ctx: &mut Ctx, u: Urc) {
    let st = state(ctx);
    if st.cnmi[0] == 0 {
        if st.buffered.len() >= BUFFERED_MAX {
            st.buffered.remove(0);
        }
        st.buffered.push(u);
    } else {
        ctx.urcs.push(u);
    }
}

/// `AT+CNMI` left mode 0: held URCs go out (bfr 0) or are dropped (bfr 1).
fn flush_buffered(ctx: &mut Ctx) {
    let st = state(ctx);
    let held = std::mem::take(&mut st.buffered);
    if st.cnmi[4] == 0 {
        ctx.urcs.extend(held);
    }
}

/// The network's time stamp: the module clock's time, in its zone.
fn now_scts(ctx: &Ctx) -> Scts {
    use chrono::{Offset, TimeZone};
    let q = ctx.clock.tz_quarters();
    let offset = chrono::FixedOffset::east_opt(i32::from(q) * 900).unwrap_or(chrono::Utc.fix());
    Scts::from_time(offset.from_utc_datetime(&ctx.clock.now_utc().naive_utc()))
}

/// A status report comes this long after the message it reports on arrived, so the two
/// indications never share a burst (python-gsmmodem handles one per burst).
const REPORT_AFTER_DELIVERY: Duration = Duration::from_millis(500);

fn schedule(ctx: &mut Ctx, p: Pending) {
    let mut delay = config(ctx).delivery_delay;
    if matches!(p, Pending::Report { .. }) {
        delay += REPORT_AFTER_DELIVERY;
    }
    let st = state(ctx);
    let tag = st.next_pending;
    st.next_pending += 1;
    st.pending.insert(tag, p);
    ctx.after(delay, "sms network", fire_pending, tag);
}

fn fire_pending(ctx: &mut Ctx, tag: u64) {
    let Some(p) = state(ctx).pending.remove(&tag) else { return };
    // Without service the network holds the message and tries again later.
    if !ctx.net.registered() {
        schedule(ctx, p);
        return;
    }
    match p {
        Pending::Deliver(d) => {
            if let Err(e) = deliver(ctx, d) {
                tracing::info!("incoming SMS lost: {}", e.text());
            }
        }
        Pending::Report { mr, to, submitted } => {
            let sr = StatusReport { fo: 0x06, mr, ra: to, scts: submitted, dt: now_scts(ctx), st: 0 };
            status_report(ctx, sr);
        }
    }
}

/// Where an incoming message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// Stored at this index of this memory.
    Stored(Mem, usize),
    /// Shown to the DTE (`+CMT`), not stored.
    Routed,
}

/// An SMS-DELIVER arrives from the network: stored in mem3 or routed to the DTE, with the
/// indication `AT+CNMI` asks for. A full storage gives `+SMS FULL` and the message is
/// refused (the network keeps it; here it is lost, and the caller is told).
pub fn deliver(ctx: &mut Ctx, d: Deliver) -> Result<Delivered, CmsError> {
    let st = state(ctx);
    let [_, mt, _, _, _] = st.cnmi;
    let class = pdu::class(d.dcs);
    let direct = match mt {
        2 => class != Some(2),
        3 => class == Some(3),
        _ => false,
    };
    let sca = csca(ctx);
    let tpdu = Tpdu::Deliver(d.clone()).encode();
    if direct {
        let urc = cmt_urc(ctx, &d, &sca, &tpdu);
        indicate(ctx, urc);
        return Ok(Delivered::Routed);
    }
    let mem3 = state(ctx).mem[2];
    let Some(index) = stores(ctx).add(mem3, Stored::new(store::REC_UNREAD, Some(&sca), &tpdu)) else {
        ctx.urcs.push(Urc::Line("+SMS FULL".into()));
        return Err(CmsError::MemoryFull);
    };
    save_stores(ctx);
    if mt != 0 {
        indicate(ctx, Urc::Line(format!("+CMTI: \"{}\",{index}", mem3.name())));
    }
    if stores(ctx).counts(mem3).0 == stores(ctx).counts(mem3).1 {
        ctx.urcs.push(Urc::Line("+SMS FULL".into()));
    }
    Ok(Delivered::Stored(mem3, index))
}

/// `+CMT:` for a routed message, in the current mode.
fn cmt_urc(ctx: &mut Ctx, d: &Deliver, sca: &Address, tpdu: &[u8]) -> Urc {
    let st = state(ctx);
    st.ack_pending = st.csms == 1;
    if st.cmgf == 0 {
        let pdu = pdu::with_smsc(Some(sca), tpdu);
        return Urc::Block {
            header: format!("+CMT: \"\",{}", tpdu.len()),
            data: format!("{}\r\n", pdu::to_hex(&pdu)).into_bytes(),
        };
    }
    let cs = st.cscs;
    let decoded = d.ud.decode(d.dcs, d.fo & pdu::UDHI != 0);
    let (body, len) = text::ud_to_body(cs, d.dcs, &decoded);
    let mut header = format!("+CMT: \"{}\",\"\",\"{}\"", text::encode_param(cs, &d.oa.number), d.scts.text());
    if st.csdh == 1 {
        header.push_str(&format!(
            ",{},{},{},{},\"{}\",{},{len}",
            d.oa.toa,
            d.fo,
            d.pid,
            d.dcs,
            text::encode_param(cs, &sca.number),
            sca.toa
        ));
    }
    let mut data = body;
    data.extend_from_slice(b"\r\n");
    Urc::Block { header, data }
}

/// A status report arrives: routed (`+CDS`) or stored in SR (`+CDSI`) as `AT+CNMI` ds says.
fn status_report(ctx: &mut Ctx, sr: StatusReport) {
    let sca = csca(ctx);
    let st = state(ctx);
    let (ds, cmgf) = (st.cnmi[3], st.cmgf);
    let tpdu = Tpdu::Status(sr.clone()).encode();
    match ds {
        1 => {
            let urc = if cmgf == 0 {
                let pdu = pdu::with_smsc(Some(&sca), &tpdu);
                Urc::Block {
                    header: format!("+CDS: {}", tpdu.len()),
                    data: format!("{}\r\n", pdu::to_hex(&pdu)).into_bytes(),
                }
            } else {
                Urc::Line(format!(
                    "+CDS: {},{},\"{}\",{},\"{}\",\"{}\",{}",
                    sr.fo,
                    sr.mr,
                    sr.ra.number,
                    sr.ra.toa,
                    sr.scts.text(),
                    sr.dt.text(),
                    sr.st
                ))
            };
            indicate(ctx, urc);
        }
        2 => match stores(ctx).add(Mem::SR, Stored::new(store::REC_UNREAD, Some(&sca), &tpdu)) {
            Some(i) => {
                save_stores(ctx);
                indicate(ctx, Urc::Line(format!("+CDSI: \"SR\",{i}")));
            }
            None => tracing::info!("status report for message {} dropped: SR storage full", sr.mr),
        },
        _ => {}
    }
}

/// True when `da` is the module's own number (`AT+CNUM`), with or without `+`.
fn is_own_number(ctx: &Ctx, da: &Address) -> bool {
    let own = ctx.profile.identity.msisdn.trim_start_matches('+');
    !own.is_empty() && da.digits() == own
}

/// The network takes an SMS-SUBMIT from the DTE: it gets the next message reference, a
/// line in the outbox, and, when it is to the own number, comes back as an SMS-DELIVER;
/// a status report follows when asked for. Returns the message reference.
pub fn submit(ctx: &mut Ctx, mut s: Submit, sca: Option<Address>) -> Result<u8, CmdError> {
    if ctx.net.sim_locked() {
        return Err(CmsError::SimPinRequired.err("SIM not ready"));
    }
    if !ctx.net.registered() || ctx.net.cfun != 1 {
        return Err(CmsError::NoNetwork.err("not registered"));
    }
    let sca = match sca {
        Some(a) if !a.digits().is_empty() => a,
        _ => csca(ctx),
    };
    if sca.digits().is_empty() {
        return Err(CmsError::SmscUnknown.err("no SMSC address"));
    }
    let st = state(ctx);
    let mr = st.mr;
    st.mr = st.mr.wrapping_add(1);
    s.mr = mr;
    let submitted = now_scts(ctx);
    record_outbox(ctx, &s, &sca);
    let own = Address::parse(&ctx.profile.identity.msisdn);
    let fo = pdu::MMS | (s.fo & pdu::UDHI) | if s.fo & pdu::SRR != 0 { pdu::SRR } else { 0 };
    let d = Deliver { fo, oa: own, pid: s.pid, dcs: s.dcs, scts: submitted, ud: s.ud.clone() };
    if is_own_number(ctx, &s.da) {
        schedule(ctx, Pending::Deliver(d));
    } else if ctx.configs.get::<crate::control::fleet::Directory>().is_some_and(|dir| dir.contains(&s.da.number)) {
        // Another modem of the fleet: the core network delivers it there.
        let tpdu = pdu::to_hex(&Tpdu::Deliver(d).encode());
        ctx.uplink.push(crate::network::Uplink::Sms { to: s.da.number.clone(), pdu: tpdu });
    }
    if s.fo & pdu::SRR != 0 {
        schedule(ctx, Pending::Report { mr, to: s.da.clone(), submitted });
    }
    Ok(mr)
}

/// One outbox line (docs/commands.md lists the fields).
fn record_outbox(ctx: &mut Ctx, s: &Submit, sca: &Address) {
    let udhi = s.fo & pdu::UDHI != 0;
    let d = s.ud.decode(s.dcs, udhi);
    let text = match pdu::alphabet(s.dcs) {
        pdu::Alphabet::Eight => None,
        _ => Some(d.text(s.dcs)),
    };
    let line = serde_json::json!({
        "time": ctx.clock.now_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "from": ctx.profile.identity.msisdn,
        "to": s.da.number,
        "toa": s.da.toa,
        "mr": s.mr,
        "smsc": sca.number,
        "dcs": s.dcs,
        "pid": s.pid,
        "text": text,
        "data": pdu::to_hex(&d.body),
        "concat": d.concat(),
        "status_report": s.fo & pdu::SRR != 0,
        "pdu": pdu::to_hex(&Tpdu::Submit(s.clone()).encode()),
    });
    let mut raw = line.to_string().into_bytes();
    raw.push(b'\n');
    tracing::info!(to = %s.da.number, mr = s.mr, "SMS sent to the network");
    ctx.nv_append(OUTBOX, raw);
}

/// An SMS-DELIVER the network makes from text: 7-bit when the GSM alphabet has every
/// character, UCS2 otherwise (or as `dcs` says); `class` 0-3 sets a message class. A text
/// too long for one message is an error (the network would split it; the control
/// channel sends parts one by one).
pub fn network_message(
    ctx: &Ctx,
    from: &str,
    text: &str,
    dcs: Option<u8>,
    class: Option<u8>,
) -> Result<Deliver, String> {
    let oa = if !from.is_empty() && from.trim_start_matches('+').bytes().all(|b| b.is_ascii_digit()) {
        if from.trim_start_matches('+').len() > 20 {
            return Err(format!("from {from:?}: a number has at most 20 digits"));
        }
        Address::parse(from)
    } else {
        // TS 23.040 §9.1.2.5: an alphanumeric address is at most 11 characters of the GSM
        // 7-bit default alphabet (10 octets); a longer one could not be read back.
        let septets = pdu::gsm7_encode(from).map_err(|c| format!("from {from:?}: {c:?} is not in the GSM alphabet"))?;
        if from.is_empty() || septets.len() > 11 {
            return Err(format!("from {from:?}: a name is 1-11 characters (a number: digits, + first)"));
        }
        Address { number: from.to_owned(), toa: pdu::TOA_ALPHANUMERIC }
    };
    if class.is_some_and(|c| c > 3) {
        return Err("class is 0-3".into());
    }
    let dcs = match (dcs, class) {
        (Some(d), _) => d,
        (None, c) => {
            let ucs2 = pdu::gsm7_encode(text).is_err();
            match c {
                Some(c) => 0x10 | c | if ucs2 { 0x08 } else { 0 },
                None if ucs2 => 0x08,
                None => 0,
            }
        }
    };
    let ud = match pdu::alphabet(dcs) {
        pdu::Alphabet::Gsm7 => {
            let septets = pdu::gsm7_encode(text).map_err(|c| format!("{c:?} is not in the GSM 7-bit alphabet"))?;
            pdu::UserData::gsm7(&septets, &[])
        }
        pdu::Alphabet::Ucs2 => pdu::UserData::octets(&pdu::ucs2_encode(text), &[]),
        pdu::Alphabet::Eight => pdu::UserData::octets(text.as_bytes(), &[]),
    }
    .map_err(|_| "the text does not fit one SMS".to_owned())?;
    Ok(Deliver { fo: pdu::MMS, oa, pid: 0, dcs, scts: now_scts(ctx), ud })
}

/// An SMS-DELIVER given as hex (no SMSC field).
pub fn network_pdu(hex: &str) -> Result<Deliver, String> {
    let raw = pdu::from_hex(hex.trim().as_bytes()).map_err(|e| format!("pdu: {e}"))?;
    match Tpdu::decode(&raw).map_err(|e| format!("pdu: {e}"))? {
        Tpdu::Deliver(d) => Ok(d),
        _ => Err("pdu: not an SMS-DELIVER".into()),
    }
}

/// What the control channel lists: the stored messages (SM, ME, SR) decoded, or the
/// outbox's lines.
pub fn messages(ctx: &mut Ctx, outbox: bool) -> serde_json::Value {
    if outbox {
        let raw = ctx.nv.load(OUTBOX).unwrap_or_default();
        let lines = String::from_utf8_lossy(&raw)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .collect();
        return serde_json::Value::Array(lines);
    }
    let s = stores(ctx).clone();
    let mut out = Vec::new();
    for (mem, st) in [(Mem::SM, &s.sm), (Mem::ME, &s.me), (Mem::SR, &s.sr)] {
        for (i, m) in st.slots.iter().enumerate() {
            let Some(m) = m else { continue };
            let mut v = serde_json::json!({
                "mem": mem.name(), "index": i + 1,
                "stat": store::STAT_NAMES.get(m.stat as usize).copied().unwrap_or("?"),
                "pdu": pdu::to_hex(&m.pdu),
            });
            match m.parts().map(|p| p.1) {
                Some(Tpdu::Deliver(d)) => {
                    let dec = d.ud.decode(d.dcs, d.fo & pdu::UDHI != 0);
                    v["from"] = d.oa.number.into();
                    v["text"] = dec.text(d.dcs).into();
                    v["time"] = d.scts.text().into();
                }
                Some(Tpdu::Submit(sub)) => {
                    let dec = sub.ud.decode(sub.dcs, sub.fo & pdu::UDHI != 0);
                    v["to"] = sub.da.number.into();
                    v["text"] = dec.text(sub.dcs).into();
                }
                Some(Tpdu::Status(r)) => {
                    v["report_for"] = r.mr.into();
                    v["to"] = r.ra.number.into();
                    v["status"] = r.st.into();
                }
                None => {}
            }
            out.push(v);
        }
    }
    serde_json::Value::Array(out)
}

/// The family's part of the control channel's state report.
pub fn report(ctx: &mut Ctx) -> serde_json::Value {
    let st = state(ctx);
    let (cmgf, cscs, mem, cnmi) = (st.cmgf, st.cscs.name(), st.mem, st.cnmi);
    let s = stores(ctx);
    let count = |m: Mem| {
        let (u, t) = s.counts(m);
        serde_json::json!({ "used": u, "total": t })
    };
    serde_json::json!({
        "cmgf": cmgf, "cscs": cscs, "cnmi": cnmi,
        "mem": mem.iter().map(|m| m.name()).collect::<Vec<_>>(),
        "SM": count(Mem::SM), "ME": count(Mem::ME), "SR": count(Mem::SR),
    })
}
