//! Download throughput and memory of the services, measured in one run against references:
//! - FTP (`AT+CFTPGET`), FTPS (`AT+CFTPSGET`), HTTP (`AT+CHTTPACT`) and HTTPS
//!   (`AT+CHTTPSRECV`) of a 10 MiB file to the DTE over a PTY, against the PTY's own floor
//!   (a plain process pushing the same bytes through a PTY as fast as it can), samples of
//!   the two alternating, best and median of each printed;
//! - the same over `--tcp`, against `curl` fetching the file from the same server;
//! - the modem's peak RSS (VmHWM) after a 100 MiB transfer (FTP, FTPS) or a 10 MiB one.
//!
//! Needs the test bench (scripts/install-deps.sh). Run:
//! `cargo bench -p sim5360 --bench throughput [-- ftp ftps http https]` (all by default;
//! `THROUGHPUT_RUNS=<n>` samples per figure, 15 by default; `-- --floor` prints only the
//! PTY references, to see how noisy the machine is).
//!
//! About the floor: on a virtual machine a PTY's rate is set by how fast its reader and the
//! kernel worker that moves bytes into the line discipline wake each other, every 4 KiB; a
//! vCPU that halts when idle adds its wake-up latency each time. So the rate swings with
//! whatever else keeps the CPUs awake (2-3 x between samples here), which is why samples
//! alternate and the median is printed beside the best. A pusher that never sleeps (spins
//! on a non-blocking master) keeps its vCPU awake and measures 2-4 x the plain one; it is
//! printed as a reference, not a target: the modem sleeps while the PTY is full, as a
//! program sharing a CI machine should.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};
use testbench::{FtpServer, HttpServer, ModemProcess, TestCa, Transport};

#[path = "common/pty.rs"]
mod pty;
use pty::{MIB, Samples, open_raw, pty_floor, pty_push};

/// The PTY references: the plain pusher (the floor) and the never-sleeping one.
fn print_references(runs: usize) {
    let (mut plain, mut spin) = (Vec::new(), Vec::new());
    let children_cpu = || {
        let u = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).expect("getrusage");
        let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        secs(u.user_time()) + secs(u.system_time())
    };
    let mut pusher_cpu = 0.0;
    for _ in 0..runs {
        let before = children_cpu();
        plain.push(pty_floor(10 * MIB, false));
        pusher_cpu += children_cpu() - before;
        spin.push(pty_floor(10 * MIB, true));
    }
    let (plain, spin) = (Samples::of(plain), Samples::of(spin));
    println!(
        "  PTY floor alone (a plain process pushing 64 KiB writes): best {:6.1} MiB/s, median {:6.1}; the pusher's CPU {:.0} ms per 10 MiB",
        plain.best(),
        plain.median(),
        pusher_cpu * 1000.0 / runs as f64
    );
    println!(
        "  PTY with a pusher that never sleeps (reference only)   : best {:6.1} MiB/s, median {:6.1}",
        spin.best(),
        spin.median()
    );
}

/// Send a command line and read lines up to OK/ERROR.
fn cmd(r: &mut BufReader<Box<dyn Read>>, w: &mut dyn Write, line: &str) {
    w.write_all(format!("{line}\r").as_bytes()).expect("write");
    let mut l = String::new();
    loop {
        l.clear();
        assert!(r.read_line(&mut l).expect("read") > 0, "port closed");
        let t = l.trim();
        if t == "OK" {
            return;
        }
        assert!(!t.contains("ERROR"), "{line}: {t}");
    }
}

/// Run `start` (which answers OK) and read `<prefix>: DATA,<n>` blocks to the end, parsing
/// bytes in place (a DTE that allocates per line would measure itself, not the modem).
/// Returns (payload bytes, seconds).
fn transfer(r: &mut BufReader<Box<dyn Read>>, w: &mut dyn Write, start: &str, prefix: &str) -> (usize, f64) {
    let t0 = Instant::now();
    if start.is_empty() {
        // The command was sent by the caller; its OK comes first.
        let mut l = String::new();
        while l.trim() != "OK" {
            l.clear();
            r.read_line(&mut l).expect("read");
        }
    } else {
        cmd(r, w, start);
    }
    let data_prefix = format!("{prefix}: DATA,").into_bytes();
    let done = format!("{prefix}: ").into_bytes();
    let mut total = 0;
    let mut line = Vec::with_capacity(64);
    loop {
        line.clear();
        assert!(r.read_until(b'\n', &mut line).expect("read") > 0, "port closed");
        let t = line.strip_suffix(b"\r\n").unwrap_or(&line);
        if let Some(n) = t.strip_prefix(&data_prefix[..]) {
            let mut left: usize = std::str::from_utf8(n).expect("ascii").parse().expect("block length");
            total += left;
            while left > 0 {
                let avail = r.fill_buf().expect("read").len().min(left);
                assert!(avail > 0, "port closed");
                r.consume(avail);
                left -= avail;
            }
        } else if let Some(code) = t.strip_prefix(&done[..]) {
            assert_eq!(code, b"0", "transfer failed");
            return (total, t0.elapsed().as_secs_f64());
        }
    }
}

