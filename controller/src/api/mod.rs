//! The `tenancy.innova.puglia.it/v1alpha1` API: the `TenantService`, `TenantClass` and
//! `DomainDelegation` custom resources.
//!
//! The Rust types are the single source of truth: `crds/` and `tenant-operator crd`
//! are generated from them. `///` comments on fields are user-facing text
//! (`kubectl explain`); `//` comments are for maintainers.

pub mod consent;
pub mod crd;
pub mod domain_delegation;
pub mod istat;
pub mod quantity;
pub mod tenant_class;
pub mod tenant_service;
pub mod validation;

pub use domain_delegation::*;
pub use tenant_class::*;
pub use tenant_service::*;

/// API group of every kind.
pub const GROUP: &str = "tenancy.innova.puglia.it";
/// The one served and stored version.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` as it appears in manifests.
pub const API_VERSION: &str = "tenancy.innova.puglia.it/v1alpha1";
