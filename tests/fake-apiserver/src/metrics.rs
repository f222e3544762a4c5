//! Request accounting: counts by (verb, resource, HTTP code), readable from the
//! library ([`RequestCounts`]) and at `/debug/requests`, plus the log of requests
//! that hit an unimplemented feature (501).

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{Value, json};

/// Verbs that change state.
pub const MUTATING_VERBS: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];

/// A snapshot of request counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// (verb, resource, code) → count. Resource is `configmaps`, `widgets.example.io`,
    /// with `/status` for the subresource; non-resource requests use their path.
    pub counts: BTreeMap<(String, String, u16), u64>,
}

impl RequestCounts {
    /// Total requests.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// create + update + patch + delete + deletecollection, over all resources and codes.
    pub fn mutating(&self) -> u64 {
        self.counts
            .iter()
            .filter(|((v, _, _), _)| MUTATING_VERBS.contains(&v.as_str()))
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests with this verb (any resource, any code).
    pub fn verb(&self, verb: &str) -> u64 {
        self.counts
            .iter()
            .filter(|((v, _, _), _)| v == verb)
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests with this verb on this resource (any code).
    pub fn get(&self, verb: &str, resource: &str) -> u64 {
        self.counts
            .iter()
            .filter(|((v, r, _), _)| v == verb && r == resource)
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests answered with this code.
    pub fn code(&self, code: u16) -> u64 {
        self.counts
            .iter()
            .filter(|((_, _, c), _)| *c == code)
            .map(|(_, n)| n)
            .sum()
    }

    /// JSON for `/debug/requests`.
    pub fn to_json(&self) -> Value {
        let rows: Vec<Value> = self
            .counts
            .iter()
            .map(|((v, r, c), n)| json!({"verb": v, "resource": r, "code": c, "count": n}))
            .collect();
        json!({"total": self.total(), "mutating": self.mutating(), "requests": rows})
    }
}

/// Live counters.
#[derive(Debug, Default)]
pub struct Metrics {
    counts: Mutex<RequestCounts>,
    unsupported: Mutex<Vec<String>>,
    unknown_params: Mutex<std::collections::BTreeSet<String>>,
}

impl Metrics {
    /// Counts one request.
    pub fn record(&self, verb: &str, resource: &str, code: u16) {
        if let Ok(mut c) = self.counts.lock() {
            *c.counts
                .entry((verb.to_string(), resource.to_string(), code))
                .or_default() += 1;
        }
    }

    /// A snapshot.
    pub fn snapshot(&self) -> RequestCounts {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Zeroes the counters.
    pub fn reset(&self) {
        if let Ok(mut c) = self.counts.lock() {
            c.counts.clear();
        }
    }

    /// Records a request that reached the 501 path.
    pub fn unsupported(&self, what: String) {
        tracing::warn!(request = %what, "unsupported request");
        if let Ok(mut u) = self.unsupported.lock() {
            u.push(what);
        }
    }

    /// Logs a query parameter the server does not know, once per name.
    pub fn unknown_param(&self, name: &str) {
        if let Ok(mut seen) = self.unknown_params.lock()
            && seen.insert(name.to_string())
        {
            tracing::info!(parameter = %name, "ignoring an unknown query parameter");
        }
    }

    /// Requests that reached the 501 path.
    pub fn unsupported_requests(&self) -> Vec<String> {
        self.unsupported
            .lock()
            .map(|u| u.clone())
            .unwrap_or_default()
    }
}
