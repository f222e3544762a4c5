//! `tenant-operator`: reconciles `TenantService` custom resources into isolated tenant
//! namespaces of the Puglia regional datacenter.
//!
//! Layout, one concern per module, from the bottom up:
//! - [`kinds`], [`labels`]: the table of managed kinds, and the labels and names every
//!   other module agrees on;
//! - [`api`]: the CRD types, the validation rules (of one tenant, and of a set), the ISTAT
//!   registry;
//! - [`pki`]: the regional CA and the TLS certificates it issues;
//! - [`render`]: pure desired-state builders: spec in, typed objects out (the CA bundle
//!   included);
//! - [`manifest`]: manifests on disk: the loader of `validate`, `render` and `dev`, and the
//!   `validate` engine;
//! - [`chart`]: the Helm chart's RBAC rendered without helm (for `dev` and the tests);
//! - [`diff`]: what a change does to the cluster, object by object (`tenant-operator diff`);
//! - [`annotations`]: problems and changes in the formats forges show on the line (GitHub,
//!   GitLab, SARIF);
//! - [`audit`]: the effective isolation of a set of objects (NetworkPolicy and RBAC
//!   evaluators, the Multi-Tenancy Benchmark checks, the report);
//! - [`telemetry`]: metrics, tracing, the admin port;
//! - [`client`]: the layer under every API request: timeouts, the write rate limit,
//!   dry-run, request metrics;
//! - [`retry`]: which failed requests are worth sending again, and how soon;
//! - [`reconcile`]: the controller: a short driver, one module per step, the wiring;
//! - [`samples`]: generated tenants for scale tests and benchmarks (and, for tests only,
//!   `fixtures`).
//!
//! The binary (`src/main.rs`, subcommands in `src/cli/`) is the only place that uses
//! `anyhow`.

pub mod annotations;
pub mod api;
pub mod audit;
pub mod chart;
pub mod client;
pub mod diff;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod kinds;
pub mod labels;
pub mod manifest;
pub mod pki;
pub mod reconcile;
pub mod render;
pub mod retry;
pub mod samples;
pub mod telemetry;
