//! `sim5360 ctl ...`: the control API from a shell (toxiproxy-cli style). The running
//! modem is found from `--control URL`, `SIM5360_CONTROL`, or the `<link>.control` file the modem writes beside its PTY link (default link:
//! `$XDG_RUNTIME_DIR/ttySIM5360`).

use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// A duration as every flag of the CLI takes one: a number with its unit, humantime's
/// forms (`300ms`, `15s`, `2m`, `1h`, `1m30s`) and decimals (`1.5s`); `0` alone. A bare
/// number is refused (was it seconds or milliseconds?), and so is more than an hour. The
/// control API's durations are numbers of milliseconds, in fields named `..._ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.parse::<f64>().is_ok() {
        return Err(format!("`{s}` has no unit: write {s}s or {s}ms"));
    }
    let d = humantime::parse_duration(s).or_else(|e| {
        // humantime has no decimals: `1.5s`, `0.25ms`.
        let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or(e.to_string())?;
        let (num, unit) = s.split_at(split);
        let v: f64 = num.parse().map_err(|_| e.to_string())?;
        let unit = humantime::parse_duration(&format!("1{}", unit.trim())).map_err(|_| e.to_string())?;
        Ok::<_, String>(unit.mul_f64(v))
    });
    let d = d.map_err(|e| format!("`{s}` is not a duration like 300ms, 15s or 2m ({e})"))?;
    if d > Duration::from_secs(3600) {
        return Err(format!("`{s}` is more than an hour"));
    }
    Ok(d)
}

/// The file beside a PTY link that holds its modem's control URL.
pub fn control_file(link: &Path) -> PathBuf {
    let mut s = link.as_os_str().to_owned();
    s.push(".control");
    PathBuf::from(s)
}

fn default_link() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) => PathBuf::from(d).join("ttySIM5360"),
        None => PathBuf::from(format!("/tmp/ttySIM5360-{}", nix::unistd::getuid())),
    }
}

/// Drive a running sim5360 through its control API.
#[derive(Debug, Parser)]
#[command(name = "sim5360 ctl")]
struct Ctl {
    /// The control API's URL (default: SIM5360_CONTROL, then the file beside --link).
    #[arg(long, env = "SIM5360_CONTROL", value_name = "URL")]
    control: Option<String>,
    /// The modem's PTY link, whose `.control` file names its API.
    #[arg(long, value_name = "PATH")]
    link: Option<PathBuf>,
    /// Bearer token (`--control-token` of the modem).
    #[arg(long, env = "SIM5360_CONTROL_TOKEN", value_name = "TOKEN")]
    token: Option<String>,
    /// Which modem of a fleet (default: the one behind --link, else 0).
    #[arg(long)]
    modem: Option<u32>,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Debug, Subcommand)]
enum Verb {
    /// The whole state, as JSON.
    State,
    /// Deliver an SMS, or list the stored messages or the outbox.
    Sms {
        #[command(subcommand)]
        what: SmsVerb,
    },
    /// Emit a raw line as a URC.
    Urc {
        /// The line, without its CR LF.
        line: String,
    },
    /// Change registration or signal.
    Radio(RadioArgs),
    /// Take coverage away, or give it back.
    Coverage {
        #[command(subcommand)]
        what: CoverageVerb,
    },
    /// Take the SIM out, or put it back.
    Sim {
        /// remove or insert.
        #[arg(value_parser = ["remove", "insert"])]
        action: String,
    },
    /// Set the GNSS position, or hide the sky.
    Gnss {
        /// Latitude in degrees (south negative).
        #[arg(long, allow_hyphen_values = true, required_unless_present = "no_fix")]
        lat: Option<f64>,
        /// Longitude in degrees (west negative).
        #[arg(long, allow_hyphen_values = true, required_unless_present = "no_fix")]
        lon: Option<f64>,
        /// Altitude in metres.
        #[arg(long, allow_hyphen_values = true)]
        alt: Option<f64>,
        /// No fix: the sky is hidden.
        #[arg(long, conflicts_with_all = ["lat", "lon", "alt"])]
        no_fix: bool,
    },
    /// A call comes in, or the remote party hangs up.
    Call {
        #[command(subcommand)]
        what: CallVerb,
    },
    /// Answer overrides.
    Override {
        #[command(subcommand)]
        what: OverrideVerb,
    },
    /// Link faults per service (Toxiproxy's toxics).
    Fault {
        #[command(subcommand)]
        what: FaultVerb,
    },
    /// Network conditions: a preset (gprs, edge, umts, hspa, lte-cat1, lte-m, nb-iot,
    /// slow-3g, slow-4g, fast-4g, full; `+noisy` and the like add loss) or figures.
    Net(NetArgs),
    /// The AT trace's latest lines (both directions, masked); `-f` follows it.
    Trace {
        /// Keep printing new lines as they come.
        #[arg(short = 'f', long)]
        follow: bool,
        /// How many of the latest lines to print first.
        #[arg(long, default_value_t = 200)]
        limit: usize,
    },
    /// Restart the module (as AT+CRESET).
    Reboot,
    /// Everything injected back to the defaults.
    Reset,
}

