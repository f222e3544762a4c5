//! The controller: turns each TenantService into its child objects and keeps them so.
//!
//! One reconcile ([`driver`]) is a named pipeline, one module per step:
//! [`load`](mod@load) (the class and the relevant peers, from caches) → [`validate`](mod@validate) → render
//! ([`crate::render`], pure) → [`apply`] (server-side apply through [`write`](mod@write), skipped when
//! the live object is known to match; TLS Secrets by [`certificates`]) → [`prune`] →
//! [`status`] and [`events`]. A deleted tenant goes to [`cleanup`].
//!
//! Supporting pieces, one concern each: [`crate::kinds`] (the table of managed kinds),
//! [`inventory`] (what exists and what was applied), [`compare`] (desired vs live),
//! [`peers`] (tenant relationships), [`delegations`] (the domains of each body), [`rollout`]
//! (a class change reaching its tenants at a bounded rate), [`leader`] (Lease-based leader election), [`rbac`]
//! (the permissions table), [`error`], [`context`] (what every reconcile shares) and
//! [`controller`] (the wiring: watches, start-up).

pub mod apply;
pub mod ca;
pub mod certificates;
pub mod cleanup;
pub mod compare;
pub mod context;
pub mod controller;
pub mod crds;
pub mod delegations;
pub mod driver;
pub mod error;
pub mod events;
pub mod inventory;
pub mod leader;
pub mod load;
pub mod ownership;
pub mod peers;
pub mod prune;
pub mod rbac;
pub mod recorder;
pub mod retained;
pub mod rollout;
pub mod status;
pub mod validate;
pub mod write;

pub use error::Error;

/// The one field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "tenant-operator";
/// Finalizer that makes deletion wait for the namespaces to be detached or deleted.
pub const FINALIZER: &str = "tenancy.innova.puglia.it/cleanup";
