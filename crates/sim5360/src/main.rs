//! `sim5360`: the command line. Everything else lives in the library.

use anyhow::{Context, Result, bail};
use clap::Parser;
use sim5360::efs::HostStore;
use sim5360::modem::settings::DirNv;
use sim5360::modem::{Modem, ModemConfig};
use sim5360::net::{MailTls, NetConfig};
use sim5360::profile::{Model, Profile, imei_is_valid};
use sim5360::runner::{self, End, SessionOptions};
use sim5360::service::gnss::{GnssConfig, PositionSource, Track};
use sim5360::transport::signals::Signals;
use sim5360::transport::trace::Trace;
use sim5360::transport::{pty::Pty, serial, set_line, stdio, tcp, usb};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

/// A virtual SIMCom SIM5360 cellular module.
///
/// It answers the module's AT commands on a serial line and performs its Internet
/// services against real servers. With no transport flag it creates a pseudo-terminal,
/// prints `pty: <path>` and `link: <path>` on stdout, and keeps a stable symlink to it.
#[derive(Debug, Parser)]
#[command(
    version,
    about,
    long_about = None,
    after_help = "Control a running modem from a shell with `sim5360 ctl --help` (its control API: \
                  --control ADDR); the dashboard is at that address's `/` in a browser."
)]
struct Cli {
    /// Stable symlink to the pseudo-terminal (default: $XDG_RUNTIME_DIR/ttySIM5360, or
    /// /tmp/ttySIM5360-<uid> without XDG_RUNTIME_DIR). Removed on exit.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["serial", "tcp", "stdio"])]
    link: Option<PathBuf>,

    /// Do not create the symlink to the pseudo-terminal.
    #[arg(long, conflicts_with = "link")]
    no_link: bool,

    /// Use a real serial device instead of a pseudo-terminal. The modem exits when the
    /// device goes away.
    #[arg(long, value_name = "DEVICE", conflicts_with_all = ["tcp", "stdio"])]
    serial: Option<PathBuf>,

    /// Line speed in bit/s (8N1) at power-on: sets the serial device and the pacing rate;
    /// AT+IPR changes it later.
    #[arg(long, default_value_t = 115200, value_name = "BAUD")]
    baud: u32,

    /// Listen on TCP: every connection is one DTE talking to a freshly powered-on modem
    /// (same EFS and saved settings). A bare port means 127.0.0.1:PORT; port 0 picks a
    /// free one (printed as `tcp: <addr>`). A non-loopback address is a warning: anyone
    /// who reaches it can use the modem's Internet access.
    #[arg(long, value_name = "ADDR:PORT", conflicts_with = "stdio")]
    tcp: Option<String>,

    /// Talk on standard input/output; the modem exits at end of input.
    #[arg(long)]
    stdio: bool,

    /// Emulate the UART byte rate (10 bits a byte at AT+IPR / --baud) on any transport.
    #[arg(long)]
    pace: bool,

    /// Which module to be: identity strings, boot URCs and per-model wording.
    #[arg(long, value_enum, default_value_t = Model::Sim5360)]
    profile: Model,

    /// Time from power-on to the last boot URC (`PB DONE`); the first (`START`) comes at
    /// 30 % of it. Commands are ignored before `START`. Examples: 0, 300ms, 15s.
    #[arg(long, default_value = "300ms", value_parser = sim5360::control::cli::parse_duration, value_name = "DURATION")]
    boot_delay: Duration,

    /// Host directory holding the module file system (drives C: and D:). Default: the
    /// per-user data directory, e.g. ~/.local/share/sim5360/efs. Created if missing.
    #[arg(long, value_name = "DIR")]
    efs: Option<PathBuf>,

    /// Host directory for non-volatile settings (AT&W profile, socket PDP contexts).
    /// Default: the per-user data directory, e.g. ~/.local/share/sim5360/state.
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,

    /// Capacity of drive C: in bytes (reported by AT+FSMEM, enforced on writes).
    #[arg(long, default_value_t = 64 << 20, value_name = "BYTES")]
    efs_size: u64,

    /// Capacity of drive D: (the SD card) in bytes.
    #[arg(long, default_value_t = 1 << 30, value_name = "BYTES")]
    sd_size: u64,

    /// Lock the SIM with this PIN (AT+CPIN? answers SIM PIN until it is entered; the PUK is
    /// 12345678).
    #[arg(long, value_name = "PIN")]
    pin: Option<String>,

    /// Manufacturer string (AT+CGMI, ATI).
    #[arg(long)]
    manufacturer: Option<String>,

    /// Model string (AT+CGMM, ATI).
    #[arg(long)]
    model: Option<String>,

    /// Firmware revision (AT+CGMR, ATI).
    #[arg(long)]
    revision: Option<String>,

    /// IMEI: 15 digits with a valid Luhn check digit (AT+CGSN, ATI).
    #[arg(long)]
    imei: Option<String>,

    /// IMSI (AT+CIMI); its first 5 digits are the operator's numeric code.
    #[arg(long)]
    imsi: Option<String>,

    /// Operator name (AT+COPS?).
    #[arg(long)]
    operator: Option<String>,

    /// The SIM's number (AT+CNUM), e.g. +15555550100; `none` for a SIM without one.
    #[arg(long, value_name = "NUMBER")]
    msisdn: Option<String>,

    /// The SIM's ICCID (AT+CICCID): 19-20 digits, or 19 digits and F.
    #[arg(long, value_name = "ICCID")]
    iccid: Option<String>,

    /// Where GNSS puts the module: LAT,LON[,ALT] in degrees (and metres). Default: the
    /// Brandenburg Gate, 52.516275,13.377704,34.
    #[arg(long, value_name = "LAT,LON[,ALT]", conflicts_with = "gnss_track", value_parser = sim5360::service::gnss::track::parse_position)]
    gnss: Option<sim5360::service::gnss::Fix>,

