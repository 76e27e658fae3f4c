//! The device itself (device spec §3.7-§3.9, §3.12, §3.15): battery, temperature, ADC,
//! identity extras, power and sleep, the call-related switches clients set at start-up, the
//! auxiliary supply some boards power the GNSS antenna with.
//!
//! One documented device model (docs/commands.md): a USB-powered module reporting a charged
//! battery (92 %, 4.125 V), 33 °C, ADC 1200 mV. Per model: the SIM7600 reports the battery
//! in volts only.

use crate::modem::{CmdError, Ctx, PowerRequest, Reply, table::CommandSpec};

pub use super::device_state::Device;
use v250::Args;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("+CBC").exec(cbc).test_ok(),
    CommandSpec::new("+CPMUTEMP").exec(cpmutemp).test_ok(),
    CommandSpec::new("+CMTE").read(cmte_read).write(cmte_write).test_text("+CMTE: (0-1)"),
    CommandSpec::new("+CADC").read(cadc_read).write(cadc_write).test_text("+CADC: (0,2)"),
    CommandSpec::new("+CSUB").exec(csub).test_ok(),
    CommandSpec::new("+SIMCOMATI").exec(simcomati).test_ok(),
    CommandSpec::new("+CPAS").exec(cpas).test_text("+CPAS: (0-5)"),
    CommandSpec::new("+CSCLK").read(switch_read).write(switch_write).test_text("+CSCLK: (0-2)"),
    CommandSpec::new("+CVHU").read(switch_read).write(switch_write).test_text("+CVHU: (0-1)"),
    CommandSpec::new("+DDET").read(switch_read).write(switch_write).test_text("+DDET: (0-1)"),
    CommandSpec::new("+CLIP").read(clip_read).write(switch_write).test_text("+CLIP: (0-1)"),
    CommandSpec::new("+CRC").read(switch_read).write(switch_write).test_text("+CRC: (0-1)"),
    CommandSpec::new("+CCWA").read(switch_read).write(switch_write).test_text("+CCWA: (0-1)"),
    CommandSpec::new("+STK").read(switch_read).write(switch_write).test_text("+STK: (0-1)"),
    CommandSpec::new("+CVAUXS").read(switch_read).write(switch_write).test_text("+CVAUXS: (0-1)"),
    CommandSpec::new("+CVAUXV").read(cvauxv_read).write(cvauxv_write).test_text("+CVAUXV: (0-255)"),
    CommandSpec::new("+RPMPARAM").read(switch_read).write(switch_write).test_text("+RPMPARAM: (0-1)"),
    CommandSpec::new("+CPOF").exec(cpof).test_ok(),
];

/// Power-on value and range of each switch.
fn switch_spec(name: &str) -> (u8, u8) {
    match name {
        "+CSCLK" => (0, 2),
        "+CVHU" => (1, 1),
        "+STK" => (1, 1),
        _ => (0, 1),
    }
}

impl Device {
    /// The value of switch `name` (e.g. `+CLIP`).
    pub fn switch(&self, name: &str) -> u8 {
        self.switches.get(name, switch_spec(name).0)
    }

    pub fn set_switch(&mut self, name: &'static str, v: u8) {
        self.switches.set(name, v);
    }
}

/// `AT+CBC`: `+CBC: <bcs>,<bcl>,<v.vvv>V` (WCDMA, the SIM5320 captures); SIM7600:
/// `+CBC: <v.vvv>V`.
fn cbc(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let (bcs, bcl, mv) = ctx.device.battery;
    let volts = format!("{}.{:03}V", mv / 1000, mv % 1000);
    Ok(Reply::line(if ctx.profile.lte() { format!("+CBC: {volts}") } else { format!("+CBC: {bcs},{bcl},{volts}") }))
}

/// `AT+CPMUTEMP`: `+CPMUTEMP: <°C>`.
fn cpmutemp(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CPMUTEMP: {}", ctx.device.temperature_c)))
}

/// `AT+CMTE?`: `+CMTE: <°C>` (one value: TinyGSM reads the float before the line end).
fn cmte_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CMTE: {}", ctx.device.temperature_c)))
}

/// `AT+CMTE=<0|1>`.
fn cmte_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    ctx.device.cmte = args.next_in::<u8>(0..=1)?;
    args.finish()?;
    Ok(Reply::ok())
}

/// `AT+CADC?`: `+CADC: 1,<mV>` (the form FONA/botletics parse).
fn cadc_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CADC: 1,{}", ctx.device.adc_mv)))
}

/// `AT+CADC=<0|2>`: 0 the raw 12-bit reading (of a 2.2 V range), 2 millivolts.
fn cadc_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let kind = args.next_in::<u8>(0..=2)?;
    args.finish()?;
    let mv = u32::from(ctx.device.adc_mv);
    let value = match kind {
        0 => mv * 4095 / 2200,
        2 => mv,
        _ => return Err(args.invalid("0 raw or 2 millivolts").into()),
    };
    Ok(Reply::line(format!("+CADC: {value}")))
}

/// `AT+CSUB`: `+CSUB: V01` (a sub-version; UNCERTAIN on the SIM5360).
fn csub(_: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line("+CSUB: V01"))
}

/// `AT+SIMCOMATI`: the identification lines of `ATI`.
fn simcomati(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::lines(super::identity_lines(&ctx.profile)))
}

/// `AT+CPAS`: `+CPAS: 0` (ready; no calls).
/// `AT+CPAS`: 0 ready, 3 ringing, 4 call in progress.
fn cpas(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CPAS: {}", crate::service::voice::activity(ctx))))
}

fn switch_read(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("{}: {}", args.name(), ctx.device.switch(args.name()))))
}

/// A switch (`AT+CSCLK=<n>`, `AT+CVHU=<n>`, `AT+DDET=<n>`, `AT+CLIP=<n>`, ...): stored, read
/// back. Later parameters some of them take (`AT+DDET=1,0,0`) are accepted and not kept.
fn switch_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let name = args.name();
    let (_, max) = switch_spec(name);
    let v = args.next_in::<u8>(0..=max)?;
    while args.opt_int()?.is_some() {}
    args.finish()?;
    ctx.device.switches.set(name, v);
    Ok(Reply::ok())
}

/// `AT+CLIP?`: `+CLIP: <n>,1` (presentation provisioned).
fn clip_read(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CLIP: {},1", ctx.device.switch(args.name()))))
}

/// `AT+CLCC`: one line per call; there are none.
fn cvauxv_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CVAUXV: {}", ctx.device.vaux)))
}

/// `AT+CVAUXV=<level>`: the auxiliary supply's level (stored).
fn cvauxv_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    ctx.device.vaux = args.next_in::<u8>(0..=255)?;
    args.finish()?;
    Ok(Reply::ok())
}

/// `AT+CPOF`: `OK`, then the module powers off: it answers nothing and reports nothing
/// until it is powered on again (a new `--tcp` connection, or a restart of the process).
fn cpof(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    ctx.power = PowerRequest::Off;
    Ok(Reply::ok())
}
