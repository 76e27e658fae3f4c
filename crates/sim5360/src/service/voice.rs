//! Voice calls without audio (device spec §3.15, §3.16): `ATD<number>;`, `ATA`, `ATH`,
//! `AT+CHUP`, `AT+CLCC`, and `RING` / `+CRING: VOICE` with `+CLIP` for a call coming in.
//!
//! One call at a time. A dialled call answers `OK` at once, alerts after
//! [`ALERT_DELAY`], and after [`CallConfig::answer_delay`] is answered
//! (`VOICE CALL: BEGIN`), or ends with `BUSY` (the module's own number, or one of
//! `--call-busy`) or `NO ANSWER` (one of `--call-no-answer`). A call coming in ([`ring`],
//! for the control channel and fleets) rings every [`RING_INTERVAL`] until `ATA`, `ATH`,
//! or [`RINGS_BEFORE_MISSED`] rings (`MISSED_CALL: ...`, `NO CARRIER`). The remote party
//! ending a call ([`remote_hangup`]) gives `VOICE CALL: END: <hhmmss>` and `NO CARRIER`.

use crate::modem::table::CommandSpec;
use crate::modem::{CmdError, CmeError, Ctx, Reply, Service, Then, TimerId, Urc};
use crate::network::{CallEvent, Uplink};
use crate::service::sms::pdu::Address;
use std::time::{Duration, Instant};
use v250::Args;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("D").write(dial),
    CommandSpec::new("A").basic(answer),
    CommandSpec::new("H").basic(h),
    CommandSpec::new("+CHUP").exec(hang_up).test_ok(),
    CommandSpec::new("+CLCC").exec(clcc).read(clcc_read).write(clcc_write).test_text("+CLCC: (0-1)"),
    CommandSpec::new("+VTS").write(vts).test_text("+VTS: (0-9,*,#,A,B,C,D)"),
];

/// From dialling to the remote phone ringing.
pub const ALERT_DELAY: Duration = Duration::from_secs(1);
/// Between two `RING`s of a call coming in.
pub const RING_INTERVAL: Duration = Duration::from_secs(3);
/// A call coming in that nobody answers is given up after this many rings.
pub const RINGS_BEFORE_MISSED: u32 = 10;

/// Settings from the command line.
#[derive(Debug, Clone)]
pub struct CallConfig {
    /// From dialling to the remote party answering (or being found busy or absent).
    pub answer_delay: Duration,
    /// Numbers that are busy.
    pub busy: Vec<String>,
    /// Numbers that ring but never answer.
    pub no_answer: Vec<String>,
}

impl Default for CallConfig {
    fn default() -> Self {
        Self { answer_delay: Duration::from_secs(3), busy: Vec::new(), no_answer: Vec::new() }
    }
}

/// `<stat>` of `+CLCC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stat {
    Active = 0,
    Dialing = 2,
    Alerting = 3,
    Incoming = 4,
}

#[derive(Debug, Clone)]
struct Call {
    /// 0 mobile originated, 1 mobile terminated.
    dir: u8,
    stat: Stat,
    number: Address,
    /// When it was answered.
    since: Option<Instant>,
    rings: u32,
    timer: Option<TimerId>,
    /// The other end is a modem of the fleet: its answer and hang-up come from it.
    fleet: bool,
}

/// The call, if there is one.
#[derive(Debug, Default)]
pub struct VoiceState {
    call: Option<Call>,
    /// Tells a timer of an ended call from one of the current call.
    generation: u64,
}

impl Service for VoiceState {}

fn state(ctx: &mut Ctx) -> &mut VoiceState {
    ctx.services.get_mut::<VoiceState>()
}

/// Whether `number` is another modem of the fleet.
fn in_fleet(ctx: &Ctx, number: &str) -> bool {
    let own = ctx.profile.identity.msisdn.trim_start_matches('+');
    number.trim_start_matches('+') != own
        && ctx.configs.get::<crate::control::fleet::Directory>().is_some_and(|d| d.contains(number))
}

/// Tell the other modem of a fleet call.
fn to_peer(ctx: &mut Ctx, event: CallEvent, number: &str) {
    ctx.uplink.push(Uplink::Call { to: number.to_owned(), event });
}

