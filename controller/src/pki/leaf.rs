//! Server certificates for tenant hostnames, and the pure check that decides whether an
//! existing one can stay.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::ByteString;
use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, PublicKeyData, SanType,
};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use super::ca::RegionalCa;
use super::store::{TLS_CERT_KEY, TLS_KEY_KEY};
use super::trust::{LeafIssuer, Trust};
use super::{PkiError, add_duration, sub_duration, to_offset_date_time};

/// Longest backdating of `notBefore`, to tolerate clocks of clients that run a little behind.
const MAX_BACKDATE: Duration = Duration::from_secs(300);

/// What the operator records about a certificate (status, metrics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Serial number, colon-separated hex.
    pub serial: String,
    /// Start of validity.
    pub not_before: jiff::Timestamp,
    /// End of validity.
    pub not_after: jiff::Timestamp,
    /// DNS names (subjectAltName), sorted.
    pub dns_names: Vec<String>,
}

/// A freshly issued certificate and its private key.
#[derive(Clone)]
pub struct IssuedCertificate {
    /// The certificate, PEM, followed by the CA's intermediates (if the CA is not a root):
    /// what a `tls.crt` holds.
    pub cert_pem: String,
    /// Its private key, PEM (PKCS#8).
    pub key_pem: String,
    /// Serial, validity and names.
    pub info: CertificateInfo,
}

impl std::fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCertificate")
            .field("info", &self.info)
            .field("key_pem", &"[elided]")
            .finish_non_exhaustive()
    }
}

/// Backdating applied to `notBefore`: a tenth of the lifetime, at most [`MAX_BACKDATE`].
fn backdate(lifetime: Duration) -> Duration {
    (lifetime / 10).min(MAX_BACKDATE)
}

impl RegionalCa {
    /// Issues a server certificate for `dns_names` (subjectAltName; the first name is also the
    /// common name), each inside the CA's name constraints, with extended key usage
    /// serverAuth, valid for `lifetime` from `now` (with `notBefore` backdated slightly for
    /// clock skew) but never beyond the CA's own end of validity (a leaf that outlived its CA
    /// would fail verification from that day), on a fresh ECDSA P-256 key.
    pub fn issue(
        &self,
        dns_names: &[String],
        now: jiff::Timestamp,
        lifetime: Duration,
    ) -> Result<IssuedCertificate, PkiError> {
        let names = normalized(dns_names);
        let Some(first) = names.first() else {
            return Err(PkiError::NoDnsNames);
        };
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, first.as_str());
        params.subject_alt_names = names
            .iter()
            .map(|name| {
                name.clone()
                    .try_into()
                    .map(SanType::DnsName)
                    .map_err(|source| PkiError::InvalidDnsName {
                        name: name.clone(),
                        source,
                    })
            })
            .collect::<Result<_, _>>()?;
        if let Some(outside) = names.iter().find(|name| !self.constraints().permits(name)) {
            return Err(PkiError::OutsideNameConstraints {
                name: outside.clone(),
                permitted: self
                    .constraints()
                    .permitted
                    .as_deref()
                    .unwrap_or_default()
                    .join(", "),
            });
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let not_before = sub_duration(now, backdate(lifetime))?;
        let not_after = add_duration(now, lifetime)?.min(self.not_after());
        params.not_before = to_offset_date_time(not_before, lifetime)?;
        params.not_after = to_offset_date_time(not_after, lifetime)?;
        let key =
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|source| PkiError::Crypto {
                what: "generating a certificate key",
                source,
            })?;
        let cert = params
            .signed_by(&key, self.issuer())
            .map_err(|source| PkiError::Crypto {
                what: "signing a tenant certificate",
                source,
            })?;
        let (_, parsed) = X509Certificate::from_der(cert.der()).map_err(|_| PkiError::Crypto {
            what: "reading back a freshly signed certificate",
            source: rcgen::Error::CouldNotParseCertificate,
        })?;
        Ok(IssuedCertificate {
            cert_pem: cert.pem() + self.chain_pem(),
            key_pem: key.serialize_pem(),
            info: CertificateInfo {
                serial: parsed.raw_serial_as_string(),
                not_before: jiff::Timestamp::from_second(not_before.as_second())
                    .unwrap_or(not_before),
                not_after: jiff::Timestamp::from_second(not_after.as_second()).unwrap_or(not_after),
                dns_names: names,
            },
        })
    }
}

