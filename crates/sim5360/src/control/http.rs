//! The REST API over the control model (docs/control.md): JSON under `/api/v1`, on
//! its own listener (`--control ADDR:PORT`). Requests become [`Control`] values (one
//! routing table: [`super::route`]) that the session's runner hands to the core, which
//! answers them between two DTE reads.
//!
//! A browser-facing server on localhost needs guards: a request whose `Host` is not this
//! server's own address (`127.0.0.1`, `localhost`, `[::1]` or the bound address, with the
//! port) is refused (DNS rebinding); one with an `Origin` that is not the same origin is
//! refused (CSRF); a body is JSON only (`Content-Type: application/json`); with
//! `--control-token` every request carries `Authorization: Bearer <token>`.

use super::{Control, ControlError};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// A control action on its way to a session, with where its answer goes.
pub type Request = (Control, oneshot::Sender<Result<Value, ControlError>>);

/// Largest request body.
const BODY_MAX: usize = 64 * 1024;
/// Longest wait for the core to take an action (it answers between two DTE reads).
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// Where control actions go: the modem session running now (with `--tcp`, the latest
/// connection's).
#[derive(Debug, Default)]
pub struct Hub {
    session: Mutex<Option<(mpsc::Sender<Request>, u64)>>,
    trace: Option<Arc<crate::transport::trace::Trace>>,
}

impl Hub {
    /// A hub that also serves the trace's latest lines.
    pub fn with_trace(trace: Option<Arc<crate::transport::trace::Trace>>) -> Self {
        Self { session: Mutex::default(), trace }
    }

    /// A new session (trace session `id`) takes the control channel; its runner reads
    /// the returned end.
    pub fn attach(&self, id: u64) -> mpsc::Receiver<Request> {
        let (tx, rx) = mpsc::channel(16);
        *self.session.lock().unwrap_or_else(|e| e.into_inner()) = Some((tx, id));
        rx
    }

    /// The process's trace, when it keeps one.
    pub fn trace(&self) -> Option<&Arc<crate::transport::trace::Trace>> {
        self.trace.as_ref()
    }

    /// The trace session of the modem session running now.
    pub fn session_id(&self) -> Option<u64> {
        self.session.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|s| s.1)
    }

    /// Run `c` on the session's modem.
    pub async fn send(&self, c: Control) -> Result<Value, ControlError> {
        let tx = self.session.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|s| s.0.clone());
        let unavailable = || ControlError { status: 503, error: "no modem session is running".into() };
        let tx = tx.ok_or_else(unavailable)?;
        let (reply, answer) = oneshot::channel();
        tx.send((c, reply)).await.map_err(|_| unavailable())?;
        match tokio::time::timeout(ANSWER_WITHIN, answer).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(unavailable()),
            Err(_) => Err(ControlError { status: 504, error: "the modem did not take the action in time".into() }),
        }
    }
}

/// The server's settings: the hub of each modem, by id.
#[derive(Debug)]
struct App {
    hubs: Vec<Arc<Hub>>,
    addr: SocketAddr,
    token: Option<String>,
}

/// Bind `addr` (port 0: a free one).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Serve the API for these modems (id = index) on `listener` until the process ends.
pub fn serve(
    listener: tokio::net::TcpListener,
    hubs: Vec<Arc<Hub>>,
    token: Option<String>,
) -> std::io::Result<SocketAddr> {
    let addr = listener.local_addr()?;
    let app = Arc::new(App { hubs, addr, token });
    let router = axum::Router::new().fallback(handle).with_state(app);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::warn!("control server stopped: {e}");
        }
    });
    Ok(addr)
}

fn error(status: u16, msg: impl Into<String>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, axum::Json(json!({ "error": msg.into(), "status": status }))).into_response()
}

/// The `Host` values this server answers to.
fn host_allowed(app: &App, host: &str) -> bool {
    let port = app.addr.port();
    let ip = app.addr.ip();
    let bound = if ip.is_ipv6() { format!("[{ip}]:{port}") } else { format!("{ip}:{port}") };
    [format!("127.0.0.1:{port}"), format!("localhost:{port}"), format!("[::1]:{port}"), bound]
        .iter()
        .any(|h| h.eq_ignore_ascii_case(host))
}

/// Why a request is refused before it is read, if it is.
fn guard(app: &App, method: &Method, headers: &HeaderMap, query: &str, body: &Bytes) -> Option<Response> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if !host_allowed(app, host) {
        return Some(error(403, format!("host {host:?} is not this server")));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let same = origin.to_str().is_ok_and(|o| o.eq_ignore_ascii_case(&format!("http://{host}")));
        if !same {
            return Some(error(403, "cross-origin requests are refused"));
        }
    }
    if let Some(t) = &app.token {
        let given =
            headers.get(header::AUTHORIZATION).and_then(|h| h.to_str().ok()).and_then(|h| h.strip_prefix("Bearer "));
        // A browser's EventSource cannot set a header: the dashboard passes `?token=`.
        let in_query = query.split('&').find_map(|kv| kv.strip_prefix("token="));
        if given.or(in_query) != Some(t.as_str()) {
            return Some(error(401, "a valid token is required (Authorization: Bearer <token>)"));
        }
    }
    let mutating = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|c| c.trim_start().to_ascii_lowercase().starts_with("application/json"));
    if mutating && !body.is_empty() && !json {
        return Some(error(415, "the body must be JSON (Content-Type: application/json)"));
    }
    if body.len() > BODY_MAX {
        return Some(error(413, format!("the body is larger than {BODY_MAX} bytes")));
    }
    None
}

