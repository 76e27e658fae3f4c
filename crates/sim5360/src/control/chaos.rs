//! Seeded chaos (`--chaos SEED[:PROFILE]`): faults and coverage events drawn from a
//! documented distribution (docs/control.md), at times drawn from the same seed, so a
//! soak run or a robustness test that found a bug finds it again. Each event goes through
//! the control model's own functions (the DTE sees what it sees from those) and into the
//! log and the trace as a note.
//!
//! The draws start again from the seed at every power-on; they run on the module's timers,
//! so transcripts replay them in virtual time.

use crate::modem::{Ctx, Service};
use crate::net::link::{Direction, Fault, Kind};
use crate::network;
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::time::Duration;

/// How hard chaos hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// An event every 20-60 s; coverage gaps of 2-10 s.
    Mild,
    /// An event every 5-20 s; coverage gaps of 5-30 s.
    Harsh,
}

impl Profile {
    /// Its name on the command line and in the API (`mild`, `harsh`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mild => "mild",
            Self::Harsh => "harsh",
        }
    }
}

/// `--chaos SEED[:PROFILE]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChaosConfig {
    pub seed: u64,
    pub profile: Profile,
}

/// Parse `SEED[:mild|harsh]`.
pub fn parse(s: &str) -> Result<ChaosConfig, String> {
    let (seed, profile) = s.split_once(':').map_or((s, "mild"), |(a, b)| (a, b));
    let seed = seed.trim().parse().map_err(|_| format!("{seed:?} is not a seed (a number)"))?;
    let profile = match profile {
        "mild" => Profile::Mild,
        "harsh" => Profile::Harsh,
        p => return Err(format!("chaos profile {p:?}: mild or harsh")),
    };
    Ok(ChaosConfig { seed, profile })
}

/// The draws of this power-on.
#[derive(Debug, Default)]
pub struct ChaosState {
    rng: Option<StdRng>,
    pub events: u64,
}

impl Service for ChaosState {}

const SERVICES: [&str; 6] = ["ftp", "http", "https", "smtp", "pop3", "sockets"];

fn config(ctx: &Ctx) -> Option<ChaosConfig> {
    ctx.configs.get::<ChaosConfig>().copied()
}

/// The state report's part: chaos on or off, and the events of this power-on.
pub fn report(ctx: &mut Ctx) -> serde_json::Value {
    let cfg = config(ctx);
    let events = ctx.services.get_mut::<ChaosState>().events;
    match cfg {
        None => serde_json::Value::Null,
        Some(c) => {
            serde_json::json!({ "seed": c.seed, "profile": c.profile.as_str(), "events": events })
        }
    }
}

/// At power-on: the first event's time, when chaos is on (a gap of the last power-on
/// ends: the draws start again).
pub fn power_on(ctx: &mut Ctx) {
    let Some(cfg) = config(ctx) else { return };
    network::set_coverage(ctx, false, Duration::ZERO);
    ctx.services.get_mut::<ChaosState>().rng = Some(StdRng::seed_from_u64(cfg.seed));
    schedule(ctx, cfg.profile);
}

fn schedule(ctx: &mut Ctx, profile: Profile) {
    let (lo, hi) = match profile {
        Profile::Mild => (20_000, 60_000),
        Profile::Harsh => (5_000, 20_000),
    };
    let Some(rng) = ctx.services.get_mut::<ChaosState>().rng.as_mut() else { return };
    let wait = rng.random_range(lo..=hi);
    ctx.after(Duration::from_millis(wait), "chaos", event, 0);
}

fn event(ctx: &mut Ctx, _: u64) {
    let Some(cfg) = config(ctx) else { return };
    let st = ctx.services.get_mut::<ChaosState>();
    st.events += 1;
    let Some(rng) = st.rng.as_mut() else { return };
    let roll: f64 = rng.random();
    let (gap_lo, gap_hi) = if cfg.profile == Profile::Mild { (2_000, 10_000) } else { (5_000, 30_000) };
    let gap = rng.random_range(gap_lo..=gap_hi);
    let rssi = rng.random_range(2..=31u8);
    let service = SERVICES[rng.random_range(0..SERVICES.len())];
    let kind_roll = rng.random_range(0..4u8);
    let amount: f64 = rng.random_range(0.0..2000.0);
    let what = if roll < 0.3 {
        // Coverage lost for `gap`, back 1 s later.
        network::set_coverage(ctx, true, Duration::ZERO);
        ctx.after(Duration::from_millis(gap), "chaos coverage back", coverage_back, 0);
        format!("coverage lost for {gap} ms")
    } else if roll < 0.55 {
        network::radio::set_signal(ctx, rssi, 99);
        format!("signal rssi {rssi}")
    } else {
        let (kind, attributes) = match kind_roll {
            0 => (Kind::ResetPeer, [("timeout".to_owned(), amount.round())].into()),
            1 => (Kind::Refuse, Default::default()),
            2 => (Kind::Latency, [("latency".to_owned(), (amount + 500.0).round())].into()),
            _ => (Kind::DnsFail, Default::default()),
        };
        let service = if kind == Kind::DnsFail { "dns" } else { service };
        let f = Fault {
            name: format!("chaos_{}", ctx.services.get_mut::<ChaosState>().events),
            service: service.into(),
            kind,
            stream: Direction::Downstream,
            toxicity: 1.0,
            times: Some(1),
            attributes,
            seed: None,
        };
        let text = format!("fault {kind:?} on {service} for its next connection");
        if let Err((_, e)) = super::link(ctx).add(f) {
            tracing::debug!("chaos fault not added: {e}");
        }
        text
    };
    tracing::info!(seed = cfg.seed, "chaos: {what}");
    ctx.notes.push(format!("chaos: {what}"));
    schedule(ctx, cfg.profile);
}

fn coverage_back(ctx: &mut Ctx, _: u64) {
    network::set_coverage(ctx, false, Duration::from_secs(1));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_forms() {
        assert_eq!(parse("42"), Ok(ChaosConfig { seed: 42, profile: Profile::Mild }));
        assert_eq!(parse("7:harsh"), Ok(ChaosConfig { seed: 7, profile: Profile::Harsh }));
        assert!(parse("x").is_err());
        assert!(parse("1:wild").is_err());
    }
}
