//! Watch streams (spec §5.3–§5.6): initial events, replay from a resourceVersion,
//! bookmarks (including the initial-events-end bookmark), timeouts, in-stream
//! 410/504 errors, and injected cuts. Each stream owns a bounded queue that the
//! store fills under its lock; the stream unregisters itself when dropped.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::errors::{ApiError, Cause};
use crate::http::{Format, MAX_WATCH, Query, check_rv_params, filter_from};
use crate::ops;
use crate::registry::{ResourceInfo, ResourceKey};
use crate::server::Server;
use crate::store::{EventType, Obj, WatchMsg};
use crate::table::{self, IncludeObject};

enum Line {
    Event(EventType, Obj),
    Bookmark(u64, bool),
    Error(Value),
}

struct Renderer {
    info: Arc<ResourceInfo>,
    version: String,
    format: Format,
    include: IncludeObject,
    first_table: bool,
    server: Arc<Server>,
}

impl Renderer {
    fn line(&mut self, l: &Line) -> Bytes {
        let mut buf = Vec::with_capacity(512);
        let (kind, obj): (&str, Option<Value>) = match l {
            Line::Event(t, o) => match self.format {
                Format::Json
                    if self.info.storage_version == self.version
                        && !self.info.stored_elsewhere() =>
                {
                    buf.extend_from_slice(b"{\"type\":\"");
                    buf.extend_from_slice(t.as_str().as_bytes());
                    buf.extend_from_slice(b"\",\"object\":");
                    buf.extend_from_slice(o.json());
                    buf.extend_from_slice(b"}\n");
                    return Bytes::from(buf);
                }
                Format::Json => (
                    t.as_str(),
                    Some(ops::served(&o.value(), &self.info, &self.version)),
                ),
                Format::Partial => (t.as_str(), Some(table::partial_metadata(&o.value()))),
                Format::Table => {
                    let now = self.server.clock.peek_seconds();
                    let mut tb = table::table(
                        &self.info,
                        &self.version,
                        &[Arc::new(o.value())],
                        "",
                        None,
                        self.include,
                        now,
                    );
                    if !self.first_table {
                        tb["columnDefinitions"] = json!([]);
                    }
                    self.first_table = false;
                    (t.as_str(), Some(tb))
                }
            },
            Line::Bookmark(rv, end) => {
                let mut meta = json!({"resourceVersion": rv.to_string()});
                if *end {
                    meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
                }
                let (k, av) = match self.format {
                    Format::Partial => (
                        "PartialObjectMetadata".to_string(),
                        "meta.k8s.io/v1".to_string(),
                    ),
                    Format::Table => ("Table".to_string(), "meta.k8s.io/v1".to_string()),
                    Format::Json => (
                        self.info.kind.clone(),
                        self.info.group_version(&self.version),
                    ),
                };
                (
                    "BOOKMARK",
                    Some(json!({"kind": k, "apiVersion": av, "metadata": meta})),
                )
            }
            Line::Error(status) => ("ERROR", Some(status.clone())),
        };
        let ev = json!({"type": kind, "object": obj});
        if serde_json::to_writer(&mut buf, &ev).is_err() {
            buf.clear();
        }
        buf.push(b'\n');
        Bytes::from(buf)
    }
}

struct Stream {
    server: Arc<Server>,
    key: ResourceKey,
    id: Option<u64>,
    pending: VecDeque<Line>,
    rx: Option<mpsc::Receiver<WatchMsg>>,
    deadline: Instant,
    bookmark_every: Option<Duration>,
    next_bookmark: Instant,
    cut_at: Option<Instant>,
    shutdown: watch::Receiver<bool>,
    render: Renderer,
    done: bool,
}

impl Drop for Stream {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.server.lock().remove_watcher(&self.key, id);
        }
    }
}

fn status_event(code: u16, reason: &str, message: String) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code})
}

