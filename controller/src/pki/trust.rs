//! Which CA the operator issues from and which CAs clients must trust, as a value that only
//! changes through the pure transitions below (the controller swaps it when the CA Secret
//! changes, see `reconcile::ca`).
//!
//! - The **issuing** CA signs new leaves. It is recorded (fingerprint, certificate, trust
//!   anchor) in the CA record ConfigMap, so that a replica that starts without a readable CA
//!   Secret still knows which CA the cluster's leaves chain to, and never mistakes a missing
//!   Secret for a fresh cluster.
//! - A **rotation** (the CA Secret now holds another CA) moves the previous issuing CA to the
//!   **retiring** list. The trust bundle holds the anchors of the issuing and the retiring
//!   CAs, so clients keep trusting the leaves not yet re-issued; those are re-issued at the
//!   rate the administrators set. A retiring CA leaves the bundle only once no leaf chains to
//!   it any more (or it has expired, when none can).
//! - Without a usable CA Secret the operator **issues nothing**: [`Trust::issuing`] is
//!   `None` and [`Trust::problem`] says why; leaves that chain to a recorded CA are kept.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use x509_parser::certificate::X509Certificate;

use super::ca::{RegionalCa, certificates, issued_by};

/// A CA known from the record: enough to tell whether a leaf chains to it and to publish its
/// trust anchor, without its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownCa {
    /// SHA-256 fingerprint of the CA certificate.
    pub fingerprint: String,
    /// The CA certificate (the one that signs leaves), PEM.
    pub certificate_pem: String,
    certificate_der: Vec<u8>,
    /// What clients trust for its leaves (the root), PEM.
    pub trust_anchor_pem: String,
    /// End of validity of the CA (and its chain).
    pub not_after: jiff::Timestamp,
}

impl KnownCa {
    /// The known part of a CA that can sign.
    pub fn of(ca: &RegionalCa) -> KnownCa {
        KnownCa {
            fingerprint: ca.fingerprint().to_string(),
            certificate_pem: ca.cert_pem().to_string(),
            certificate_der: ca.cert_der().to_vec(),
            trust_anchor_pem: ca.trust_anchor_pem().to_string(),
            not_after: ca.not_after(),
        }
    }

    /// Whether this CA issued `cert`.
    pub fn issued(&self, cert: &X509Certificate<'_>) -> bool {
        issued_by(&self.certificate_der, cert)
    }

    fn from_recorded(recorded: &RecordedCa) -> Option<KnownCa> {
        let (_, der) = certificates(&recorded.certificate, "tls.crt")
            .ok()?
            .into_iter()
            .next()?;
        if super::ca::fingerprint(&der) != recorded.fingerprint {
            return None;
        }
        Some(KnownCa {
            fingerprint: recorded.fingerprint.clone(),
            certificate_pem: recorded.certificate.clone(),
            certificate_der: der,
            trust_anchor_pem: recorded.trust_anchor.clone(),
            not_after: recorded.not_after.parse().ok()?,
        })
    }

    fn recorded(&self) -> RecordedCa {
        RecordedCa {
            fingerprint: self.fingerprint.clone(),
            certificate: self.certificate_pem.clone(),
            trust_anchor: self.trust_anchor_pem.clone(),
            not_after: self.not_after.to_string(),
        }
    }
}

/// One CA as the record ConfigMap stores it (public material only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedCa {
    /// SHA-256 fingerprint of `certificate`, lower-case hex.
    pub fingerprint: String,
    /// The CA certificate, PEM.
    pub certificate: String,
    /// The root clients trust, PEM.
    pub trust_anchor: String,
    /// End of validity (RFC 3339).
    pub not_after: String,
}

/// What the CA record ConfigMap holds (key `record.json`): the issuing CA and the retiring
/// ones still in the trust bundle.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaRecord {
    /// The CA leaves are issued from.
    pub issuing: Option<RecordedCa>,
    /// Earlier CAs, newest first, whose leaves may still exist.
    #[serde(default)]
    pub retiring: Vec<RecordedCa>,
}