/// Whether an existing TLS Secret can stay as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Renewal {
    /// The certificate is good: keep the Secret, write nothing.
    Keep(CertificateInfo),
    /// Issue a new certificate, for this reason.
    Renew(RenewReason),
}

/// Why a certificate has to be (re)issued. Also the reason of an Event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RenewReason {
    /// No Secret, or no `tls.crt`/`tls.key` in it.
    Missing,
    /// `tls.crt` or `tls.key` cannot be read.
    Unreadable,
    /// The hostnames requested differ from the certificate's names.
    NamesChanged,
    /// The certificate was not issued by any CA the operator knows (neither the issuing
    /// one nor one retiring after a rotation).
    NotIssuedByCa,
    /// The certificate was issued by a CA that is being rotated out: re-issued at the
    /// rotation rate.
    CaRotated,
    /// `tls.key` does not belong to `tls.crt`.
    KeyMismatch,
    /// Two thirds of the certificate's lifetime have passed.
    DueForRenewal,
    /// The certificate is valid for longer than the configured lifetime now allows.
    LifetimeShortened,
}

impl RenewReason {
    /// CamelCase reason, for Events and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            RenewReason::Missing => "Missing",
            RenewReason::Unreadable => "Unreadable",
            RenewReason::NamesChanged => "NamesChanged",
            RenewReason::NotIssuedByCa => "NotIssuedByCa",
            RenewReason::CaRotated => "CaRotated",
            RenewReason::KeyMismatch => "KeyMismatch",
            RenewReason::DueForRenewal => "DueForRenewal",
            RenewReason::LifetimeShortened => "LifetimeShortened",
        }
    }
}

/// Decides, without I/O, whether the TLS Secret `data` (if any) still serves `dns_names`:
/// same names, issued by the current CA of `trust`, key matching, and less than two thirds
/// of its lifetime elapsed at `now`, and not valid for longer than `lifetime` (plus
/// backdating) allows. A certificate that already lasts as long as the CA is kept past two
/// thirds: a new one could not last longer. A steady-state reconcile relies on this to write
/// nothing.
pub fn needs_renewal(
    data: Option<&BTreeMap<String, ByteString>>,
    dns_names: &[String],
    trust: &Trust,
    now: jiff::Timestamp,
    lifetime: Duration,
) -> Renewal {
    let Some(data) = data else {
        return Renewal::Renew(RenewReason::Missing);
    };
    let (Some(cert_pem), Some(key_pem)) = (data.get(TLS_CERT_KEY), data.get(TLS_KEY_KEY)) else {
        return Renewal::Renew(RenewReason::Missing);
    };
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(&cert_pem.0) else {
        return Renewal::Renew(RenewReason::Unreadable);
    };
    let Ok((_, cert)) = X509Certificate::from_der(&pem.contents) else {
        return Renewal::Renew(RenewReason::Unreadable);
    };
    let Some(info) = certificate_info(&cert) else {
        return Renewal::Renew(RenewReason::Unreadable);
    };
    if info.dns_names != normalized(dns_names) {
        return Renewal::Renew(RenewReason::NamesChanged);
    }
    let issuer = trust.issuer_of(&cert);
    if issuer == LeafIssuer::Unknown {
        return Renewal::Renew(RenewReason::NotIssuedByCa);
    }
    let Ok(key_pem) = std::str::from_utf8(&key_pem.0) else {
        return Renewal::Renew(RenewReason::Unreadable);
    };
    let Ok(key) = KeyPair::from_pem(key_pem) else {
        return Renewal::Renew(RenewReason::Unreadable);
    };
    if key.subject_public_key_info() != cert.public_key().raw {
        return Renewal::Renew(RenewReason::KeyMismatch);
    }
    let validity = info.not_after.as_second() - info.not_before.as_second();
    let allowed = i64::try_from((lifetime + backdate(lifetime)).as_secs()).unwrap_or(i64::MAX);
    if validity > allowed.saturating_add(1) {
        return Renewal::Renew(RenewReason::LifetimeShortened);
    }
    let renew_at = info.not_before.as_second() + validity * 2 / 3;
    let lasts_as_long_as_the_ca = trust
        .current()
        .is_some_and(|ca| info.not_after >= ca.not_after);
    if now.as_second() >= renew_at && !lasts_as_long_as_the_ca {
        return Renewal::Renew(RenewReason::DueForRenewal);
    }
    if issuer == LeafIssuer::Retiring {
        return Renewal::Renew(RenewReason::CaRotated);
    }
    Renewal::Keep(info)
}