struct Dut {
    m: ModemProcess,
    r: BufReader<Box<dyn Read>>,
    w: Box<dyn Write>,
}

fn dut(transport: Transport, ca: &TestCa) -> Dut {
    let m = ModemProcess::start(
        Path::new(env!("CARGO_BIN_EXE_sim5360")),
        transport,
        &["--ca", ca.ca.to_str().expect("path")],
    )
    .expect("start sim5360");
    let (r, w): (Box<dyn Read>, Box<dyn Write>) = match transport {
        Transport::Pty => {
            let f = open_raw(m.tty.as_ref().expect("tty"));
            (Box::new(f.try_clone().expect("clone")), Box::new(f))
        }
        _ => {
            let s = std::net::TcpStream::connect(m.tcp.as_ref().expect("tcp")).expect("connect");
            (Box::new(s.try_clone().expect("clone")), Box::new(s))
        }
    };
    let mut d = Dut { m, r: BufReader::with_capacity(256 * 1024, r), w };
    let mut l = String::new();
    while !l.contains("PB DONE") {
        l.clear();
        d.r.read_line(&mut l).expect("boot");
    }
    cmd(&mut d.r, &mut d.w, "ATE0");
    d
}

fn setup_ftp(d: &mut Dut, ftp: &FtpServer) {
    for c in [
        "AT+CFTPSERV=\"127.0.0.1\"".to_owned(),
        format!("AT+CFTPPORT={}", ftp.port),
        format!("AT+CFTPUN=\"{}\"", ftp.user),
        format!("AT+CFTPPW=\"{}\"", ftp.password),
        "AT+CFTPMODE=1".to_owned(),
    ] {
        cmd(&mut d.r, &mut d.w, &c);
    }
}

fn setup_ftps(d: &mut Dut, ftp: &FtpServer) {
    cmd(&mut d.r, &mut d.w, "AT+CFTPSSTART");
    cmd(
        &mut d.r,
        &mut d.w,
        &format!("AT+CFTPSLOGIN=\"localhost\",{},\"{}\",\"{}\",3", ftp.implicit_port, ftp.user, ftp.password),
    );
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// System calls a process made so far: (reads, writes), from /proc/<pid>/io.
fn syscalls(pid: u32) -> (u64, u64) {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).expect("io");
    let field = |name: &str| {
        io.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse().ok()).expect("syscr/syscw")
    };
    (field("syscr:"), field("syscw:"))
}

/// What the modem and the test server (its process group) have spent so far.
struct Costs {
    modem_cpu: f64,
    reads: u64,
    writes: u64,
    server_cpu: f64,
}

impl Costs {
    fn now(modem: u32, server_group: u32) -> Self {
        let (reads, writes) = syscalls(modem);
        Self { modem_cpu: cpu_secs(modem), reads, writes, server_cpu: group_cpu_secs(server_group) }
    }

    /// The cost of one sample, averaged over the `runs` since `before`.
    fn per_run_since(&self, before: &Costs, runs: usize) -> String {
        let n = runs as f64;
        format!(
            "CPU {:.0} ms, {} reads and {} writes per 10 MiB (the server: CPU {:.0} ms)",
            (self.modem_cpu - before.modem_cpu) * 1000.0 / n,
            (self.reads - before.reads) / runs as u64,
            (self.writes - before.writes) / runs as u64,
            (self.server_cpu - before.server_cpu) * 1000.0 / n
        )
    }
}

/// CPU seconds used so far by the processes of group `pgid` (a test server and its workers).
fn group_cpu_secs(pgid: u32) -> f64 {
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some(close) = stat.rfind(')') else { continue };
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        if fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid) {
            total += cpu_secs(pid);
        }
    }
    total
}

/// CPU seconds (user + system) used by a process so far.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let fields: Vec<&str> = stat[stat.rfind(')').expect("comm") + 2..].split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    ticks / 100.0
}

fn curl(url: &str, ca: &TestCa) -> f64 {
    let t0 = Instant::now();
    let st = std::process::Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "--cacert", ca.ca.to_str().expect("path"), url])
        .status()
        .expect("curl");
    assert!(st.success(), "curl {url}");
    t0.elapsed().as_secs_f64()
}

/// PTY floor samples (MiB/s) alternating with samples of `f` (seconds per 10 MiB, turned
/// into MiB/s), `runs` of each, so both see the same conditions.
struct Paired {
    floor: Samples,
    ours: Samples,
    /// Each sample of `f` over the floor sample taken just before it.
    ratios: Samples,
}