fn config(ctx: &Ctx) -> CallConfig {
    ctx.configs.get::<CallConfig>().cloned().unwrap_or_default()
}

/// Is there a call, and in which state (for `AT+CPAS`: 3 ringing, 4 in progress)?
pub fn activity(ctx: &Ctx) -> u8 {
    match ctx.services.get::<VoiceState>().and_then(|s| s.call.as_ref()) {
        None => 0,
        Some(c) if c.stat == Stat::Incoming => 3,
        Some(_) => 4,
    }
}

/// The family's part of the control channel's state report: the call, if any.
pub fn report(ctx: &mut Ctx) -> serde_json::Value {
    match &state(ctx).call {
        None => serde_json::Value::Null,
        Some(c) => serde_json::json!({ "clcc": clcc_line(c), "number": c.number.number, "incoming": c.dir == 1 }),
    }
}

fn clcc_line(c: &Call) -> String {
    format!("+CLCC: 1,{},{},0,0,\"{}\",{}", c.dir, c.stat as u8, c.number.number, c.number.toa)
}

/// The call changed: `+CLCC` when `AT+CLCC=1` asks for it.
fn changed(ctx: &mut Ctx) {
    if ctx.device.switch("+CLCC") != 1 {
        return;
    }
    let line = match &state(ctx).call {
        Some(c) => clcc_line(c),
        None => return,
    };
    ctx.urcs.push(Urc::Line(line));
}

/// Start the call's next timer (the previous one is cancelled).
fn arm(ctx: &mut Ctx, delay: Duration, fire: fn(&mut Ctx, u64)) {
    let generation = state(ctx).generation;
    let id = ctx.after(delay, "voice call", fire, generation);
    let old = state(ctx).call.as_mut().and_then(|c| c.timer.replace(id));
    if let Some(old) = old {
        ctx.timers.cancel(old);
    }
}

/// The call, if `generation` is still the current one.
fn current(ctx: &mut Ctx, generation: u64) -> Option<&mut Call> {
    let st = state(ctx);
    if st.generation != generation {
        return None;
    }
    st.call.as_mut()
}

/// End the call: it is gone, its timer stopped; `VOICE CALL: END` when it had begun.
fn end(ctx: &mut Ctx, finals: &[&str]) {
    let st = state(ctx);
    st.generation += 1;
    let Some(c) = st.call.take() else { return };
    if let Some(t) = c.timer {
        ctx.timers.cancel(t);
    }
    if let Some(since) = c.since {
        let s = ctx.now.saturating_duration_since(since).as_secs();
        ctx.urcs.push(Urc::Line(format!("VOICE CALL: END: {:02}{:02}{:02}", (s / 3600).min(99), s / 60 % 60, s % 60)));
    }
    for f in finals {
        ctx.urcs.push(Urc::Line((*f).to_owned()));
    }
}

/// `ATD<number>;`: a voice call (`T`/`P` and spaces ignored). Without the `;` it is a data
/// call: a packet data call for `*99...#` (the data call family), else `NO CARRIER` (no
/// circuit-switched data here).
fn dial(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let mut raw = String::new();
    while let Some(b) = args.opt_bytes()? {
        raw.push_str(&String::from_utf8_lossy(b));
    }
    let voice = raw.trim_end().ends_with(';');
    if !voice && let Some(answer) = crate::service::ppp::dial(ctx, &raw) {
        return answer;
    }
    let number: String = raw.chars().filter(|c| c.is_ascii_digit() || matches!(c, '+' | '*' | '#')).collect::<String>();
    if number.is_empty() || number[1..].contains('+') {
        return Err(CmdError::Refused("no number to dial"));
    }
    if !voice {
        return Ok(Reply::ok().then(Then::Final("NO CARRIER".into())));
    }
    ctx.net.require_sim()?;
    if state(ctx).call.is_some() {
        return Err(CmdError::cme(CmeError::NotAllowed, "a call is in progress"));
    }
    if !ctx.net.registered() || ctx.net.cfun != 1 {
        return Ok(Reply::ok().then(Then::Final("NO CARRIER".into())));
    }
    tracing::info!(%number, "dialling");
    let fleet = in_fleet(ctx, &number);
    if fleet {
        to_peer(ctx, CallEvent::Dial, &number);
    }
    let number = Address::parse(&number);
    state(ctx).call = Some(Call { dir: 0, stat: Stat::Dialing, number, since: None, rings: 0, timer: None, fleet });
    if fleet {
        // A fleet member says when it rings; silence means nobody has that number.
        arm(ctx, PEER_SILENT, peer_silent);
    } else {
        arm(ctx, ALERT_DELAY, alerting);
    }
    changed(ctx);
    Ok(Reply::ok())
}

