//! Depth and age of the controller's work queue: how many tenants wait for a reconcile, and
//! since when the one that waits longest does.
//!
//! kube-runtime's `Controller` keeps its queue (a scheduler of pending requests, then a
//! runner bounded by the concurrency) to itself and exports nothing. So the queue is
//! mirrored from its two edges, which the operator sees:
//!
//! - **in:** every trigger passes through a stream or mapper the operator hands to the
//!   `Controller` (the TenantService watch, each watched kind's mapper, the peer and
//!   delegation streams; see `reconcile::controller`): each calls [`WorkQueue::triggered`].
//!   A reconcile's own requeue (the periodic re-check, a certificate renewal, a retry after
//!   an error) becomes due later: the driver and the error policy call
//!   [`WorkQueue::requeued`] with the same delay they hand to the `Controller`.
//! - **out:** a reconcile that starts inside a leadership term calls [`WorkQueue::started`]
//!   (a standby's tenants keep waiting, and are counted, until it leads); a request for a
//!   tenant that is gone is dropped by the `Controller` (`ObjectNotFound`), and
//!   [`WorkQueue::forget`] drops it here.
//!
//! As the scheduler does, a tenant is in the queue at most once, with the earliest of its
//! due times. A tenant waits from its due time on; one due later (a requeue) is scheduled,
//! not waiting. What this cannot see: the `Controller` drops a trigger for a tenant whose
//! reconcile is running and runs it once more afterwards; here that trigger counts from its
//! own time, which is when the change came.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Tenants due for a reconcile (or scheduled for one), with their earliest due time.
#[derive(Debug, Default)]
pub struct WorkQueue {
    due: Mutex<HashMap<String, Instant>>,
}

/// What waits at one instant.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct QueueState {
    /// Tenants whose reconcile is due and has not started.
    pub depth: usize,
    /// How long the tenant due first has been waiting (zero when none waits).
    pub oldest_wait: Duration,
}

impl WorkQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        // Plain instants behind the lock: still right after a panic elsewhere.
        self.due
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A trigger for `tenant` (a change of it or of something it depends on): due now.
    pub fn triggered(&self, tenant: &str) {
        self.due_at(tenant, Instant::now());
    }

    /// A reconcile of `tenant` asked to be run again after `delay`.
    pub fn requeued(&self, tenant: &str, delay: Duration) {
        let now = Instant::now();
        self.due_at(tenant, now.checked_add(delay).unwrap_or(now));
    }

    /// `tenant` is due at `at`, unless it is due earlier already.
    pub fn due_at(&self, tenant: &str, at: Instant) {
        let mut due = self.lock();
        match due.get_mut(tenant) {
            Some(earliest) => *earliest = (*earliest).min(at),
            None => {
                due.insert(tenant.to_string(), at);
            }
        }
    }

    /// A reconcile of `tenant` starts: it leaves the queue. Returns how long it waited
    /// (zero if it was not due yet, e.g. a trigger of the running reconcile's own writes).
    pub fn started(&self, tenant: &str, now: Instant) -> Duration {
        self.lock()
            .remove(tenant)
            .map_or(Duration::ZERO, |due| now.saturating_duration_since(due))
    }

    /// `tenant` is gone (deleted): nothing of it will run.
    pub fn forget(&self, tenant: &str) {
        self.lock().remove(tenant);
    }

    /// What waits at `now`.
    pub fn state(&self, now: Instant) -> QueueState {
        let due = self.lock();
        let mut state = QueueState::default();
        for at in due.values().filter(|at| **at <= now) {
            state.depth += 1;
            state.oldest_wait = state.oldest_wait.max(now.duration_since(*at));
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_waits_once_from_its_earliest_due_time_until_it_starts() {
        let queue = WorkQueue::default();
        let t0 = Instant::now();
        let at = |seconds: u64| t0 + Duration::from_secs(seconds);
        queue.due_at("comune-bari", at(10));
        queue.due_at("comune-bari", at(4)); // an earlier trigger moves it forward
        queue.due_at("comune-bari", at(30)); // a later one does not
        queue.due_at("comune-lecce", at(8));
        queue.due_at("comune-trani", at(300)); // the periodic re-check: scheduled, not waiting
        assert_eq!(queue.state(at(2)), QueueState::default());
        assert_eq!(
            queue.state(at(9)),
            QueueState {
                depth: 2,
                oldest_wait: Duration::from_secs(5),
            }
        );
        assert_eq!(queue.started("comune-bari", at(9)), Duration::from_secs(5));
        assert_eq!(
            queue.state(at(9)),
            QueueState {
                depth: 1,
                oldest_wait: Duration::from_secs(1),
            }
        );
        // Started again without a trigger (a retry inside the Controller): waited nothing.
        assert_eq!(queue.started("comune-bari", at(9)), Duration::ZERO);
        queue.forget("comune-lecce");
        assert_eq!(queue.state(at(299)).depth, 0);
        assert_eq!(
            queue.state(at(301)),
            QueueState {
                depth: 1,
                oldest_wait: Duration::from_secs(1),
            }
        );
    }
}