    /// A track the GNSS position follows in real time, in a loop: a GPX file (track,
    /// route or waypoints, with times) or NMEA sentences (RMC, GGA).
    #[arg(long, value_name = "FILE")]
    gnss_track: Option<PathBuf>,

    /// GNSS time to first fix after AT+CGPS=1 or AT+CGPSCOLD (a hot start takes at most
    /// 1 s). Examples: 0, 5s, 30s.
    #[arg(long, default_value = "5s", value_parser = sim5360::control::cli::parse_duration, value_name = "DURATION")]
    gnss_ttff: Duration,

    /// Stable symlink to the NMEA pseudo-terminal (default: the link's path with `-nmea`
    /// appended, e.g. $XDG_RUNTIME_DIR/ttySIM5360-nmea). Only with the PTY transport.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["serial", "tcp", "stdio", "no_nmea"])]
    nmea_link: Option<PathBuf>,

    /// No NMEA port.
    #[arg(long)]
    no_nmea: bool,

    /// The module as a host sees it on USB: its interface set as PTYs, announced in the
    /// order Linux's option driver numbers them (ttyUSB0-3), each with a link named after
    /// its role: `<link>-diag` (drained, answers nothing), `<link>-nmea` (GNSS
    /// sentences), `<link>-at` (AT commands) and `<link>-modem` (AT commands and data
    /// calls). The two AT ports share one module. Without it: the UART view, one AT port
    /// (the link itself) and the NMEA port.
    #[arg(long, conflicts_with_all = ["serial", "tcp", "stdio", "nmea_link"])]
    usb: bool,

    /// Host address the module's TCP servers (AT+SERVERSTART) listen on. Default
    /// 127.0.0.1; anything else is a warning: whoever reaches it reaches the firmware.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    server_bind: std::net::IpAddr,

    /// Data calls (`ATD*99#`): the authentication the network asks of the DTE (none, as
    /// the real module; pap; chap, Nak'd to PAP if the DTE asks), checked against
    /// AT+CGAUTH / AT+CSOCKAUTH of the context when set.
    #[arg(long, value_enum, default_value_t = PppAuthArg::None)]
    ppp_auth: PppAuthArg,

    /// Data calls: the address on the PPP side that reaches this host's 127.0.0.1 (the
    /// peer address pppd and lwIP assume).
    #[arg(long, value_name = "ADDR", default_value = "10.64.64.64")]
    ppp_host_alias: std::net::Ipv4Addr,

    /// Let the socket service (AT+NETOPEN) and a data call use the same PDP context at once
    /// (by default one refuses the other).
    #[arg(long)]
    ppp_share_context: bool,

    /// Host port for a module server port: AT+SERVERSTART=<MODULE> listens on <HOST>
    /// instead of the same number. May be given several times. Example: 80=8080.
    #[arg(long, value_name = "MODULE=HOST", value_parser = parse_port_map)]
    server_port: Vec<(u16, u16)>,

    /// Message slots of the SIM's SMS storage (SM), 1-255; SIMs differ.
    #[arg(long, default_value_t = 50, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=255))]
    sim_sms_capacity: u16,

    /// The SMS service centre number AT+CSCA? shows until the DTE sets one.
    #[arg(long, default_value = "+15555550000", value_name = "NUMBER", value_parser = parse_number)]
    smsc: String,

    /// How long the network takes to deliver an SMS to the module's own number, and a
    /// status report. Examples: 0, 500ms, 2s.
    #[arg(long, default_value = "1s", value_parser = sim5360::control::cli::parse_duration, value_name = "DURATION")]
    sms_delay: Duration,

    /// A USSD code and the network's answer, e.g. '*123#=You have 5 GB left.' ({msisdn}
    /// is the module's number). May be given several times; adds to or replaces the
    /// defaults (*100#, *101#: balance, *#100#: own number, *111#: a menu).
    #[arg(long, value_name = "CODE=TEXT", value_parser = parse_ussd)]
    ussd: Vec<(String, String)>,

    /// From ATD to the called party answering (or being found busy or absent).
    #[arg(long, default_value = "3s", value_parser = sim5360::control::cli::parse_duration, value_name = "DURATION")]
    call_answer_delay: Duration,

    /// A number that is busy when called (BUSY). May be given several times.
    #[arg(long, value_name = "NUMBER", value_parser = parse_number)]
    call_busy: Vec<String>,

    /// A number that rings but never answers (NO ANSWER). May be given several times.
    #[arg(long, value_name = "NUMBER", value_parser = parse_number)]
    call_no_answer: Vec<String>,

    /// Trust the CA certificates in this PEM file for TLS (FTPS, HTTPS, ...), besides the
    /// system roots. May be given several times.
    #[arg(long = "ca", value_name = "FILE")]
    ca: Vec<PathBuf>,

    /// Do not verify server certificates at all, as the real module does not.
    #[arg(long)]
    tls_insecure: bool,

    /// Longest wait for any single network step of a service (connect, a server reply, a
    /// data read), 1s to 10m; past it the service reports its timeout code.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = parse_net_timeout)]
    net_timeout: Duration,

    /// SMTP over TLS, which the real SIM5360 does not offer: `starttls` upgrades the
    /// connection, `implicit` is TLS from the first byte (SMTPS). Default off.
    #[arg(long, value_enum, default_value_t = MailTls::Off)]
    smtp_tls: MailTls,

    /// POP3 over TLS, which the real SIM5360 does not offer: `starttls` (STLS) or
    /// `implicit` (POP3S). Default off.
    #[arg(long, value_enum, default_value_t = MailTls::Off)]
    pop3_tls: MailTls,

    /// Serve the control API (REST + JSON under /api/v1: state, SMS, radio, coverage, SIM,
    /// GNSS, calls, answer overrides; docs/control.md) on ADDR:PORT. A bare port means
    /// 127.0.0.1:PORT; port 0 picks a free one. A non-loopback address is a warning.
    #[arg(long, value_name = "ADDR:PORT")]
    control: Option<String>,