/// A call to a number the fleet may reach (through a broker) that no modem answered for:
/// the network answers it as for any number.
const PEER_SILENT: Duration = Duration::from_secs(5);

fn peer_silent(ctx: &mut Ctx, generation: u64) {
    let Some(c) = current(ctx, generation) else { return };
    if c.stat != Stat::Dialing {
        return;
    }
    c.fleet = false;
    alerting(ctx, generation);
}

fn alerting(ctx: &mut Ctx, generation: u64) {
    let Some(c) = current(ctx, generation) else { return };
    c.stat = Stat::Alerting;
    if c.fleet {
        // The other modem answers, or not.
        c.timer = None;
        changed(ctx);
        return;
    }
    let rest = config(ctx).answer_delay.saturating_sub(ALERT_DELAY);
    arm(ctx, rest, remote_answers);
    changed(ctx);
}

fn remote_answers(ctx: &mut Ctx, generation: u64) {
    let cfg = config(ctx);
    let own = ctx.profile.identity.msisdn.trim_start_matches('+').to_owned();
    let now = ctx.now;
    let Some(c) = current(ctx, generation) else { return };
    let digits = c.number.digits().to_owned();
    let listed = |l: &[String]| l.iter().any(|n| n.trim_start_matches('+') == digits);
    if digits == own || listed(&cfg.busy) {
        end(ctx, &["BUSY"]);
    } else if listed(&cfg.no_answer) {
        end(ctx, &["NO ANSWER"]);
    } else {
        c.stat = Stat::Active;
        c.since = Some(now);
        c.timer = None;
        ctx.urcs.push(Urc::Line("VOICE CALL: BEGIN".into()));
        changed(ctx);
    }
}

/// A call from `number` comes in (the network's side): `RING` (or `+CRING: VOICE`) with
/// `+CLIP` as the DTE asked. Refused while the module is busy with another call or has no
/// service.
pub fn ring(ctx: &mut Ctx, number: &str) -> Result<(), &'static str> {
    if ctx.net.sim_locked() || !ctx.net.registered() || ctx.net.cfun != 1 {
        return Err("the module has no service");
    }
    if state(ctx).call.is_some() {
        return Err("the module is busy with a call");
    }
    let fleet = in_fleet(ctx, number);
    if fleet {
        to_peer(ctx, CallEvent::Ringing, number);
    }
    let number = Address::parse(number);
    state(ctx).call = Some(Call { dir: 1, stat: Stat::Incoming, number, since: None, rings: 0, timer: None, fleet });
    changed(ctx);
    let generation = state(ctx).generation;
    ring_again(ctx, generation);
    Ok(())
}

fn ring_again(ctx: &mut Ctx, generation: u64) {
    let clip = ctx.device.switch("+CLIP") == 1;
    let crc = ctx.device.switch("+CRC") == 1;
    let Some(c) = current(ctx, generation) else { return };
    if c.stat != Stat::Incoming {
        return;
    }
    if c.rings >= RINGS_BEFORE_MISSED {
        let who = c.number.number.clone();
        if c.fleet {
            to_peer(ctx, CallEvent::NoAnswer, &who);
        }
        let t = ctx.clock.now_local().format("%I:%M%p");
        ctx.urcs.push(Urc::Line(format!("MISSED_CALL: {t} {who}")));
        end(ctx, &["NO CARRIER"]);
        return;
    }
    c.rings += 1;
    let clip = clip.then(|| format!("+CLIP: \"{}\",{},\"\",0,\"\",0", c.number.number, c.number.toa));
    let line = if crc { "+CRING: VOICE" } else { "RING" };
    ctx.urcs.push(Urc::Line(line.into()));
    ctx.urcs.extend(clip.map(Urc::Line));
    arm(ctx, RING_INTERVAL, ring_again);
}