#[derive(Debug, Subcommand)]
enum SmsVerb {
    /// An SMS from the network reaches the module (stored with +CMTI, or +CMT, as AT+CNMI
    /// says).
    Deliver {
        /// The sender: a number (+15551234567) or a name of at most 11 characters (Bank).
        #[arg(long)]
        from: String,
        /// An SMS-DELIVER TPDU in hex (no SMSC field) instead of TEXT.
        #[arg(long, conflicts_with = "text")]
        pdu: Option<String>,
        /// Message class 0-3 (0: flash, shown and not stored).
        #[arg(long)]
        class: Option<u8>,
        /// The text: GSM 7-bit when its alphabet has every character, else UCS2.
        #[arg(required_unless_present = "pdu")]
        text: Option<String>,
    },
    /// The messages stored in the module (SIM and ME).
    Inbox,
    /// What the module sent (the network's outbox), oldest first.
    Outbox,
}

#[derive(Debug, Args)]
struct RadioArgs {
    /// Circuit-switched registration (+CREG): home, roaming, searching, denied,
    /// unregistered.
    #[arg(long)]
    cs: Option<String>,
    /// Packet registration (+CGREG), the same words.
    #[arg(long)]
    ps: Option<String>,
    /// Signal, +CSQ's 0-31 (or 99, unknown); RSCP and Ec/Io follow.
    #[arg(long)]
    rssi: Option<u8>,
    /// Bit error rate, +CSQ's 0-7 (or 99).
    #[arg(long)]
    ber: Option<u8>,
    /// Location area code of the serving cell.
    #[arg(long)]
    lac: Option<u16>,
    /// Cell id of the serving cell.
    #[arg(long)]
    ci: Option<u32>,
}

#[derive(Debug, Subcommand)]
enum CoverageVerb {
    /// The network goes: searching at once, not registered a second later; every
    /// connection and data call ends.
    Lose {
        /// Coverage comes back by itself after this long (300ms, 15s, 2m).
        #[arg(long = "for", value_parser = parse_duration, value_name = "DURATION")]
        for_: Option<Duration>,
        /// When it comes back, registered again after this long (default 1s).
        #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
        reregister: Option<Duration>,
    },
    /// The network comes back.
    Restore {
        /// Registered again after this long (default 1s).
        #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
        reregister: Option<Duration>,
    },
}