/// Why the operator cannot issue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaUnavailable {
    /// The CA Secret does not exist, and a new root was not generated: tenant certificates
    /// exist (or could not be counted), and no administrator asked for a new root.
    Missing {
        /// `namespace/name` of the Secret.
        secret: String,
        /// Why no new root was generated.
        why_not_generated: String,
    },
    /// The CA Secret could not be read (an API error).
    Unreadable {
        /// `namespace/name` of the Secret.
        secret: String,
        /// The error.
        error: String,
    },
    /// The CA Secret exists but does not hold a usable CA.
    Invalid {
        /// What is wrong (names the Secret).
        problem: String,
    },
    /// The Secret was deleted while the operator ran.
    Deleted {
        /// `namespace/name` of the Secret.
        secret: String,
    },
}

impl CaUnavailable {
    /// CamelCase reason, for conditions, Events and the metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            CaUnavailable::Missing { .. } => "CASecretMissing",
            CaUnavailable::Unreadable { .. } => "CASecretUnreadable",
            CaUnavailable::Invalid { .. } => "CASecretInvalid",
            CaUnavailable::Deleted { .. } => "CASecretDeleted",
        }
    }
}

impl fmt::Display for CaUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaUnavailable::Missing {
                secret,
                why_not_generated,
            } => write!(
                f,
                "the regional CA Secret {secret} does not exist and no new root was generated ({why_not_generated}); restore the Secret from backup (docs/runbooks/ca-unavailable.md), or start the operator with --ca-allow-new-root (chart value ca.allowNewRoot) to re-root every tenant deliberately"
            ),
            CaUnavailable::Unreadable { secret, error } => write!(
                f,
                "the regional CA Secret {secret} cannot be read ({error}); no certificate is issued until it can"
            ),
            CaUnavailable::Invalid { problem } => {
                write!(f, "{problem}; no certificate is issued until it is fixed")
            }
            CaUnavailable::Deleted { secret } => write!(
                f,
                "the regional CA Secret {secret} was deleted; no certificate is issued until it is restored from backup (docs/runbooks/ca-unavailable.md)"
            ),
        }
    }
}

/// Which CA a leaf chains to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeafIssuer {
    /// The issuing CA (or, while it is unavailable, the CA the record names as issuing).
    Current,
    /// A retiring CA: the leaf is re-issued at the rotation rate.
    Retiring,
    /// None the operator knows.
    Unknown,
}

/// A rotation just observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// Fingerprint of the previous issuing CA (now retiring).
    pub from: String,
    /// Fingerprint of the new issuing CA.
    pub to: String,
}

/// The CAs of the cluster as the operator sees them (see the module documentation).
#[derive(Clone, Debug, Default)]
pub struct Trust {
    issuing: Option<Arc<RegionalCa>>,
    current: Option<KnownCa>,
    retiring: Vec<KnownCa>,
    problem: Option<CaUnavailable>,
    /// The trust bundle, computed once: every reconcile reads it.
    bundle: String,
}

impl Trust {
    /// What the record says, before the CA Secret is read: nothing can be issued yet.
    pub fn recorded(record: Option<&CaRecord>, now: jiff::Timestamp) -> Trust {
        let record = record.cloned().unwrap_or_default();
        Trust {
            issuing: None,
            current: record.issuing.as_ref().and_then(KnownCa::from_recorded),
            retiring: record
                .retiring
                .iter()
                .filter_map(KnownCa::from_recorded)
                .filter(|ca| ca.not_after > now)
                .collect(),
            problem: None,
            bundle: String::new(),
        }
        .with_bundle()
    }

    /// The state once the CA Secret holds `signer`. A CA other than the current one is a
    /// rotation: the current one becomes retiring (returned as [`Rotation`]).
    pub fn with_signer(
        &self,
        signer: RegionalCa,
        now: jiff::Timestamp,
    ) -> (Trust, Option<Rotation>) {
        let new = KnownCa::of(&signer);
        let mut retiring = Vec::new();
        let mut rotation = None;
        if let Some(current) = &self.current
            && current.fingerprint != new.fingerprint
        {
            rotation = Some(Rotation {
                from: current.fingerprint.clone(),
                to: new.fingerprint.clone(),
            });
            retiring.push(current.clone());
        }
        retiring.extend(self.retiring.iter().cloned());
        let mut seen = std::collections::BTreeSet::new();
        retiring.retain(|ca| {
            ca.fingerprint != new.fingerprint
                && ca.not_after > now
                && seen.insert(ca.fingerprint.clone())
        });
        let trust = Trust {
            issuing: Some(Arc::new(signer)),
            current: Some(new),
            retiring,
            problem: None,
            bundle: String::new(),
        }
        .with_bundle();
        (trust, rotation)
    }

