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
    /// A certificate after the first in `tls.crt` (the chain of an intermediate CA) did not
    /// sign the one before it.
    #[error(
        "`tls.crt` certificate {position} (counting from 1) did not issue certificate {previous}; put the issuing CA first and then each issuer in order up to the root"
    )]
    BrokenChain {
        /// Position of the certificate that should have issued the previous one.
        position: usize,
        /// Position of the certificate it should have issued.
        previous: usize,
    },
    /// A certificate of the chain in `tls.crt`, or the trust anchor in `ca.crt`, is not
    /// PEM or not X.509.
    #[error("`{key}` certificate {position} (counting from 1) cannot be read")]
    ChainUnreadable {
        /// `tls.crt` or `ca.crt`.
        key: &'static str,
        /// Its position.
        position: usize,
    },
    /// A certificate of the chain has expired: a leaf would not verify.
    #[error("`tls.crt` certificate {position} (counting from 1) expired at {not_after}")]
    ChainExpired {
        /// Its position.
        position: usize,
        /// When it expired.
        not_after: jiff::Timestamp,
    },
}

/// The SHA-256 fingerprint of a DER certificate, lower-case hex without separators (what
/// `openssl x509 -noout -fingerprint -sha256` prints, without its colons).
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest
        .as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            use std::fmt::Write as _;
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// Every certificate of a PEM text, in order, as (its PEM block, its DER); other blocks
/// (keys, parameters) are skipped. `key` names the Secret key in errors.
pub fn certificates(pem: &str, key: &'static str) -> Result<Vec<(String, Vec<u8>)>, CaProblem> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut certificates = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        let position = certificates.len() + 1;
        let unreadable = || CaProblem::ChainUnreadable { key, position };
        let end = rest[start..].find(END).ok_or_else(unreadable)? + start + END.len();
        let block = format!("{}\n", &rest[start..end]);
        let (_, parsed) =
            x509_parser::pem::parse_x509_pem(block.as_bytes()).map_err(|_| unreadable())?;
        if X509Certificate::from_der(&parsed.contents).is_err() {
            return Err(unreadable());
        }
        certificates.push((block, parsed.contents));
        rest = &rest[end..];
    }
    Ok(certificates)
}

/// The regional CA: its certificate and the key that signs tenant certificates, with the
/// chain up to the root when it is an intermediate.
pub struct RegionalCa {
    cert_pem: String,
    cert_der: Vec<u8>,
    /// This CA, if it is an intermediate, and the intermediates above it (not the root),
    /// PEM: sent after every leaf in its `tls.crt`, so that clients that trust only the root
    /// can verify.
    chain_pem: String,
    /// What clients must trust: the root (from `ca.crt`, or the last certificate of the
    /// chain), or this certificate when it is self-signed.
    trust_anchor_pem: String,
    fingerprint: String,
    /// The earliest end of validity of the CA and its chain: no leaf outlives it.
    not_after: jiff::Timestamp,
    constraints: DnsConstraints,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for RegionalCa {
    // The key is deliberately left out: Debug output ends up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegionalCa")
            .field("fingerprint", &self.fingerprint)
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
            chain_pem: String::new(),
            trust_anchor_pem: cert.pem(),
            fingerprint: fingerprint(&cert_der),
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
        Self::from_secret_pem(cert_pem, key_pem, None, now)
    }

