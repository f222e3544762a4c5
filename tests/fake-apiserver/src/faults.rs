//! Fault injection for reliability tests: a share of requests answered with 500
//! or 429, added latency, and watch streams cut at random.

use std::time::Duration;

/// What to inject. The default injects nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Share (0.0–1.0) of resource requests answered with 500 InternalError.
    pub error_rate: f64,
    /// Share (0.0–1.0) of resource requests answered with 429 TooManyRequests.
    pub throttle_rate: f64,
    /// Latency added before every resource request is served.
    pub latency: Duration,
    /// Latency added (on top of `latency`) to the resource requests of particular clients,
    /// told by their `User-Agent` header: a client whose User-Agent starts with the text
    /// gets the duration. For one slow network path (one replica of several).
    pub client_latency: Vec<(String, Duration)>,
    /// Share (0.0–1.0) of watch requests answered with 500 before the stream starts.
    pub watch_error_rate: f64,
    /// When set, every watch stream is cut (connection aborted) after a random
    /// duration between zero and this.
    pub watch_cut_after: Option<Duration>,
    /// Resources (as counted: `secrets`, `tenantservices.tenancy.innovapuglia.it`, with a
    /// `/status` suffix for a subresource) every request of which is answered 500, whatever
    /// the rates: one dependency down while the rest of the server works, deterministically.
    pub failing_resources: Vec<String>,
}

/// The outcome of rolling the dice for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    /// Serve normally.
    None,
    /// Answer 500.
    Error,
    /// Answer 429.
    Throttle,
}

impl Faults {
    /// Whether nothing is injected.
    pub fn is_none(&self) -> bool {
        *self == Faults::default()
    }

    /// Decides the fate of one request for `resource`.
    pub fn roll(&self, resource: &str) -> Injected {
        if self.failing_resources.iter().any(|r| r == resource) {
            return Injected::Error;
        }
        if self.error_rate <= 0.0 && self.throttle_rate <= 0.0 {
            return Injected::None;
        }
        let x = fastrand::f64();
        if x < self.error_rate {
            Injected::Error
        } else if x < self.error_rate + self.throttle_rate {
            Injected::Throttle
        } else {
            Injected::None
        }
    }

    /// The latency of a request from a client with this `User-Agent`.
    pub fn latency_for(&self, user_agent: &str) -> Duration {
        self.client_latency
            .iter()
            .filter(|(prefix, _)| user_agent.starts_with(prefix.as_str()))
            .fold(self.latency, |total, (_, extra)| total + *extra)
    }

    /// Whether this watch start fails.
    pub fn fail_watch(&self) -> bool {
        self.watch_error_rate > 0.0 && fastrand::f64() < self.watch_error_rate
    }

    /// How long the next watch stream may live, if cuts are injected.
    pub fn watch_lifetime(&self) -> Option<Duration> {
        self.watch_cut_after.map(|max| max.mul_f64(fastrand::f64()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_respected() {
        let always = Faults {
            error_rate: 1.0,
            ..Faults::default()
        };
        assert_eq!(always.roll("secrets"), Injected::Error);
        let never = Faults::default();
        assert!((0..100).all(|_| never.roll("secrets") == Injected::None));
        let secrets_down = Faults {
            failing_resources: vec!["secrets".into()],
            ..Faults::default()
        };
        assert_eq!(secrets_down.roll("secrets"), Injected::Error);
        assert_eq!(secrets_down.roll("configmaps"), Injected::None);
        let cut = Faults {
            watch_cut_after: Some(Duration::from_secs(2)),
            ..Faults::default()
        };
        assert!(
            cut.watch_lifetime()
                .is_some_and(|d| d <= Duration::from_secs(2))
        );
        let slow_one = Faults {
            latency: Duration::from_millis(10),
            client_latency: vec![("replica-a".into(), Duration::from_secs(3))],
            ..Faults::default()
        };
        assert_eq!(
            slow_one.latency_for("replica-a/1.0"),
            Duration::from_millis(3010)
        );
        assert_eq!(slow_one.latency_for("replica-b"), Duration::from_millis(10));
    }
}
