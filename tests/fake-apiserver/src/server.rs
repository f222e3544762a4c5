//! Shared server state: the store under its one lock, the clock, counters,
//! faults, and the signals background tasks wait on.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::authn::Authenticator;
use crate::clock::Clock;
use crate::faults::Faults;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::store::State;

/// Tunables of a running server.
#[derive(Debug, Clone)]
pub struct Options {
    /// Interval between watch bookmarks.
    pub bookmark_interval: Duration,
    /// `/version` minor.
    pub version_minor: u32,
    /// `host:port` the server listens on (for discovery).
    pub address: String,
}

/// One running server.
pub struct Server {
    state: Mutex<State>,
    /// Time and UID source.
    pub clock: Clock,
    /// Tunables.
    pub opts: Options,
    /// Request counters.
    pub metrics: Metrics,
    faults: Mutex<Faults>,
    /// Wakes the garbage collector.
    pub gc_notify: Notify,
    /// Flips to true on shutdown.
    pub shutdown: watch::Sender<bool>,
    /// Bearer tokens and their users.
    pub authn: Authenticator,
}

impl Server {
    /// A server with the built-in resources and the startup objects of a new cluster.
    pub fn new(
        deterministic: bool,
        rv_base: u64,
        history: usize,
        watch_queue: usize,
        faults: Faults,
        opts: Options,
        authn: Authenticator,
    ) -> Arc<Self> {
        let mut state = State::new(Registry::with_builtins(), rv_base, history, watch_queue);
        state.admission = crate::admission::Memory::new(opts.version_minor);
        let (shutdown, _) = watch::channel(false);
        let s = Arc::new(Server {
            state: Mutex::new(state),
            clock: Clock::new(deterministic),
            opts,
            metrics: Metrics::default(),
            faults: Mutex::new(faults),
            gc_notify: Notify::new(),
            shutdown,
            authn,
        });
        s.bootstrap();
        s
    }

    fn bootstrap(&self) {
        let mut st = self.lock();
        crate::bootstrap::install(&mut st, &self.clock, &self.opts.address);
    }

    /// Takes the write lock. A poisoned lock (a panic while holding it) is
    /// recovered: the state is plain data and stays consistent per operation.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Current faults.
    pub fn faults(&self) -> Faults {
        self.faults.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// Replaces the faults.
    pub fn set_faults(&self, f: Faults) {
        if let Ok(mut g) = self.faults.lock() {
            *g = f;
        }
    }
}
