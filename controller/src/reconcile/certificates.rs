//! The certificates of the apply step: for each CertificateRequest of the rendered tenant,
//! keep the existing TLS Secret when it is still good, otherwise issue a new certificate
//! from the regional CA and write the Secret. A Secret known (by the inventory) to hold a
//! good certificate is not even read.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use serde_json::{Value, json};

use super::compare::fingerprint;
use super::context::Context;
use super::error::Error;
use super::inventory::{LastApplied, ObjectKey};
use super::write::{self, Change};
use crate::api::CertificateStatus;
use crate::kinds::ManagedKind;
use crate::labels;
use crate::pki::{self, CertificateInfo, RenewReason, Renewal, Trust};
use crate::render::{CertificateRequest, ChildObject};

/// What the certificate step did for one request.
#[derive(Clone, Debug)]
pub struct CertificateOutcome {
    /// The TLS Secret that holds the certificate.
    pub key: ObjectKey,
    /// The certificate now in it.
    pub info: CertificateInfo,
    /// Why a new certificate was issued, if one was.
    pub issued: Option<RenewReason>,
    /// What writing the Secret did.
    pub change: Change,
    /// The environment the certificate belongs to.
    pub environment: String,
    /// When the certificate waits for its turn to be re-issued after a CA rotation: how long.
    pub retry_after: Option<std::time::Duration>,
}

impl CertificateOutcome {
    /// The certificate as `status.certificates` lists it.
    pub fn status(&self) -> CertificateStatus {
        CertificateStatus {
            environment: self.environment.clone(),
            secret_name: self.key.name.to_string(),
            serial: self.info.serial.clone(),
            not_after: self.info.not_after.to_string(),
            dns_names: self.info.dns_names.clone(),
        }
    }
}

/// When a certificate is due for renewal: after two thirds of its validity.
pub fn renew_at(info: &CertificateInfo) -> jiff::Timestamp {
    let validity = info.not_after.as_second() - info.not_before.as_second();
    jiff::Timestamp::from_second(info.not_before.as_second() + validity * 2 / 3)
        .unwrap_or(info.not_after)
}

/// What the Secret's fingerprint covers: everything that, when changed, requires looking at
/// the Secret again (names, labels, the issuing CA and the trust bundle, the configured
/// lifetime).
fn request_fingerprint(request: &CertificateRequest, trust: &Trust, ctx: &Context) -> u64 {
    fingerprint(&json!({
        "dnsNames": request.dns_names,
        "labels": request.labels,
        "ca": trust.current().map(|ca| ca.fingerprint.as_str()),
        "bundle": trust.bundle_pem(),
        "lifetime": ctx.settings.certificate_lifetime.as_secs(),
    }))
}

