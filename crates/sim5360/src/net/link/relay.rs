//! The relay: the service's end of a connection is a loopback socket whose peer is a
//! task forwarding to the real server, delaying, slicing, throttling, stalling, cutting or
//! resetting as the rules say (Toxiproxy inside the process).

use super::{Direction, Kind, LinkRules};
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The service's end of a relayed connection to `server`: a loopback socket whose peer is
/// a relay task applying the rules.
pub async fn relay(
    rules: std::sync::Arc<LinkRules>,
    service: &'static str,
    server: TcpStream,
) -> std::io::Result<TcpStream> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let client = TcpStream::connect(addr).await?;
    let (inner, _) = listener.accept().await?;
    let _ = client.set_nodelay(true);
    let _ = inner.set_nodelay(true);
    let conn = rules.next_conn.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(run_relay(rules, service, conn, inner, server));
    Ok(client)
}

/// How one direction of a relay ended.
enum Ended {
    /// The source closed: pass the close on.
    Eof,
    /// Close both ends now.
    Close,
    /// Reset the module's side.
    Reset,
}

async fn run_relay(
    rules: std::sync::Arc<LinkRules>,
    service: &'static str,
    conn: u64,
    inner: TcpStream,
    server: TcpStream,
) {
    let started = Instant::now();
    let (mut ir, mut iw) = inner.into_split();
    let (mut sr, mut sw) = server.into_split();
    let end = {
        let leg = |dir| Leg { rules: &rules, service, conn, dir, started };
        let up = pump(leg(Direction::Upstream), &mut ir, &mut sw);
        let down = pump(leg(Direction::Downstream), &mut sr, &mut iw);
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        loop {
            tokio::select! {
                e = &mut up, if !up_done => match e {
                    Ended::Eof if down_done => break Ended::Eof,
                    Ended::Eof => up_done = true,
                    other => break other,
                },
                e = &mut down, if !down_done => match e {
                    Ended::Eof if up_done => break Ended::Eof,
                    Ended::Eof => down_done = true,
                    other => break other,
                },
            }
        }
    };
    if let Ended::Reset = end
        && let Ok(inner) = ir.reunite(iw)
    {
        // SO_LINGER 0: the close is a RST, "connection reset by peer" at the module. (The
        // deprecation is about a lingering close blocking the thread; a zero linger does
        // not wait.)
        #[allow(deprecated)]
        let _ = inner.set_linger(Some(Duration::ZERO));
        drop(inner);
    }
    rules.forget(conn);
}

/// Bytes a toxic-free relay moves at once; shaping works in KiB.
const CHUNK: usize = 16 * 1024;
const SHAPED_CHUNK: usize = 1024;
/// How often a stalled direction looks at the rules again.
const TICK: Duration = Duration::from_millis(20);
/// TCP's initial retransmission timeout (RFC 6298): what a lost KiB costs.
const RTO: Duration = Duration::from_secs(1);

/// A chunk on its way: when it is due at the other end, its bytes, and how to slice it
/// (average size, variation, gap) when a slicer applies.
type InFlight = (tokio::time::Instant, Vec<u8>, Option<(usize, usize, Duration)>);

/// One direction of one relayed connection.
#[derive(Clone, Copy)]
struct Leg<'a> {
    rules: &'a LinkRules,
    service: &'static str,
    conn: u64,
    dir: Direction,
    started: Instant,
}

async fn pump(
    leg: Leg<'_>,
    src: &mut tokio::net::tcp::OwnedReadHalf,
    dst: &mut tokio::net::tcp::OwnedWriteHalf,
) -> Ended {
    // A delay line: the reader stamps each chunk with when it is due at the other end
    // (its departure at the link's rate, plus the one-way latency), the writer delivers it
    // then; so latency is paid once per chunk in flight, not once per chunk in turn.
    let (tx, mut rx) =
        tokio::sync::mpsc::channel::<(tokio::time::Instant, Vec<u8>, Option<(usize, usize, Duration)>)>(64);
    let reader = read_side(leg, src, tx);
    let writer = async {
        let mut last_due = tokio::time::Instant::now();
        let mut rng = StdRng::seed_from_u64(leg.conn ^ 0x511ce);
        while let Some((due, data, slices)) = rx.recv().await {
            let due = due.max(last_due);
            last_due = due;
            tokio::time::sleep_until(due).await;
            let ok = match slices {
                None => dst.write_all(&data).await.is_ok(),
                Some((avg, var, gap)) => {
                    let mut rest = &data[..];
                    let mut ok = true;
                    while !rest.is_empty() && ok {
                        let size =
                            if var > 0 { rng.random_range(avg.saturating_sub(var).max(1)..=avg + var) } else { avg };
                        let (piece, tail) = rest.split_at(size.min(rest.len()));
                        ok = dst.write_all(piece).await.is_ok();
                        rest = tail;
                        if !rest.is_empty() {
                            tokio::time::sleep(gap).await;
                        }
                    }
                    ok
                }
            };
            if !ok {
                return false;
            }
        }
        // The source is done and what was in flight has arrived: pass the close on.
        let _ = dst.shutdown().await;
        true
    };
    tokio::pin!(reader, writer);
    let mut reading = true;
    loop {
        tokio::select! {
            e = &mut reader, if reading => match e {
                Ended::Eof => reading = false,
                other => return other,
            },
            ok = &mut writer => return if ok { Ended::Eof } else { Ended::Close },
        }
    }
}