    /// Seeded chaos for soak and robustness runs: coverage gaps, signal changes and
    /// one-connection faults at random times, the same ones for the same seed
    /// (docs/control.md). PROFILE: mild (default) or harsh.
    #[arg(long, value_name = "SEED[:PROFILE]", value_parser = sim5360::control::chaos::parse)]
    chaos: Option<sim5360::control::chaos::ChaosConfig>,

    /// Run a fleet of N modems in this process (PTY transport): modem i has its own PTY
    /// (link `ttySIM5360-<i>` in --link-dir), EFS (<efs>/<i>), state (<state>/<i>) and
    /// identity (IMEI, IMSI, ICCID ending in i; MSISDN --msisdn-base + i); SMS and calls
    /// between their numbers go from one to the other (docs/fleet.md).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096), conflicts_with_all = ["serial", "stdio", "link"])]
    modems: Option<u32>,

    /// A fleet file (TOML): one `[[modem]]` table per modem with what differs from the
    /// command line (profile, pin, imei, imsi, iccid, msisdn, efs, state, link); the
    /// number of tables is the fleet's size (docs/fleet.md).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["modems", "serial", "stdio", "link"])]
    fleet: Option<PathBuf>,

    /// Where a fleet's PTY links go (default: $XDG_RUNTIME_DIR, or /tmp).
    #[arg(long, value_name = "DIR")]
    link_dir: Option<PathBuf>,

    /// A fleet's first MSISDN (digits); modem i has this + i.
    #[arg(long, value_name = "DIGITS", default_value_t = 15550000000)]
    msisdn_base: u64,

    /// Connect this process's modems to an MQTT broker (mqtt://HOST[:PORT]): SMS and
    /// call signalling reach modems of other processes and machines (topics
    /// `sim5360/v1/sms/<digits>` and `sim5360/v1/call/<digits>`, QoS 1, a persistent
    /// session; docs/fleet.md). Runs the modems as a fleet (of one without --modems).
    #[arg(long, value_name = "URL", value_parser = sim5360::control::fleet::parse_broker, conflicts_with_all = ["serial", "stdio", "link"])]
    core_network: Option<(String, u16)>,

    /// Every control request must carry `Authorization: Bearer TOKEN`.
    #[arg(long, value_name = "TOKEN", requires = "control", env = "SIM5360_CONTROL_TOKEN")]
    control_token: Option<String>,

    /// Once ready, print one JSON line on stdout with the PTY, the link, the NMEA port,
    /// the TCP address, the control URL and the pid (instead of the `pty:` lines).
    #[arg(long)]
    ready_json: bool,

    /// Record both directions, with timestamps, to FILE (secrets masked).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,

    /// More log output on stderr (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

fn data_dir(sub: &str) -> Result<PathBuf> {
    let base = dirs::data_dir().context("no per-user data directory; give --efs and --state")?;
    Ok(base.join("sim5360").join(sub))
}

fn default_link() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) => PathBuf::from(d).join("ttySIM5360"),
        None => PathBuf::from(format!("/tmp/ttySIM5360-{}", nix::unistd::getuid())),
    }
}

/// `--ppp-auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum PppAuthArg {
    None,
    Pap,
    Chap,
}

/// What every new modem of this process is made from.
#[derive(Clone)]
struct Factory {
    profile: Profile,
    boot_delay: Duration,
    pin: Option<String>,
    baud: u32,
    efs: PathBuf,
    /// The state directory's NV, shared by every modem of the process (a TCP reconnect
    /// sees what the last session saved, even before it reached the disk).
    nv: Arc<DirNv>,
    gnss: GnssConfig,
    sockets: sim5360::service::sockets::SocketConfig,
    sms: sim5360::service::sms::SmsConfig,
    calls: sim5360::service::voice::CallConfig,
    ppp: sim5360::service::ppp::PppConfig,
    /// The link's faults and conditions, shared by the control channel and the jobs.
    rules: Arc<sim5360::net::link::LinkRules>,
    chaos: Option<sim5360::control::chaos::ChaosConfig>,
    /// A fleet's numbers (each modem of `--modems` knows which numbers the fleet reaches).
    directory: Option<sim5360::control::fleet::Directory>,
    efs_size: u64,
    sd_size: u64,
    /// The AT ports of each modem (the UART view's one, or the USB view's two).
    ports: Vec<sim5360::modem::PortRole>,
}

impl Factory {
    fn power_on(&self) -> Result<Modem> {
        let mut configs = sim5360::modem::Configs::default()
            .with(self.gnss.clone())
            .with(self.sockets.clone())
            .with(self.sms.clone())
            .with(self.calls.clone())
            .with(self.ppp.clone())
            .with(self.rules.clone());
        if let Some(c) = self.chaos {
            configs.set(c);
        }
        if let Some(d) = &self.directory {
            configs.set(d.clone());
        }
        let store = HostStore::open(&self.efs, self.efs_size, self.sd_size)
            .with_context(|| format!("EFS directory {}", self.efs.display()))?;
        let cfg = ModemConfig {
            catalog: &sim5360::registry::CATALOG,
            ports: self.ports.clone(),
            profile: self.profile.clone(),
            boot_delay: self.boot_delay,
            pin: self.pin.clone(),
            baud: self.baud,
            store: Box::new(store),
            nv: self.nv.clone(),
            configs,
        };
        Modem::new(cfg, Box::new(chrono::Utc::now), std::time::Instant::now()).context("preparing the EFS")
    }
}

