//! Where PKI material lives in the cluster: the CA Secret in the operator's namespace and
//! the TLS Secret of each tenant environment. (The CA bundle ConfigMap, public, is built
//! by render: see `render::ca_bundle`.)

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{ListParams, ObjectMeta, PostParams};
use kube::{Api, ResourceExt};

use super::ca::{CaSettings, RegionalCa};
use super::trust::{CaRecord, CaUnavailable};
use super::{CaSecretProblem, PkiError};
use crate::labels;
use crate::retry;

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

/// Name of the ConfigMap, in the operator's namespace, that records which CA the operator
/// issues from and which retiring CAs are still trusted (public material only).
pub const CA_RECORD_CONFIG_MAP: &str = "tenant-operator-ca-record";
/// Key of the record (JSON, see [`CaRecord`]) in that ConfigMap.
pub const CA_RECORD_KEY: &str = "record.json";
/// Key of the issuing CA's fingerprint in that ConfigMap, for people and scripts.
pub const CA_RECORD_FINGERPRINT_KEY: &str = "fingerprint";

/// Whether the operator may generate a new root CA when the CA Secret does not exist.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NewRoot {
    /// Only when the cluster holds no tenant certificate (a fresh install): a missing Secret
    /// on a cluster with tenants is a lost or not yet restored CA, and a new root would
    /// silently re-root every tenant.
    #[default]
    OnlyWithoutTenantCertificates,
    /// An administrator asked for one (`--ca-allow-new-root`): the previous CA, if the record
    /// names it, stays trusted while the leaves are re-issued, as in a rotation.
    Allowed,
}

/// What loading the CA at start gave.
#[derive(Debug)]
pub enum CaLoad {
    /// Read from the existing Secret.
    Loaded(RegionalCa),
    /// Generated now and stored in a new Secret; says why generating was allowed.
    Created(RegionalCa, &'static str),
    /// No usable CA: nothing may be issued.
    Unavailable(CaUnavailable),
}

/// Reads the CA Secret; `None` if it does not exist. Every read of the CA Secret goes
/// through here; a transient failure is retried in place ([`retry::request`]).
pub async fn read_ca_secret(api: &Api<Secret>, name: &str) -> Result<Option<Secret>, kube::Error> {
    let object = format!("Secret {name}");
    retry::request("get", &object, || api.get_opt(name)).await
}

/// Loads the regional CA from Secret `namespace/name`. If the Secret does not exist, a new
/// CA is generated and stored only as `new_root` allows: by default only when no CA is
/// recorded (`recorded`, the fingerprint the CA record names) and no tenant certificate
/// exists, neither as a TLS Secret nor in a TenantService's status (a restore that brought
/// the TenantServices back before the CA must not re-root them). Otherwise, and whenever the
/// Secret cannot be read (a permanent error, such as 403) or holds no usable CA, the result
/// is [`CaLoad::Unavailable`]. If another replica creates the Secret first, that one is
/// loaded: there is only ever one CA.
///
/// A transient API error (5xx, 429, a timeout: [`retry::verdict`]) is returned as `Err`, for
/// the caller to retry. Taken as the state, it would stay: nothing reads the Secret again
/// when the watch finds none, and a failed search for tenant certificates is not repeated.
pub async fn load_ca(
    client: kube::Client,
    namespace: &str,
    name: &str,
    settings: &CaSettings,
    (new_root, recorded): (NewRoot, Option<&str>),
    now: jiff::Timestamp,
) -> Result<CaLoad, kube::Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret_name = format!("{namespace}/{name}");
    let unreadable = |error: kube::Error| {
        if retry::verdict(&error).is_transient() {
            return Err(error);
        }
        Ok(CaLoad::Unavailable(CaUnavailable::Unreadable {
            secret: secret_name.clone(),
            error: error.to_string(),
        }))
    };
    let from_secret = |secret: &Secret| {
        Ok(match ca_from_secret(secret, namespace, now) {
            Ok(ca) => CaLoad::Loaded(ca),
            Err(problem) => CaLoad::Unavailable(CaUnavailable::Invalid {
                problem: problem.to_string(),
            }),
        })
    };
    match read_ca_secret(&api, name).await {
        Ok(Some(secret)) => return from_secret(&secret),
        Ok(None) => {}
        Err(error) => return unreadable(error),
    }
    let missing = |why_not_generated: String| {
        Ok(CaLoad::Unavailable(CaUnavailable::Missing {
            secret: secret_name.clone(),
            why_not_generated,
        }))
    };
    let why = match (new_root, recorded) {
        (NewRoot::Allowed, _) => "an administrator allowed a new root (--ca-allow-new-root)",
        (NewRoot::OnlyWithoutTenantCertificates, Some(fingerprint)) => {
            return missing(format!(
                "ConfigMap {namespace}/{CA_RECORD_CONFIG_MAP} records CA {fingerprint} as the one in use"
            ));
        }
        (NewRoot::OnlyWithoutTenantCertificates, None) => {
            match first_tenant_certificate(&client).await {
                Ok(None) => "the cluster holds no tenant certificate",
                Ok(Some(found)) => {
                    return missing(format!(
                        "tenant certificates exist ({found}, perhaps others): a new root would re-root every tenant"
                    ));
                }
                Err(error) if retry::verdict(&error).is_transient() => return Err(error),
                Err(error) => {
                    return missing(format!(
                        "whether tenant certificates exist could not be read: {error}"
                    ));
                }
            }
        }
    };
    let ca = match RegionalCa::generate(settings, now) {
        Ok(ca) => ca,
        Err(error) => {
            return Ok(CaLoad::Unavailable(CaUnavailable::Missing {
                secret: secret_name,
                why_not_generated: error.to_string(),
            }));
        }
    };
    let secret = ca_secret(&ca, namespace, name);
    // Not retried in place (see the transient case below).
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => Ok(CaLoad::Created(ca, why)),
        Err(kube::Error::Api(status)) if status.code == 409 => {
            match read_ca_secret(&api, name).await {
                Ok(Some(secret)) => from_secret(&secret),
                Ok(None) => Ok(CaLoad::Unavailable(CaUnavailable::Deleted {
                    secret: secret_name,
                })),
                Err(error) => unreadable(error),
            }
        }
        // A create that failed transiently may still have been stored: the retry reads the
        // Secret first, so it loads that one rather than generating another.
        Err(error) if retry::verdict(&error).is_transient() => Err(error),
        Err(error) => Ok(CaLoad::Unavailable(CaUnavailable::Unreadable {
            secret: secret_name,
            error: format!("creating it: {error}"),
        })),
    }
}

