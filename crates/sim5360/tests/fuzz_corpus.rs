//! Replays the cargo-fuzz corpora (and any saved crash artifacts) on stable, so CI checks
//! every input the fuzzers found interesting.

use std::path::Path;

fn replay(target: &str, f: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut count = 0;
    for dir in [root.join("corpus").join(target), root.join("regressions").join(target)] {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let data = match std::fs::read(e.path()) {
                Ok(d) => d,
                // A fuzzer running on this checkout replaced it by a smaller input.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => panic!("{}: {err}", e.path().display()),
            };
            f(&data);
            count += 1;
        }
    }
    assert!(count > 0, "no corpus for {target}");
}

#[test]
fn line_syntax_corpus() {
    replay("line_syntax", sim5360::fuzzing::line_syntax);
}

#[test]
fn modem_input_corpus() {
    replay("modem_input", sim5360::fuzzing::modem_input);
}

#[test]
fn ftp_reply_corpus() {
    replay("ftp_reply", sim5360::fuzzing::ftp_reply);
}

#[test]
fn http_framer_corpus() {
    replay("http_framer", sim5360::fuzzing::http_framer);
}

#[test]
fn job_events_corpus() {
    replay("job_events", sim5360::fuzzing::job_events);
}

#[test]
fn socket_events_corpus() {
    replay("socket_events", sim5360::fuzzing::socket_events);
}

#[test]
fn sms_pdu_corpus() {
    replay("sms_pdu", sim5360::fuzzing::sms_pdu);
}

#[test]
fn control_request_corpus() {
    replay("control_request", sim5360::fuzzing::control_request);
}

#[test]
fn pop3_reply_corpus() {
    replay("pop3_reply", sim5360::fuzzing::pop3_reply);
}

#[test]
fn gnss_track_corpus() {
    replay("gnss_track", sim5360::fuzzing::gnss_track);
}

#[test]
fn ppp_frames_corpus() {
    replay("ppp_frames", sim5360::fuzzing::ppp_frames);
}

#[test]
fn ppp_negotiation_corpus() {
    replay("ppp_negotiation", sim5360::fuzzing::ppp_negotiation);
}

#[test]
fn cmux_frames_corpus() {
    replay("cmux_frames", sim5360::fuzzing::cmux_frames);
}

#[test]
fn mux_modem_corpus() {
    replay("mux_modem", sim5360::fuzzing::mux_modem);
}