/// `--modems N`: N modems in this process, each on its own PTY with its own identity,
/// EFS and state, one control API for all (`/api/v1/modems/<i>`), and a core network
/// between their numbers. A modem task that ends or panics leaves the others running.
async fn run_fleet(
    cli: &Cli,
    base: &Factory,
    net: NetConfig,
    trace: Option<Arc<Trace>>,
    n: u32,
    file: Option<sim5360::control::fleet::FleetFile>,
) -> Result<()> {
    use sim5360::control::fleet::{CoreNetwork, Directory, identity};
    use sim5360::control::http::Hub;
    raise_fd_limit();
    let free_ptys = if cli.tcp.is_none() { pty_room() } else { None };
    // The USB view has a PTY per interface (diag, NMEA, AT, modem).
    let per_modem: u64 = if cli.usb { 3 + u64::from(!cli.no_nmea) } else { 1 };
    if let Some(room) = free_ptys
        && u64::from(n) * per_modem > room
    {
        bail!(
            "--modems {n}: the kernel has room for {room} more pseudo-terminals (kernel.pty.max), {per_modem} a modem; use fewer"
        );
    }
    let state_root = match &cli.state {
        Some(p) => p.clone(),
        None => data_dir("state")?,
    };
    let link_dir = cli.link_dir.clone().unwrap_or_else(|| default_link().parent().map_or("/tmp".into(), PathBuf::from));
    std::fs::create_dir_all(&link_dir).with_context(|| format!("--link-dir {}", link_dir.display()))?;
    let mut factories = Vec::with_capacity(n as usize);
    let mut links = Vec::with_capacity(n as usize);
    for i in 0..n {
        let mut f = base.clone();
        f.profile.identity = identity(&base.profile.identity, i, cli.msisdn_base);
        if n == 1 && cli.modems.is_none() && file.is_none() {
            // A single modem on a broker keeps its own identity.
            f.profile.identity = base.profile.identity.clone();
        }
        f.efs = base.efs.join(i.to_string());
        let mut state = state_root.join(i.to_string());
        let mut link = link_dir.join(format!("ttySIM5360-{i}"));
        if let Some(spec) = file.as_ref().and_then(|f| f.modem.get(i as usize)) {
            if let Some(p) = &spec.profile {
                let model = match p.as_str() {
                    "sim5320" => Model::Sim5320,
                    "sim7600" => Model::Sim7600,
                    _ => Model::Sim5360,
                };
                // That model's defaults, with the index's identity on its own TAC.
                let fresh = Profile::new(model);
                let derived = identity(&fresh.identity, i, cli.msisdn_base);
                f.profile = fresh;
                f.profile.identity = derived;
            }
            let id = &mut f.profile.identity;
            for (field, value) in [
                (&mut id.imei, &spec.imei),
                (&mut id.imsi, &spec.imsi),
                (&mut id.iccid, &spec.iccid),
                (&mut id.msisdn, &spec.msisdn),
            ] {
                if let Some(v) = value {
                    v.clone_into(field);
                }
            }
            if !id.msisdn.starts_with('+') {
                id.msisdn.insert(0, '+');
            }
            if spec.pin.is_some() {
                f.pin.clone_from(&spec.pin);
            }
            if let Some(p) = &spec.efs {
                f.efs.clone_from(p);
            }
            if let Some(p) = &spec.state {
                state.clone_from(p);
            }
            if let Some(p) = &spec.link {
                link.clone_from(p);
            }
        }
        f.nv = Arc::new(DirNv::open(state.clone()).with_context(|| format!("state directory {}", state.display()))?);
        f.rules = Arc::default();
        links.push(link);
        factories.push(f);
    }
    let mut directory = Directory::new(factories.iter().map(|f| f.profile.identity.msisdn.as_str()));
    let hubs: Vec<Arc<Hub>> = (0..n).map(|_| Arc::new(Hub::with_trace(trace.clone()))).collect();
    let members = factories.iter().map(|f| f.profile.identity.msisdn.clone()).zip(hubs.iter().cloned());
    let core = match &cli.core_network {
        None => Arc::new(CoreNetwork::new(members)),
        Some((host, port)) => {
            // One client per process, its id from the first modem's number: the broker
            // keeps this process's session (and what was sent to it meanwhile) while it is
            // away.
            directory = directory.with_everyone();
            let id = format!("sim5360-{}", factories[0].profile.identity.msisdn.trim_start_matches('+'));
            CoreNetwork::with_broker(members, host, *port, &id)
        }
    };
    let control_url = serve_control(cli, hubs.clone()).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let signals = Signals::install()?;
    tokio::spawn(async move {
        signals.wait().await;
        let _ = stop_tx.send(true);
    });
    let started = std::time::Instant::now();
    let tcp_base = match &cli.tcp {
        Some(a) => Some(tcp::parse_addr(a)?),
        None => None,
    };
    let mut tasks = tokio::task::JoinSet::new();
    // `sim5360 ctl --link <a modem's link>` finds the API and the modem from these.
    let mut control_files = Vec::new();
    for (i, mut f) in factories.into_iter().enumerate() {
        f.directory = Some(directory.clone());
        let modem = f.power_on()?;
        let id = f.profile.identity.clone();
        let mut net_i = net.clone();
        net_i.rules = f.rules.clone();
        let net_i = Arc::new(net_i);
        let session_id = i as u64 + 1;
        let (hub, core, trace) = (hubs[i].clone(), core.clone(), trace.clone());
        let pace = cli.pace;
        let msisdn = id.msisdn.clone();
        // Every connection's session (a TCP fleet gives each connection one).
        let session = move || SessionOptions {
            pace,
            trace: trace.as_ref().map(|t| (t.clone(), t.session(session_id))),
            on_line: None,
            net: net_i.clone(),
            port: None,
            // Always: the core network reaches a modem through its hub, API or not.
            control: Some(hub.attach(session_id)),
            core: Some((core.clone(), msisdn.clone())),
            dtr: None,
        };
        let mut line = serde_json::json!({
            "id": i, "imei": id.imei, "msisdn": id.msisdn, "control": control_url, "pid": std::process::id(),
        });
        let stop = stop_rx.clone();
        if let Some(addr) = &tcp_base {
            // One listening port per modem: the base port + i (port 0: each a free one).
            let port =
                if addr.port() == 0 { 0 } else { addr.port().checked_add(i as u16).context("--tcp: ports run out")? };
            let listener = tcp::bind(std::net::SocketAddr::new(addr.ip(), port)).await?;
            let local = listener.local_addr()?;
            line["tcp"] = local.to_string().into();
            if cli.ready_json {
                println!("{line}");
            } else {
                println!("modem {i}: tcp: {local} msisdn: {}", id.msisdn);
            }
            tasks.spawn(async move {
                let power_on = move || f.power_on();
                (i, tcp::serve(listener, modem, power_on, session, stop).await)
            });
            continue;
        }
        let link = links[i].clone();
        if let Some(url) = &control_url {
            control_files.push(ControlFile::write_for(&link, url, Some(i))?);
        }
        // The session (its hub attached) before the announcement, so the API answers for
        // this modem as soon as its ready line is out.
        let mut opts = session();
        if cli.usb {
            // The USB view: `<link>-diag`, `-nmea`, `-at`, `-modem`.
            let (mut ports, mut keep, mut listed, mut text) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for p in usb::open(Some(&link), cli.baud, !cli.no_nmea)? {
                let usb::UsbPort { interface, pty, stream } = p;
                let (path, l) = (pty.path.display().to_string(), pty.link().map(|l| l.display().to_string()));
                listed.push(serde_json::json!({
                    "role": interface.name(), "usb_interface": interface.number(), "pty": path, "link": l,
                }));
                text.push(format!("{}: {}", interface.name(), l.as_deref().unwrap_or(&path)));
                match interface {
                    usb::UsbIf::Diag => drain(stream),
                    usb::UsbIf::Nmea => opts.port = Some(nmea_port(&pty, stream)),
                    usb::UsbIf::At | usb::UsbIf::Modem => {
                        if interface == usb::UsbIf::At {
                            line["pty"] = path.clone().into();
                            line["link"] = l.clone().into();
                        }
                        let (rd, wr) = tokio::io::split(stream);
                        let role = interface.role().unwrap_or(sim5360::modem::PortRole::UsbAt);
                        ports.push(runner::PortIo::new(role, rd, wr));
                    }
                }
                keep.push(pty);
            }
            line["ports"] = listed.into();
            if cli.ready_json {
                println!("{line}");
            } else {
                println!("modem {i}: {} msisdn: {}", text.join(" "), id.msisdn);
            }
            tasks.spawn(async move {
                let end = runner::run_ports(ports, modem, opts, stop).await;
                drop(keep);
                (i, end.map(|e| info!(modem = i, "session ended: {e:?}")).map_err(anyhow::Error::from))
            });
            continue;
        }
        let (pty, stream) = Pty::open(cli.baud, Some(&link))?;
        opts.dtr = stream.get_ref().try_clone().ok();
        line["pty"] = pty.path.display().to_string().into();
        line["link"] = link.display().to_string().into();
        if cli.ready_json {
            println!("{line}");
        } else {
            println!("modem {i}: pty: {} link: {} msisdn: {}", pty.path.display(), link.display(), id.msisdn);
        }
        tasks.spawn(async move {
            let (rd, wr) = tokio::io::split(stream);
            let end = runner::run(rd, wr, modem, opts, stop).await;
            drop(pty);
            (i, end.map(|e| info!(modem = i, "session ended: {e:?}")).map_err(anyhow::Error::from))
        });
    }
    std::io::Write::flush(&mut std::io::stdout())?;
    info!(modems = n, ms = started.elapsed().as_millis() as u64, "fleet ready");
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok((i, Ok(()))) => info!(modem = i, "modem ended"),
            Ok((i, Err(e))) => warn!(modem = i, "modem ended with an error: {e}"),
            Err(e) => tracing::error!("a modem's task failed ({e}); the others go on"),
        }
    }
    drop(control_files);
    Ok(())
}