impl Paired {
    fn run<F: FnMut() -> f64>(runs: usize, mut f: F) -> Self {
        let (mut floor, mut ours, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            let fl = pty_floor(10 * MIB, false);
            let o = 10.0 / f();
            floor.push(fl);
            ours.push(o);
            ratios.push(o / fl);
        }
        Self { floor: Samples::of(floor), ours: Samples::of(ours), ratios: Samples::of(ratios) }
    }

    /// The floor line and the service line.
    fn print(&self, label: &str, extra: &str) {
        let (fb, fm) = (self.floor.best(), self.floor.median());
        let (ob, om) = (self.ours.best(), self.ours.median());
        println!("  PTY floor, alternating with {label:5}: best {fb:6.1} MiB/s, median {fm:6.1}");
        println!(
            "  {label:5} over PTY                   : best {ob:6.1} MiB/s, median {om:6.1}; x floor: paired median {:.2} (target >= 0.8), medians {:.2}, bests {:.2}",
            self.ratios.median(),
            om / fm,
            ob / fb
        );
        println!("  {label:5} modem                      : {extra}");
    }
}

fn best<F: FnMut() -> f64>(runs: usize, mut f: F) -> f64 {
    (0..runs).map(|_| f()).fold(f64::INFINITY, f64::min)
}

/// `AT+CHTTPACT` of `path`: the request, Ctrl-Z, `OK`, the blocks.
fn act_transfer(d: &mut Dut, port: u16, path: &str) -> (usize, f64) {
    let t0 = Instant::now();
    d.w.write_all(format!("AT+CHTTPACT=\"127.0.0.1\",{port}\r").as_bytes()).expect("write");
    let mut l = String::new();
    while !l.contains("+CHTTPACT: REQUEST") {
        l.clear();
        d.r.read_line(&mut l).expect("read");
    }
    d.w.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n\x1a").as_bytes()).expect("write");
    let (n, s) = transfer(&mut d.r, &mut *d.w, "", "+CHTTPACT");
    (n, s + t0.elapsed().as_secs_f64() - s)
}