#[derive(Debug, Subcommand)]
enum FaultVerb {
    /// A fault on SERVICE (ftp, ftps, http, https, smtp, pop3, sockets, time, dns, *).
    Add {
        /// The service whose connections it affects: ftp, ftps, http, https, smtp, pop3,
        /// sockets, ppp, time, dns, or * for all.
        service: String,
        /// latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data,
        /// refuse, dns_fail, tls_fail
        #[arg(short = 't', long = "type")]
        kind: String,
        /// An attribute, NAME=VALUE (Toxiproxy's names and units): latency latency=ms
        /// jitter=ms; bandwidth rate=KB/s; slow_close delay=ms; timeout and reset_peer
        /// timeout=ms (0: at once / never); slicer average_size=bytes size_variation=bytes
        /// delay=µs; limit_data bytes=n; refuse, dns_fail and tls_fail take none.
        #[arg(short = 'a', long = "attribute", value_parser = parse_attribute, value_name = "NAME=VALUE")]
        attributes: Vec<(String, f64)>,
        /// Its name (default: SERVICE_TYPE), for `fault rm`.
        #[arg(short = 'n', long)]
        name: Option<String>,
        /// On what the module sends (default: what it receives).
        #[arg(long)]
        upstream: bool,
        /// Share of connections it affects, 0-1 (default 1); below 1 needs --seed.
        #[arg(long)]
        toxicity: Option<f64>,
        /// Seed of the draws of --toxicity, so a run is repeatable.
        #[arg(long)]
        seed: Option<u64>,
        /// Affect this many connections, then stop.
        #[arg(long)]
        times: Option<u32>,
    },
    /// The faults in force.
    Ls,
    /// Remove one fault.
    Rm {
        /// Its name (as `fault ls` shows it).
        name: String,
    },
    /// Remove every fault.
    Clear,
}

fn parse_attribute(s: &str) -> Result<(String, f64), String> {
    let (k, v) = s.split_once('=').ok_or("expected NAME=VALUE, e.g. timeout=0")?;
    Ok((k.trim().to_owned(), v.trim().parse().map_err(|_| format!("{v:?} is not a number"))?))
}

#[derive(Debug, Args)]
struct NetArgs {
    /// A preset; without one, the figures below replace the conditions (and the radio
    /// the DTE sees goes back to the module's own, as with `full`); with neither, the
    /// conditions in force are shown.
    preset: Option<String>,
    /// Round-trip time added to every exchange (300ms, 1s).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    rtt: Option<Duration>,
    /// Random variation of each one-way delay, up to this much either way.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    jitter: Option<Duration>,
    /// kbit/s towards the module.
    #[arg(long)]
    down: Option<f64>,
    /// kbit/s from the module.
    #[arg(long)]
    up: Option<f64>,
    /// Per cent of KiB lost (each costs one 1 s retransmission timeout); needs --seed.
    #[arg(long)]
    loss: Option<f64>,
    /// Seed of the loss draws, so a run is repeatable.
    #[arg(long)]
    seed: Option<u64>,
    /// Radio promotion: the first packet after an idle spell waits this long.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    promote: Option<Duration>,
    /// How long the link stays idle before the next packet pays --promote.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    idle: Option<Duration>,
    /// Time every DNS lookup takes.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    dns: Option<Duration>,
}

#[derive(Debug, Subcommand)]
enum CallVerb {
    /// A call comes in: RING (+CLIP with the number, as AT+CLIP says).
    Ring {
        /// The caller's number.
        from: String,
    },
    /// The remote party hangs up (NO CARRIER).
    Hangup,
}

#[derive(Debug, Subcommand)]
enum OverrideVerb {
    /// Answer COMMAND (`+CSQ`) with these lines and result.
    Add {
        /// The command as the manual spells it: +CSQ, +CFTPGET, D, E.
        command: String,
        /// A line of the answer before the result (repeat for more).
        #[arg(long = "line")]
        lines: Vec<String>,
        /// The final result: OK, ERROR, +CME ERROR: 10, ...
        #[arg(long, default_value = "OK")]
        result: String,
        /// exec, read, test, write or any
        #[arg(long, default_value = "any")]
        form: String,
        /// A regular expression the arguments must match.
        #[arg(long = "args")]
        args_match: Option<String>,
        /// Answer after this long (300ms, 2s).
        #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
        delay: Option<Duration>,
        /// Answer this many times (default once).
        #[arg(long, conflicts_with = "always")]
        times: Option<u32>,
        /// Answer every time, until removed.
        #[arg(long)]
        always: bool,
        /// Give no answer at all.
        #[arg(long, conflicts_with = "hang")]
        drop: bool,
        /// Keep the line busy until the override is removed.
        #[arg(long)]
        hang: bool,
    },
    /// Remove one override.
    Rm {
        /// Its id (as `override ls` shows it).
        id: u64,
    },
    /// Remove every override.
    Clear,
    /// The overrides in force.
    Ls,
}