/// Serial, validity and DNS names of the leaf in a TLS Secret's `data`; `None` if there is
/// none or it cannot be read.
pub fn secret_certificate_info(data: &BTreeMap<String, ByteString>) -> Option<CertificateInfo> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(&data.get(TLS_CERT_KEY)?.0).ok()?;
    let (_, cert) = X509Certificate::from_der(&pem.contents).ok()?;
    certificate_info(&cert)
}

/// Serial, validity and DNS names of a certificate; `None` if they cannot be read.
pub fn certificate_info(cert: &X509Certificate<'_>) -> Option<CertificateInfo> {
    let mut names: Vec<String> = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some(dns.to_string()),
                _ => None,
            })
            .collect(),
        Ok(None) => Vec::new(),
        Err(_) => return None,
    };
    names.sort();
    names.dedup();
    Some(CertificateInfo {
        serial: cert.raw_serial_as_string(),
        not_before: jiff::Timestamp::from_second(cert.validity().not_before.timestamp()).ok()?,
        not_after: jiff::Timestamp::from_second(cert.validity().not_after.timestamp()).ok()?,
        dns_names: names,
    })
}

/// Sorted, de-duplicated DNS names: order in the spec does not matter.
fn normalized(dns_names: &[String]) -> Vec<String> {
    dns_names
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::CaSettings;

    fn at(second: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(second).unwrap()
    }

    const T0: i64 = 1_800_000_000;
    const DAY: Duration = Duration::from_secs(86_400);

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(std::string::ToString::to_string).collect()
    }

    fn secret_data(issued: &IssuedCertificate) -> BTreeMap<String, ByteString> {
        BTreeMap::from([
            (
                TLS_CERT_KEY.to_string(),
                ByteString(issued.cert_pem.clone().into_bytes()),
            ),
            (
                TLS_KEY_KEY.to_string(),
                ByteString(issued.key_pem.clone().into_bytes()),
            ),
        ])
    }

    fn ca() -> RegionalCa {
        RegionalCa::generate(&CaSettings::default(), at(T0 - 1000)).unwrap()
    }

    #[test]
    fn issued_leaf_chains_to_the_ca_with_server_auth_and_sans() {
        let ca = ca();
        let issued = ca
            .issue(&names(&["b.example.it", "a.example.it"]), at(T0), 90 * DAY)
            .unwrap();
        let (_, pem) = x509_parser::pem::parse_x509_pem(issued.cert_pem.as_bytes()).unwrap();
        let cert = pem.parse_x509().unwrap();
        // Chain: issuer is the CA's subject and the CA's key verifies the signature.
        let (_, ca_cert) = X509Certificate::from_der(ca.cert_der()).unwrap();
        assert_eq!(cert.issuer().as_raw(), ca_cert.subject().as_raw());
        cert.verify_signature(Some(ca_cert.public_key())).unwrap();
        // A certificate signed by another CA does not verify with this CA's key.
        let other = RegionalCa::generate(&CaSettings::default(), at(T0)).unwrap();
        let (_, other_cert) = X509Certificate::from_der(other.cert_der()).unwrap();
        assert!(
            cert.verify_signature(Some(other_cert.public_key()))
                .is_err()
        );
        assert!(!other.issued(&cert));
        // Leaf, not a CA; serverAuth.
        assert!(!cert.is_ca());
        assert!(
            cert.extended_key_usage()
                .unwrap()
                .unwrap()
                .value
                .server_auth
        );
        assert_eq!(
            issued.info.dns_names,
            names(&["a.example.it", "b.example.it"])
        );
        assert_eq!(issued.info.not_after, at(T0 + 90 * 86_400));
        assert_eq!(issued.info.not_before, at(T0 - 300));
        assert!(!issued.info.serial.is_empty());
        assert_eq!(certificate_info(&cert).unwrap(), issued.info);
    }

    #[test]
    fn two_issues_have_different_serials_and_keys() {
        let ca = ca();
        let a = ca.issue(&names(&["a.example.it"]), at(T0), DAY).unwrap();
        let b = ca.issue(&names(&["a.example.it"]), at(T0), DAY).unwrap();
        assert_ne!(a.info.serial, b.info.serial);
        assert_ne!(a.key_pem, b.key_pem);
    }

    #[test]
    fn issuing_without_names_or_with_a_bad_name_fails() {
        let ca = ca();
        assert!(matches!(
            ca.issue(&[], at(T0), DAY),
            Err(PkiError::NoDnsNames)
        ));
        let err = ca
            .issue(&names(&["bad name with spaces é"]), at(T0), DAY)
            .unwrap_err();
        assert!(matches!(err, PkiError::InvalidDnsName { .. }), "{err}");
    }

    /// The trust of a cluster whose only CA is `ca`.
    fn trust_of(ca: RegionalCa) -> Trust {
        Trust::recorded(None, at(T0)).with_signer(ca, at(T0)).0
    }

    #[test]
    fn a_good_certificate_is_kept_until_two_thirds_of_its_lifetime() {
        let trust = trust_of(ca());
        let ca = trust.issuing().unwrap();
        let lifetime = Duration::from_secs(3000);
        let issued = ca
            .issue(&names(&["a.example.it"]), at(T0), lifetime)
            .unwrap();
        let data = secret_data(&issued);
        // Validity is [T0-300, T0+3000] = 3300 s; two thirds is 2200 s after T0-300.
        let renew_at = T0 - 300 + 2200;
        let check = |now| {
            needs_renewal(
                Some(&data),
                &names(&["a.example.it"]),
                &trust,
                at(now),
                lifetime,
            )
        };
        assert_eq!(check(T0), Renewal::Keep(issued.info.clone()));
        assert_eq!(check(renew_at - 1), Renewal::Keep(issued.info.clone()));
        assert_eq!(check(renew_at), Renewal::Renew(RenewReason::DueForRenewal));
    }

    #[test]
    fn names_ca_key_and_lifetime_changes_force_renewal() {
        let trust = trust_of(ca());
        let ca = trust.issuing().unwrap();
        let lifetime = 30 * DAY;
        let issued = ca
            .issue(&names(&["a.example.it"]), at(T0), lifetime)
            .unwrap();
        let data = secret_data(&issued);
        let check = |data: Option<&BTreeMap<String, ByteString>>,
                     hosts: &[&str],
                     trust: &Trust,
                     lifetime| {
            needs_renewal(data, &names(hosts), trust, at(T0 + 10), lifetime)
        };
        assert_eq!(
            check(None, &["a.example.it"], &trust, lifetime),
            Renewal::Renew(RenewReason::Missing)
        );
        assert_eq!(
            check(Some(&BTreeMap::new()), &["a.example.it"], &trust, lifetime),
            Renewal::Renew(RenewReason::Missing)
        );
        assert_eq!(
            check(
                Some(&data),
                &["a.example.it", "b.example.it"],
                &trust,
                lifetime
            ),
            Renewal::Renew(RenewReason::NamesChanged)
        );
        // A CA the operator never knew: re-issued at once.
        let stranger = trust_of(RegionalCa::generate(&CaSettings::default(), at(T0)).unwrap());
        assert_eq!(
            check(Some(&data), &["a.example.it"], &stranger, lifetime),
            Renewal::Renew(RenewReason::NotIssuedByCa)
        );
        // A rotation away from the CA that issued it: re-issued, at the rotation rate.
        let (rotated, _) = trust.with_signer(
            RegionalCa::generate(&CaSettings::default(), at(T0)).unwrap(),
            at(T0),
        );
        assert_eq!(
            check(Some(&data), &["a.example.it"], &rotated, lifetime),
            Renewal::Renew(RenewReason::CaRotated)
        );
        let other = ca
            .issue(&names(&["a.example.it"]), at(T0), lifetime)
            .unwrap();
        let mut swapped = data.clone();
        swapped.insert(TLS_KEY_KEY.into(), ByteString(other.key_pem.into_bytes()));
        assert_eq!(
            check(Some(&swapped), &["a.example.it"], &trust, lifetime),
            Renewal::Renew(RenewReason::KeyMismatch)
        );
        assert_eq!(
            check(Some(&data), &["a.example.it"], &trust, DAY),
            Renewal::Renew(RenewReason::LifetimeShortened)
        );
        let mut garbage = data.clone();
        garbage.insert(
            TLS_CERT_KEY.into(),
            ByteString(b"not a certificate".to_vec()),
        );
        assert_eq!(
            check(Some(&garbage), &["a.example.it"], &trust, lifetime),
            Renewal::Renew(RenewReason::Unreadable)
        );
        // Order and duplicates of the requested names do not matter.
        let multi = ca
            .issue(&names(&["b.example.it", "a.example.it"]), at(T0), lifetime)
            .unwrap();
        assert!(matches!(
            check(
                Some(&secret_data(&multi)),
                &["a.example.it", "b.example.it", "a.example.it"],
                &trust,
                lifetime
            ),
            Renewal::Keep(_)
        ));
    }

    #[test]
    fn a_leaf_never_outlives_its_ca_and_is_not_renewed_in_vain() {
        // A CA with ten days left signs 90-day leaves: they end with the CA.
        let short = RegionalCa::generate(
            &CaSettings {
                lifetime: 10 * DAY,
                ..CaSettings::default()
            },
            at(T0 - 1000),
        )
        .unwrap();
        let ca_end = short.not_after();
        let trust = trust_of(short);
        let ca = trust.issuing().unwrap();
        let issued = ca
            .issue(&names(&["a.example.it"]), at(T0), 90 * DAY)
            .unwrap();
        assert_eq!(issued.info.not_after, ca_end);
        let (_, pem) = x509_parser::pem::parse_x509_pem(issued.cert_pem.as_bytes()).unwrap();
        let (_, cert) = X509Certificate::from_der(&pem.contents).unwrap();
        assert_eq!(cert.validity().not_after.timestamp(), ca_end.as_second());
        // Past two thirds of its validity it is kept: a new leaf would end on the same day.
        let data = secret_data(&issued);
        let late = at(ca_end.as_second() - 3600);
        assert!(matches!(
            needs_renewal(
                Some(&data),
                &names(&["a.example.it"]),
                &trust,
                late,
                90 * DAY
            ),
            Renewal::Keep(_)
        ));
    }
}
