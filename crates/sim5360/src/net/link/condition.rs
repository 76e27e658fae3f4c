//! Network conditions: custom figures or a preset (`PRESETS`), applied to every
//! connection by the relay.

use serde::{Deserialize, Serialize};

/// Network conditions for every connection (§6.5).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The preset these came from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    #[serde(default)]
    pub down_kbps: Option<f64>,
    #[serde(default)]
    pub up_kbps: Option<f64>,
    #[serde(default)]
    pub rtt_ms: f64,
    #[serde(default)]
    pub jitter_ms: f64,
    /// Chance per KiB of a stall of one retransmission timeout (1 s).
    #[serde(default)]
    pub loss_pct: f64,
    /// Added to the first byte after `idle_after_ms` of silence (radio promotion).
    #[serde(default)]
    pub promote_ms: f64,
    #[serde(default)]
    pub idle_after_ms: f64,
    #[serde(default)]
    pub dns_ms: f64,
    #[serde(default)]
    pub seed: Option<u64>,
}

/// One preset: its figures and what the DTE sees with it (`+COPS` AcT, `+CSQ` rssi).
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    pub name: &'static str,
    pub down_kbps: f64,
    pub up_kbps: f64,
    pub rtt_ms: f64,
    pub jitter_ms: f64,
    pub promote_ms: f64,
    pub idle_after_ms: f64,
    pub act: u8,
    pub rssi: u8,
    pub anchors: &'static str,
}

/// The presets (docs/control.md, Network conditions; `full` is no shaping at all).
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "gprs",
        down_kbps: 50.0,
        up_kbps: 20.0,
        rtt_ms: 600.0,
        jitter_ms: 200.0,
        promote_ms: 500.0,
        idle_after_ms: 5000.0,
        act: 0,
        rssi: 12,
        anchors: "CS-2 x 4/2 slots; HPBN 2G 300-1000 ms; TBF setup",
    },
    Preset {
        name: "edge",
        down_kbps: 200.0,
        up_kbps: 100.0,
        rtt_ms: 300.0,
        jitter_ms: 100.0,
        promote_ms: 300.0,
        idle_after_ms: 5000.0,
        act: 3,
        rssi: 14,
        anchors: "MCS-9 x 4/2 = 236.8/118.4; Android edge 80-400 ms",
    },
    Preset {
        name: "umts",
        down_kbps: 384.0,
        up_kbps: 64.0,
        rtt_ms: 200.0,
        jitter_ms: 50.0,
        promote_ms: 2500.0,
        idle_after_ms: 20000.0,
        act: 2,
        rssi: 18,
        anchors: "R99 384/64; wirelessmoves 226-236 ms, idle to DCH 2.5 s",
    },
    Preset {
        name: "hspa",
        down_kbps: 3000.0,
        up_kbps: 1000.0,
        rtt_ms: 110.0,
        jitter_ms: 20.0,
        promote_ms: 1200.0,
        idle_after_ms: 5000.0,
        act: 6,
        rssi: 21,
        anchors: "HSDPA 7.2/HSUPA 5.76 peaks; 100-120 ms; FACH to DCH 1-1.5 s",
    },
    Preset {
        name: "lte-cat1",
        down_kbps: 5000.0,
        up_kbps: 2000.0,
        rtt_ms: 50.0,
        jitter_ms: 10.0,
        promote_ms: 80.0,
        idle_after_ms: 10000.0,
        act: 7,
        rssi: 24,
        anchors: "Cat-1 10/5 peak; Codavel 25-50 ms; HPBN < 100 ms",
    },
    Preset {
        name: "lte-m",
        down_kbps: 300.0,
        up_kbps: 375.0,
        rtt_ms: 150.0,
        jitter_ms: 50.0,
        promote_ms: 100.0,
        idle_after_ms: 10000.0,
        act: 7,
        rssi: 18,
        anchors: "Cat-M1 HD-FDD 300/375 kbit/s; RTT an estimate",
    },
    Preset {
        name: "nb-iot",
        down_kbps: 26.0,
        up_kbps: 62.0,
        rtt_ms: 2000.0,
        jitter_ms: 1000.0,
        promote_ms: 0.0,
        idle_after_ms: 0.0,
        act: 9,
        rssi: 8,
        anchors: "Cat-NB1 26/62 kbit/s, 1.6-10 s latency",
    },
    Preset {
        name: "slow-3g",
        down_kbps: 500.0,
        up_kbps: 500.0,
        rtt_ms: 400.0,
        jitter_ms: 0.0,
        promote_ms: 0.0,
        idle_after_ms: 0.0,
        act: 2,
        rssi: 14,
        anchors: "DevTools target values",
    },
    Preset {
        name: "slow-4g",
        down_kbps: 1600.0,
        up_kbps: 750.0,
        rtt_ms: 150.0,
        jitter_ms: 0.0,
        promote_ms: 0.0,
        idle_after_ms: 0.0,
        act: 7,
        rssi: 18,
        anchors: "DevTools target values",
    },
    Preset {
        name: "fast-4g",
        down_kbps: 9000.0,
        up_kbps: 1500.0,
        rtt_ms: 60.0,
        jitter_ms: 0.0,
        promote_ms: 0.0,
        idle_after_ms: 0.0,
        act: 7,
        rssi: 24,
        anchors: "DevTools target values",
    },
];