/// What one verb sends: method, path below the modem, body.
fn request(verb: Verb) -> (&'static str, String, Option<Value>) {
    let ms = |d: Option<Duration>| d.map(|d| d.as_millis() as u64);
    match verb {
        Verb::State => ("GET", String::new(), None),
        Verb::Sms { what: SmsVerb::Deliver { from, pdu, class, text } } => {
            ("POST", "sms".into(), Some(json!({ "from": from, "text": text, "pdu": pdu, "class": class })))
        }
        Verb::Sms { what: SmsVerb::Inbox } => ("GET", "sms?box=inbox".into(), None),
        Verb::Sms { what: SmsVerb::Outbox } => ("GET", "sms?box=outbox".into(), None),
        Verb::Urc { line } => ("POST", "urc".into(), Some(json!({ "line": line }))),
        Verb::Radio(r) => (
            "PATCH",
            "radio".into(),
            Some(json!({ "cs": r.cs, "ps": r.ps, "rssi": r.rssi, "ber": r.ber, "lac": r.lac, "ci": r.ci })),
        ),
        Verb::Coverage { what: CoverageVerb::Lose { for_, reregister } } => (
            "POST",
            "coverage".into(),
            Some(json!({ "lost": true, "for_ms": ms(for_), "reregister_ms": ms(reregister) })),
        ),
        Verb::Coverage { what: CoverageVerb::Restore { reregister } } => {
            ("POST", "coverage".into(), Some(json!({ "lost": false, "reregister_ms": ms(reregister) })))
        }
        Verb::Sim { action } => ("PATCH", "sim".into(), Some(json!({ "present": action == "insert" }))),
        Verb::Gnss { no_fix: true, .. } => ("PUT", "gnss".into(), Some(json!({ "fix": false }))),
        Verb::Gnss { lat, lon, alt, .. } => {
            ("PUT", "gnss".into(), Some(json!({ "fix": true, "lat": lat, "lon": lon, "alt_m": alt })))
        }
        Verb::Call { what: CallVerb::Ring { from } } => ("POST", "call".into(), Some(json!({ "from": from }))),
        Verb::Call { what: CallVerb::Hangup } => ("DELETE", "call".into(), None),
        Verb::Override {
            what: OverrideVerb::Add { command, lines, result, form, args_match, delay, times, always, drop, hang },
        } => {
            let then = if drop {
                "drop"
            } else if hang {
                "hang"
            } else {
                "respond"
            };
            let times = if always { Value::Null } else { json!(times.unwrap_or(1)) };
            let body = json!({
                "command": command, "lines": lines, "result": result, "form": form, "args_match": args_match,
                "delay_ms": ms(delay).unwrap_or(0), "times": times, "then": then,
            });
            ("POST", "overrides".into(), Some(body))
        }
        Verb::Override { what: OverrideVerb::Rm { id } } => ("DELETE", format!("overrides/{id}"), None),
        Verb::Override { what: OverrideVerb::Clear } => ("DELETE", "overrides".into(), None),
        Verb::Override { what: OverrideVerb::Ls } => ("GET", "overrides".into(), None),
        Verb::Fault { what: FaultVerb::Add { service, kind, attributes, name, upstream, toxicity, seed, times } } => {
            let attrs: serde_json::Map<String, Value> = attributes.into_iter().map(|(k, v)| (k, json!(v))).collect();
            let body = json!({
                "service": service, "type": kind, "attributes": attrs, "name": name,
                "stream": if upstream { "upstream" } else { "downstream" },
                "toxicity": toxicity, "seed": seed, "times": times,
            });
            ("POST", "faults".into(), Some(body))
        }
        Verb::Fault { what: FaultVerb::Ls } => ("GET", "faults".into(), None),
        Verb::Fault { what: FaultVerb::Rm { name } } => ("DELETE", format!("faults/{name}"), None),
        Verb::Fault { what: FaultVerb::Clear } => ("DELETE", "faults".into(), None),
        Verb::Net(n)
            if n.preset.is_none()
                && [n.rtt, n.jitter, n.promote, n.idle, n.dns].iter().all(Option::is_none)
                && [n.down, n.up, n.loss].iter().all(Option::is_none)
                && n.seed.is_none() =>
        {
            // Nothing to change: show what is in force.
            ("GET", "network".into(), None)
        }
        Verb::Net(n) => {
            let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
            let body = match n.preset {
                Some(p) => json!({ "preset": p }),
                None => json!({
                    "rtt_ms": ms(n.rtt), "jitter_ms": ms(n.jitter), "down_kbps": n.down, "up_kbps": n.up,
                    "loss_pct": n.loss, "seed": n.seed, "promote_ms": ms(n.promote), "idle_after_ms": ms(n.idle),
                    "dns_ms": ms(n.dns),
                }),
            };
            ("PUT", "network".into(), Some(body))
        }
        Verb::Trace { limit, .. } => ("GET", format!("trace?limit={limit}"), None),
        Verb::Reboot => ("POST", "reboot".into(), None),
        Verb::Reset => ("POST", "reset".into(), None),
    }
}

