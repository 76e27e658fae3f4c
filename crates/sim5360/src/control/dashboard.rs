//! The dashboard (docs/control.md, The dashboard): three files embedded in the binary, served at
//! `/` of the control listener, and the event stream they read:
//! `GET /api/v1/modems/<id>/events` (server-sent events) gives the modem's trace lines
//! (`event: trace`, `id:` the line's `seq`, so a reconnecting `EventSource` resumes after
//! the last line it saw through `Last-Event-ID`) and its state (`event: state`) after each
//! burst of trace lines and at least every 2 s. Everything else the page does is the REST
//! API itself.

use super::Control;
use super::http::Hub;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

const INDEX: &str = include_str!("dashboard/index.html");
const APP_JS: &str = include_str!("dashboard/app.js");
const APP_CSS: &str = include_str!("dashboard/app.css");

/// Trace lines a new stream starts with (without `Last-Event-ID`).
const REPLAY: usize = 500;
/// Trace lines in one batch; more are sent at once in further batches.
const BATCH: usize = 1000;
/// The state is sent at least this often.
const STATE_EVERY: Duration = Duration::from_secs(2);
/// Lines that come close together go out together.
const GATHER: Duration = Duration::from_millis(100);

/// The dashboard's files by path, if `path` is one.
pub fn asset(path: &str) -> Option<Response> {
    let (body, kind) = match path {
        "" | "/" | "/index.html" => (INDEX, "text/html; charset=utf-8"),
        "/app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "/app.css" => (APP_CSS, "text/css; charset=utf-8"),
        _ => return None,
    };
    let headers = [
        (header::CONTENT_TYPE, kind),
        (header::CACHE_CONTROL, "no-cache"),
        // Nothing from elsewhere: no CDN, no inline script, no framing by another site.
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    Some((StatusCode::OK, headers, body).into_response())
}

struct Stream {
    hub: Arc<Hub>,
    since: Option<u64>,
    /// Send what there is now, without waiting first.
    now: bool,
    pending: VecDeque<Event>,
    changed: tokio::sync::watch::Receiver<u64>,
}

/// `GET .../events`: the modem's trace and state as they change.
pub fn events(hub: Arc<Hub>, headers: &HeaderMap) -> Response {
    let Some(changed) = hub.trace().and_then(|t| t.subscribe()) else {
        let body = serde_json::json!({ "error": "this process keeps no trace", "status": 404 });
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    };
    let since = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
    let start = Stream { hub, since, now: true, pending: VecDeque::new(), changed };
    let stream = futures_util::stream::unfold(start, |mut st| async move {
        loop {
            if let Some(e) = st.pending.pop_front() {
                return Some((Ok::<_, Infallible>(e), st));
            }
            if !st.now {
                // A closed sender (never, while the process runs) must not spin.
                if let Ok(Err(_)) = tokio::time::timeout(STATE_EVERY, st.changed.changed()).await {
                    tokio::time::sleep(STATE_EVERY).await;
                }
                tokio::time::sleep(GATHER).await;
            }
            st.now = false;
            let trace = st.hub.trace()?;
            let session = st.hub.session_id();
            let lines = match st.since {
                Some(s) => trace.lines_since(Some(s), BATCH, session),
                None => trace.lines_since(None, REPLAY, session),
            };
            st.now = st.since.is_some() && lines.len() == BATCH;
            st.since = Some(lines.last().map_or(st.since.unwrap_or(0), |l| l.seq));
            for l in &lines {
                if let Ok(e) = Event::default().event("trace").id(l.seq.to_string()).json_data(l) {
                    st.pending.push_back(e);
                }
            }
            let state = match st.hub.send(Control::State).await {
                Ok(v) => v,
                Err(e) => serde_json::json!({ "error": e.error, "status": e.status }),
            };
            if let Ok(e) = Event::default().event("state").json_data(&state) {
                st.pending.push_back(e);
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}