/// The process's async runtime: tasks alive (every modem's session, jobs and relays, the
/// control server's connections) and worker threads. Soak runs watch these stay flat.
fn runtime() -> serde_json::Value {
    let m = tokio::runtime::Handle::current().metrics();
    json!({ "tasks": m.num_alive_tasks(), "workers": m.num_workers() })
}

async fn handle(State(app): State<Arc<App>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let query = uri.query().unwrap_or("");
    if let Some(refused) = guard(&app, &method, &headers, query, &body) {
        return refused;
    }
    let Ok(body) = std::str::from_utf8(&body) else { return error(400, "the body is not UTF-8") };
    let path = uri.path().trim_end_matches('/');
    let Some(rest) = path.strip_prefix("/api/v1") else {
        if method == Method::GET
            && let Some(page) = super::dashboard::asset(path)
        {
            return page;
        }
        return error(404, format!("no such resource {path:?}"));
    };
    let control = match rest {
        "" if method == Method::GET => {
            return axum::Json(json!({
                "version": env!("CARGO_PKG_VERSION"),
                "modems": (0..app.hubs.len()).collect::<Vec<_>>(),
                "features": ["state", "sms", "urc", "radio", "coverage", "sim", "gnss", "call", "overrides", "faults", "network", "presets", "reboot", "reset"],
                "runtime": runtime(),
            }))
            .into_response();
        }
        "/reset" if method == Method::POST => {
            for hub in &app.hubs {
                if let Err(e) = hub.send(Control::Reset).await {
                    return error(e.status, e.error);
                }
            }
            return StatusCode::NO_CONTENT.into_response();
        }
        "/presets" if method == Method::GET => return axum::Json(super::presets()).into_response(),
        "/modems" if method == Method::GET => {
            let mut list = Vec::with_capacity(app.hubs.len());
            for (id, hub) in app.hubs.iter().enumerate() {
                match hub.send(Control::State).await {
                    Ok(v) => list.push(summary(id, &v)),
                    Err(e) => list.push(json!({ "id": id, "error": e.error })),
                }
            }
            return axum::Json(json!(list)).into_response();
        }
        r => match r.strip_prefix("/modems/") {
            Some(m) => {
                let (id, sub) = m.split_once('/').unwrap_or((m, ""));
                let Some(hub) = id.parse::<usize>().ok().and_then(|i| app.hubs.get(i)).cloned() else {
                    return error(
                        404,
                        format!("no modem {id:?} (this process has modems 0-{})", app.hubs.len().saturating_sub(1)),
                    );
                };
                if sub.trim_end_matches('/') == "trace" && method == Method::GET {
                    return trace(&hub, query);
                }
                if sub.trim_end_matches('/') == "events" && method == Method::GET {
                    return super::dashboard::events(hub, &headers);
                }
                match super::route(method.as_str(), sub, query, body) {
                    Ok(c) => Ok((c, hub)),
                    Err(e) => Err(e),
                }
            }
            None if matches!(r, "" | "/reset" | "/modems" | "/presets") => {
                Err(ControlError { status: 405, error: format!("{method} is not allowed here") })
            }
            None => Err(ControlError::not_found(format!("no such resource {path:?}"))),
        },
    };
    let created =
        method == Method::POST && (path.ends_with("/sms") || path.ends_with("/overrides") || path.ends_with("/faults"));
    let result = match control {
        Ok((c, hub)) => hub.send(c).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(Value::Null) => StatusCode::NO_CONTENT.into_response(),
        Ok(v) if created => (StatusCode::CREATED, axum::Json(v)).into_response(),
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => error(e.status, e.error),
    }
}

/// `GET .../trace?since=<seq>&limit=<n>`: the trace lines after `since`, or without it the
/// latest ones; at most `limit` (default 200, at most 10,000), oldest first.
fn trace(hub: &Hub, query: &str) -> Response {
    let param = |k: &str| query.split('&').find_map(|kv| kv.strip_prefix(k).and_then(|v| v.strip_prefix('=')));
    let since = match param("since").map(str::parse::<u64>).transpose() {
        Ok(v) => v,
        Err(_) => return error(400, "since is a sequence number"),
    };
    let limit = match param("limit").map(str::parse::<usize>).transpose() {
        Ok(v) => v.unwrap_or(200).min(crate::transport::trace::RING_LINES),
        Err(_) => return error(400, "limit is a number"),
    };
    let session = hub.session_id();
    let lines = hub.trace.as_ref().map(|t| t.lines_since(since, limit, session)).unwrap_or_default();
    axum::Json(json!(lines)).into_response()
}

/// One modem in the list.
fn summary(id: usize, state: &Value) -> Value {
    json!({
        "id": id,
        "msisdn": state["msisdn"], "imei": state["imei"], "model": state["model"],
        "registered": matches!(state["registration"]["cs"].as_str(), Some("home" | "roaming")),
    })
}