/// `ctl trace [-f]`: print the latest lines; with `-f` keep printing new ones (polling).
fn trace(ctl: &Ctl, follow: bool, limit: usize) -> Result<String, String> {
    let (base, modem) = base_url(ctl)?;
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(15))).build().into();
    let mut since: Option<u64> = None;
    loop {
        let q = match since {
            Some(s) => format!("since={s}&limit=10000"),
            None => format!("limit={limit}"),
        };
        let url = format!("{base}/api/v1/modems/{modem}/trace?{q}");
        let mut rq = agent.get(&url);
        if let Some(t) = &ctl.token {
            rq = rq.header("Authorization", &format!("Bearer {t}"));
        }
        let lines: Vec<Value> =
            rq.call().map_err(|e| format!("{url}: {e}"))?.body_mut().read_json().map_err(|e| format!("{url}: {e}"))?;
        for l in &lines {
            println!("{}", trace_line(l));
            since = l["seq"].as_u64().or(since);
        }
        if !follow {
            return Ok(String::new());
        }
        since = since.or(Some(0));
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Drop the `null` members of an object, so the server sees only what was given (but an
/// override's `times: null`, which means "always").
fn prune(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(k, v)| !v.is_null() || k == "times").collect()),
        other => other,
    }
}

/// The control API's URL and which modem of it: `--control` (modem `--modem` or 0), or
/// the file beside the link (its URL, and for a fleet's modem its index).
fn base_url(ctl: &Ctl) -> Result<(String, u32), String> {
    if let Some(u) = &ctl.control {
        return Ok((u.trim_end_matches('/').to_owned(), ctl.modem.unwrap_or(0)));
    }
    let link = ctl.link.clone().unwrap_or_else(default_link);
    let file = control_file(&link);
    let text = std::fs::read_to_string(&file).map_err(|e| {
        format!(
            "no control URL: give --control, set SIM5360_CONTROL, or run the modem with --control ({}: {e})",
            file.display()
        )
    })?;
    let mut lines = text.lines();
    let url = lines.next().unwrap_or("").trim().trim_end_matches('/').to_owned();
    let of_link = lines.find_map(|l| l.strip_prefix("modem ")?.trim().parse().ok());
    Ok((url, ctl.modem.or(of_link).unwrap_or(0)))
}

