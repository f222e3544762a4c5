//! Fixtures for tests and benchmarks: the default TenantClasses of `policies/classes` (the
//! ones the chart installs, embedded by [`crate::samples::DEFAULT_CLASSES`]) and a valid
//! tenant (the Comune di Molfetta), each changed per test by a JSON merge patch, so that a
//! test shows only what it changes and no test keeps a class of its own that drifts from
//! the real ones.
//!
//! Compiled for the crate's unit tests and, with the `fixtures` feature, for the
//! integration tests; not part of the product. Fixtures that do not parse are a bug of the
//! test, so they panic.

use serde_json::{Value, json};

use crate::api::validation::{Delegations, ReservedNamespaces, Trusted};
use crate::api::{DomainDelegation, TenantClass, TenantService};
use crate::render::Platform;
use crate::samples::DEFAULT_CLASSES;

/// RFC 7386 merge patch: objects merge, `null` removes, anything else replaces.
pub fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(&k);
                } else {
                    merge(t.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p,
    }
}

/// The YAML of the default class `name` (`small`, `standard`, `large` or `sanita`), as in
/// `policies/classes/<name>.yaml`.
pub fn default_class_yaml(name: &str) -> &'static str {
    let file = format!("policies/classes/{name}.yaml");
    DEFAULT_CLASSES
        .iter()
        .find(|(path, _)| *path == file)
        .map_or_else(
            || panic!("{file} is not a default class"),
            |(_, text)| *text,
        )
}

/// The default class `name` as JSON, ready to apply.
pub fn default_class_value(name: &str) -> Value {
    serde_saphyr::from_str(default_class_yaml(name))
        .unwrap_or_else(|e| panic!("policies/classes/{name}.yaml: {e}"))
}

/// The default class `name`.
pub fn default_class(name: &str) -> TenantClass {
    class_with(name, json!({}))
}

/// The default class `name` with `spec_patch` merged into its spec.
pub fn class_with(name: &str, spec_patch: Value) -> TenantClass {
    let mut value = default_class_value(name);
    merge(&mut value["spec"], spec_patch);
    serde_json::from_value(value).expect("the patched class matches the API types")
}

/// The valid tenant `name` (the Comune di Molfetta, class `standard`, environments prod
/// (declared production) and test, PagoPA egress, consent to `regione-puglia`, one hostname) with `spec_patch`
/// merged into its spec, as JSON.
pub fn tenant_value(name: &str, spec_patch: Value) -> Value {
    let mut value = json!({
        "apiVersion": "tenancy.innova.puglia.it/v1alpha1",
        "kind": "TenantService",
        "metadata": {"name": name},
        "spec": {
            "entity": {"type": "Comune", "displayName": "Comune di Molfetta", "istatCode": "072029", "ipaCode": "c_f284", "province": "BA"},
            "dataClassification": "ordinario",
            "class": "standard",
            "environments": [{"name": "prod", "production": true, "quota": {"cpu": "6"}}, {"name": "test"}],
            "network": {
                "egress": [{"name": "pagopa", "cidrs": ["203.0.113.0/26"], "ports": [443]}],
                "allowFrom": [{"tenant": "regione-puglia"}]
            },
            "tls": {"hostnames": ["servizi.comune.molfetta.ba.it"]}
        }
    });
    merge(&mut value["spec"], spec_patch);
    value
}

/// The valid tenant named `name` with `spec_patch` merged into its spec.
pub fn named_tenant(name: &str, spec_patch: Value) -> TenantService {
    serde_json::from_value(tenant_value(name, spec_patch))
        .expect("the patched tenant matches the API types")
}

/// The valid tenant `comune-molfetta` with `spec_patch` merged into its spec.
pub fn tenant(spec_patch: Value) -> TenantService {
    named_tenant("comune-molfetta", spec_patch)
}

/// A DomainDelegation `name` of `domains` to the body with IPA code `ipa_code`.
pub fn delegation(name: &str, ipa_code: &str, domains: &[&str]) -> DomainDelegation {
    serde_json::from_value(delegation_value(name, ipa_code, domains))
        .expect("the delegation matches the API types")
}

/// [`delegation`] as JSON, ready to apply.
pub fn delegation_value(name: &str, ipa_code: &str, domains: &[&str]) -> Value {
    json!({
        "apiVersion": "tenancy.innova.puglia.it/v1alpha1",
        "kind": "DomainDelegation",
        "metadata": {"name": name},
        "spec": {"ipaCode": ipa_code, "domains": domains}
    })
}

/// What the fixture tenants need of the trusted policy: the namespaces the default
/// platform and operator reserve, and the domain of the Comune di Molfetta (`comune.molfetta.ba.it`, IPA `c_f284`) and
/// of the Comune di Bari (`comune.bari.it`, IPA `c_a662`).
pub fn trusted() -> Trusted {
    Trusted {
        reserved: ReservedNamespaces::new(
            Platform::default().trusted_namespaces(),
            crate::labels::DEFAULT_OPERATOR_NAMESPACE,
            &[],
        )
        .expect("the default platform's namespaces are names"),
        delegations: Delegations::new(&[
            delegation("comune-molfetta", "c_f284", &["comune.molfetta.ba.it"]),
            delegation("comune-bari", "c_a662", &["comune.bari.it"]),
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::validation::{validate_class, validate_tenant};

    #[test]
    fn the_fixtures_are_valid_and_the_classes_are_the_defaults() {
        for name in ["small", "standard", "large", "sanita"] {
            let class = default_class(name);
            assert_eq!(class.metadata.name.as_deref(), Some(name));
            assert_eq!(validate_class(&class), []);
        }
        assert_eq!(
            validate_tenant(&tenant(json!({})), Some(&default_class("standard"))),
            []
        );
    }

    #[test]
    fn patches_merge_replace_and_remove() {
        let t = tenant(json!({"environments": [{"name": "prod"}], "tls": null}));
        assert_eq!(t.spec.environments.len(), 1);
        assert!(t.spec.tls.is_none());
        let class = class_with("standard", json!({"services": {"allowLoadBalancer": true}}));
        assert!(class.spec.services.allow_load_balancer);
        assert_eq!(
            class.spec.pod_security,
            default_class("standard").spec.pod_security
        );
    }
}
