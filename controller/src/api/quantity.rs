//! Kubernetes resource quantities for quota checks: the workspace's shared
//! implementation (`quantity/`), also used by the in-memory API server's quota admission.

pub use k8s_quantity::{Amount, QuantityError, Unit, parse};