/// Run `sim5360 ctl` with these arguments (after `ctl`).
pub fn main(args: impl Iterator<Item = OsString>) -> ExitCode {
    let ctl = Ctl::parse_from(std::iter::once(OsString::from("sim5360 ctl")).chain(args));
    match run(ctl) {
        Ok(out) => {
            if !out.is_empty() {
                println!("{out}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sim5360 ctl: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One trace line as `[t] #session DIR text`.
fn trace_line(v: &Value) -> String {
    let dir = match v["dir"].as_str() {
        Some("rx") => "DTE>",
        Some("tx") => "<MOD",
        _ => "NOTE",
    };
    format!("[{:12.6}] #{} {dir} {}", v["t"].as_f64().unwrap_or(0.0), v["session"], v["text"].as_str().unwrap_or(""))
}

fn run(ctl: Ctl) -> Result<String, String> {
    if let Verb::Trace { follow, limit } = ctl.verb {
        return trace(&ctl, follow, limit);
    }
    let (base, modem) = base_url(&ctl)?;
    let token = ctl.token.clone();
    let (method, path, body) = request(ctl.verb);
    let url = match (method, path.as_str()) {
        ("POST", "reset") => format!("{base}/api/v1/reset"),
        (_, "") => format!("{base}/api/v1/modems/{modem}"),
        _ => format!("{base}/api/v1/modems/{modem}/{path}"),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(15)))
        .build()
        .into();
    let auth = token.map(|t| format!("Bearer {t}"));
    let with_auth = |r: ureq::RequestBuilder<ureq::typestate::WithoutBody>| match &auth {
        Some(a) => r.header("Authorization", a),
        None => r,
    };
    let with_auth_body = |r: ureq::RequestBuilder<ureq::typestate::WithBody>| match &auth {
        Some(a) => r.header("Authorization", a),
        None => r,
    };
    let res = match (method, body) {
        ("GET", _) => with_auth(agent.get(&url)).call(),
        ("DELETE", _) => with_auth(agent.delete(&url)).call(),
        (m, body) => {
            let rb = match m {
                "PUT" => agent.put(&url),
                "PATCH" => agent.patch(&url),
                _ => agent.post(&url),
            };
            let text = body.map(prune).map(|b| b.to_string()).unwrap_or_default();
            with_auth_body(rb).header("Content-Type", "application/json").send(text)
        }
    };
    let mut res = res.map_err(|e| format!("{url}: {e}"))?;
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().map_err(|e| format!("{url}: {e}"))?;
    if status >= 400 {
        let msg = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or(text);
        return Err(format!("{msg} ({status})"));
    }
    Ok(match serde_json::from_str::<Value>(&text) {
        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or(text),
        Err(_) => text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_their_unit() {
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("3").unwrap_err(), "`3` has no unit: write 3s or 3ms");
        assert!(parse_duration("2h").unwrap_err().contains("more than an hour"));
        assert!(parse_duration("soon").unwrap_err().contains("not a duration"));
    }

    #[test]
    fn net_without_arguments_shows_the_conditions() {
        let ctl = Ctl::try_parse_from(["ctl", "net"]).unwrap();
        assert_eq!(request(ctl.verb).0, "GET");
        let ctl = Ctl::try_parse_from(["ctl", "net", "--rtt", "100ms"]).unwrap();
        let (method, path, body) = request(ctl.verb);
        assert_eq!((method, path.as_str(), body.unwrap()["rtt_ms"].as_f64()), ("PUT", "network", Some(100.0)));
        assert!(Ctl::try_parse_from(["ctl", "coverage", "lose", "--for", "3"]).is_err());
    }

    #[test]
    fn every_verb_and_flag_says_what_it_does() {
        use clap::CommandFactory;
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                let name = a.get_id().as_str();
                if a.get_help().is_none() && !matches!(name, "help" | "version") {
                    missing.push(format!("{path} {name}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(format!("{path} {}", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Ctl::command(), "ctl", &mut missing);
        assert!(missing.is_empty(), "no help for: {missing:?}");
    }
}
