//! The regional certificate authority and the TLS certificates it issues to tenants.
//!
//! - [`ca`]: the CA itself (ECDSA P-256, long-lived), generated with rcgen or loaded from
//!   the PEM an administrator supplied;
//! - [`leaf`]: short-lived server certificates for a tenant environment's hostnames and the
//!   pure renewal check that keeps a steady-state reconcile free of writes;
//! - [`store`]: where the CA lives in the cluster (a Secret in the operator's namespace,
//!   and the record of which CA is in use, a ConfigMap beside it) and the TLS Secret of an
//!   environment, derived from it;
//! - [`trust`]: the issuing CA, the CAs being rotated out and the trust bundle, with the
//!   pure transitions of a rotation.
//!
//! The CA key never leaves the CA Secret: it is not logged (the [`ca::RegionalCa`] `Debug`
//! output elides it), not copied into tenant namespaces and not put in status or Events.

pub mod ca;
pub mod keys;
pub mod leaf;
pub mod store;
pub mod trust;

pub use ca::{CaProblem, CaSettings, DEFAULT_PERMITTED_DNS_DOMAINS, DnsConstraints, RegionalCa};
pub use leaf::{CertificateInfo, IssuedCertificate, RenewReason, Renewal, needs_renewal};
pub use store::{
    CA_CERT_KEY, CA_RECORD_CONFIG_MAP, CaLoad, DEFAULT_CA_SECRET, NewRoot, TLS_CERT_KEY,
    TLS_KEY_KEY, load_ca, tls_secret,
};
pub use trust::{CaRecord, CaUnavailable, LeafIssuer, Rotation, Trust};

use std::time::Duration;

/// Errors of the PKI module. The CA key is never part of a message.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// rcgen could not generate a key or sign a certificate.
    #[error("{what}: {source}")]
    Crypto {
        /// What was being done, e.g. `generating the regional CA key`.
        what: &'static str,
        /// Why rcgen failed.
        #[source]
        source: rcgen::Error,
    },
    /// A hostname of a certificate request is not a valid DNS name for a certificate.
    #[error(
        "cannot issue a certificate for {name:?}: {source}; use a DNS name such as servizi.comune.example.it"
    )]
    InvalidDnsName {
        /// The hostname rcgen refused.
        name: String,
        /// Why rcgen rejected it.
        #[source]
        source: rcgen::Error,
    },
    /// A DNS name is outside the CA's name constraints: clients would refuse the
    /// certificate, and the CA must not sign it.
    #[error(
        "cannot issue a certificate for {name:?}: the regional CA may only sign names inside {permitted}; ask the datacenter operators to widen the CA's permitted DNS domains (chart value ca.permittedDnsDomains) or use a name inside them"
    )]
    OutsideNameConstraints {
        /// The DNS name.
        name: String,
        /// The CA's permitted subtrees, comma-separated.
        permitted: String,
    },
    /// A certificate request carried no DNS name at all.
    #[error("a certificate needs at least one DNS name")]
    NoDnsNames,
    /// The CA certificate or key supplied in the CA Secret is unusable.
    #[error(
        "CA Secret {namespace}/{name}: {problem}; supply a kubernetes.io/tls Secret whose `tls.crt` is a CA certificate (basicConstraints CA:true, followed by its chain if it is an intermediate), whose `tls.key` is its private key (PEM: PKCS#8, SEC1 `EC PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`) and, optionally, whose `ca.crt` is the root clients trust"
    )]
    InvalidCaSecret {
        /// Namespace of the Secret.
        namespace: String,
        /// Name of the Secret.
        name: String,
        /// What is wrong with it.
        #[source]
        problem: CaSecretProblem,
    },
    /// A validity period does not fit in a certificate (too far in the future or negative).
    #[error("certificate validity of {lifetime:?} from {now} is out of range")]
    Validity {
        /// Start of the validity period.
        now: jiff::Timestamp,
        /// Requested lifetime.
        lifetime: Duration,
    },
    /// Reading or creating the CA Secret failed.
    #[error("{verb} CA Secret {namespace}/{name}: {source}")]
    Api {
        /// `reading` or `creating`.
        verb: &'static str,
        /// Namespace of the Secret.
        namespace: String,
        /// Name of the Secret.
        name: String,
        /// The API error (boxed: it is large and rare).
        #[source]
        source: Box<kube::Error>,
    },
}

/// What is wrong with the CA Secret.
#[derive(Debug, thiserror::Error)]
pub enum CaSecretProblem {
    /// A data key is missing.
    #[error("key `{key}` is missing")]
    MissingKey {
        /// The key of the Secret's `data`, `tls.crt` or `tls.key`.
        key: &'static str,
    },
    /// A data key does not hold text.
    #[error("key `{key}` is not PEM text ({source})")]
    NotText {
        /// The key of the Secret's `data`, `tls.crt` or `tls.key`.
        key: &'static str,
        /// Where the bytes stop being UTF-8.
        #[source]
        source: std::str::Utf8Error,
    },
    /// The certificate and key do not make a usable CA.
    #[error(transparent)]
    Ca(#[from] ca::CaProblem),
}

/// Converts a timestamp to rcgen's date type (whole seconds; certificates carry no more).
fn to_offset_date_time(
    at: jiff::Timestamp,
    lifetime: Duration,
) -> Result<time::OffsetDateTime, PkiError> {
    time::OffsetDateTime::from_unix_timestamp(at.as_second())
        .map_err(|_| PkiError::Validity { now: at, lifetime })
}

/// Adds a duration to a timestamp, failing rather than wrapping.
fn add_duration(at: jiff::Timestamp, lifetime: Duration) -> Result<jiff::Timestamp, PkiError> {
    let span = jiff::SignedDuration::try_from(lifetime)
        .map_err(|_| PkiError::Validity { now: at, lifetime })?;
    at.checked_add(span)
        .map_err(|_| PkiError::Validity { now: at, lifetime })
}

/// Subtracts a duration from a timestamp, failing rather than wrapping.
fn sub_duration(at: jiff::Timestamp, by: Duration) -> Result<jiff::Timestamp, PkiError> {
    let span = jiff::SignedDuration::try_from(by).map_err(|_| PkiError::Validity {
        now: at,
        lifetime: by,
    })?;
    at.checked_sub(span).map_err(|_| PkiError::Validity {
        now: at,
        lifetime: by,
    })
}
