//! `tenant-operator`: reconciles `TenantService` custom resources into isolated tenant
//! namespaces of the Puglia regional datacenter.
//!
//! Layout (one concern per module):
//! - [`api`]: the CRD types and their validation;
//! - [`labels`]: the labels and names every other module agrees on.
#![forbid(unsafe_code)]

pub mod api;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod kinds;
pub mod labels;
pub mod manifest;
pub mod pki;
pub mod reconcile;
pub mod render;
pub mod samples;
pub mod telemetry;
