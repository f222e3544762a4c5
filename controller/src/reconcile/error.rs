//! Errors of a reconcile: one variant per step, a bounded category for metrics and Event
//! reasons, and whether retrying can help.

use crate::api::validation::Problem;
use crate::pki::PkiError;
use crate::reconcile::inventory::ObjectKey;
use crate::render::RenderError;

/// A failed reconcile step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec breaks a rule of `tenant-operator validate` (or names a class that does not
    /// exist): nothing is created until the spec (or the class) changes.
    #[error(
        "the spec is invalid; fix it and re-apply (`tenant-operator validate` reports the same): {}",
        join_problems(.problems)
    )]
    InvalidSpec {
        /// The TenantService's name.
        tenant: String,
        /// The errors found, each naming its field (never empty).
        problems: Vec<Problem>,
    },
    /// The desired objects could not be built from the spec (a spec the validation let
    /// through but render rejects).
    #[error("cannot build the objects of TenantService {tenant}: {source}")]
    Render {
        /// The TenantService's name.
        tenant: String,
        /// What render refused (boxed, as the other sources: errors are rare, and the Ok
        /// path should not pay for their size).
        #[source]
        source: Box<RenderError>,
    },
    /// Issuing a certificate failed.
    #[error("issuing the certificate in {secret}: {source}")]
    Certificate {
        /// The TLS Secret the certificate was for.
        secret: ObjectKey,
        /// Why the CA could not issue it (an invalid DNS name, a signing failure).
        #[source]
        source: Box<PkiError>,
    },
    /// No CA can issue (its Secret is missing, unreadable or invalid): the certificate in
    /// `secret` needs issuing and waits.
    #[error("cannot issue the certificate in {secret}: {problem}")]
    CaUnavailable {
        /// The TLS Secret the certificate is for.
        secret: ObjectKey,
        /// Why no CA can issue, and what to do (see `pki::CaUnavailable`).
        problem: String,
    },
    /// Reading a live object failed.
    #[error("reading {object}: {source}")]
    Read {
        /// The child object, as `Kind namespace/name`.
        object: ObjectKey,
        /// The API server's answer, or why it could not be reached.
        #[source]
        source: Box<kube::Error>,
    },
    /// Server-side apply of a child object failed.
    #[error("applying {object}: {source}")]
    Apply {
        /// The child object, as `Kind namespace/name`.
        object: ObjectKey,
        /// The API server's answer, or why it could not be reached.
        #[source]
        source: Box<kube::Error>,
    },
    /// Deleting an object that is no longer desired failed.
    #[error("deleting {object}: {source}")]
    Prune {
        /// The child object, as `Kind namespace/name`.
        object: ObjectKey,
        /// The API server's answer, or why it could not be reached.
        #[source]
        source: Box<kube::Error>,
    },
    /// Detaching a retained namespace failed.
    #[error("detaching retained {object}: {source}")]
    Detach {
        /// The namespace being detached.
        object: ObjectKey,
        /// The API server's answer, or why it could not be reached.
        #[source]
        source: Box<kube::Error>,
    },
    /// Namespaces of a deleted tenant (`deletionPolicy: Delete`) are still terminating.
    #[error("waiting for namespaces {namespaces:?} to be deleted")]
    NamespacesTerminating {
        /// The namespaces still present, being deleted.
        namespaces: Vec<String>,
    },
    /// Writing the TenantService status failed.
    #[error("writing the status of TenantService {tenant}: {source}")]
    Status {
        /// The TenantService's name.
        tenant: String,
        /// The API server's answer, or why it could not be reached.
        #[source]
        source: Box<kube::Error>,
    },
    /// Adding or removing the finalizer failed.
    #[error("updating the finalizer of TenantService {tenant}: {source}")]
    Finalizer {
        /// The TenantService's name.
        tenant: String,
        /// The API server's answer, or why it could not be reached.
        #[source]
        source: Box<kube::Error>,
    },
    /// An object could not be converted to or from JSON.
    #[error("encoding {what}: {source}")]
    Serialize {
        /// What was being encoded, e.g. `NetworkPolicy a-prod/tenancy-default-deny`.
        what: String,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
}

