//! Test fixtures: a valid tenant (Comune di Molfetta) and classes, changed per test by a
//! JSON merge patch so that each test shows only what it breaks.

use serde_json::{Value, json};

use super::{Problem, validate_tenant};
use crate::api::{TenantClass, TenantService};

/// RFC 7386 merge patch: objects merge, `null` removes, anything else replaces.
pub(crate) fn merge(target: &mut Value, patch: Value) {
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

/// The valid tenant with `spec_patch` merged into its spec.
pub(crate) fn tenant(spec_patch: Value) -> TenantService {
    named_tenant("comune-molfetta", spec_patch)
}

/// A valid tenant named `name` with `spec_patch` merged into its spec.
pub(crate) fn named_tenant(name: &str, spec_patch: Value) -> TenantService {
    let mut value = json!({
        "apiVersion": "tenancy.innova.puglia.it/v1alpha1",
        "kind": "TenantService",
        "metadata": {"name": name},
        "spec": {
            "entity": {"type": "Comune", "displayName": "Comune di Molfetta", "istatCode": "072029", "ipaCode": "c_f284", "province": "BA"},
            "dataClassification": "ordinario",
            "class": "standard",
            "environments": [{"name": "prod", "quota": {"cpu": "6"}}, {"name": "test"}],
            "network": {
                "egress": [{"name": "pagopa", "cidrs": ["203.0.113.0/26"], "ports": [443]}],
                "allowFrom": [{"tenant": "regione-puglia"}]
            },
            "tls": {"hostnames": ["servizi.comune.molfetta.ba.it"]}
        }
    });
    merge(&mut value["spec"], spec_patch);
    serde_json::from_value(value).expect("test tenant matches the API types")
}

/// A class as in policies/classes: `standard` (ordinario, critico) or `sanita` (critico,
/// strategico), with the quota plan the tests rely on.
pub(crate) fn class_named(name: &str) -> TenantClass {
    let classifications = if name == "sanita" {
        json!(["critico", "strategico"])
    } else {
        json!(["ordinario", "critico"])
    };
    serde_json::from_value(json!({
        "apiVersion": "tenancy.innova.puglia.it/v1alpha1",
        "kind": "TenantClass",
        "metadata": {"name": name},
        "spec": {
            "allowedDataClassifications": classifications,
            "quota": {
                "environmentDefault": {"cpu": "4", "memory": "8Gi", "storage": "50Gi", "pods": 50, "services": 20, "persistentVolumeClaims": 10, "loadBalancers": 0},
                "environmentMax": {"cpu": "8", "memory": "16Gi", "storage": "200Gi", "pods": 100, "services": 40, "persistentVolumeClaims": 20, "loadBalancers": 1},
                "tenantMax": {"cpu": "16", "memory": "32Gi", "storage": "400Gi", "pods": 200, "services": 80, "persistentVolumeClaims": 40, "loadBalancers": 1}
            },
            "limitRange": {"defaultRequestCpu": "100m", "defaultRequestMemory": "128Mi", "defaultLimitCpu": "1", "defaultLimitMemory": "1Gi", "maxCpu": "4", "maxMemory": "8Gi"},
            "egressDestinations": [
                {"name": "pagopa", "cidrs": ["203.0.113.0/26"], "ports": [443]},
                {"name": "pec", "cidrs": ["198.51.100.64/27", "2001:db8::/32"], "ports": [465, 993]}
            ],
            "services": {"allowLoadBalancer": true}
        }
    }))
    .expect("test class matches the API types")
}

/// The `standard` test class.
pub(crate) fn class() -> TenantClass {
    class_named("standard")
}

/// Problems of the valid tenant changed by `spec_patch`, with the class it names.
pub(crate) fn problems_with(spec_patch: Value) -> Vec<Problem> {
    let t = tenant(spec_patch);
    validate_tenant(&t, Some(&class_named(&t.spec.class)))
}

/// The paths of some problems, in order.
pub(crate) fn paths(problems: &[Problem]) -> Vec<String> {
    problems.iter().map(|p| p.path.clone()).collect()
}