/// Starts a watch on a collection.
pub fn start(
    server: Arc<Server>,
    info: Arc<ResourceInfo>,
    version: &str,
    ns: &str,
    q: &Query,
    format: Format,
    include: IncludeObject,
) -> Result<Response, ApiError> {
    let filter = filter_from(q, &info, ns)?;
    let send_initial = q.flag("sendInitialEvents") == Some(true);
    let rvm = q.get("resourceVersionMatch").filter(|s| !s.is_empty());
    if send_initial && rvm != Some("NotOlderThan") {
        return Err(ApiError::invalid_options(
            "ListOptions.meta.k8s.io",
            vec![Cause {
                reason: "FieldValueForbidden".into(),
                message: "Forbidden: sendInitialEvents is forbidden for watch unless resourceVersionMatch is set to NotOlderThan".into(),
                field: "sendInitialEvents".into(),
            }],
        ));
    }
    let bookmarks = q.flag("allowWatchBookmarks") == Some(true);
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        // 0 means "no timeout given", as on the apiserver.
        .filter(|t| *t > 0)
        .map_or(MAX_WATCH, Duration::from_secs);
    let faults = server.faults();
    let key = info.storage_key();
    let mut pending = VecDeque::new();
    let mut rx = None;
    let mut id = None;
    {
        let mut st = server.lock();
        let current = st.rv();
        let asked = check_rv_params(q, current, true)?;
        let initial = send_initial || matches!(asked, None | Some(0));
        match asked {
            Some(x) if x > current && x != 0 => {
                pending.push_back(Line::Error(status_event(
                    504,
                    "Timeout",
                    format!("Too large resource version: {x}, current: {current}"),
                )));
            }
            Some(x) if !initial && x < st.floor() => {
                pending.push_back(Line::Error(status_event(
                    410,
                    "Expired",
                    format!("too old resource version: {x} ({})", st.floor() + 1),
                )));
            }
            _ => {
                if initial {
                    let ns_opt = (!ns.is_empty()).then_some(ns);
                    for o in st.list(&key, ns_opt) {
                        if filter.matches_stored(&o) {
                            pending.push_back(Line::Event(EventType::Added, o));
                        }
                    }
                    if send_initial && bookmarks {
                        pending.push_back(Line::Bookmark(current, true));
                    }
                } else if let Some(x) = asked {
                    for e in st.events_since(&key, x) {
                        if let Some((t, o)) = filter.view(&e) {
                            pending.push_back(Line::Event(t, o));
                        }
                    }
                }
                let (wid, r) = st.add_watcher(&key, filter);
                id = Some(wid);
                rx = Some(r);
            }
        }
    }
    let now = Instant::now();
    let interval = server.opts.bookmark_interval;
    let stream = Stream {
        server: server.clone(),
        key,
        id,
        pending,
        rx,
        deadline: now + timeout,
        bookmark_every: bookmarks.then_some(interval),
        next_bookmark: next_bookmark(now, interval, now + timeout),
        cut_at: faults.watch_lifetime().map(|d| now + d),
        shutdown: server.shutdown.subscribe(),
        render: Renderer {
            info,
            version: version.to_string(),
            format,
            include,
            first_table: true,
            server: server.clone(),
        },
        done: false,
    };
    let body = futures::stream::unfold(stream, next_chunk);
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// When the next bookmark is due: one interval from now, or about 2 s before
/// the deadline if that comes first (as the apiserver's cache watcher does), so
/// a client reconnecting at the timeout resumes from a fresh resourceVersion.
fn next_bookmark(now: Instant, interval: Duration, deadline: Instant) -> Instant {
    let regular = now + interval;
    match deadline.checked_sub(Duration::from_secs(2)) {
        Some(before_end) if before_end > now && before_end < regular => before_end,
        _ => regular,
    }
}

async fn next_chunk(mut s: Stream) -> Option<(Result<Bytes, std::io::Error>, Stream)> {
    loop {
        if s.done {
            return None;
        }
        if let Some(l) = s.pending.pop_front() {
            if matches!(l, Line::Error(_)) {
                s.done = true;
            }
            let b = s.render.line(&l);
            return Some((Ok(b), s));
        }
        if *s.shutdown.borrow() {
            return None;
        }
        let rx = s.rx.as_mut()?;
        let far = Instant::now() + MAX_WATCH;
        let bookmark_at = if s.bookmark_every.is_some() {
            s.next_bookmark
        } else {
            far
        };
        let cut_at = s.cut_at.unwrap_or(far);
        tokio::select! {
            m = rx.recv() => match m {
                Some((t, o)) => s.pending.push_back(Line::Event(t, o)),
                // Closed by the store (queue overflow, resource gone, shutdown).
                None => return None,
            },
            () = tokio::time::sleep_until(s.deadline) => return None,
            () = tokio::time::sleep_until(bookmark_at) => {
                // Everything up to `rv` is already queued, since events are queued under the lock.
                let rv = s.server.lock().rv();
                while let Ok((t, o)) = rx.try_recv() {
                    s.pending.push_back(Line::Event(t, o));
                }
                s.pending.push_back(Line::Bookmark(rv, false));
                s.next_bookmark = next_bookmark(Instant::now(), s.bookmark_every.unwrap_or(MAX_WATCH), s.deadline);
            }
            () = tokio::time::sleep_until(cut_at) => {
                s.done = true;
                return Some((Err(std::io::Error::other("injected fault: watch stream cut")), s));
            }
            _ = s.shutdown.changed() => return None,
        }
    }
}