/// The label selector of every Secret the operator manages for a tenant.
pub fn tenant_secret_selector() -> String {
    format!(
        "{}={},{}",
        labels::MANAGED_BY_KEY,
        labels::MANAGED_BY_VALUE,
        labels::TENANT
    )
}

/// Visits the tenant TLS Secrets the operator manages, in every namespace, a page at a
/// time (200 objects), until `visit` breaks (its value is returned) or none is left
/// (`None`): at 8,000 tenants they are some 16,000 Secrets with their keys, too many to
/// hold at once.
pub async fn scan_tenant_certificates<T>(
    client: &kube::Client,
    mut visit: impl FnMut(&Secret) -> ControlFlow<T>,
) -> Result<Option<T>, kube::Error> {
    let api: Api<Secret> = Api::all(client.clone());
    let params = ListParams::default().labels(&tenant_secret_selector());
    scan_pages(&api, params, |secret| {
        if secret.type_.as_deref() == Some(TLS_SECRET_TYPE) {
            visit(secret)
        } else {
            ControlFlow::Continue(())
        }
    })
    .await
}

/// Objects read per page when scanning Secrets or TenantServices: a scan never holds a
/// cluster of thousands of tenants in memory at once (one unpaged list of 8,000
/// TenantServices with their managed fields is over 150 MB of heap).
const SEARCH_PAGE: u32 = 200;

/// The first tenant certificate found, described for a message (`None`: there is none): a
/// TLS Secret the operator manages or, if there is none (their namespaces not restored
/// yet), a certificate a TenantService lists in its status.
async fn first_tenant_certificate(client: &kube::Client) -> Result<Option<String>, kube::Error> {
    let found = scan_tenant_certificates(client, |secret| {
        ControlFlow::Break(format!(
            "Secret {}/{}",
            secret.namespace().unwrap_or_default(),
            secret.name_any()
        ))
    })
    .await?;
    if found.is_some() {
        return Ok(found);
    }
    let tenants: Api<crate::api::TenantService> = Api::all(client.clone());
    scan_pages(&tenants, ListParams::default(), |tenant| {
        match tenant.status.as_ref() {
            Some(status) if !status.certificates.is_empty() => ControlFlow::Break(format!(
                "in the status of TenantService {}",
                tenant.name_any()
            )),
            _ => ControlFlow::Continue(()),
        }
    })
    .await
}

/// Lists `api` a page ([`SEARCH_PAGE`]) at a time, visiting each object, until `visit`
/// breaks (its value is returned) or the list ends (`None`).
async fn scan_pages<K, T>(
    api: &Api<K>,
    params: ListParams,
    mut visit: impl FnMut(&K) -> ControlFlow<T>,
) -> Result<Option<T>, kube::Error>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut params = params.limit(SEARCH_PAGE);
    loop {
        let page = retry::request("list", &K::kind(&()), || api.list(&params)).await?;
        for object in &page.items {
            if let ControlFlow::Break(found) = visit(object) {
                return Ok(Some(found));
            }
        }
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(None),
        }
    }
}