/// Ensures the TLS Secret of `request`: kept while its certificate is good, issued anew
/// otherwise, written through [`write::write_if_changed`].
pub async fn ensure(
    ctx: &Context,
    request: &CertificateRequest,
    now: jiff::Timestamp,
) -> Result<CertificateOutcome, Error> {
    let key = ObjectKey::new(
        ManagedKind::Secret,
        Some(&request.namespace),
        &request.secret_name,
    );
    let trust = ctx.ca.current();
    let fingerprint = request_fingerprint(request, &trust, ctx);
    let outcome = |info: CertificateInfo, issued, change, retry_after| CertificateOutcome {
        key: key.clone(),
        info,
        issued,
        change,
        environment: request.environment.clone(),
        retry_after,
    };
    if let Some(applied) = write::known_as_desired(ctx, &key, fingerprint) {
        // After a restart, the certificate is known from the Secret's annotation (its DNS
        // names are the request's: they are in the fingerprint).
        let info = applied.certificate.map(|info| *info).or_else(|| {
            let live = ctx.inventory.live(&key)?;
            let info = parse_validity(live.certificate.as_deref()?, &request.dns_names)?;
            ctx.inventory.record_applied(
                key.clone(),
                LastApplied {
                    certificate: Some(Box::new(info.clone())),
                    ..applied
                },
            );
            Some(info)
        });
        if let Some(info) = info
            && renew_at(&info) > now
            && trust.retiring().is_empty()
        {
            return Ok(outcome(info, None, Change::Unchanged, None));
        }
    }
    // Either unknown to the inventory, changed by someone, or due: look at the live Secret.
    let current = write::read(ctx, &key).await?;
    let data: Option<BTreeMap<String, ByteString>> = current
        .as_ref()
        .and_then(|c| c.get("data"))
        .and_then(|d| serde_json::from_value(d.clone()).ok());
    let lifetime = ctx.settings.certificate_lifetime;
    let mut renewal = pki::needs_renewal(data.as_ref(), &request.dns_names, &trust, now, lifetime);
    // After a rotation, leaves of the old CA wait for their turn: the bundle already holds
    // both CAs, so they keep working meanwhile.
    let mut retry_after = None;
    if renewal == Renewal::Renew(RenewReason::CaRotated)
        && let Err(wait) = ctx.ca.reissue_slot(&key)
        && let Some(info) = data.as_ref().and_then(pki::leaf::secret_certificate_info)
    {
        retry_after = Some(wait);
        renewal = Renewal::Keep(info);
    }
    let (cert_pem, key_pem, info, issued) = match renewal {
        Renewal::Keep(info) => {
            let data = data.unwrap_or_default();
            let field = |name: &str| data.get(name).map(|b| b.0.clone()).unwrap_or_default();
            (
                field(pki::TLS_CERT_KEY),
                field(pki::TLS_KEY_KEY),
                info,
                None,
            )
        }
        Renewal::Renew(reason) => {
            let Some(ca) = trust.issuing() else {
                return Err(Error::CaUnavailable {
                    secret: key.clone(),
                    problem: trust.problem().map_or_else(
                        || "the regional CA has not been loaded".to_string(),
                        ToString::to_string,
                    ),
                });
            };
            let issued = ca
                .issue(&request.dns_names, now, lifetime)
                .map_err(|source| Error::Certificate {
                    secret: key.clone(),
                    source: Box::new(source),
                })?;
            ctx.metrics
                .certificates_issued
                .with_label_values(&[reason.as_str()])
                .inc();
            (
                issued.cert_pem.into_bytes(),
                issued.key_pem.into_bytes(),
                issued.info,
                Some(reason),
            )
        }
    };
    let secret = pki::tls_secret(
        &request.namespace,
        &request.secret_name,
        &request.labels,
        &cert_pem,
        &key_pem,
        trust.bundle_pem(),
    );
    let mut body = ChildObject::Secret(secret)
        .to_json()
        .map_err(|source| Error::Serialize {
            what: key.to_string(),
            source,
        })?;
    if let Some(annotations) = body
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .map(|metadata| metadata.entry("annotations").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut)
    {
        annotations.insert(
            labels::CERTIFICATE_VALIDITY.to_string(),
            Value::String(format_validity(&info)),
        );
    }
    let desired = write::Desired {
        key: &key,
        body: &body,
        fingerprint,
        certificate: Some(&info),
        renewal: issued == Some(RenewReason::DueForRenewal),
    };
    let change = write::write_if_changed(ctx, &desired, current.as_ref()).await?;
    Ok(outcome(info, issued, change, retry_after))
}

/// The [`labels::CERTIFICATE_VALIDITY`] annotation of a certificate:
/// `<serial> <notBefore> <notAfter>`, Unix seconds.
fn format_validity(info: &CertificateInfo) -> String {
    format!(
        "{} {} {}",
        info.serial,
        info.not_before.as_second(),
        info.not_after.as_second()
    )
}

/// The certificate an annotation describes, with `dns_names`; `None` if it is not one.
fn parse_validity(text: &str, dns_names: &[String]) -> Option<CertificateInfo> {
    let mut parts = text.split(' ');
    let serial = parts.next().filter(|s| !s.is_empty())?;
    let mut time = || -> Option<jiff::Timestamp> {
        jiff::Timestamp::from_second(parts.next()?.parse().ok()?).ok()
    };
    let not_before = time()?;
    let not_after = time()?;
    Some(CertificateInfo {
        serial: serial.to_string(),
        not_before,
        not_after,
        dns_names: dns_names.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_validity_annotation_round_trips() {
        let info = CertificateInfo {
            serial: "0a1b".into(),
            not_before: jiff::Timestamp::from_second(1000).unwrap(),
            not_after: jiff::Timestamp::from_second(4000).unwrap(),
            dns_names: vec!["a.example.it".into()],
        };
        let text = format_validity(&info);
        assert_eq!(text, "0a1b 1000 4000");
        assert_eq!(parse_validity(&text, &info.dns_names), Some(info));
        assert_eq!(parse_validity("0a1b 1000", &[]), None);
        assert_eq!(parse_validity("", &[]), None);
    }

    #[test]
    fn renewal_is_due_at_two_thirds() {
        let info = CertificateInfo {
            serial: "01".into(),
            not_before: jiff::Timestamp::from_second(1000).unwrap(),
            not_after: jiff::Timestamp::from_second(4000).unwrap(),
            dns_names: vec![],
        };
        assert_eq!(renew_at(&info).as_second(), 3000);
    }
}
