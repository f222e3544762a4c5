//! The regional certificate authority: an ECDSA P-256 key and a long-lived self-signed
//! CA certificate that signs every tenant's server certificates.

use std::fmt;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, GeneralSubtree, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, NameConstraints, PKCS_ECDSA_P256_SHA256, PublicKeyData,
};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use super::keys::{KeyError, key_pair_from_pem};
use super::{PkiError, add_duration, to_offset_date_time};
use crate::api::validation::is_within;

/// DNS subtrees a generated CA may sign by default: the parent of the domains delegated to
/// the region's public bodies (`*.it`).
pub const DEFAULT_PERMITTED_DNS_DOMAINS: [&str; 1] = ["it"];

/// How a new regional CA is generated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaSettings {
    /// Subject common name.
    pub common_name: String,
    /// Subject organization.
    pub organization: String,
    /// Validity of the CA certificate.
    pub lifetime: Duration,
    /// DNS subtrees the CA may sign names in, written as X.509 name constraints
    /// (permitted `dNSName` subtrees, RFC 5280 4.2.1.10): clients that trust the CA then
    /// refuse a certificate for any other name, whoever signed it. Empty: no constraint.
    pub permitted_dns_domains: Vec<String>,
}

impl Default for CaSettings {
    fn default() -> Self {
        CaSettings {
            common_name: "InnovaPuglia Regional Tenant CA".to_string(),
            organization: "InnovaPuglia".to_string(),
            // Ten years: the CA is rotated by administrators, not by the operator.
            lifetime: Duration::from_secs(10 * 365 * 24 * 3600),
            permitted_dns_domains: DEFAULT_PERMITTED_DNS_DOMAINS
                .iter()
                .map(ToString::to_string)
                .collect(),
        }
    }
}

/// The DNS name constraints of a CA certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DnsConstraints {
    /// Permitted subtrees; `None` when the certificate permits every DNS name.
    pub permitted: Option<Vec<String>>,
    /// Excluded subtrees.
    pub excluded: Vec<String>,
}

impl DnsConstraints {
    /// Whether `name` (lower case, no trailing dot) is inside the permitted subtrees and
    /// outside the excluded ones. A subtree `it` or `.it` covers every name below `it`
    /// (and `it` itself: RFC 5280 constrains by adding labels on the left).
    pub fn permits(&self, name: &str) -> bool {
        let within = |base: &String| is_within(name, base.trim_start_matches('.'));
        self.permitted
            .as_ref()
            .is_none_or(|permitted| permitted.iter().any(within))
            && !self.excluded.iter().any(within)
    }

    /// Whether the CA may sign any DNS name.
    pub fn is_unconstrained(&self) -> bool {
        self.permitted.is_none()
    }