/// The leaf certificate (the first PEM block of `tls.crt`) of a TLS Secret, DER.
pub fn leaf_der(secret: &Secret) -> Option<Vec<u8>> {
    let cert = secret.data.as_ref()?.get(TLS_CERT_KEY)?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&cert.0).ok()?;
    Some(pem.contents)
}

/// Reads the CA record; `None` if the ConfigMap does not exist or holds no readable record
/// (then the operator starts as on a fresh cluster, and records the CA it loads).
pub async fn read_ca_record(
    client: &kube::Client,
    namespace: &str,
) -> Result<Option<CaRecord>, kube::Error> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let Some(config_map) = retry::request("get", &CA_RECORD_CONFIG_MAP, || {
        api.get_opt(CA_RECORD_CONFIG_MAP)
    })
    .await?
    else {
        return Ok(None);
    };
    let record = config_map
        .data
        .as_ref()
        .and_then(|data| data.get(CA_RECORD_KEY))
        .and_then(|json| serde_json::from_str::<CaRecord>(json).ok());
    if record.is_none() {
        tracing::warn!(configmap = %format!("{namespace}/{CA_RECORD_CONFIG_MAP}"), key = CA_RECORD_KEY, "the CA record cannot be read; it is written again from the CA Secret");
    }
    Ok(record)
}

/// The CA record ConfigMap, labelled as the operator's (no tenant label: no prune selects
/// it).
pub fn ca_record_config_map(
    namespace: &str,
    record: &CaRecord,
) -> Result<ConfigMap, serde_json::Error> {
    let mut data = BTreeMap::from([(
        CA_RECORD_KEY.to_string(),
        serde_json::to_string_pretty(record)?,
    )]);
    if let Some(issuing) = &record.issuing {
        data.insert(
            CA_RECORD_FINGERPRINT_KEY.to_string(),
            issuing.fingerprint.clone(),
        );
        data.insert("notAfter".to_string(), issuing.not_after.clone());
    }
    Ok(ConfigMap {
        metadata: ObjectMeta {
            name: Some(CA_RECORD_CONFIG_MAP.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([(
                labels::MANAGED_BY_KEY.to_string(),
                labels::MANAGED_BY_VALUE.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        data: Some(data),
        ..ConfigMap::default()
    })
}

/// The text of a Secret's key, or which key is not text.
fn text<'a>(
    key: &'static str,
    value: &'a ByteString,
    invalid: &impl Fn(CaSecretProblem) -> PkiError,
) -> Result<&'a str, PkiError> {
    std::str::from_utf8(&value.0)
        .map_err(|source| invalid(CaSecretProblem::NotText { key, source }))
}

/// Reads the CA out of its Secret: `tls.crt` (the CA, then its chain), `tls.key`, and the
/// optional `ca.crt` (the root clients trust), as cert-manager writes a CA's Secret.
pub fn ca_from_secret(
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
            .and_then(|value| text(key, value, &invalid))
    };
    let cert = field(TLS_CERT_KEY)?;
    let key = field(TLS_KEY_KEY)?;
    let anchor = match data.and_then(|d| d.get(CA_CERT_KEY)) {
        Some(value) => Some(text(CA_CERT_KEY, value, &invalid)?),
        None => None,
    };
    RegionalCa::from_secret_pem(cert, key, anchor, now).map_err(|problem| invalid(problem.into()))
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

/// The `kubernetes.io/tls` Secret of a tenant environment: certificate (and the CA's
/// intermediates), key and the trust bundle (`ca.crt`: the roots of the issuing CA and of
/// any CA being rotated out) so that clients in the namespace can verify peers.
pub fn tls_secret(
    namespace: &str,
    name: &str,
    labels: &BTreeMap<String, String>,
    cert_pem: &[u8],
    key_pem: &[u8],
    bundle_pem: &str,
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
                ByteString(bundle_pem.as_bytes().to_vec()),
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
            ca.trust_anchor_pem(),
        );
        let data = secret.data.unwrap();
        assert_eq!(data[CA_CERT_KEY].0, ca.cert_pem().as_bytes());
        // The only private key in a tenant Secret is the leaf's own.
        assert_eq!(data[TLS_KEY_KEY].0, leaf.key_pem.as_bytes());
        assert_ne!(data[TLS_KEY_KEY].0, ca.key_pem_for_ca_secret().as_bytes());
    }
}
