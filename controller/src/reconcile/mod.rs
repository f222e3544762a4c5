//! The controller: turns each TenantService into its child objects and keeps them so.
//!
//! The pipeline of one reconcile (see [`pipeline`]): load the class and the relevant peers
//! → validate → render (pure) → certificates → apply (server-side apply, skipped when the
//! live object is known to match) → prune → status and Events.
//!
//! Supporting pieces, one concern each: [`kinds`] (the table of managed kinds),
//! [`inventory`] (what exists and what was applied), [`compare`] (desired vs live),
//! [`status`] (pure status building), [`peers`] (tenant relationships), [`leader`]
//! (Lease-based leader election), [`rbac`] (the permissions table), [`error`].

pub mod apply;
pub mod certificates;
pub mod compare;
pub mod context;
pub mod controller;
pub mod error;
pub mod inventory;
pub mod kinds;
pub mod leader;
pub mod peers;
pub mod pipeline;
pub mod rbac;
pub mod status;

pub use error::Error;

/// The one field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "tenant-operator";
/// Finalizer that makes deletion wait for the namespaces to be detached or deleted.
pub const FINALIZER: &str = "tenancy.innova.puglia.it/cleanup";
