//! The certificate step: for each CertificateRequest of the rendered tenant, keep the
//! existing TLS Secret when it is still good, otherwise issue a new certificate from the
//! regional CA and apply the Secret. A Secret known (by the inventory) to hold a good
//! certificate is not even read.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use serde_json::{Value, json};

use super::compare::{fingerprint, matches_live, resource_version_of};
use super::context::Context;
use super::error::Error;
use super::inventory::{LastApplied, ObjectKey};
use super::kinds::ManagedKind;
use super::write;
use super::write::Change;
use crate::api::CertificateStatus;
use crate::pki::{self, CertificateInfo, Renewal};
use crate::render::CertificateRequest;

/// What the certificate step did for one request.
#[derive(Clone, Debug)]
pub struct CertificateOutcome {
    /// The TLS Secret.
    pub key: ObjectKey,
    /// The certificate now in it.
    pub info: CertificateInfo,
    /// Why a new certificate was issued, if one was.
    pub issued: Option<pki::RenewReason>,
    /// Whether the Secret was written.
    pub written: bool,
    /// Whether the write restored a Secret changed or deleted by someone else.
    pub drift: bool,
    /// The environment.
    pub environment: String,
}

impl CertificateOutcome {
    /// What writing the Secret did.
    pub fn change(&self) -> Change {
        match (self.written, self.drift, &self.issued) {
            (false, _, _) => Change::Unchanged,
            (true, true, _) => Change::DriftCorrected,
            (true, false, Some(pki::RenewReason::Missing)) => Change::Created,
            (true, false, _) => Change::Updated,
        }
    }

    /// The status entry.
    pub fn status(&self) -> CertificateStatus {
        CertificateStatus {
            environment: self.environment.clone(),
            secret_name: self.key.name.clone(),
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
/// the Secret again (names, labels, the CA, the configured lifetime).
fn request_fingerprint(request: &CertificateRequest, ctx: &Context) -> u64 {
    fingerprint(&json!({
        "dnsNames": request.dns_names,
        "labels": request.labels,
        "ca": ctx.ca.cert_pem(),
        "lifetime": ctx.settings.certificate_lifetime.as_secs(),
    }))
}

/// Ensures the TLS Secret of `request`.
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
    let fp = request_fingerprint(request, ctx);
    let live = ctx.inventory.live(&key);
    let applied = ctx.inventory.applied(&key);
    if let (Some(live), Some(applied)) = (&live, &applied)
        && applied.resource_version == live.resource_version
        && applied.fingerprint == fp
        && let Some(info) = applied.certificate.as_deref()
        && renew_at(info) > now
    {
        return Ok(CertificateOutcome {
            key,
            info: info.clone(),
            issued: None,
            written: false,
            drift: false,
            environment: request.environment.clone(),
        });
    }
    // Either unknown to the inventory, changed by someone, or due: look at the live Secret.
    let current = if live.is_some() || applied.is_some() {
        write::get(&ctx.client, &key)
            .await
            .map_err(|source| Error::Read {
                object: key.clone(),
                source: Box::new(source),
            })?
    } else {
        None
    };
    let data: Option<BTreeMap<String, ByteString>> = current
        .as_ref()
        .and_then(|c| c.get("data"))
        .and_then(|d| serde_json::from_value(d.clone()).ok());
    let lifetime = ctx.settings.certificate_lifetime;
    let (cert_pem, key_pem, info, issued) =
        match pki::needs_renewal(data.as_ref(), &request.dns_names, &ctx.ca, now, lifetime) {
            Renewal::Keep(info) => {
                let data = data.unwrap_or_default();
                let cert = data
                    .get(pki::TLS_CERT_KEY)
                    .map(|b| b.0.clone())
                    .unwrap_or_default();
                let key_pem = data
                    .get(pki::TLS_KEY_KEY)
                    .map(|b| b.0.clone())
                    .unwrap_or_default();
                (cert, key_pem, info, None)
            }
            Renewal::Renew(reason) => {
                let issued = ctx
                    .ca
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
        &ctx.ca,
    );
    let mut body = serde_json::to_value(&secret).map_err(|source| Error::Serialize {
        what: key.to_string(),
        source,
    })?;
    if let Value::Object(fields) = &mut body {
        fields.insert("apiVersion".into(), json!("v1"));
        fields.insert("kind".into(), json!("Secret"));
    }
    if let Some(current) = &current
        && issued.is_none()
        && matches_live(&body, current)
    {
        let resource_version = resource_version_of(current);
        ctx.inventory.record_applied(
            key.clone(),
            LastApplied {
                resource_version,
                fingerprint: fp,
                certificate: Some(Box::new(info.clone())),
            },
        );
        return Ok(CertificateOutcome {
            key,
            info,
            issued: None,
            written: false,
            drift: false,
            environment: request.environment.clone(),
        });
    }
    // Someone else changed or deleted a Secret this operator had written as desired.
    let drift = applied.as_ref().is_some_and(|a| a.fingerprint == fp)
        && !matches!(issued, Some(pki::RenewReason::DueForRenewal));
    let resource_version = write::apply(&ctx.client, &ctx.metrics, &key, &body)
        .await
        .map_err(|source| Error::Apply {
            object: key.clone(),
            source: Box::new(source),
        })?;
    if drift {
        ctx.metrics
            .drift_corrections
            .with_label_values(&[ManagedKind::Secret.as_str()])
            .inc();
    }
    ctx.inventory.record_applied(
        key.clone(),
        LastApplied {
            resource_version,
            fingerprint: fp,
            certificate: Some(Box::new(info.clone())),
        },
    );
    Ok(CertificateOutcome {
        key,
        info,
        issued,
        written: true,
        drift,
        environment: request.environment.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