/// Raise the open-file limit to its hard limit (a fleet holds two descriptors per modem).
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
        && let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
    {
        warn!("cannot raise the open-file limit to {hard}: {e}");
    }
}

/// Pseudo-terminals the kernel can still give (`kernel.pty.max` - `kernel.pty.nr`).
fn pty_room() -> Option<u64> {
    let read = |p: &str| std::fs::read_to_string(p).ok()?.trim().parse::<u64>().ok();
    Some(read("/proc/sys/kernel/pty/max")?.saturating_sub(read("/proc/sys/kernel/pty/nr")?))
}

/// `<link>.control`: the control URL of the modem behind that link, while it runs (and,
/// for a modem of a fleet, a second line `modem <index>`).
struct ControlFile(PathBuf);

impl ControlFile {
    fn write(link: &std::path::Path, url: &str) -> Result<Self> {
        Self::write_for(link, url, None)
    }

    fn write_for(link: &std::path::Path, url: &str, modem: Option<usize>) -> Result<Self> {
        let path = sim5360::control::cli::control_file(link);
        let text = match modem {
            Some(i) => format!("{url}\nmodem {i}\n"),
            None => format!("{url}\n"),
        };
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for ControlFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A phone number: digits with an optional leading `+`.
/// `--net-timeout`: a duration of 1 s to 10 min.
fn parse_net_timeout(s: &str) -> Result<Duration, String> {
    let d = sim5360::control::cli::parse_duration(s)?;
    if !(Duration::from_secs(1)..=Duration::from_secs(600)).contains(&d) {
        return Err(format!("`{s}` is outside 1s..10m"));
    }
    Ok(d)
}

fn parse_number(s: &str) -> Result<String, String> {
    let d = s.strip_prefix('+').unwrap_or(s);
    if d.is_empty() || d.len() > 20 || !d.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{s:?} is not a phone number (digits, optionally after +)"));
    }
    Ok(s.to_owned())
}

/// `CODE=TEXT`: a USSD code (`*`, `#`, digits, ending in `#`) and its answer.
fn parse_ussd(s: &str) -> Result<(String, String), String> {
    let (code, text) = s.split_once('=').ok_or("expected CODE=TEXT, e.g. '*123#=Your balance is 5 EUR'")?;
    if !code.ends_with('#') || !code.bytes().all(|b| b.is_ascii_digit() || b == b'*' || b == b'#') {
        return Err(format!("{code:?} is not a USSD code (digits, * and #, ending in #)"));
    }
    if text.chars().count() > 182 {
        return Err("a USSD answer holds at most 182 characters".into());
    }
    Ok((code.to_owned(), text.to_owned()))
}

/// `MODULE=HOST`: two port numbers.
fn parse_port_map(s: &str) -> Result<(u16, u16), String> {
    let (m, h) = s.split_once('=').ok_or("expected MODULE=HOST, e.g. 80=8080")?;
    let port = |p: &str| p.trim().parse::<u16>().map_err(|_| format!("{p:?} is not a port number (0-65535)"));
    Ok((port(m)?, port(h)?))
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

fn main() -> std::process::ExitCode {
    if std::env::args_os().nth(1).is_some_and(|a| a == "ctl") {
        return sim5360::control::cli::main(std::env::args_os().skip(2));
    }
    let cli = Cli::parse();
    init_logging(cli.verbose);
    // One thread: the modem is one pipeline (DTE <-> core <-> jobs); the ftp_throughput
    // bench measured about half the CPU per byte of a two-worker runtime. A fleet is many
    // pipelines: a worker per core, so busy modems hold back the others' answers less (the
    // fleet bench: the AT round trip while 100 modems download, 4.7 ms median on one
    // thread, 2.9 ms on two).
    let builder = if cli.modems.is_some_and(|n| n > 1) {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let mut builder = builder;
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sim5360: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sim5360: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let mut profile = Profile::new(cli.profile);
    let id = &mut profile.identity;
    for (field, value) in [
        (&mut id.manufacturer, &cli.manufacturer),
        (&mut id.model, &cli.model),
        (&mut id.revision, &cli.revision),
        (&mut id.imsi, &cli.imsi),
        (&mut id.operator, &cli.operator),
    ] {
        if let Some(v) = value {
            if v.is_empty() || v.len() > 64 || v.bytes().any(|b| !(0x20..0x7f).contains(&b) || b == b'"') {
                bail!("identity string {v:?} must be 1-64 printable ASCII characters without quotes");
            }
            v.clone_into(field);
        }
    }
    if let Some(imei) = &cli.imei {
        if !imei_is_valid(imei) {
            bail!("--imei {imei}: must be 15 digits with a valid Luhn check digit");
        }
        id.imei.clone_from(imei);
    }
    if let Some(imsi) = &cli.imsi
        && (!(6..=15).contains(&imsi.len()) || !imsi.bytes().all(|b| b.is_ascii_digit()))
    {
        bail!("--imsi {imsi}: must be 6-15 digits");
    }
    if let Some(n) = &cli.msisdn {
        if n == "none" {
            id.msisdn.clear();
        } else {
            let digits = n.strip_prefix('+').unwrap_or(n);
            if !(3..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                bail!("--msisdn {n}: must be 3-15 digits, optionally after a +");
            }
            id.msisdn.clone_from(n);
        }
    }
    if let Some(iccid) = &cli.iccid {
        let body = iccid.strip_suffix(['F', 'f']).unwrap_or(iccid);
        if !(19..=20).contains(&iccid.len()) || !body.bytes().all(|b| b.is_ascii_digit()) {
            bail!("--iccid {iccid}: must be 19-20 digits (or 19 and F)");
        }
        id.iccid.clone_from(iccid);
    }
    let source = match &cli.gnss_track {
        Some(path) => PositionSource::Track(Arc::new(Track::load(path).map_err(anyhow::Error::msg)?)),
        None => PositionSource::Fixed(cli.gnss.unwrap_or(sim5360::service::gnss::DEFAULT_POSITION)),
    };
    let gnss = GnssConfig::new(source, cli.gnss_ttff, std::time::Instant::now());
    if let Some(pin) = &cli.pin
        && (!(4..=8).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()))
    {
        bail!("--pin: must be 4-8 digits");
    }
    if !sim5360::modem::settings::BAUD_RATES.contains(&cli.baud) || cli.baud == 0 {
        bail!("--baud {}: not a rate the module supports", cli.baud);
    }
    let factory = Arc::new(Factory {
        profile,
        boot_delay: cli.boot_delay,
        pin: cli.pin.clone(),
        baud: cli.baud,
        efs: match &cli.efs {
            Some(p) => p.clone(),
            None => data_dir("efs")?,
        },
        nv: {
            let state = match &cli.state {
                Some(p) => p.clone(),
                None => data_dir("state")?,
            };
            Arc::new(DirNv::open(state.clone()).with_context(|| format!("state directory {}", state.display()))?)
        },
        gnss,
        sockets: sim5360::service::sockets::SocketConfig {
            server_bind: cli.server_bind,
            server_ports: cli.server_port.clone(),
            share_context_with_ppp: cli.ppp_share_context,
        },
        sms: sim5360::service::sms::SmsConfig {
            sim_capacity: usize::from(cli.sim_sms_capacity),
            smsc: cli.smsc.clone(),
            delivery_delay: cli.sms_delay,
            ussd: cli.ussd.clone(),
        },
        rules: Arc::default(),
        chaos: cli.chaos,
        directory: None,
        calls: sim5360::service::voice::CallConfig {
            answer_delay: cli.call_answer_delay,
            busy: cli.call_busy.clone(),
            no_answer: cli.call_no_answer.clone(),
        },
        ppp: sim5360::service::ppp::PppConfig {
            auth: match cli.ppp_auth {
                PppAuthArg::None => ppp::Auth::None,
                PppAuthArg::Pap => ppp::Auth::Pap,
                PppAuthArg::Chap => ppp::Auth::Chap,
            },
            alias: cli.ppp_host_alias,
        },
        efs_size: cli.efs_size,
        sd_size: cli.sd_size,
        ports: if cli.usb { usb::AT_PORTS.to_vec() } else { vec![sim5360::modem::PortRole::Uart] },
    });
    // The trace: to --trace's file, and in memory for the control API's /trace.
    let trace = if cli.trace.is_some() || cli.control.is_some() {
        let t = Trace::create(cli.trace.as_deref(), cli.control.is_some()).with_context(|| {
            format!("trace file {}", cli.trace.as_deref().unwrap_or(std::path::Path::new("")).display())
        })?;
        Some(Arc::new(t))
    } else {
        None
    };
    let mut net = NetConfig::new(&cli.ca, cli.tls_insecure)?;
    net.set_timeout(cli.net_timeout);
    net.smtp_tls = cli.smtp_tls;
    net.pop3_tls = cli.pop3_tls;
    net.rules = factory.rules.clone();
    if cli.modems.is_some() || cli.core_network.is_some() || cli.fleet.is_some() {
        let file = match &cli.fleet {
            Some(p) => Some(sim5360::control::fleet::FleetFile::load(p).map_err(anyhow::Error::msg)?),
            None => None,
        };
        let n = file.as_ref().map_or(cli.modems.unwrap_or(1), |f| f.modem.len() as u32);
        return run_fleet(&cli, &factory, net, trace, n, file).await;
    }
    let net = Arc::new(net);
    if cli.tls_insecure {
        warn!("--tls-insecure: server certificates are not verified");
    }
    if !cli.server_bind.is_loopback() {
        warn!("--server-bind {}: AT+SERVERSTART servers are reachable beyond this machine", cli.server_bind);
    }
    // The control API: bound now, so a bad address fails before anything is announced.
    let hub = Arc::new(sim5360::control::http::Hub::with_trace(trace.clone()));
    let control_url = serve_control(&cli, vec![hub.clone()]).await?;
    let mut ready = serde_json::json!({ "pid": std::process::id(), "control": control_url });
    let session_ids = Arc::new(AtomicU64::new(1));
    let make_session = {
        let trace = trace.clone();
        let hub = hub.clone();
        let with_control = control_url.is_some();
        move |ids: &AtomicU64| {
            let id = ids.fetch_add(1, Ordering::Relaxed);
            SessionOptions {
                pace: cli.pace,
                trace: trace.as_ref().map(|t| (t.clone(), t.session(id))),
                on_line: None,
                net: net.clone(),
                port: None,
                control: with_control.then(|| hub.attach(id)),
                core: None,
                dtr: None,
            }
        }
    };
    // First modem now, so a broken EFS or state dir fails before anything is announced.
    let first = factory.power_on()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    // Handlers are installed here, before anything is announced, so a signal that comes
    // right after the announcement still finds them (and the symlink is removed).
    let signals = Signals::install()?;
    tokio::spawn(async move {
        signals.wait().await;
        let _ = stop_tx.send(true);
    });

    if cli.stdio {
        if cli.ready_json {
            eprintln!("{ready}");
        }
        let end = stdio::serve(first, make_session(&session_ids), stop_rx).await;
        info!("stdio session ended: {:?}", end);
        return end.map(|_| ()).map_err(Into::into);
    }
    if let Some(dev) = &cli.serial {
        if !sim5360::transport::serial_rate_ok(cli.baud) {
            bail!("--baud {}: a serial device cannot be set to this rate", cli.baud);
        }
        let mut first = first;
        first.limit_rates(sim5360::transport::serial_rate_ok);
        let stream = serial::open_serial(dev, cli.baud)?;
        let fd = stream.get_ref().try_clone()?;
        let (rd, wr) = tokio::io::split(stream);
        let mut session = make_session(&session_ids);
        session.on_line = Some(Box::new(move |l| {
            if let Err(e) = set_line(&fd, l) {
                warn!("cannot set the serial device to {} bit/s, RTS/CTS {}: {e}", l.baud, l.rtscts);
            }
        }));
        if cli.ready_json {
            ready["serial"] = dev.display().to_string().into();
            println!("{ready}");
        } else {
            println!("serial: {}", dev.display());
        }
        std::io::Write::flush(&mut std::io::stdout())?;
        let end = runner::run(rd, wr, first, session, stop_rx).await?;
        if end == End::HangUp {
            warn!("serial device {} went away", dev.display());
        }
        return Ok(());
    }
    if let Some(addr) = &cli.tcp {
        let addr = tcp::parse_addr(addr)?;
        let listener = tcp::bind(addr).await?;
        if cli.ready_json {
            ready["tcp"] = listener.local_addr()?.to_string().into();
            println!("{ready}");
        } else {
            println!("tcp: {}", listener.local_addr()?);
        }
        std::io::Write::flush(&mut std::io::stdout())?;
        let power_on = move || factory.power_on();
        return tcp::serve(listener, first, power_on, move || make_session(&session_ids), stop_rx).await;
    }
    let link = if cli.no_link { None } else { Some(cli.link.clone().unwrap_or_else(default_link)) };
    let mut announce = Announce::new(cli.ready_json, ready);
    let mut session = make_session(&session_ids);
    if cli.usb {
        let opened = usb::open(link.as_deref(), cli.baud, !cli.no_nmea)?;
        // `sim5360 ctl` finds the control API from a file beside the base link.
        let _control_file = match (&control_url, &link) {
            (Some(url), Some(l)) => Some(ControlFile::write(l, url)?),
            _ => None,
        };
        let mut ports = Vec::new();
        let mut keep = Vec::new();
        for p in opened {
            announce.port(p.interface.name(), Some(p.interface.number()), &p.pty);
            let usb::UsbPort { interface, pty, stream } = p;
            match interface {
                usb::UsbIf::Diag => drain(stream),
                usb::UsbIf::Nmea => session.port = Some(nmea_port(&pty, stream)),
                usb::UsbIf::At | usb::UsbIf::Modem => {
                    let (rd, wr) = tokio::io::split(stream);
                    let role = interface.role().unwrap_or(sim5360::modem::PortRole::UsbAt);
                    ports.push(runner::PortIo::new(role, rd, wr));
                }
            }
            keep.push(pty);
        }
        announce.finish()?;
        runner::run_ports(ports, first, session, stop_rx).await?;
        drop(keep);
        return Ok(());
    }
    let (pty, stream) = Pty::open(cli.baud, link.as_deref())?;
    announce.port("uart", None, &pty);
    // `sim5360 ctl` finds the control API of "the" running modem from a file beside its
    // link (removed on exit).
    let _control_file = match (&control_url, pty.link()) {
        (Some(url), Some(l)) => Some(ControlFile::write(l, url)?),
        _ => None,
    };
    // The NMEA port: a second PTY, announced after the first.
    let nmea = if cli.no_nmea {
        None
    } else {
        let nmea_link = cli.nmea_link.clone().or_else(|| link.as_ref().map(|l| usb::link_for(l, "nmea")));
        let (nmea_pty, nmea_stream) = Pty::open(cli.baud, nmea_link.as_deref())?;
        announce.port("nmea", None, &nmea_pty);
        session.port = Some(nmea_port(&nmea_pty, nmea_stream));
        Some(nmea_pty)
    };
    announce.finish()?;
    // The UART's DTR: a PTY shows the DTE's speed-0 "hang-up" in its termios only.
    match stream.get_ref().try_clone() {
        Ok(master) => session.dtr = Some(master),
        Err(e) => warn!("cannot watch DTR on the PTY: {e}"),
    }
    let (rd, wr) = tokio::io::split(stream);
    let end = runner::run(rd, wr, first, session, stop_rx).await;
    drop(pty);
    drop(nmea);
    end?;
    Ok(())
}

/// What the modem announces once ready: `key: value` lines as each port opens, or one JSON
/// line with all of them (and a `ports` list) at the end.
struct Announce {
    json: bool,
    ready: serde_json::Value,
    ports: Vec<serde_json::Value>,
}

impl Announce {
    fn new(json: bool, ready: serde_json::Value) -> Self {
        Self { json, ready, ports: Vec::new() }
    }

    fn line(&mut self, key: &str, value: String) {
        if self.json {
            self.ready[key.replace('-', "_")] = value.into();
        } else {
            println!("{key}: {value}");
        }
    }

    /// A port: `uart` is announced as `pty`/`link` (the UART view's lines); every other
    /// role under its own name; the USB view's AT port is also the `pty`/`link` of the
    /// JSON line.
    fn port(&mut self, role: &str, interface: Option<u8>, pty: &Pty) {
        let key = if role == "uart" { "pty" } else { role };
        let path = pty.path.display().to_string();
        let link = pty.link().map(|l| l.display().to_string());
        self.line(key, path.clone());
        if let Some(l) = &link {
            let k = if role == "uart" { "link".to_owned() } else { format!("{role}-link") };
            self.line(&k, l.clone());
        }
        if self.json && role == "at" {
            self.ready["pty"] = path.clone().into();
            if let Some(l) = &link {
                self.ready["link"] = l.clone().into();
            }
        }
        let mut entry = serde_json::json!({ "role": role, "pty": path });
        if let Some(l) = link {
            entry["link"] = l.into();
        }
        if let Some(n) = interface {
            entry["usb_interface"] = n.into();
        }
        self.ports.push(entry);
    }

    /// Print the JSON line (once every port is open) and flush.
    fn finish(mut self) -> std::io::Result<()> {
        if self.json {
            self.ready["ports"] = std::mem::take(&mut self.ports).into();
            println!("{}", self.ready);
        }
        std::io::Write::flush(&mut std::io::stdout())
    }
}

/// What a DTE writes to a port that takes no commands (the NMEA port: gpsd probes; the
/// diagnostics port: QCDM requests) is read and dropped, so it never fills the PTY.
fn drain<R: tokio::io::AsyncRead + Unpin + Send + 'static>(mut rd: R) {
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        loop {
            match tokio::io::AsyncReadExt::read(&mut rd, &mut buf).await {
                Ok(n) if n > 0 => {}
                _ => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            }
        }
    });
}