    /// The state when the CA Secret is missing or unusable: nothing is issued; the recorded
    /// CAs still vouch for the leaves they issued.
    pub fn without_signer(&self, problem: CaUnavailable) -> Trust {
        Trust {
            issuing: None,
            problem: Some(problem),
            ..self.clone()
        }
    }

    /// Drops the retiring CAs that no leaf chains to any more (`still_chaining` counts the
    /// leaves per fingerprint; a fingerprint absent from it has none) or that have expired.
    /// `None` when nothing changes.
    pub fn retire(
        &self,
        still_chaining: &BTreeMap<String, usize>,
        now: jiff::Timestamp,
    ) -> Option<Trust> {
        let keep: Vec<KnownCa> = self
            .retiring
            .iter()
            .filter(|ca| {
                ca.not_after > now && still_chaining.get(&ca.fingerprint).copied().unwrap_or(0) > 0
            })
            .cloned()
            .collect();
        (keep.len() != self.retiring.len()).then(|| {
            Trust {
                retiring: keep,
                ..self.clone()
            }
            .with_bundle()
        })
    }

    /// The CA that signs, if there is one.
    pub fn issuing(&self) -> Option<&Arc<RegionalCa>> {
        self.issuing.as_ref()
    }

    /// Why nothing can be issued, if so.
    pub fn problem(&self) -> Option<&CaUnavailable> {
        self.problem.as_ref()
    }

    /// The CA leaves are issued from (known from the Secret or, without it, the record).
    pub fn current(&self) -> Option<&KnownCa> {
        self.current.as_ref()
    }

    /// The retiring CAs still trusted.
    pub fn retiring(&self) -> &[KnownCa] {
        &self.retiring
    }

    /// Which known CA issued `cert`.
    pub fn issuer_of(&self, cert: &X509Certificate<'_>) -> LeafIssuer {
        if self.current.as_ref().is_some_and(|ca| ca.issued(cert)) {
            LeafIssuer::Current
        } else if self.retiring.iter().any(|ca| ca.issued(cert)) {
            LeafIssuer::Retiring
        } else {
            LeafIssuer::Unknown
        }
    }

    /// The trust bundle: the anchors of the issuing and the retiring CAs, each once, issuing
    /// first; empty when no CA is known.
    pub fn bundle_pem(&self) -> &str {
        &self.bundle
    }

    fn with_bundle(mut self) -> Trust {
        let mut bundle = String::new();
        let mut seen = std::collections::BTreeSet::new();
        for ca in self.current.iter().chain(&self.retiring) {
            for (pem, der) in certificates(&ca.trust_anchor_pem, "ca.crt").unwrap_or_default() {
                if seen.insert(der) {
                    bundle.push_str(&pem);
                }
            }
        }
        self.bundle = bundle;
        self
    }

