//! Retrying what failed for a passing reason: one policy for every request the operator
//! makes outside its watches (those have kube-runtime's own backoff).
//!
//! - [`verdict`] tells a transient failure (5xx, 429, a connection refused, reset or timed
//!   out) from a permanent one (403, 404, 409, 422, anything the request itself got wrong),
//!   and reads the server's `Retry-After` (`details.retryAfterSeconds` of the Status, which
//!   the API server also sends as the header).
//! - [`request`] retries one request in place a bounded number of times ([`Policy::REQUEST`]):
//!   a 5 % fault rate then costs a few retries, not a failed reconcile and a tenant backing
//!   off. What still fails after that is returned, and the per-tenant backoff takes over.
//! - [`until_permanent`] retries a start-up step (reading the CA, the CRD check) with no
//!   bound on attempts ([`Policy::STARTUP`]) until it succeeds or fails permanently, telling
//!   the caller what it is waiting for so that `/readyz` can say it.
//!
//! Delays are capped exponential with jitter (backon, already in the tree through
//! kube-runtime), so that replicas restarted together do not retry in step. A server's
//! `Retry-After` is honoured when it asks for longer than the backoff would wait, up to
//! [`MAX_RETRY_AFTER`].

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

/// The longest `Retry-After` honoured: a server asking for more is retried after this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Whether a failed request may succeed if sent again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Sending it again may succeed; the server may have said after how long.
    Transient {
        /// The server's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// Sending it again will fail the same way: something must be fixed first.
    Permanent,
}

impl Verdict {
    /// Whether this is [`Verdict::Transient`].
    pub fn is_transient(self) -> bool {
        matches!(self, Verdict::Transient { .. })
    }
}

/// The verdict on an HTTP status code.
pub fn status_verdict(code: u16, retry_after: Option<Duration>) -> Verdict {
    match code {
        // 429: API Priority and Fairness or a rate limit; 5xx: the server or something in
        // front of it (etcd timeouts, a restarting apiserver behind a load balancer). 501
        // Not Implemented will not change by asking again.
        429 | 500 | 502..=599 => Verdict::Transient { retry_after },
        _ => Verdict::Permanent,
    }
}

/// The verdict on a failed kube request.
pub fn verdict(error: &kube::Error) -> Verdict {
    match error {
        kube::Error::Api(status) => {
            let retry_after = status
                .details
                .as_ref()
                .map(|d| d.retry_after_seconds)
                .filter(|s| *s > 0)
                .map(|s| Duration::from_secs(u64::from(s)));
            status_verdict(status.code, retry_after)
        }
        // The connection: refused, reset, timed out, closed before the answer.
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
            Verdict::Transient { retry_after: None }
        }
        // The request could not be built or the answer not read: sending it again cannot
        // help. Configuration and TLS errors end up here too.
        _ => Verdict::Permanent,
    }
}

/// How to space attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Delay before the first retry; each next one doubles, with jitter.
    pub first: Duration,
    /// The longest delay between two attempts.
    pub cap: Duration,
    /// Retries after the first attempt; `None` retries until success or a permanent error.
    pub retries: Option<usize>,
}

impl Policy {
    /// One request: 5 retries, 50 ms doubling to at most 2 s (about 3 s in all when every
    /// attempt fails), so that a request fails within seconds when the server is really
    /// down and the reconcile's own backoff takes over.
    pub const REQUEST: Policy = Policy {
        first: Duration::from_millis(50),
        cap: Duration::from_secs(2),
        retries: Some(5),
    };

    /// A start-up step: until it succeeds or fails permanently, 200 ms doubling to at most
    /// 30 s: an API server that comes back after minutes is noticed within 30 s.
    pub const STARTUP: Policy = Policy {
        first: Duration::from_millis(200),
        cap: Duration::from_secs(30),
        retries: None,
    };

    fn builder(self) -> ExponentialBuilder {
        let builder = ExponentialBuilder::default()
            .with_min_delay(self.first)
            .with_max_delay(self.cap)
            .with_factor(2.0)
            .with_jitter();
        match self.retries {
            Some(retries) => builder.with_max_times(retries),
            None => builder.without_max_times(),
        }
    }
}

/// The delay before the next attempt: the backoff's, or the server's `Retry-After` when it
/// asks for longer (up to [`MAX_RETRY_AFTER`]). `None` (no more attempts) stays `None`.
fn next_delay(backoff: Option<Duration>, verdict: Verdict) -> Option<Duration> {
    let backoff = backoff?;
    match verdict {
        Verdict::Transient {
            retry_after: Some(asked),
        } => Some(backoff.max(asked.min(MAX_RETRY_AFTER))),
        _ => Some(backoff),
    }
}

/// Sends one request (`send` makes it anew for each attempt), retrying transient failures
/// with [`Policy::REQUEST`]. `verb` and `object` name it in the logs, e.g. `apply`
/// `NetworkPolicy a/b`.
pub async fn request<T, F, Fut>(
    verb: &str,
    object: &(dyn std::fmt::Display + Sync),
    send: F,
) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    retry(Policy::REQUEST, verdict, send, |error, delay| {
        tracing::debug!(%verb, %object, %error, ?delay, "request failed; retrying");
    })
    .await
}

