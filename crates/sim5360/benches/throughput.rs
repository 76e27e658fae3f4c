//! Download throughput and memory of the services, measured in one run against references:
//! - FTP (`AT+CFTPGET`), FTPS (`AT+CFTPSGET`), HTTP (`AT+CHTTPACT`) and HTTPS
//!   (`AT+CHTTPSRECV`) of a 10 MiB file to the DTE over a PTY, against the PTY's own floor
//!   (a thread pushing the same bytes through a PTY as fast as it can);
//! - the same over `--tcp`, against `curl` fetching the file from the same server;
//! - the modem's peak RSS (VmHWM) after a 100 MiB transfer (FTP, FTPS) or a 10 MiB one.
//!
//! Needs the test bench (scripts/install-deps.sh). Run:
//! `cargo bench -p sim5360 --bench throughput`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};
use testbench::{FtpServer, HttpServer, ModemProcess, TestCa, Transport};

const MIB: usize = 1 << 20;

fn open_raw(path: &Path) -> std::fs::File {
    testbench::raw_tty(path).expect("open tty")
}

/// MiB/s of pushing `len` bytes through a fresh PTY.
fn pty_floor(len: usize) -> f64 {
    let pair = nix::pty::openpty(None, None).expect("openpty");
    let path = nix::unistd::ttyname(&pair.slave).expect("ttyname");
    let mut master = std::fs::File::from(pair.master);
    let _keep = pair.slave;
    let mut port = open_raw(&path);
    let start = Instant::now();
    let writer = std::thread::spawn(move || {
        let block = vec![0x55u8; 64 * 1024];
        let mut left = len;
        while left > 0 {
            let n = left.min(block.len());
            master.write_all(&block[..n]).expect("write");
            left -= n;
        }
        master
    });
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0;
    while got < len {
        got += port.read(&mut buf).expect("read");
    }
    let secs = start.elapsed().as_secs_f64();
    drop(writer.join());
    len as f64 / MIB as f64 / secs
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

/// Alternate `runs` PTY floor samples with `runs` samples of `f` (seconds per 10 MiB);
/// the best floor in MiB/s and the best time of `f`.
fn paired<F: FnMut() -> f64>(runs: usize, mut f: F) -> (f64, f64) {
    let (mut floor, mut ours) = (0.0f64, f64::INFINITY);
    for _ in 0..runs {
        floor = floor.max(pty_floor(10 * MIB));
        ours = ours.min(f());
    }
    (floor, ours)
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

/// The HTTPS stack: send the request, then `AT+CHTTPSRECV=65536` until `want` bytes came.
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
            } else if t == b"OK" {
                break;
            }
        }
    }
    t0.elapsed().as_secs_f64()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("ftp_throughput: bench");
        return;
    }
    let ca = TestCa::new().expect("CA");
    let ftp = FtpServer::start(&ca).expect("FTP server (run scripts/install-deps.sh)");
    ftp.put("10M.bin", &testbench::http::pattern(10 * MIB, 1)).expect("put");
    ftp.put("100M.bin", &testbench::http::pattern(100 * MIB, 2)).expect("put");
    let runs = 5;

    // The machine is shared and noisy: PTY floor and service samples alternate, and the
    // best of each is kept, so both see the same conditions.
    println!("Downloads of 10 MiB to the DTE (best of {runs}, alternating with the PTY floor)");

    for (label, secure) in [("FTP ", false), ("FTPS", true)] {
        let (start, prefix) =
            if secure { ("AT+CFTPSGET=\"/10M.bin\"", "+CFTPSGET") } else { ("AT+CFTPGET=\"/10M.bin\"", "+CFTPGET") };
        // Over the PTY.
        let mut d = dut(Transport::Pty, &ca);
        if secure {
            setup_ftps(&mut d, &ftp)
        } else {
            setup_ftp(&mut d, &ftp)
        }
        let cpu0 = cpu_secs(d.m.pid());
        let (floor_mibs, t) = paired(runs, || {
            let (n, s) = transfer(&mut d.r, &mut *d.w, start, prefix);
            assert_eq!(n, 10 * MIB);
            s
        });
        println!("  PTY floor (raw push through a PTY)    : {floor_mibs:8.1} MiB/s");
        let cpu = (cpu_secs(d.m.pid()) - cpu0) / runs as f64;
        let pty = 10.0 / t;
        println!(
            "  {label} over PTY                         : {pty:8.1} MiB/s  = {:.2} x PTY floor (target >= 0.8); modem CPU {:.0} ms per 10 MiB",
            pty / floor_mibs,
            cpu * 1000.0
        );
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
            "  {label} over --tcp                       : {:8.1} MiB/s, curl {:8.1} MiB/s = {:.2} x curl (target >= 0.25)",
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
            "  {label} 100 MiB over PTY                 : {:8.1} MiB/s, peak RSS {:.1} MiB (target < 32)",
            100.0 / s,
            rss as f64 / 1024.0
        );
    }

    let web = HttpServer::start(&ca).expect("web server (run scripts/install-deps.sh)");
    let size = 10 * MIB;
    for (label, secure) in [("HTTP ", false), ("HTTPS", true)] {
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
        let cpu0 = cpu_secs(d.m.pid());
        let (floor_mibs, t) = paired(runs, || measure(&mut d));
        println!("  PTY floor (raw push through a PTY)    : {floor_mibs:8.1} MiB/s");
        let cpu = (cpu_secs(d.m.pid()) - cpu0) / runs as f64;
        let rss = peak_rss_kib(d.m.pid());
        let pty = 10.0 / t;
        println!(
            "  {label} over PTY                        : {pty:8.1} MiB/s  = {:.2} x PTY floor (target >= 0.8); modem CPU {:.0} ms, peak RSS {:.1} MiB",
            pty / floor_mibs,
            cpu * 1000.0,
            rss as f64 / 1024.0
        );
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
            "  {label} over --tcp                      : {:8.1} MiB/s, curl {:8.1} MiB/s = {:.2} x curl (target >= 0.25)",
            10.0 / t,
            10.0 / c,
            c / t
        );
    }
}