    /// The record to store for this state (`None` when no CA is known).
    pub fn record(&self) -> Option<CaRecord> {
        let current = self.current.as_ref()?;
        Some(CaRecord {
            issuing: Some(current.recorded()),
            retiring: self.retiring.iter().map(KnownCa::recorded).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::CaSettings;
    use x509_parser::prelude::FromDer;

    fn at(second: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(second).unwrap()
    }
    const T0: i64 = 1_800_000_000;

    fn ca() -> RegionalCa {
        RegionalCa::generate(&CaSettings::default(), at(T0)).unwrap()
    }

    fn leaf_of(ca: &RegionalCa) -> Vec<u8> {
        let issued = ca
            .issue(
                &["a.example.it".to_string()],
                at(T0),
                std::time::Duration::from_secs(3600),
            )
            .unwrap();
        let (_, pem) = x509_parser::pem::parse_x509_pem(issued.cert_pem.as_bytes()).unwrap();
        pem.contents
    }

    #[test]
    fn a_rotation_keeps_the_old_ca_trusted_until_no_leaf_chains_to_it() {
        let old = ca();
        let new = ca();
        let old_leaf = leaf_of(&old);
        let new_leaf = leaf_of(&new);
        let (first, rotation) = Trust::recorded(None, at(T0)).with_signer(old, at(T0));
        assert_eq!(rotation, None, "the first CA is not a rotation");
        let old_fp = first.current().unwrap().fingerprint.clone();
        // Restart with the same CA: still no rotation.
        let record = first.record().unwrap();
        let restarted = Trust::recorded(Some(&record), at(T0));
        assert!(restarted.issuing().is_none());
        let (_, again) = restarted.with_signer(
            RegionalCa::from_pem(
                first.issuing().unwrap().cert_pem(),
                &first.issuing().unwrap().key_pem_for_ca_secret(),
                at(T0),
            )
            .unwrap(),
            at(T0),
        );
        assert_eq!(again, None);

        let (rotated, rotation) = first.with_signer(new, at(T0));
        let rotation = rotation.expect("a rotation");
        assert_eq!(rotation.from, old_fp);
        assert_eq!(rotated.retiring().len(), 1);
        // Both anchors in the bundle, the new one first.
        let bundle = certificates(rotated.bundle_pem(), "ca.crt").unwrap();
        assert_eq!(bundle.len(), 2);
        assert_eq!(bundle[0].0, rotated.issuing().unwrap().cert_pem());
        let (_, old_leaf) = X509Certificate::from_der(&old_leaf).unwrap();
        let (_, new_leaf) = X509Certificate::from_der(&new_leaf).unwrap();
        assert_eq!(rotated.issuer_of(&old_leaf), LeafIssuer::Retiring);
        assert_eq!(rotated.issuer_of(&new_leaf), LeafIssuer::Current);
        assert_eq!(first.issuer_of(&new_leaf), LeafIssuer::Unknown);

        // One leaf still chains to the old CA: it stays.
        let counts = BTreeMap::from([(old_fp.clone(), 1)]);
        assert!(rotated.retire(&counts, at(T0)).is_none());
        // None does: it goes, and the bundle holds the new anchor only.
        let retired = rotated.retire(&BTreeMap::new(), at(T0)).expect("retired");
        assert!(retired.retiring().is_empty());
        assert_eq!(
            certificates(retired.bundle_pem(), "ca.crt").unwrap().len(),
            1
        );
        // The record round-trips the retiring CA.
        let record = rotated.record().unwrap();
        let json = serde_json::to_string(&record).unwrap();
        let back: CaRecord = serde_json::from_str(&json).unwrap();
        let reloaded = Trust::recorded(Some(&back), at(T0));
        assert_eq!(reloaded.retiring().len(), 1);
        assert_eq!(reloaded.retiring()[0].fingerprint, old_fp);
        assert_eq!(reloaded.issuer_of(&old_leaf), LeafIssuer::Retiring);
    }

    #[test]
    fn an_unavailable_signer_keeps_the_recorded_cas_and_issues_nothing() {
        let (trust, _) = Trust::recorded(None, at(T0)).with_signer(ca(), at(T0));
        let down = trust.without_signer(CaUnavailable::Deleted {
            secret: "tenant-operator/tenant-operator-ca".into(),
        });
        assert!(down.issuing().is_none());
        assert_eq!(down.problem().unwrap().reason(), "CASecretDeleted");
        assert_eq!(down.bundle_pem(), trust.bundle_pem());
        assert!(
            down.problem()
                .unwrap()
                .to_string()
                .contains("restored from backup")
        );
    }

    #[test]
    fn expired_retiring_cas_leave_and_a_tampered_record_is_ignored() {
        let short = RegionalCa::generate(
            &CaSettings {
                lifetime: std::time::Duration::from_secs(100),
                ..CaSettings::default()
            },
            at(T0),
        )
        .unwrap();
        let (first, _) = Trust::recorded(None, at(T0)).with_signer(short, at(T0));
        let (rotated, _) = first.with_signer(ca(), at(T0));
        let counts = BTreeMap::from([(first.current().unwrap().fingerprint.clone(), 3)]);
        assert!(rotated.retire(&counts, at(T0 + 50)).is_none());
        assert!(rotated.retire(&counts, at(T0 + 101)).is_some());
        let mut record = rotated.record().unwrap();
        record.retiring[0].fingerprint = "00".repeat(32);
        assert!(Trust::recorded(Some(&record), at(T0)).retiring().is_empty());
    }
}