/// The reading half of one direction: chunks stamped with when they are due, until the
/// source ends (after the slow_close delay: the close comes later) or a fault ends the
/// connection.
async fn read_side(
    leg: Leg<'_>,
    src: &mut tokio::net::tcp::OwnedReadHalf,
    tx: tokio::sync::mpsc::Sender<InFlight>,
) -> Ended {
    let Leg { rules, service, conn, dir, started } = leg;
    let mut buf = vec![0u8; CHUNK];
    let mut moved: u64 = 0;
    let mut first = true;
    let mut jitter = StdRng::seed_from_u64(conn ^ 0x5eed);
    // When the link is free to send the next byte (the rate's token bucket).
    let mut free_at = tokio::time::Instant::now();
    loop {
        let plan = rules.plan(service, conn, false);
        let mine = |k: Kind| {
            plan.faults
                .iter()
                .find(|f| f.kind == k && (f.stream == dir || matches!(k, Kind::ResetPeer | Kind::Timeout)))
        };
        let slow_close = mine(Kind::SlowClose).map_or(Duration::ZERO, |f| f.ms("delay"));
        if let Some(f) = mine(Kind::ResetPeer)
            && started.elapsed() >= f.ms("timeout")
        {
            return Ended::Reset;
        }
        if let Some(f) = mine(Kind::Timeout) {
            // Nothing gets through; the connection closes after `timeout` (0: never).
            let t = f.ms("timeout");
            if !t.is_zero() && started.elapsed() >= t {
                return Ended::Close;
            }
            tokio::time::sleep(TICK).await;
            continue;
        }
        let shaped = !plan.faults.is_empty() || plan.condition.shapes();
        let want = if shaped { SHAPED_CHUNK } else { CHUNK };
        let n = tokio::select! {
            r = src.read(&mut buf[..want]) => match r {
                Ok(0) | Err(_) => {
                    tokio::time::sleep(slow_close).await;
                    return Ended::Eof;
                }
                Ok(n) => n,
            },
            () = tokio::time::sleep(TICK) => continue,
        };
        let mut data = buf[..n].to_vec();
        if let Some(f) = mine(Kind::LimitData) {
            let left = (f.attr("bytes") as u64).saturating_sub(moved);
            if left == 0 {
                return Ended::Close;
            }
            data.truncate(left as usize);
        }
        if first && dir == Direction::Downstream && mine(Kind::TlsFail).is_some() {
            // A TLS record nobody can parse: the handshake fails as with a broken peer.
            data.fill(0x17);
        }
        first = false;
        let c = &plan.condition;
        let now = tokio::time::Instant::now();
        // Departure: after what is queued ahead at the link's rate, after a radio
        // promotion if the link was idle, after a retransmission timeout per lost KiB.
        let mut depart = free_at.max(now) + rules.promotion();
        for _ in 0..data.len().div_ceil(1024) {
            if rules.lost() {
                depart += RTO;
            }
        }
        let rate_kbps = match dir {
            Direction::Downstream => c.down_kbps,
            Direction::Upstream => c.up_kbps,
        };
        let mut serialize = Duration::ZERO;
        if let Some(kbps) = rate_kbps {
            serialize += Duration::from_secs_f64(data.len() as f64 * 8.0 / (kbps * 1000.0));
        }
        if let Some(f) = mine(Kind::Bandwidth) {
            serialize += Duration::from_secs_f64(data.len() as f64 / (f.attr("rate") * 1000.0));
        }
        free_at = depart + serialize;
        // Arrival: one way is half an RTT (± jitter), plus a latency fault's delay.
        let mut latency = 0.0;
        if c.rtt_ms > 0.0 {
            let j = if c.jitter_ms > 0.0 { jitter.random_range(-c.jitter_ms..=c.jitter_ms) } else { 0.0 };
            latency += (c.rtt_ms / 2.0 + j).max(0.0);
        }
        if let Some(f) = mine(Kind::Latency) {
            let j = f.attr("jitter");
            latency += (f.attr("latency") + if j > 0.0 { jitter.random_range(-j..=j) } else { 0.0 }).max(0.0);
        }
        let due = free_at + Duration::from_secs_f64(latency / 1000.0);
        let slices = mine(Kind::Slicer).map(|f| {
            (
                f.attr("average_size").max(1.0) as usize,
                f.attr("size_variation") as usize,
                Duration::from_micros(f.attr("delay") as u64),
            )
        });
        moved += data.len() as u64;
        let done = mine(Kind::LimitData).is_some_and(|f| moved >= f.attr("bytes") as u64);
        if tx.send((due, data, slices)).await.is_err() {
            return Ended::Close;
        }
        if done {
            // What was allowed still goes out; then that direction is closed.
            return Ended::Eof;
        }
    }
}