/// The HTTPS stack: send the request, then `AT+CHTTPSRECV=65536` until `want` bytes came
/// (each read: `OK`, a `DATA` block, `+CHTTPSRECV: 0`; the `RECV EVENT`s are not waited for).
fn https_transfer(d: &mut Dut, path: &str, want: usize) -> f64 {
    let t0 = Instant::now();
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    d.w.write_all(format!("AT+CHTTPSSEND={}\r", req.len()).as_bytes()).expect("write");
    let mut b = [0u8; 1];
    while b[0] != b'>' {
        d.r.read_exact(&mut b).expect("prompt");
    }
    d.w.write_all(req.as_bytes()).expect("write");
    let mut got = 0;
    let mut line = Vec::new();
    while got < want {
        d.w.write_all(b"AT+CHTTPSRECV=65536\r").expect("write");
        loop {
            line.clear();
            d.r.read_until(b'\n', &mut line).expect("read");
            let t = line.strip_suffix(b"\r\n").unwrap_or(&line);
            if let Some(n) = t.strip_prefix(&b"+CHTTPSRECV: DATA,"[..]) {
                let mut left: usize = std::str::from_utf8(n).expect("ascii").parse().expect("len");
                got += left;
                while left > 0 {
                    let avail = d.r.fill_buf().expect("read").len().min(left);
                    d.r.consume(avail);
                    left -= avail;
                }
            } else if t == b"+CHTTPSRECV: 0" {
                // The end of one read (its OK came first).
                break;
            }
        }
    }
    t0.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        println!("throughput: bench");
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--pty-push") {
        pty_push(args[i + 1].parse().expect("length"), args[i + 2] == "spin");
        return;
    }
    let runs: usize = std::env::var("THROUGHPUT_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(15);
    println!("References (best and median of {runs})");
    print_references(runs);
    if args.iter().any(|a| a == "--floor") {
        return;
    }
    // `cargo bench --bench throughput -- ftps https` runs only those; all four by default.
    let only: Vec<String> = args.iter().skip(1).filter(|a| !a.starts_with('-')).map(|a| a.to_lowercase()).collect();
    let wanted = |label: &str| only.is_empty() || only.iter().any(|o| o == label.to_lowercase().as_str());
    let ca = TestCa::new().expect("CA");
    let ftp = FtpServer::start(&ca).expect("FTP server (run scripts/install-deps.sh)");
    ftp.put("10M.bin", &testbench::http::pattern(10 * MIB, 1)).expect("put");
    ftp.put("100M.bin", &testbench::http::pattern(100 * MIB, 2)).expect("put");

    // The machine is shared and noisy: PTY floor and service samples alternate, so both
    // see the same conditions.
    println!("Downloads of 10 MiB to the DTE ({runs} samples each; over a PTY alternating with the floor)");

    for (label, secure) in [("FTP", false), ("FTPS", true)] {
        if !wanted(label) {
            continue;
        }
        let (start, prefix) =
            if secure { ("AT+CFTPSGET=\"/10M.bin\"", "+CFTPSGET") } else { ("AT+CFTPGET=\"/10M.bin\"", "+CFTPGET") };
        // Over the PTY.
        let mut d = dut(Transport::Pty, &ca);
        if secure {
            setup_ftps(&mut d, &ftp)
        } else {
            setup_ftp(&mut d, &ftp)
        }
        let before = Costs::now(d.m.pid(), ftp.pid());
        let pair = Paired::run(runs, || {
            let (n, s) = transfer(&mut d.r, &mut *d.w, start, prefix);
            assert_eq!(n, 10 * MIB);
            s
        });
        pair.print(label, &Costs::now(d.m.pid(), ftp.pid()).per_run_since(&before, runs));
        // Over TCP, against curl.
        let mut d = dut(Transport::Tcp, &ca);
        if secure {
            setup_ftps(&mut d, &ftp)
        } else {
            setup_ftp(&mut d, &ftp)
        }
        let t = best(runs, || transfer(&mut d.r, &mut *d.w, start, prefix).1);
        let url = if secure {
            format!("ftps://{}:{}@localhost:{}/10M.bin", ftp.user, ftp.password, ftp.implicit_port)
        } else {
            format!("ftp://{}:{}@127.0.0.1:{}/10M.bin", ftp.user, ftp.password, ftp.port)
        };
        let c = best(runs, || curl(&url, &ca));
        println!(
            "  {label:5} over --tcp                 : {:6.1} MiB/s, curl {:6.1} MiB/s = {:.2} x curl (target >= 0.25)",
            10.0 / t,
            10.0 / c,
            c / t
        );
        // Peak RSS over a 100 MiB transfer, through the PTY.
        let mut d = dut(Transport::Pty, &ca);
        if secure {
            setup_ftps(&mut d, &ftp)
        } else {
            setup_ftp(&mut d, &ftp)
        }
        let big = if secure { "AT+CFTPSGET=\"/100M.bin\"" } else { "AT+CFTPGET=\"/100M.bin\"" };
        let (n, s) = transfer(&mut d.r, &mut *d.w, big, prefix);
        assert_eq!(n, 100 * MIB);
        std::thread::sleep(Duration::from_millis(50));
        let rss = peak_rss_kib(d.m.pid());
        println!(
            "  {label:5} 100 MiB over PTY           : {:6.1} MiB/s, peak RSS {:.1} MiB (target < 32)",
            100.0 / s,
            rss as f64 / 1024.0
        );
    }

    let web = HttpServer::start(&ca).expect("web server (run scripts/install-deps.sh)");
    let size = 10 * MIB;
    for (label, secure) in [("HTTP", false), ("HTTPS", true)] {
        if !wanted(label) {
            continue;
        }
        let measure = |d: &mut Dut| -> f64 {
            if secure {
                https_transfer(d, "/10M.bin", size)
            } else {
                let (n, s) = act_transfer(d, web.port, "/10M.bin");
                assert!(n > size, "short response");
                s
            }
        };
        let open = |d: &mut Dut| {
            if secure {
                cmd(&mut d.r, &mut d.w, "AT+CHTTPSSTART");
                cmd(&mut d.r, &mut d.w, &format!("AT+CHTTPSOPSE=\"localhost\",{}", web.tls_port));
            }
        };
        let mut d = dut(Transport::Pty, &ca);
        open(&mut d);
        let before = Costs::now(d.m.pid(), web.pid());
        let pair = Paired::run(runs, || measure(&mut d));
        let costs = Costs::now(d.m.pid(), web.pid()).per_run_since(&before, runs);
        let rss = peak_rss_kib(d.m.pid());
        pair.print(label, &format!("{costs}; peak RSS {:.1} MiB", rss as f64 / 1024.0));
        let mut d = dut(Transport::Tcp, &ca);
        open(&mut d);
        let t = best(runs, || measure(&mut d));
        let url = if secure {
            format!("https://localhost:{}/10M.bin", web.tls_port)
        } else {
            format!("http://127.0.0.1:{}/10M.bin", web.port)
        };
        let c = best(runs, || curl(&url, &ca));
        println!(
            "  {label:5} over --tcp                 : {:6.1} MiB/s, curl {:6.1} MiB/s = {:.2} x curl (target >= 0.25)",
            10.0 / t,
            10.0 / c,
            c / t
        );
    }
}
