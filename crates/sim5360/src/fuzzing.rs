//! Entry points shared by the cargo-fuzz targets in `fuzz/` and by the test that replays
//! their corpora on stable (`tests/fuzz_corpus.rs`). Each must never panic or hang.

use crate::efs::MemStore;
use crate::modem::settings::MemNv;
use crate::modem::{Modem, ModemConfig};
use crate::profile::{Model, Profile};
use std::time::{Duration, Instant};
use v250::{Args, Event, LineConfig, LineDiscipline, parse_line};

/// Line discipline, syntax and argument cursor on arbitrary bytes.
pub fn line_syntax(data: &[u8]) {
    let cfg = LineConfig { max_line: 256, ..LineConfig::default() };
    let mut ld = LineDiscipline::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (n, ev) = ld.feed(rest, &cfg);
        rest = &rest[n..];
        ld.take_echo();
        if let Some(Event::Line(line)) = ev
            && let Ok(invs) = parse_line(&line)
        {
            for inv in invs {
                if let Ok(mut args) = Args::parse(inv.args) {
                    for _ in 0..args.len() {
                        let _ = args.clone().opt_int();
                        let _ = args.opt_str();
                    }
                    let _ = args.finish();
                }
            }
        }
    }
}

/// The FTP/SMTP reply parser on arbitrary server bytes, fed in two pieces.
pub fn ftp_reply(data: &[u8]) {
    let mut p = crate::service::ftp::codec::ReplyParser::default();
    let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    for piece in [&data[..cut], &data[cut..]] {
        p.push(piece);
        while let Ok(Some(r)) = p.next_reply() {
            let _ = crate::service::ftp::codec::parse_pasv(&r.text());
            let _ = crate::service::ftp::codec::parse_pwd(&r);
            let _ = crate::service::ftp::codec::parse_size(&r);
        }
    }
}

/// The HTTP response framer on arbitrary server bytes, fed in two pieces.
pub fn http_framer(data: &[u8]) {
    let method = if data.first().is_some_and(|b| b & 1 == 1) { "HEAD" } else { "GET" };
    let mut f = crate::service::http::codec::ResponseFramer::new(method);
    let cut = data.get(1).map_or(0, |b| usize::from(*b)).min(data.len());
    for piece in [&data[..cut], &data[cut..]] {
        match f.feed(piece) {
            Ok(n) => assert!(n <= piece.len(), "framer used more than it was given"),
            Err(_) => return,
        }
    }
}

/// The whole modem input path: the first byte picks a chunk size, the rest is DTE input.
pub fn modem_input(data: &[u8]) {
    let Some((&first, input)) = data.split_first() else { return };
    let cfg = ModemConfig {
        profile: Profile::new(Model::Sim5360),
        boot_delay: Duration::ZERO,
        pin: (first & 0x80 != 0).then(|| "1234".to_owned()),
        baud: 115200,
        store: Box::new(MemStore::new(4096, 4096)),
        nv: std::sync::Arc::new(MemNv::default()),
    };
    let t = chrono::DateTime::UNIX_EPOCH;
    let now = Instant::now();
    let Ok(mut m) = Modem::new(cfg, Box::new(move || t), now) else { return };
    let chunk = usize::from(first & 0x7f).max(1);
    let mut total = 0usize;
    for piece in input.chunks(chunk) {
        m.handle_input(piece, now);
        // Bounded: output never grows without limit from bounded input.
        while let Some(out) = m.poll_transmit() {
            total += out.len();
            assert!(total < 64 * 1024 * 1024, "runaway output");
        }
    }
}