/// `path: message [RULE-ID]` of each problem, `; `-separated (the tenant is the object of
/// them all): the condition and the Event name the rule as `validate` does.
fn join_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("{}: {} [{}]", p.path, p.message, p.rule))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// The variant's name: the label of `tenant_operator_reconcile_errors_total` and the
    /// reason of the Warning Event. Bounded by construction.
    pub fn category(&self) -> &'static str {
        match self {
            Error::InvalidSpec { .. } => "InvalidSpec",
            Error::Render { .. } => "RenderFailed",
            Error::Certificate { .. } => "CertificateFailed",
            Error::CaUnavailable { .. } => "CAUnavailable",
            Error::Read { .. } => "ReadFailed",
            Error::Apply { .. } => "ApplyFailed",
            Error::Prune { .. } => "PruneFailed",
            Error::Detach { .. } => "DetachFailed",
            Error::NamespacesTerminating { .. } => "NamespacesTerminating",
            Error::Status { .. } => "StatusFailed",
            Error::Finalizer { .. } => "FinalizerFailed",
            Error::Serialize { .. } => "SerializeFailed",
        }
    }

    /// The step that failed, as the `action` of the Warning Event.
    pub fn action(&self) -> &'static str {
        match self {
            Error::InvalidSpec { .. } => "Validate",
            Error::Render { .. } | Error::Serialize { .. } => "Render",
            Error::Certificate { .. } | Error::CaUnavailable { .. } => "Issue",
            Error::Read { .. } | Error::Apply { .. } => "Apply",
            Error::Prune { .. } | Error::Detach { .. } | Error::NamespacesTerminating { .. } => {
                "Delete"
            }
            Error::Status { .. } => "Status",
            Error::Finalizer { .. } => "Finalize",
        }
    }

    /// The API server's answer (or why it could not be reached), when a request failed.
    pub fn api_error(&self) -> Option<&kube::Error> {
        match self {
            Error::Read { source, .. }
            | Error::Apply { source, .. }
            | Error::Prune { source, .. }
            | Error::Detach { source, .. }
            | Error::Status { source, .. }
            | Error::Finalizer { source, .. } => Some(source),
            _ => None,
        }
    }

    /// Whether a create failed because an object of that name exists (409 `AlreadyExists`).
    pub fn is_already_exists(&self) -> bool {
        matches!(self, Error::Apply { source, .. }
            if matches!(source.as_ref(), kube::Error::Api(status)
                if status.code == 409 && status.reason == "AlreadyExists"))
    }

    /// Whether retrying without a change cannot help: the tenant then waits for a change
    /// (of its spec, its class or its peers, all of which retrigger it) instead of backing
    /// off. An invalid spec and a 422 from the API server are permanent.
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::InvalidSpec { .. } | Error::Render { .. } | Error::Serialize { .. } => true,
            Error::Certificate { source, .. } => matches!(
                source.as_ref(),
                PkiError::InvalidDnsName { .. }
                    | PkiError::NoDnsNames
                    | PkiError::OutsideNameConstraints { .. }
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
    use crate::kinds::ManagedKind;

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
        // A 409 on a create that found the name taken, not one of a stale resourceVersion.
        assert!(!conflict.is_already_exists());
        let taken = Error::Apply {
            object: ObjectKey::new(ManagedKind::Namespace, None, "a-prod"),
            source: Box::new(kube::Error::Api(
                kube::core::Status::failure(
                    "namespaces \"a-prod\" already exists",
                    "AlreadyExists",
                )
                .with_code(409)
                .boxed(),
            )),
        };
        assert!(taken.is_already_exists());
    }
}