/// The remote party hangs up (the network's side).
pub fn remote_hangup(ctx: &mut Ctx) -> bool {
    if state(ctx).call.is_none() {
        return false;
    }
    end(ctx, &["NO CARRIER"]);
    true
}

/// `ATA`: answer the call that rings; with none, `NO CARRIER`.
fn answer(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let now = ctx.now;
    let st = state(ctx);
    match st.call.as_mut() {
        Some(c) if c.stat == Stat::Incoming => {
            c.stat = Stat::Active;
            c.since = Some(now);
            let peer = c.fleet.then(|| c.number.number.clone());
            if let Some(t) = c.timer.take() {
                ctx.timers.cancel(t);
            }
            if let Some(p) = peer {
                to_peer(ctx, CallEvent::Answered, &p);
            }
            ctx.urcs.push(Urc::Line("VOICE CALL: BEGIN".into()));
            changed(ctx);
            Ok(Reply::ok())
        }
        _ => Ok(Reply::ok().then(Then::Final("NO CARRIER".into()))),
    }
}

/// `ATH`: end the voice call and the packet data call, if any (`AT+CVHU` aside, as the
/// module ends a data call on `ATH` whatever it says); `OK` either way.
fn h(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    crate::service::ppp::hang_up(ctx);
    hang_up(ctx, args)
}

/// `AT+CHUP`: end the voice call, if any; `OK` either way.
fn hang_up(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    if let Some(c) = &state(ctx).call
        && c.fleet
    {
        let peer = c.number.number.clone();
        to_peer(ctx, CallEvent::Hangup, &peer);
    }
    end(ctx, &[]);
    Ok(Reply::ok())
}

/// The other modem of a fleet call: it is `ringing` (our call alerts), `answered` (our
/// call begins), is `busy` or gave
/// `noanswer` (our call ends so), or hung up (`hangup`: NO CARRIER).
pub fn peer_event(ctx: &mut Ctx, from: &str, event: CallEvent) -> Result<(), &'static str> {
    let now = ctx.now;
    let Some(c) = state(ctx).call.as_mut() else { return Err("no call") };
    if c.number.digits() != from.trim_start_matches('+') {
        return Err("no call with that number");
    }
    match event {
        CallEvent::Ringing if c.dir == 0 && c.stat == Stat::Dialing => {
            c.stat = Stat::Alerting;
            changed(ctx);
        }
        CallEvent::Answered if c.dir == 0 && c.stat != Stat::Active => {
            c.stat = Stat::Active;
            c.since = Some(now);
            ctx.urcs.push(Urc::Line("VOICE CALL: BEGIN".into()));
            changed(ctx);
        }
        CallEvent::Busy => end(ctx, &["BUSY"]),
        CallEvent::NoAnswer => end(ctx, &["NO ANSWER"]),
        CallEvent::Hangup => end(ctx, &["NO CARRIER"]),
        _ => return Err("not an event of this call"),
    }
    Ok(())
}

/// `AT+CLCC`: the call, if any.
fn clcc(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(match &state(ctx).call {
        Some(c) => Reply::line(clcc_line(c)),
        None => Reply::ok(),
    })
}

fn clcc_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CLCC: {}", ctx.device.switch("+CLCC"))))
}

fn clcc_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let v = args.next_in::<u8>(0..=1)?;
    args.finish()?;
    ctx.device.set_switch("+CLCC", v);
    Ok(Reply::ok())
}

/// `AT+VTS=<tones>`: DTMF during a call (no audio: accepted when a call is active).
fn vts(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let tones = args.next_str()?;
    args.finish()?;
    if !tones.bytes().all(|b| b.is_ascii_digit() || matches!(b.to_ascii_uppercase(), b'*' | b'#' | b'A'..=b'D')) {
        return Err(CmdError::Refused("not a DTMF tone"));
    }
    match &state(ctx).call {
        Some(c) if c.stat == Stat::Active => Ok(Reply::ok()),
        _ => Err(CmdError::cme(CmeError::NotAllowed, "no active call")),
    }
}
