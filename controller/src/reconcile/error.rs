//! Errors of a reconcile: one variant per step, a bounded category for metrics and Event
//! reasons, and whether retrying can help.

use crate::pki::PkiError;
use crate::reconcile::inventory::ObjectKey;

/// A failed reconcile step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The desired objects could not be built from the spec (a spec the validation let
    /// through but render rejects).
    #[error("cannot build the objects of TenantService {tenant}: {message}")]
    Render {
        /// Tenant name.
        tenant: String,
        /// What render reported.
        message: String,
    },
    /// Render produced a kind this controller does not know how to apply, watch or prune.
    #[error(
        "render produced {kind} {name}, a kind the controller does not manage; add it to reconcile::kinds::ManagedKind"
    )]
    UnmanagedKind {
        /// The kind.
        kind: String,
        /// The object's name.
        name: String,
    },
    /// Issuing a certificate failed.
    #[error("issuing the certificate in {secret}: {source}")]
    Certificate {
        /// The TLS Secret.
        secret: ObjectKey,
        /// What went wrong.
        #[source]
        source: Box<PkiError>,
    },
    /// Reading a live object failed.
    #[error("reading {object}: {source}")]
    Read {
        /// The object.
        object: ObjectKey,
        /// The API error.
        #[source]
        source: Box<kube::Error>,
    },
    /// Server-side apply of a child object failed.
    #[error("applying {object}: {source}")]
    Apply {
        /// The object.
        object: ObjectKey,
        /// The API error.
        #[source]
        source: Box<kube::Error>,
    },
    /// Deleting an object that is no longer desired failed.
    #[error("deleting {object}: {source}")]
    Prune {
        /// The object.
        object: ObjectKey,
        /// The API error.
        #[source]
        source: Box<kube::Error>,
    },
    /// Detaching a retained namespace failed.
    #[error("detaching retained {object}: {source}")]
    Detach {
        /// The namespace.
        object: ObjectKey,
        /// The API error.
        #[source]
        source: Box<kube::Error>,
    },
    /// Namespaces of a deleted tenant (`deletionPolicy: Delete`) are still terminating.
    #[error("waiting for namespaces {namespaces:?} to be deleted")]
    NamespacesTerminating {
        /// The namespaces still present.
        namespaces: Vec<String>,
    },
    /// Writing the TenantService status failed.
    #[error("writing the status of TenantService {tenant}: {source}")]
    Status {
        /// Tenant name.
        tenant: String,
        /// The API error.
        #[source]
        source: Box<kube::Error>,
    },
    /// Adding or removing the finalizer failed.
    #[error("updating the finalizer of TenantService {tenant}: {source}")]
    Finalizer {
        /// Tenant name.
        tenant: String,
        /// The API error.
        #[source]
        source: Box<kube::Error>,
    },
    /// An object could not be converted to or from JSON.
    #[error("encoding {what}: {source}")]
    Serialize {
        /// What was being encoded.
        what: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// This replica is not the leader (any more) and must not write.
    #[error("not the leader: writes are disabled")]
    NotLeader,
}

impl Error {
    /// The variant's name: the label of `tenant_operator_reconcile_errors_total` and the
    /// reason of the Warning Event. Bounded by construction.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Render { .. } => "RenderFailed",
            Error::UnmanagedKind { .. } => "UnmanagedKind",
            Error::Certificate { .. } => "CertificateFailed",
            Error::Read { .. } => "ReadFailed",
            Error::Apply { .. } => "ApplyFailed",
            Error::Prune { .. } => "PruneFailed",
            Error::Detach { .. } => "DetachFailed",
            Error::NamespacesTerminating { .. } => "NamespacesTerminating",
            Error::Status { .. } => "StatusFailed",
            Error::Finalizer { .. } => "FinalizerFailed",
            Error::Serialize { .. } => "SerializeFailed",
            Error::NotLeader => "NotLeader",
        }
    }

    /// Whether retrying without a spec change cannot help: the tenant then waits for a
    /// change instead of backing off. Validation errors (422) and forbidden requests are
    /// permanent until someone changes the spec or the cluster.
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::Render { .. } | Error::UnmanagedKind { .. } | Error::Serialize { .. } => true,
            Error::Certificate { source, .. } => matches!(
                source.as_ref(),
                PkiError::InvalidDnsName { .. } | PkiError::NoDnsNames
            ),
            Error::Apply { source, .. } => {
                matches!(source.as_ref(), kube::Error::Api(status) if status.code == 422)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::kinds::ManagedKind;

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("boom", "Invalid")
                .with_code(code)
                .boxed(),
        )
    }

    #[test]
    fn categories_are_variant_names_and_permanence_follows_the_cause() {
        let object = ObjectKey::new(ManagedKind::NetworkPolicy, Some("a-prod"), "deny");
        let invalid = Error::Apply {
            object: object.clone(),
            source: Box::new(api_error(422)),
        };
        let conflict = Error::Apply {
            object,
            source: Box::new(api_error(409)),
        };
        assert_eq!(invalid.category(), "ApplyFailed");
        assert!(invalid.is_permanent());
        assert!(!conflict.is_permanent());
        assert!(!Error::NamespacesTerminating { namespaces: vec![] }.is_permanent());
        assert!(invalid.to_string().contains("NetworkPolicy a-prod/deny"));
    }
}
