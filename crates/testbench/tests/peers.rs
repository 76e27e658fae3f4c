//! Each misbehaving peer misbehaves as named.
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};
use testbench::{Peer, TestCa};

fn connect(p: &Peer) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

#[test]
fn silent_accepts_and_never_answers() {
    let p = Peer::silent().unwrap();
    let mut s = connect(&p);
    s.write_all(b"EHLO x\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(700))).unwrap();
    let mut b = [0u8; 16];
    let e = s.read(&mut b).unwrap_err();
    assert!(matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut), "{e}");
}

#[test]
fn close_after_sends_n_bytes_then_closes() {
    let p = Peer::close_after(b"220 hello there\r\n".to_vec(), 7).unwrap();
    let mut s = connect(&p);
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"220 hel");
}

#[test]
fn garbage_answers_garbage() {
    let p = Peer::garbage(64).unwrap();
    let mut s = connect(&p);
    let mut b = [0u8; 64];
    s.read_exact(&mut b).unwrap();
    assert!(b.iter().any(|c| !c.is_ascii_graphic()), "not garbage: {b:?}");
    s.write_all(b"USER x\r\n").unwrap();
    let mut again = [0u8; 64];
    s.read_exact(&mut again).unwrap();
    assert_eq!(b, again, "answers every request with garbage");
}

#[test]
fn drip_sends_a_byte_at_a_time() {
    let p = Peer::drip(b"220 ok\r\n".to_vec(), Duration::from_millis(150)).unwrap();
    let mut s = connect(&p);
    let start = Instant::now();
    let mut got = Vec::new();
    let mut b = [0u8; 16];
    let mut reads = 0;
    while got.len() < 8 {
        let n = s.read(&mut b).unwrap();
        assert_eq!(n, 1, "one byte per write");
        got.extend_from_slice(&b[..n]);
        reads += 1;
    }
    assert_eq!(got, b"220 ok\r\n");
    assert_eq!(reads, 8);
    // A lower bound only: 7 gaps of 150 ms.
    assert!(start.elapsed() >= Duration::from_millis(1000), "{:?}", start.elapsed());
}

#[test]
fn tls_certificate_for_another_name() {
    let ca = TestCa::new().unwrap();
    let p = Peer::tls_wrong_name(&ca, b"hello over tls\n".to_vec()).unwrap();
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&ca.ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let handshake = |name: &str| -> Result<Vec<u8>, std::io::Error> {
        let conn =
            rustls::ClientConnection::new(config.clone(), ServerName::try_from(name.to_owned()).unwrap()).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, connect(&p));
        let mut b = [0u8; 15];
        tls.read_exact(&mut b)?;
        Ok(b.to_vec())
    };
    let err = handshake("localhost").unwrap_err();
    assert!(err.to_string().contains("not valid for name"), "{err}");
    // The same certificate is fine for the name it was made for: it is the name that is wrong.
    assert_eq!(handshake("wrong.example").unwrap(), b"hello over tls\n");
}

#[test]
fn ftp_truncating_drops_the_data_connection() {
    use std::io::BufRead;
    let p = testbench::ftp_truncating(1000, 300).unwrap();
    let s = connect(&p);
    let mut w = s.try_clone().unwrap();
    let mut r = std::io::BufReader::new(s);
    let mut line = String::new();
    let mut next = |r: &mut std::io::BufReader<TcpStream>| {
        line.clear();
        r.read_line(&mut line).unwrap();
        line.clone()
    };
    assert!(next(&mut r).starts_with("220"));
    w.write_all(b"SIZE x\r\n").unwrap();
    assert_eq!(next(&mut r), "213 1000\r\n");
    w.write_all(b"PASV\r\n").unwrap();
    let pasv = next(&mut r);
    let nums: Vec<u16> =
        pasv[pasv.find('(').unwrap() + 1..pasv.find(')').unwrap()].split(',').map(|n| n.parse().unwrap()).collect();
    let mut d = TcpStream::connect(("127.0.0.1", nums[4] * 256 + nums[5])).unwrap();
    w.write_all(b"RETR x\r\n").unwrap();
    assert!(next(&mut r).starts_with("150"));
    let mut got = Vec::new();
    d.read_to_end(&mut got).unwrap();
    assert_eq!(got.len(), 300, "closes the data connection after 300 of 1000 bytes");
    assert!(next(&mut r).starts_with("426"));
}