/// The NMEA port on `pty`: the modem's NMEA output to it, what its reader writes drained.
fn nmea_port(pty: &Pty, stream: sim5360::transport::fd::FdStream) -> runner::AuxPort {
    let (nmea_in, nmea_out) = tokio::io::split(stream);
    drain(nmea_in);
    let port = runner::AuxPort::new(sim5360::service::gnss::NMEA_PORT, Box::new(nmea_out));
    match pty.reader_side() {
        Ok(fd) => port.on_pty(fd),
        Err(e) => {
            warn!("NMEA port: {e}; a late reader gets what the kernel kept");
            port
        }
    }
}

/// `--control ADDR:PORT`: the control API and the dashboard for these modems' hubs; the
/// URL they are served at, or None without the option.
async fn serve_control(cli: &Cli, hubs: Vec<Arc<sim5360::control::http::Hub>>) -> Result<Option<String>> {
    let Some(a) = &cli.control else { return Ok(None) };
    let addr = tcp::parse_addr(a).with_context(|| format!("--control {a}"))?;
    if !addr.ip().is_loopback() {
        warn!("--control {addr}: whoever reaches it can drive the modems (API and dashboard)");
    }
    let listener = sim5360::control::http::bind(addr).await.with_context(|| format!("--control {addr}"))?;
    let bound = sim5360::control::http::serve(listener, hubs, cli.control_token.clone())?;
    Ok(Some(format!("http://{bound}")))
}