/// Runs a start-up step until it succeeds, or fails with an error that `classify` calls
/// permanent (returned). Before each wait, `waiting` gets a sentence saying what is waited
/// for and why (`what` and the last error), for logs and `/readyz`.
pub async fn until_permanent<T, E, F, Fut>(
    what: &str,
    policy: Policy,
    classify: impl Fn(&E) -> Verdict,
    mut waiting: impl FnMut(&str),
    run: F,
) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    retry(policy, classify, run, |error, delay| {
        let reason = format!("{what}: {error} (retrying in {delay:.1?})");
        tracing::warn!("{reason}");
        waiting(&reason);
    })
    .await
}

/// The one retry loop: backon with the policy's backoff, retrying while `classify` says
/// transient, honouring `Retry-After`, calling `notify` before each wait.
async fn retry<T, E, F, Fut>(
    policy: Policy,
    classify: impl Fn(&E) -> Verdict,
    run: F,
    mut notify: impl FnMut(&E, Duration),
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    run.retry(policy.builder())
        .sleep(tokio::time::sleep)
        .when(|error| classify(error).is_transient())
        .adjust(|error, backoff| next_delay(backoff, classify(error)))
        .notify(|error, delay| notify(error, delay))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn api_error(code: u16, retry_after_seconds: u32) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            details: Some(kube::core::response::StatusDetails {
                name: String::new(),
                group: String::new(),
                kind: String::new(),
                uid: String::new(),
                causes: Vec::new(),
                retry_after_seconds,
            }),
            ..Default::default()
        }))
    }

    #[test]
    fn server_errors_and_throttling_are_transient_and_client_errors_permanent() {
        for code in [429, 500, 502, 503, 504] {
            assert!(verdict(&api_error(code, 0)).is_transient(), "{code}");
        }
        for code in [400, 401, 403, 404, 409, 410, 422, 501] {
            assert_eq!(verdict(&api_error(code, 0)), Verdict::Permanent, "{code}");
        }
        assert_eq!(
            verdict(&api_error(429, 3)),
            Verdict::Transient {
                retry_after: Some(Duration::from_secs(3))
            }
        );
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(verdict(&kube::Error::Service(Box::new(refused))).is_transient());
        let garbled = serde_json::from_str::<u8>("x").unwrap_err();
        assert_eq!(
            verdict(&kube::Error::SerdeError(garbled)),
            Verdict::Permanent
        );
    }

    #[test]
    fn retry_after_lengthens_the_wait_up_to_a_cap_but_never_shortens_it() {
        let asked = |s| Verdict::Transient {
            retry_after: Some(Duration::from_secs(s)),
        };
        let backoff = Some(Duration::from_millis(400));
        assert_eq!(next_delay(backoff, asked(1)), Some(Duration::from_secs(1)));
        assert_eq!(
            next_delay(Some(Duration::from_secs(2)), asked(1)),
            Some(Duration::from_secs(2))
        );
        assert_eq!(next_delay(backoff, asked(3600)), Some(MAX_RETRY_AFTER));
        assert_eq!(
            next_delay(backoff, Verdict::Transient { retry_after: None }),
            backoff
        );
        assert_eq!(next_delay(None, asked(1)), None, "out of attempts");
    }

    fn quick(retries: Option<usize>) -> Policy {
        Policy {
            first: Duration::from_millis(1),
            cap: Duration::from_millis(4),
            retries,
        }
    }

    #[tokio::test]
    async fn transient_failures_are_retried_a_bounded_number_of_times() {
        let attempts = AtomicUsize::new(0);
        let always_500 = || async {
            attempts.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(api_error(500, 0))
        };
        let result = retry(quick(Some(3)), verdict, always_500, |_, _| {}).await;
        assert!(result.is_err());
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            4,
            "one attempt and 3 retries"
        );

        let attempts = AtomicUsize::new(0);
        let forbidden = || async {
            attempts.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(api_error(403, 0))
        };
        assert!(
            retry(quick(Some(3)), verdict, forbidden, |_, _| {})
                .await
                .is_err()
        );
        assert_eq!(attempts.load(Ordering::SeqCst), 1, "a 403 is not retried");
    }

    #[tokio::test]
    async fn a_start_up_step_waits_through_failures_and_says_why() {
        let attempts = AtomicUsize::new(0);
        let mut reasons = Vec::new();
        // Fails 20 times (more than any bounded policy here), then succeeds.
        let flaky = || async {
            if attempts.fetch_add(1, Ordering::SeqCst) < 20 {
                Err(api_error(503, 0))
            } else {
                Ok(7)
            }
        };
        let value = until_permanent(
            "reading CA Secret tenant-operator/ca",
            quick(None),
            verdict,
            |reason| reasons.push(reason.to_string()),
            flaky,
        )
        .await;
        assert_eq!(value.ok(), Some(7));
        assert_eq!(reasons.len(), 20);
        assert!(
            reasons[0].starts_with("reading CA Secret tenant-operator/ca: ")
                && reasons[0].contains("retrying in"),
            "{}",
            reasons[0]
        );

        let permanent = until_permanent(
            "reading CA Secret tenant-operator/ca",
            quick(None),
            verdict,
            |_| {},
            || async { Err::<(), _>(api_error(403, 0)) },
        )
        .await;
        assert!(matches!(permanent, Err(kube::Error::Api(s)) if s.code == 403));
    }
}