    /// Loads a CA as a `kubernetes.io/tls` Secret holds it, as cert-manager writes a CA's
    /// Secret: `tls.crt` is the CA certificate followed by its chain (the intermediates, in
    /// order, optionally ending with the root), `tls.key` its key, and `ca.crt` (optional)
    /// the root clients trust. Every certificate of the chain must be valid at `now` and
    /// must have signed the one before it.
    pub fn from_secret_pem(
        cert_pem: &str,
        key_pem: &str,
        ca_crt: Option<&str>,
        now: jiff::Timestamp,
    ) -> Result<Self, CaProblem> {
        let mut not_after = Self::check_certificate(cert_pem, now)?;
        let chain = certificates(cert_pem, "tls.crt")?;
        let Some(((signing_pem, cert_der), rest)) = chain.split_first() else {
            return Err(CaProblem::ChainUnreadable {
                key: "tls.crt",
                position: 1,
            });
        };
        let (_, cert) =
            X509Certificate::from_der(cert_der).map_err(CaProblem::CertificateNotX509)?;
        let key = key_pair_from_pem(key_pem).map_err(CaProblem::Key)?;
        if key.subject_public_key_info() != cert.public_key().raw {
            return Err(CaProblem::KeyMismatch);
        }
        // What a server sends after its leaf: this CA and each intermediate above it, not a
        // self-signed root (clients have that). Each certificate after the first issued the
        // one before it.
        let mut chain_pem = if is_self_signed(&cert) {
            String::new()
        } else {
            signing_pem.clone()
        };
        let mut last = (signing_pem, cert_der);
        for (index, (pem, der)) in rest.iter().enumerate() {
            let position = index + 2;
            let unreadable = || CaProblem::ChainUnreadable {
                key: "tls.crt",
                position,
            };
            let (_, issuer) = X509Certificate::from_der(der).map_err(|_| unreadable())?;
            let (_, issued) = X509Certificate::from_der(last.1).map_err(|_| unreadable())?;
            if issued.issuer().as_raw() != issuer.subject().as_raw()
                || issued.verify_signature(Some(issuer.public_key())).is_err()
            {
                return Err(CaProblem::BrokenChain {
                    position,
                    previous: position - 1,
                });
            }
            let expires = jiff::Timestamp::from_second(issuer.validity().not_after.timestamp())
                .map_err(CaProblem::NotAfter)?;
            if expires <= now {
                return Err(CaProblem::ChainExpired {
                    position,
                    not_after: expires,
                });
            }
            not_after = not_after.min(expires);
            // A self-signed root at the end is what clients trust, not part of what a
            // server sends.
            if !is_self_signed(&issuer) {
                chain_pem.push_str(pem);
            }
            last = (pem, der);
        }
        let trust_anchor_pem = match ca_crt.filter(|text| !text.trim().is_empty()) {
            Some(text) => {
                let anchors = certificates(text, "ca.crt")?;
                if anchors.is_empty() {
                    return Err(CaProblem::ChainUnreadable {
                        key: "ca.crt",
                        position: 1,
                    });
                }
                anchors.into_iter().map(|(pem, _)| pem).collect()
            }
            None => last.0.clone(),
        };
        let signing_pem = signing_pem.clone();
        let cert_der = cert_der.clone();
        let constraints = DnsConstraints::of(&cert);
        let issuer = Issuer::from_ca_cert_der(&cert_der.as_slice().into(), key)
            .map_err(CaProblem::NotAnIssuer)?;
        Ok(RegionalCa {
            cert_pem: signing_pem,
            chain_pem,
            trust_anchor_pem,
            fingerprint: fingerprint(&cert_der),
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

    /// The CA certificate (the one that signs), PEM encoded.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// This CA and the intermediates between it and the root, PEM (empty for a root CA):
    /// what a leaf's `tls.crt` carries after the leaf.
    pub fn chain_pem(&self) -> &str {
        &self.chain_pem
    }

    /// What clients must trust for the leaves of this CA: the root, PEM.
    pub fn trust_anchor_pem(&self) -> &str {
        &self.trust_anchor_pem
    }

    /// SHA-256 fingerprint of the CA certificate (see [`fingerprint`]): which CA issues.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The CA certificate, DER encoded.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// Expiry of the CA certificate, or of its chain if a certificate of it expires first:
    /// no leaf is issued beyond it.
    pub fn not_after(&self) -> jiff::Timestamp {
        self.not_after
    }

    /// The signer used by [`super::leaf`].
    pub(crate) fn issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.issuer
    }

    /// The CA key in PEM, only for writing the CA Secret the first time
    /// ([`super::store::load_ca`]); nothing else may call it.
    pub(crate) fn key_pem_for_ca_secret(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// Whether `cert` was issued by this CA: the issuer name is the CA's subject and the
    /// signature verifies with the CA's public key.
    pub fn issued(&self, cert: &X509Certificate<'_>) -> bool {
        issued_by(&self.cert_der, cert)
    }
}

/// Whether `cert` was issued by the CA certificate `ca_der`: the issuer name is the CA's
/// subject and the signature verifies with the CA's public key.
pub fn issued_by(ca_der: &[u8], cert: &X509Certificate<'_>) -> bool {
    let Ok((_, ca)) = X509Certificate::from_der(ca_der) else {
        return false;
    };
    cert.issuer().as_raw() == ca.subject().as_raw()
        && cert.verify_signature(Some(ca.public_key())).is_ok()
}

/// Whether a certificate names itself as issuer and verifies with its own key (a root).
fn is_self_signed(cert: &X509Certificate<'_>) -> bool {
    cert.issuer().as_raw() == cert.subject().as_raw()
        && cert.verify_signature(Some(cert.public_key())).is_ok()
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

    /// A CA certificate for `key`, signed by `issuer` (self-signed when `None`), valid for
    /// `days` from `now()`.
    fn ca_cert(
        name: &str,
        key: &KeyPair,
        issuer: Option<&Issuer<'_, KeyPair>>,
        days: i64,
    ) -> (String, CertificateParams) {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        params.not_before =
            time::OffsetDateTime::from_unix_timestamp(now().as_second() - 60).unwrap();
        params.not_after =
            time::OffsetDateTime::from_unix_timestamp(now().as_second() + days * 86_400).unwrap();
        let cert = match issuer {
            Some(issuer) => params.signed_by(key, issuer).unwrap(),
            None => params.self_signed(key).unwrap(),
        };
        (cert.pem(), params)
    }

    #[test]
    fn an_intermediate_loads_with_its_chain_and_leaves_carry_it() {
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let (root_pem, root_params) = ca_cert("Root", &root_key, None, 3650);
        let root = Issuer::new(root_params, root_key);
        let mid_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let (mid_pem, mid_params) = ca_cert("Regional", &mid_key, Some(&root), 3650);
        let mid = Issuer::new(mid_params, mid_key);
        let issuing_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        // The issuing CA lives longer than the intermediate above it: the chain's end counts.
        let (issuing_pem, _) = ca_cert("Tenants", &issuing_key, Some(&mid), 7300);
        let key_pem = issuing_key.serialize_pem();
        let tls_crt = format!("{issuing_pem}{mid_pem}{root_pem}");

        let ca = RegionalCa::from_secret_pem(&tls_crt, &key_pem, None, now()).unwrap();
        assert_eq!(ca.cert_pem(), issuing_pem);
        assert_eq!(
            ca.chain_pem(),
            format!("{issuing_pem}{mid_pem}"),
            "the root is trusted, not sent"
        );
        assert_eq!(ca.trust_anchor_pem(), root_pem);
        assert_eq!(
            ca.not_after().as_second(),
            now().as_second() + 3650 * 86_400
        );
        let (_, issuing_der) = x509_parser::pem::parse_x509_pem(issuing_pem.as_bytes()).unwrap();
        assert_eq!(ca.fingerprint(), fingerprint(&issuing_der.contents));
        assert_eq!(ca.fingerprint().len(), 64);

        // The leaf's tls.crt: the leaf, then the intermediates; each signed by the next.
        let leaf = ca
            .issue(
                &["www.comune.bari.it".to_string()],
                now(),
                Duration::from_secs(3600),
            )
            .unwrap();
        let chain = certificates(&leaf.cert_pem, "tls.crt").unwrap();
        assert_eq!(chain.len(), 3);
        assert_eq!(chain[1].0, issuing_pem);
        assert_eq!(chain[2].0, mid_pem);

        // Without the root in tls.crt, ca.crt names it.
        let ca = RegionalCa::from_secret_pem(
            &format!("{issuing_pem}{mid_pem}"),
            &key_pem,
            Some(&root_pem),
            now(),
        )
        .unwrap();
        assert_eq!(ca.chain_pem(), format!("{issuing_pem}{mid_pem}"));
        assert_eq!(ca.trust_anchor_pem(), root_pem);

        // A chain out of order is refused, naming the position.
        let err = RegionalCa::from_secret_pem(
            &format!("{issuing_pem}{root_pem}{mid_pem}"),
            &key_pem,
            None,
            now(),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                CaProblem::BrokenChain {
                    position: 2,
                    previous: 1
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn debug_output_never_contains_the_key() {
        let ca = RegionalCa::generate(&CaSettings::default(), now()).unwrap();
        let debug = format!("{ca:?}");
        assert!(debug.contains("[elided]"));
        assert!(!debug.contains("PRIVATE KEY"));
    }
}