    /// The DNS name constraints of `cert`; none when it has no name constraints extension
    /// (or one without `dNSName` subtrees).
    fn of(cert: &X509Certificate<'_>) -> Self {
        let Ok(Some(extension)) = cert.name_constraints() else {
            return DnsConstraints::default();
        };
        let dns = |subtrees: &Option<Vec<x509_parser::extensions::GeneralSubtree<'_>>>| {
            subtrees
                .iter()
                .flatten()
                .filter_map(|subtree| match subtree.base {
                    GeneralName::DNSName(name) => Some(name.to_ascii_lowercase()),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        let permitted = dns(&extension.value.permitted_subtrees);
        DnsConstraints {
            permitted: (!permitted.is_empty()).then_some(permitted),
            excluded: dns(&extension.value.excluded_subtrees),
        }
    }
}

/// What is wrong with a CA certificate and key given as PEM (the `tls.crt` and `tls.key` of
/// the CA Secret, or the files given to `tenant-operator render`).
#[derive(Debug, thiserror::Error)]
pub enum CaProblem {
    /// The certificate is not PEM.
    #[error("`tls.crt` is not a PEM certificate ({0})")]
    CertificateNotPem(#[source] x509_parser::nom::Err<x509_parser::error::PEMError>),
    /// The PEM does not hold an X.509 certificate.
    #[error("`tls.crt` is not an X.509 certificate ({0})")]
    CertificateNotX509(#[source] x509_parser::nom::Err<x509_parser::error::X509Error>),
    /// The certificate is not a CA.
    #[error("`tls.crt` is not a CA certificate (basicConstraints CA:true missing)")]
    NotACa,
    /// The certificate may not sign certificates.
    #[error("`tls.crt` does not allow signing certificates (keyUsage keyCertSign missing)")]
    CannotSign,
    /// The certificate's end of validity is out of range.
    #[error("`tls.crt` has an unusable notAfter ({0})")]
    NotAfter(#[source] jiff::Error),
    /// The certificate has expired.
    #[error("the CA certificate expired at {not_after}")]
    Expired {
        /// When it expired.
        not_after: jiff::Timestamp,
    },
    /// The key is not a usable PEM private key.
    #[error("`tls.key`: {0}")]
    Key(#[source] KeyError),
    /// The key belongs to another certificate.
    #[error("`tls.key` is not the private key of the certificate in `tls.crt`")]
    KeyMismatch,
    /// rcgen refuses the certificate as an issuer.
    #[error("`tls.crt` cannot be used as an issuer ({0})")]
    NotAnIssuer(#[source] rcgen::Error),
}

/// The regional CA: its certificate and the key that signs tenant certificates.
pub struct RegionalCa {
    cert_pem: String,
    cert_der: Vec<u8>,
    not_after: jiff::Timestamp,
    constraints: DnsConstraints,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for RegionalCa {
    // The key is deliberately left out: Debug output ends up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegionalCa")
            .field("not_after", &self.not_after)
            .field("constraints", &self.constraints)
            .field("key", &"[elided]")
            .finish_non_exhaustive()
    }
}

impl RegionalCa {
    /// Generates a new CA: a fresh ECDSA P-256 key and a self-signed certificate valid from
    /// `now` for `settings.lifetime`, with `CA:true`, key usages certSign and crlSign, and
    /// the name constraints of `settings.permitted_dns_domains`.
    pub fn generate(settings: &CaSettings, now: jiff::Timestamp) -> Result<Self, PkiError> {
        let key =
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|source| PkiError::Crypto {
                what: "generating the regional CA key",
                source,
            })?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, settings.common_name.as_str());
        params
            .distinguished_name
            .push(DnType::OrganizationName, settings.organization.as_str());
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let permitted: Vec<String> = settings
            .permitted_dns_domains
            .iter()
            .map(|domain| domain.trim_start_matches('.').to_ascii_lowercase())
            .collect();
        if !permitted.is_empty() {
            params.name_constraints = Some(NameConstraints {
                permitted_subtrees: permitted
                    .iter()
                    .map(|domain| GeneralSubtree::DnsName(domain.clone()))
                    .collect(),
                excluded_subtrees: Vec::new(),
            });
        }
        params.not_before = to_offset_date_time(now, settings.lifetime)?;
        params.not_after =
            to_offset_date_time(add_duration(now, settings.lifetime)?, settings.lifetime)?;
        let cert = params
            .self_signed(&key)
            .map_err(|source| PkiError::Crypto {
                what: "self-signing the regional CA certificate",
                source,
            })?;
        let cert_der = cert.der().to_vec();
        let not_after = add_duration(now, settings.lifetime)?;
        Ok(RegionalCa {
            cert_pem: cert.pem(),
            cert_der,
            // Truncate to whole seconds as the certificate does.
            not_after: jiff::Timestamp::from_second(not_after.as_second()).unwrap_or(not_after),
            constraints: DnsConstraints {
                permitted: (!permitted.is_empty()).then_some(permitted),
                excluded: Vec::new(),
            },
            issuer: Issuer::new(params, key),
        })
    }

    /// Checks that `cert_pem` is a CA certificate that may sign certificates and is valid at
    /// `now`; returns its end of validity. What `tenant-operator render --ca-cert` needs of
    /// a certificate given without its key.
    pub fn check_certificate(
        cert_pem: &str,
        now: jiff::Timestamp,
    ) -> Result<jiff::Timestamp, CaProblem> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())
            .map_err(CaProblem::CertificateNotPem)?;
        let (_, cert) =
            X509Certificate::from_der(&pem.contents).map_err(CaProblem::CertificateNotX509)?;
        if !cert.is_ca() {
            return Err(CaProblem::NotACa);
        }
        if let Ok(Some(usage)) = cert.key_usage()
            && !usage.value.key_cert_sign()
        {
            return Err(CaProblem::CannotSign);
        }
        let not_after = jiff::Timestamp::from_second(cert.validity().not_after.timestamp())
            .map_err(CaProblem::NotAfter)?;
        if not_after <= now {
            return Err(CaProblem::Expired { not_after });
        }
        Ok(not_after)
    }

    /// Loads a CA from PEM (as stored in the CA Secret; the key in PKCS#8, SEC1 or PKCS#1,
    /// see [`super::keys`]). Says what is wrong if the certificate is not a CA (see
    /// [`RegionalCa::check_certificate`]) or the key does not belong to it.
    pub fn from_pem(
        cert_pem: &str,
        key_pem: &str,
        now: jiff::Timestamp,
    ) -> Result<Self, CaProblem> {
        let not_after = Self::check_certificate(cert_pem, now)?;
        let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())
            .map_err(CaProblem::CertificateNotPem)?;
        let cert_der = pem.contents;
        let (_, cert) =
            X509Certificate::from_der(&cert_der).map_err(CaProblem::CertificateNotX509)?;
        let key = key_pair_from_pem(key_pem).map_err(CaProblem::Key)?;
        if key.subject_public_key_info() != cert.public_key().raw {
            return Err(CaProblem::KeyMismatch);
        }
        let constraints = DnsConstraints::of(&cert);
        let issuer = Issuer::from_ca_cert_der(&cert_der.as_slice().into(), key)
            .map_err(CaProblem::NotAnIssuer)?;
        Ok(RegionalCa {
            cert_pem: cert_pem.to_string(),
            cert_der,
            not_after,
            constraints,
            issuer,
        })
    }

    /// The DNS name constraints of the CA certificate: [`RegionalCa::issue`] signs no name
    /// outside them.
    pub fn constraints(&self) -> &DnsConstraints {
        &self.constraints
    }

    /// The CA certificate, PEM encoded: what tenants trust.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER encoded.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// Expiry of the CA certificate.
    pub fn not_after(&self) -> jiff::Timestamp {
        self.not_after
    }

    /// The signer used by [`super::leaf`].
    pub(crate) fn issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.issuer
    }

    /// The CA key in PEM, only for writing the CA Secret the first time
    /// ([`super::store::load_or_create_ca`]); nothing else may call it.
    pub(crate) fn key_pem_for_ca_secret(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// Whether `cert` was issued by this CA: the issuer name is the CA's subject and the
    /// signature verifies with the CA's public key.
    pub fn issued(&self, cert: &X509Certificate<'_>) -> bool {
        let Ok((_, ca)) = X509Certificate::from_der(&self.cert_der) else {
            return false;
        };
        cert.issuer().as_raw() == ca.subject().as_raw()
            && cert.verify_signature(Some(ca.public_key())).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000).unwrap()
    }

    #[test]
    fn generated_ca_is_a_p256_ca_with_cert_sign_usage() {
        let ca = RegionalCa::generate(&CaSettings::default(), now()).unwrap();
        let (_, cert) = X509Certificate::from_der(ca.cert_der()).unwrap();
        assert!(cert.is_ca());
        let usage = cert.key_usage().unwrap().unwrap().value;
        assert!(usage.key_cert_sign() && usage.crl_sign());
        assert_eq!(
            cert.public_key().algorithm.algorithm,
            x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY
        );
        assert_eq!(
            cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp(),
            i64::try_from(CaSettings::default().lifetime.as_secs()).unwrap()
        );
        // Self-signed: the CA issued its own certificate.
        assert!(ca.issued(&cert));
        assert!(
            cert.subject()
                .to_string()
                .contains("InnovaPuglia Regional Tenant CA")
        );
    }

    #[test]
    fn ca_round_trips_through_pem() {
        let ca = RegionalCa::generate(&CaSettings::default(), now()).unwrap();
        let loaded =
            RegionalCa::from_pem(ca.cert_pem(), &ca.key_pem_for_ca_secret(), now()).unwrap();
        assert_eq!(loaded.cert_der(), ca.cert_der());
        assert_eq!(loaded.not_after(), ca.not_after());
    }

    #[test]
    fn loading_rejects_a_key_of_another_ca() {
        let ca = RegionalCa::generate(&CaSettings::default(), now()).unwrap();
        let other = RegionalCa::generate(&CaSettings::default(), now()).unwrap();
        let err =
            RegionalCa::from_pem(ca.cert_pem(), &other.key_pem_for_ca_secret(), now()).unwrap_err();
        assert!(matches!(err, CaProblem::KeyMismatch), "{err}");
    }

    #[test]
    fn loading_rejects_an_expired_ca_and_garbage() {
        let settings = CaSettings {
            lifetime: Duration::from_secs(60),
            ..CaSettings::default()
        };
        let ca = RegionalCa::generate(&settings, now()).unwrap();
        let later = now() + jiff::SignedDuration::from_secs(61);
        let err =
            RegionalCa::from_pem(ca.cert_pem(), &ca.key_pem_for_ca_secret(), later).unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
        assert!(matches!(
            RegionalCa::check_certificate(ca.cert_pem(), later),
            Err(CaProblem::Expired { .. })
        ));
        assert_eq!(
            RegionalCa::check_certificate(ca.cert_pem(), now()).ok(),
            Some(ca.not_after())
        );
        let err = RegionalCa::from_pem("hello", "world", now()).unwrap_err();
        assert!(
            err.to_string()
                .contains("`tls.crt` is not a PEM certificate"),
            "{err}"
        );
    }

    #[test]
    fn a_generated_ca_carries_the_permitted_dns_subtrees_and_signs_nothing_outside() {
        let settings = CaSettings {
            permitted_dns_domains: vec![".it".to_string(), "Example.org".to_string()],
            ..CaSettings::default()
        };
        let ca = RegionalCa::generate(&settings, now()).unwrap();
        let (_, cert) = X509Certificate::from_der(ca.cert_der()).unwrap();
        let extension = cert.name_constraints().unwrap().expect("name constraints");
        assert!(
            extension.critical,
            "RFC 5280: name constraints are critical"
        );
        let permitted: Vec<String> = extension
            .value
            .permitted_subtrees
            .iter()
            .flatten()
            .map(|s| s.base.to_string())
            .collect();
        assert_eq!(permitted, ["DNSName(it)", "DNSName(example.org)"]);
        assert_eq!(DnsConstraints::of(&cert), *ca.constraints());
        let lifetime = Duration::from_secs(3600);
        let names = |n: &[&str]| n.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert!(
            ca.issue(
                &names(&["servizi.comune.molfetta.ba.it", "www.example.org"]),
                now(),
                lifetime
            )
            .is_ok()
        );
        let err = ca
            .issue(
                &names(&["servizi.comune.molfetta.ba.it", "www.google.com"]),
                now(),
                lifetime,
            )
            .unwrap_err();
        assert!(
            matches!(&err, PkiError::OutsideNameConstraints { name, .. } if name == "www.google.com"),
            "{err}"
        );
        assert!(err.to_string().contains("inside it, example.org"), "{err}");
        // The loaded CA reads the same constraints back from its certificate.
        let loaded =
            RegionalCa::from_pem(ca.cert_pem(), &ca.key_pem_for_ca_secret(), now()).unwrap();
        assert_eq!(loaded.constraints(), ca.constraints());
        assert!(!loaded.constraints().permits("it.evil.com"));
    }

    #[test]
    fn constraints_follow_rfc_5280_subtrees() {
        let c = DnsConstraints {
            permitted: Some(vec!["it".to_string()]),
            excluded: vec!["gov.it".to_string()],
        };
        assert!(c.permits("comune.bari.it"));
        assert!(!c.permits("www.agid.gov.it"));
        assert!(!c.permits("bit"));
        assert!(DnsConstraints::default().permits("www.google.com"));
        assert!(DnsConstraints::default().is_unconstrained());
    }

    /// A CA certificate self-signed with `key_pem`, without name constraints, as an
    /// administrator could supply it.
    fn supplied_ca(key_pem: &str) -> String {
        let key = key_pair_from_pem(key_pem).unwrap();
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "Supplied CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn supplied_cas_with_sec1_and_pkcs1_keys_load_unconstrained_and_issue() {
        for key_pem in [
            include_str!("../../tests/keys/ec-p256-sec1.key"),
            include_str!("../../tests/keys/rsa-2048-pkcs1.key"),
        ] {
            let cert_pem = supplied_ca(key_pem);
            let ca = RegionalCa::from_pem(&cert_pem, key_pem, now()).unwrap();
            assert!(ca.constraints().is_unconstrained());
            let issued = ca
                .issue(
                    &["www.comune.bari.it".to_string()],
                    now(),
                    Duration::from_secs(3600),
                )
                .unwrap();
            let (_, pem) = x509_parser::pem::parse_x509_pem(issued.cert_pem.as_bytes()).unwrap();
            let (_, leaf) = X509Certificate::from_der(&pem.contents).unwrap();
            assert!(ca.issued(&leaf));
        }
    }

    #[test]
    fn debug_output_never_contains_the_key() {
        let ca = RegionalCa::generate(&CaSettings::default(), now()).unwrap();
        let debug = format!("{ca:?}");
        assert!(debug.contains("[elided]"));
        assert!(!debug.contains("PRIVATE KEY"));
    }
}