/// The `flaky` modifiers: loss per KiB added to a preset (Perfecto's names).
pub const FLAKY: &[(&str, f64)] = &[("steady", 1.0), ("noisy", 2.0), ("unstable", 3.0), ("very-unstable", 5.0)];

impl Condition {
    /// A preset by name (`umts`, or `umts+noisy` with a flaky modifier; `full`: none).
    pub fn preset(name: &str) -> Result<(Self, Option<Preset>), String> {
        let (base, flaky) = name.split_once('+').map_or((name, None), |(b, f)| (b, Some(f)));
        let loss = match flaky {
            None => 0.0,
            Some(f) => FLAKY
                .iter()
                .find(|(n, _)| *n == f)
                .map(|(_, l)| *l)
                .ok_or(format!("flaky modifier {f:?}: steady, noisy, unstable, very-unstable"))?,
        };
        if base == "full" {
            return Ok((Self { preset: Some(name.into()), loss_pct: loss, seed: Some(0), ..Self::default() }, None));
        }
        let p = PRESETS.iter().find(|p| p.name == base).ok_or_else(|| {
            let names: Vec<&str> = PRESETS.iter().map(|p| p.name).chain(["full"]).collect();
            format!("no preset {base:?} (presets: {})", names.join(", "))
        })?;
        Ok((
            Self {
                preset: Some(name.into()),
                down_kbps: Some(p.down_kbps),
                up_kbps: Some(p.up_kbps),
                rtt_ms: p.rtt_ms,
                jitter_ms: p.jitter_ms,
                loss_pct: loss,
                promote_ms: p.promote_ms,
                idle_after_ms: p.idle_after_ms,
                dns_ms: 0.0,
                seed: Some(0),
            },
            Some(*p),
        ))
    }

    pub fn validate(&self) -> Result<(), String> {
        let nums = [self.rtt_ms, self.jitter_ms, self.loss_pct, self.promote_ms, self.idle_after_ms, self.dns_ms];
        if nums.iter().any(|v| !v.is_finite() || *v < 0.0) || self.rtt_ms > 60_000.0 || self.dns_ms > 60_000.0 {
            return Err("figures are numbers of at least 0 (rtt and dns at most 60 s)".into());
        }
        if self.loss_pct > 100.0 {
            return Err("loss_pct is 0..100".into());
        }
        if self.loss_pct > 0.0 && self.seed.is_none() {
            return Err("loss needs a seed, so a run is repeatable".into());
        }
        if [self.down_kbps, self.up_kbps].iter().flatten().any(|r| !r.is_finite() || *r <= 0.0) {
            return Err("down_kbps and up_kbps are above 0 (omit them for no limit)".into());
        }
        Ok(())
    }

    pub(super) fn shapes(&self) -> bool {
        self.down_kbps.is_some()
            || self.up_kbps.is_some()
            || self.rtt_ms > 0.0
            || self.loss_pct > 0.0
            || self.promote_ms > 0.0
    }
}
