//! Where PKI material lives in the cluster: the CA Secret in the operator's namespace and
//! the TLS Secret of each tenant environment. (The CA bundle ConfigMap, public, is built
//! by render: see `render::ca_bundle`.)

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, ResourceExt};

use super::ca::{CaSettings, RegionalCa};
use super::{CaSecretProblem, PkiError};
use crate::labels;

/// Default name of the CA Secret in the operator's namespace.
pub const DEFAULT_CA_SECRET: &str = "tenant-operator-ca";
/// Certificate key of a `kubernetes.io/tls` Secret.
pub const TLS_CERT_KEY: &str = "tls.crt";
/// Private key key of a `kubernetes.io/tls` Secret.
pub const TLS_KEY_KEY: &str = "tls.key";
/// CA certificate key of a tenant TLS Secret (as cert-manager writes it).
pub const CA_CERT_KEY: &str = "ca.crt";
/// Type of TLS Secrets.
const TLS_SECRET_TYPE: &str = "kubernetes.io/tls";

/// Where the CA in use came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaOrigin {
    /// Read from an existing Secret (supplied by administrators or created earlier).
    Loaded,
    /// Generated now and stored in a new Secret.
    Created,
}

/// Loads the regional CA from Secret `namespace/name`, or, if the Secret does not exist,
/// generates a CA and creates the Secret. If another replica creates it first, that one is
/// loaded: there is only ever one CA.
pub async fn load_or_create_ca(
    client: kube::Client,
    namespace: &str,
    name: &str,
    settings: &CaSettings,
    now: jiff::Timestamp,
) -> Result<(RegionalCa, CaOrigin), PkiError> {
    let api: Api<Secret> = Api::namespaced(client, namespace);
    let api_error = |verb, source| PkiError::Api {
        verb,
        namespace: namespace.to_string(),
        name: name.to_string(),
        source: Box::new(source),
    };
    if let Some(secret) = api
        .get_opt(name)
        .await
        .map_err(|e| api_error("reading", e))?
    {
        return Ok((ca_from_secret(&secret, namespace, now)?, CaOrigin::Loaded));
    }
    let ca = RegionalCa::generate(settings, now)?;
    let secret = ca_secret(&ca, namespace, name);
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => Ok((ca, CaOrigin::Created)),
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let secret = api.get(name).await.map_err(|e| api_error("reading", e))?;
            Ok((ca_from_secret(&secret, namespace, now)?, CaOrigin::Loaded))
        }
        Err(e) => Err(api_error("creating", e)),
    }
}

/// Reads the CA out of its Secret.
fn ca_from_secret(
    secret: &Secret,
    namespace: &str,
    now: jiff::Timestamp,
) -> Result<RegionalCa, PkiError> {
    let invalid = |problem: CaSecretProblem| PkiError::InvalidCaSecret {
        namespace: namespace.to_string(),
        name: secret.name_any(),
        problem,
    };
    let data = secret.data.as_ref();
    let field = |key: &'static str| {
        data.and_then(|d| d.get(key))
            .ok_or_else(|| invalid(CaSecretProblem::MissingKey { key }))
            .and_then(|value| {
                std::str::from_utf8(&value.0)
                    .map_err(|source| invalid(CaSecretProblem::NotText { key, source }))
            })
    };
    let cert = field(TLS_CERT_KEY)?;
    let key = field(TLS_KEY_KEY)?;
    RegionalCa::from_pem(cert, key, now).map_err(|problem| invalid(problem.into()))
}

/// The CA Secret written on first start. Labelled as the operator's, but with no tenant
/// label, so that no tenant's prune ever selects it.
fn ca_secret(ca: &RegionalCa, namespace: &str, name: &str) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([(
                labels::MANAGED_BY_KEY.to_string(),
                labels::MANAGED_BY_VALUE.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        type_: Some(TLS_SECRET_TYPE.to_string()),
        data: Some(BTreeMap::from([
            (
                TLS_CERT_KEY.to_string(),
                ByteString(ca.cert_pem().as_bytes().to_vec()),
            ),
            (
                TLS_KEY_KEY.to_string(),
                ByteString(ca.key_pem_for_ca_secret().into_bytes()),
            ),
        ])),
        ..Secret::default()
    }
}

/// The `kubernetes.io/tls` Secret of a tenant environment: certificate, key and the CA
/// certificate (`ca.crt`) so that clients in the namespace can verify peers.
pub fn tls_secret(
    namespace: &str,
    name: &str,
    labels: &BTreeMap<String, String>,
    cert_pem: &[u8],
    key_pem: &[u8],
    ca: &RegionalCa,
) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        },
        type_: Some(TLS_SECRET_TYPE.to_string()),
        data: Some(BTreeMap::from([
            (TLS_CERT_KEY.to_string(), ByteString(cert_pem.to_vec())),
            (TLS_KEY_KEY.to_string(), ByteString(key_pem.to_vec())),
            (
                CA_CERT_KEY.to_string(),
                ByteString(ca.cert_pem().as_bytes().to_vec()),
            ),
        ])),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000).unwrap()
    }

    #[test]
    fn ca_secret_round_trips_and_bad_secrets_name_the_problem() {
        let ca = RegionalCa::generate(&CaSettings::default(), now()).unwrap();
        let secret = ca_secret(&ca, "tenant-operator", DEFAULT_CA_SECRET);
        assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
        let loaded = ca_from_secret(&secret, "tenant-operator", now()).unwrap();
        assert_eq!(loaded.cert_der(), ca.cert_der());

        let mut no_key = secret.clone();
        no_key.data.as_mut().unwrap().remove(TLS_KEY_KEY);
        let err = ca_from_secret(&no_key, "tenant-operator", now()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("tenant-operator/tenant-operator-ca"),
            "{text}"
        );
        assert!(text.contains("`tls.key` is missing"), "{text}");
    }

    #[test]
    fn tenant_secrets_carry_only_public_material_besides_their_own_key() {
        let ca = RegionalCa::generate(&CaSettings::default(), now()).unwrap();
        let labels = BTreeMap::from([("a".to_string(), "b".to_string())]);
        assert!(!ca.cert_pem().contains("PRIVATE KEY"));
        let leaf = ca
            .issue(
                &["a.example.it".to_string()],
                now(),
                std::time::Duration::from_secs(3600),
            )
            .unwrap();
        let secret = tls_secret(
            "comune-bari-prod",
            "comune-bari-tls",
            &labels,
            leaf.cert_pem.as_bytes(),
            leaf.key_pem.as_bytes(),
            &ca,
        );
        let data = secret.data.unwrap();
        assert_eq!(data[CA_CERT_KEY].0, ca.cert_pem().as_bytes());
        // The only private key in a tenant Secret is the leaf's own.
        assert_eq!(data[TLS_KEY_KEY].0, leaf.key_pem.as_bytes());
        assert_ne!(data[TLS_KEY_KEY].0, ca.key_pem_for_ca_secret().as_bytes());
    }
}
