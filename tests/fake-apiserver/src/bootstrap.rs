//! The objects a new cluster starts with: namespaces `default`, `kube-system`,
//! `kube-public` and `kube-node-lease`; the `kubernetes` Endpoints in `default` (the
//! server's own address, as the apiserver's endpoint reconciler keeps it; Helm charts look
//! it up to narrow their egress); the default RBAC policy
//! (`bootstrap-rbac.yaml`: `cluster-admin`, `admin`, `edit`, `view` and the
//! `system:` roles with their bindings); and the built-in PriorityClasses
//! (`pkg/apis/scheduling` `SystemPriorityClasses`). All are written by
//! `system:apiserver` with field manager `kube-apiserver`.

use serde_json::{Value, json};

use crate::clock::Clock;
use crate::identity::UserInfo;
use crate::ops::{self, Sub, WriteReq};
use crate::store::State;
use crate::validate::FieldValidation;

const DEFAULT_RBAC: &str = include_str!("bootstrap-rbac.yaml");

fn objects(address: &str) -> Vec<Value> {
    let mut out: Vec<Value> = ["default", "kube-system", "kube-public", "kube-node-lease"]
        .iter()
        .map(|ns| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
        .collect();
    if let Some((ip, port)) = address
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|a| (a.ip().to_string(), a.port()))
    {
        out.push(json!({"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default",
                "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": ip}],
                "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]}));
    }
    match serde_saphyr::from_str::<Vec<Value>>(DEFAULT_RBAC) {
        Ok(rbac) => out.extend(rbac),
        Err(e) => tracing::error!(error = %e, "bootstrap-rbac.yaml does not parse"),
    }
    for (name, value, description) in [
        (
            "system-cluster-critical",
            2_000_000_000,
            "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
        ),
        (
            "system-node-critical",
            2_000_001_000,
            "Used for system critical pods that must not be moved from their current node.",
        ),
    ] {
        out.push(
            json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name}, "value": value, "description": description,
            "preemptionPolicy": "PreemptLowerPriority"}),
        );
    }
    out
}

/// Creates the startup objects (the server listening on `address`), then fills the
/// aggregated ClusterRoles.
pub fn install(st: &mut State, clock: &Clock, address: &str) {
    let apiserver = UserInfo::apiserver();
    for obj in objects(address) {
        let (group, version) = match obj["apiVersion"].as_str().unwrap_or("").split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (
                String::new(),
                obj["apiVersion"].as_str().unwrap_or("").to_string(),
            ),
        };
        let kind = obj["kind"].as_str().unwrap_or("").to_string();
        let Some(info) = st.registry.by_kind(&group, &version, &kind) else {
            tracing::error!(%group, %kind, "startup object of a kind not served");
            continue;
        };
        let namespace = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let req = WriteReq {
            info: &info,
            version: &version,
            namespace: &namespace,
            manager: "kube-apiserver",
            dry_run: false,
            validation: FieldValidation::Ignore,
            sub: Sub::Main,
            user: &apiserver,
        };
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        if let Err(e) = ops::create(st, clock, &req, obj) {
            tracing::error!(%kind, %name, error = %e, "could not create a startup object");
        }
    }
    crate::aggregation::sync(st, clock);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_parses_into_rbac_objects() {
        let objs = objects("127.0.0.1:6443");
        let names = |kind: &str| -> Vec<&str> {
            objs.iter()
                .filter(|o| o["kind"] == kind)
                .filter_map(|o| o["metadata"]["name"].as_str())
                .collect()
        };
        for role in [
            "cluster-admin",
            "admin",
            "edit",
            "view",
            "system:discovery",
            "system:basic-user",
            "system:public-info-viewer",
        ] {
            assert!(names("ClusterRole").contains(&role), "{role}");
        }
        assert_eq!(names("ClusterRoleBinding").len(), 4);
        for o in objs.iter().filter(|o| o["kind"] == "ClusterRole") {
            serde_json::from_value::<rbac::ClusterRole>(o.clone()).expect("a ClusterRole");
        }
        let endpoints = objs.iter().find(|o| o["kind"] == "Endpoints").unwrap();
        assert_eq!(endpoints["subsets"][0]["ports"][0]["port"], 6443);
        assert_eq!(
            names("PriorityClass"),
            ["system-cluster-critical", "system-node-critical"]
        );
    }
}
