//! ResourceQuota usage: what each object uses (the quota evaluators of kube-apiserver and
//! kube-controller-manager, `pkg/quota/v1/evaluator/core/{pods,services,
//! persistent_volume_claims}.go` and the generic object-count evaluator), whether a
//! quota's scopes select it, and the quota controller's bookkeeping of `status.hard` and
//! `status.used`.
//!
//! The real controller writes usage asynchronously (admission charges it, the controller
//! recomputes it and releases it after deletes). Here every write runs under one lock, so
//! [`record`] keeps `status.used` exact at each commit instead: a quota is recomputed in
//! full when it is written (created, its hard limits changed, its status overwritten),
//! and every other write in its namespace applies the difference of the written object's
//! usage before and after. `kubectl describe quota` and metrics therefore always see
//! current numbers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_quantity::Quantity;
use serde_json::{Value, json};

use crate::registry::{ResourceInfo, ResourceKey};
use crate::selectors::LabelSelector;
use crate::store::State;

/// Resource name to quantity (`corev1.ResourceList`), ordered as `prettyPrint` sorts.
pub type Usage = BTreeMap<String, Quantity>;

/// The stored resource `resourcequotas`.
pub fn quota_key() -> ResourceKey {
    (String::new(), "resourcequotas".into())
}

/// Legacy object-count names and the core resource each counts.
const LEGACY_COUNTS: &[&str] = &[
    "configmaps",
    "persistentvolumeclaims",
    "pods",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "services",
];

/// `count/<resource>[.<group>]` of a resource.
fn count_name(info: &ResourceInfo) -> String {
    if info.group.is_empty() {
        format!("count/{}", info.plural)
    } else {
        format!("count/{}.{}", info.plural, info.group)
    }
}

/// Which stored resource a quota's resource name is about.
pub fn resource_of(name: &str) -> Option<ResourceKey> {
    let core = |r: &str| Some((String::new(), r.to_string()));
    if let Some(rest) = name.strip_prefix("count/") {
        return Some(match rest.split_once('.') {
            Some((plural, group)) => (group.to_string(), plural.to_string()),
            None => (String::new(), rest.to_string()),
        });
    }
    match name {
        "services" | "services.loadbalancers" | "services.nodeports" => core("services"),
        "requests.storage" | "persistentvolumeclaims" => core("persistentvolumeclaims"),
        n if n.contains(".storageclass.storage.k8s.io/") => core("persistentvolumeclaims"),
        n if LEGACY_COUNTS.contains(&n) => core(n),
        "cpu" | "memory" | "ephemeral-storage" => core("pods"),
        n if n.starts_with("requests.")
            || n.starts_with("limits.")
            || n.starts_with("hugepages-") =>
        {
            core("pods")
        }
        _ => None,
    }
}

fn one() -> Quantity {
    Quantity::from_count(1)
}

/// A `ResourceList` object; values that are not quantities are skipped (validation
/// refuses them where they come from users).
pub fn resource_list(v: &Value) -> Usage {
    v.as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, q)| Some((k.clone(), Quantity::parse(q.as_str()?).ok()?)))
        .collect()
}

fn add_into(total: &mut Usage, more: &Usage) {
    for (k, q) in more {
        let sum = total
            .get(k)
            .map_or(Some(*q), |have| have.checked_add(*q))
            .unwrap_or(*q);
        total.insert(k.clone(), sum);
    }
}

fn max_into(total: &mut Usage, other: &Usage) {
    for (k, q) in other {
        let m = total.get(k).map_or(*q, |have| (*have).max(*q));
        total.insert(k.clone(), m);
    }
}

/// A container's requests as the API server stores them: a request missing where a
/// limit is set defaults to the limit (`SetDefaults_Container` runs before admission).
pub fn container_requests(c: &Value) -> Usage {
    let mut requests = resource_list(&c["resources"]["requests"]);
    for (k, q) in resource_list(&c["resources"]["limits"]) {
        requests.entry(k).or_insert(q);
    }
    requests
}

fn container_limits(c: &Value) -> Usage {
    resource_list(&c["resources"]["limits"])
}

/// `resourcehelper.PodRequests`/`PodLimits`: containers summed; each init container
/// (with the sidecars started before it) against that sum, the larger wins; overhead
/// added (to limits only where a limit is set).
fn pod_resources(spec: &Value, of: fn(&Value) -> Usage, limits: bool) -> Usage {
    let mut total = Usage::new();
    for c in spec["containers"].as_array().into_iter().flatten() {
        add_into(&mut total, &of(c));
    }
    let mut sidecars = Usage::new();
    let mut init_max = Usage::new();
    for c in spec["initContainers"].as_array().into_iter().flatten() {
        let own = of(c);
        let usage = if c["restartPolicy"] == "Always" {
            add_into(&mut total, &own);
            add_into(&mut sidecars, &own);
            sidecars.clone()
        } else {
            let mut u = own;
            add_into(&mut u, &sidecars);
            u
        };
        max_into(&mut init_max, &usage);
    }
    max_into(&mut total, &init_max);
    for (k, q) in resource_list(&spec["overhead"]) {
        if !limits || total.contains_key(&k) {
            add_into(&mut total, &Usage::from([(k, q)]));
        }
    }
    total
}

/// Whether a resource name is an extended resource (`example.com/gpu`).
fn extended(name: &str) -> bool {
    name.contains('/') && !name.starts_with("kubernetes.io/") && !name.starts_with("requests.")
}

/// `podComputeUsageHelper`: the quota names a set of requests and limits charges.
fn compute_usage(requests: &Usage, limits: &Usage) -> Usage {
    let mut out = Usage::from([("pods".to_string(), one())]);
    for r in ["cpu", "memory", "ephemeral-storage"] {
        if let Some(q) = requests.get(r) {
            out.insert(r.to_string(), *q);
            out.insert(format!("requests.{r}"), *q);
        }
        if let Some(q) = limits.get(r) {
            out.insert(format!("limits.{r}"), *q);
        }
    }
    for (r, q) in requests {
        if r.starts_with("hugepages-") {
            out.insert(r.clone(), *q);
            out.insert(format!("requests.{r}"), *q);
        } else if extended(r) {
            out.insert(format!("requests.{r}"), *q);
        }
    }
    out
}

/// Whether a pod still counts for compute quota (`QuotaV1Pod`): not Succeeded or
/// Failed, and not past its deletion grace period (deletions here are immediate:
/// `deletionGracePeriodSeconds` is always 0).
fn pod_is_live(pod: &Value) -> bool {
    let phase = pod["status"]["phase"].as_str().unwrap_or("");
    let deleted = pod["metadata"]["deletionTimestamp"].is_string()
        && pod["metadata"]["deletionGracePeriodSeconds"].is_number();
    !matches!(phase, "Succeeded" | "Failed") && !deleted
}

fn pod_usage(pod: &Value) -> Usage {
    let mut out = Usage::from([("count/pods".to_string(), one())]);
    if pod_is_live(pod) {
        let requests = pod_resources(&pod["spec"], container_requests, false);
        let limits = pod_resources(&pod["spec"], container_limits, true);
        out.extend(compute_usage(&requests, &limits));
    }
    out
}

fn service_usage(svc: &Value) -> Usage {
    let ports = svc["spec"]["ports"].as_array().map_or(0, Vec::len);
    let count = |n: usize| Quantity::from_count(i64::try_from(n).unwrap_or(i64::MAX));
    let mut out = Usage::from([
        ("count/services".to_string(), one()),
        ("services".to_string(), one()),
    ]);
    match svc["spec"]["type"].as_str() {
        Some("NodePort") => {
            out.insert("services.nodeports".into(), count(ports));
        }
        Some("LoadBalancer") => {
            let node_ports = if svc["spec"]["allocateLoadBalancerNodePorts"] == false {
                svc["spec"]["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["nodePort"].as_i64().is_some_and(|n| n != 0))
                    .count()
            } else {
                ports
            };
            out.insert("services.nodeports".into(), count(node_ports));
            out.insert("services.loadbalancers".into(), one());
        }
        _ => {}
    }
    out
}

fn pvc_usage(pvc: &Value) -> Usage {
    let mut out = Usage::from([
        ("count/persistentvolumeclaims".to_string(), one()),
        ("persistentvolumeclaims".to_string(), one()),
    ]);
    let class = pvc["spec"]["storageClassName"]
        .as_str()
        .or_else(|| {
            pvc["metadata"]["annotations"]["volume.beta.kubernetes.io/storage-class"].as_str()
        })
        .unwrap_or("");
    if !class.is_empty() {
        out.insert(
            format!("{class}.storageclass.storage.k8s.io/persistentvolumeclaims"),
            one(),
        );
    }
    let requested = resource_list(&pvc["spec"]["resources"]["requests"]).remove("storage");
    let allocated = resource_list(&pvc["status"]["allocatedResources"]).remove("storage");
    let storage = match (requested, allocated) {
        (Some(r), Some(a)) => Some(r.max(a)),
        (r, a) => r.or(a),
    };
    if let Some(s) = storage {
        out.insert("requests.storage".into(), s);
        if !class.is_empty() {
            out.insert(
                format!("{class}.storageclass.storage.k8s.io/requests.storage"),
                s,
            );
        }
    }
    out
}

/// What one object of `info` uses.
pub fn usage(info: &ResourceInfo, obj: &Value) -> Usage {
    if info.group.is_empty() {
        match info.plural.as_str() {
            "pods" => return pod_usage(obj),
            "services" => return service_usage(obj),
            "persistentvolumeclaims" => return pvc_usage(obj),
            _ => {}
        }
    }
    let mut out = Usage::from([(count_name(info), one())]);
    if info.group.is_empty() && LEGACY_COUNTS.contains(&info.plural.as_str()) {
        out.insert(info.plural.clone(), one());
    }
    out
}

/// A quota's scopes as selector requirements (`getScopeSelectorsFromQuota`).
fn scope_requirements(quota: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = quota["spec"]["scopes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| json!({"scopeName": s, "operator": "Exists"}))
        .collect();
    out.extend(
        quota["spec"]["scopeSelector"]["matchExpressions"]
            .as_array()
            .into_iter()
            .flatten()
            .cloned(),
    );
    out
}

/// QoS class BestEffort: no container sets a cpu or memory request or limit.
fn best_effort(spec: &Value) -> bool {
    ["containers", "initContainers"].iter().all(|k| {
        spec[*k].as_array().into_iter().flatten().all(|c| {
            ["requests", "limits"].iter().all(|kind| {
                ["cpu", "memory"]
                    .iter()
                    .all(|r| c["resources"][*kind][*r].is_null())
            })
        })
    })
}

/// Pod affinity terms that name other namespaces.
fn cross_namespace_affinity(spec: &Value) -> bool {
    ["podAffinity", "podAntiAffinity"].iter().any(|a| {
        let aff = &spec["affinity"][*a];
        let required = aff["requiredDuringSchedulingIgnoredDuringExecution"]
            .as_array()
            .into_iter()
            .flatten();
        let preferred = aff["preferredDuringSchedulingIgnoredDuringExecution"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|w| &w["podAffinityTerm"]);
        required.chain(preferred).any(|t| {
            t["namespaces"].as_array().is_some_and(|n| !n.is_empty())
                || t["namespaceSelector"].is_object()
        })
    })
}

/// `podMatchesScopeFunc` for one requirement.
fn pod_matches_scope(req: &Value, pod: &Value) -> bool {
    let spec = &pod["spec"];
    let terminating = spec["activeDeadlineSeconds"]
        .as_i64()
        .is_some_and(|s| s >= 0);
    match req["scopeName"].as_str().unwrap_or("") {
        "Terminating" => terminating,
        "NotTerminating" => !terminating,
        "BestEffort" => best_effort(spec),
        "NotBestEffort" => !best_effort(spec),
        "CrossNamespacePodAffinity" => cross_namespace_affinity(spec),
        "PriorityClass" => {
            let class = spec["priorityClassName"].as_str().unwrap_or("");
            let selector = json!({"matchExpressions": [{
                "key": "PriorityClass", "operator": req["operator"], "values": req["values"],
            }]});
            let labels: BTreeMap<&str, &str> = if class.is_empty() {
                BTreeMap::new()
            } else {
                BTreeMap::from([("PriorityClass", class)])
            };
            LabelSelector::from_json(&selector)
                .is_ok_and(|s| s.matches_with(|k| labels.get(k).copied()))
        }
        _ => false,
    }
}

/// Whether a quota's scopes select an object (`Matches` with each evaluator's scope
/// function): a quota without scopes selects everything; scopes apply to pods only, so a
/// scoped quota never counts other kinds.
pub fn selects(quota: &Value, info: &ResourceInfo, obj: &Value) -> bool {
    let reqs = scope_requirements(quota);
    if reqs.is_empty() {
        return true;
    }
    info.group.is_empty() && info.plural == "pods" && reqs.iter().all(|r| pod_matches_scope(r, obj))
}

/// The usage of `obj` that `quota` counts, restricted to `names`.
fn counted(
    quota: &Value,
    names: &BTreeSet<String>,
    info: &ResourceInfo,
    obj: Option<&Value>,
) -> Usage {
    match obj {
        Some(o) if selects(quota, info, o) => usage(info, o)
            .into_iter()
            .filter(|(k, _)| names.contains(k))
            .collect(),
        _ => Usage::new(),
    }
}

fn to_json(u: &Usage) -> Value {
    Value::Object(
        u.iter()
            .map(|(k, q)| (k.clone(), Value::String(q.to_string())))
            .collect(),
    )
}

/// The full usage of a quota's namespace for its hard limits (the controller's resync).
fn compute(st: &State, quota: &Value) -> Usage {
    let ns = quota["metadata"]["namespace"].as_str().unwrap_or("");
    let names: BTreeSet<String> = resource_list(&quota["spec"]["hard"]).into_keys().collect();
    let mut used: Usage = names.iter().map(|n| (n.clone(), Quantity::ZERO)).collect();
    let resources: BTreeSet<ResourceKey> = names.iter().filter_map(|n| resource_of(n)).collect();
    for key in resources {
        let Some(info) = st.registry.get(&key.0, &key.1) else {
            continue;
        };
        for o in st.list(&key, Some(ns)) {
            add_into(&mut used, &counted(quota, &names, &info, Some(&o.value())));
        }
    }
    used
}

/// The quota controller's bookkeeping after a committed write of `info` in `ns` that
/// turned `before` into `after` (either absent for a create or a removal).
pub fn record(
    st: &mut State,
    info: &ResourceInfo,
    ns: &str,
    before: Option<&Value>,
    after: Option<&Value>,
) {
    if ns.is_empty() || !info.namespaced {
        return;
    }
    let key = quota_key();
    let quotas = st.list(&key, Some(ns));
    if quotas.is_empty() {
        return;
    }
    let written_quota = (info.group.is_empty() && info.plural == "resourcequotas")
        .then(|| after.and_then(|a| a["metadata"]["name"].as_str()))
        .flatten();
    for stored in quotas {
        let old = Arc::new(stored.value());
        let mut next = (*old).clone();
        if Some(stored.name()) == written_quota {
            let spec_hard = resource_list(&old["spec"]["hard"]);
            next["status"] =
                json!({"hard": to_json(&spec_hard), "used": to_json(&compute(st, &old))});
        } else {
            let names: BTreeSet<String> =
                resource_list(&old["status"]["hard"]).into_keys().collect();
            let gone = counted(&old, &names, info, before);
            let came = counted(&old, &names, info, after);
            if gone == came {
                continue;
            }
            let mut used = resource_list(&old["status"]["used"]);
            for name in &names {
                let have = used.get(name).copied().unwrap_or(Quantity::ZERO);
                let minus = gone.get(name).copied().unwrap_or(Quantity::ZERO);
                let plus = came.get(name).copied().unwrap_or(Quantity::ZERO);
                let v = have
                    .checked_add(plus)
                    .and_then(|v| v.checked_sub(minus))
                    .unwrap_or(have);
                used.insert(
                    name.clone(),
                    if v.is_negative() { Quantity::ZERO } else { v },
                );
            }
            next["status"]["used"] = to_json(&used);
        }
        if next["status"] != old["status"] {
            st.put(&key, next, Some(old));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(containers: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": {"containers": containers}})
    }

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap()
    }

    #[test]
    fn pod_usage_sums_containers_and_defaults_requests_to_limits() {
        let p = pod(json!([
            {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1"}}},
            {"name": "b", "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}}},
        ]));
        let u = pod_usage(&p);
        assert_eq!(u["pods"], q("1"));
        assert_eq!(u["count/pods"], q("1"));
        assert_eq!(u["requests.cpu"], q("600m"));
        assert_eq!(u["cpu"], q("600m"));
        assert_eq!(u["limits.cpu"], q("1500m"));
        assert_eq!(u["requests.memory"].to_string(), "192Mi");
        // Limits add up over the containers that set one (PodLimits); that container a
        // sets none is the admission constraint's business.
        assert_eq!(u["limits.memory"].to_string(), "128Mi");
    }

    #[test]
    fn init_containers_count_when_larger_than_the_containers() {
        let mut p = pod(json!([{"name": "a", "resources": {"requests": {"cpu": "100m"}}}]));
        p["spec"]["initContainers"] =
            json!([{"name": "i", "resources": {"requests": {"cpu": "2"}}}]);
        assert_eq!(pod_usage(&p)["requests.cpu"], q("2"));
    }

    #[test]
    fn terminal_pods_only_count_as_objects() {
        let mut p = pod(json!([{"name": "a", "resources": {"requests": {"cpu": "1"}}}]));
        p["status"] = json!({"phase": "Succeeded"});
        let u = pod_usage(&p);
        assert_eq!(u.keys().collect::<Vec<_>>(), ["count/pods"]);
    }

    #[test]
    fn services_count_node_ports_and_load_balancers() {
        let svc = json!({"spec": {"type": "LoadBalancer", "ports": [{"port": 80}, {"port": 443}]}});
        let u = service_usage(&svc);
        assert_eq!(u["services.loadbalancers"], q("1"));
        assert_eq!(u["services.nodeports"], q("2"));
        let np = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}]}});
        assert_eq!(service_usage(&np)["services.nodeports"], q("1"));
        assert!(!service_usage(&json!({"spec": {}})).contains_key("services.nodeports"));
    }

    #[test]
    fn scopes_select_pods_by_priority_class_deadline_and_qos() {
        let info = crate::registry::Registry::with_builtins()
            .get("", "pods")
            .unwrap();
        let mut p = pod(json!([{"name": "a"}]));
        let quota = |sel: Value| json!({"spec": {"scopeSelector": {"matchExpressions": [sel]}}});
        let high =
            quota(json!({"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}));
        let not_high =
            quota(json!({"scopeName": "PriorityClass", "operator": "NotIn", "values": ["high"]}));
        let any = quota(json!({"scopeName": "PriorityClass", "operator": "Exists"}));
        assert!(!selects(&high, &info, &p));
        assert!(selects(&not_high, &info, &p));
        assert!(!selects(&any, &info, &p));
        p["spec"]["priorityClassName"] = json!("high");
        assert!(selects(&high, &info, &p) && selects(&any, &info, &p));
        assert!(!selects(&not_high, &info, &p));
        let best_effort = json!({"spec": {"scopes": ["BestEffort"]}});
        assert!(selects(&best_effort, &info, &p));
        let terminating = json!({"spec": {"scopes": ["Terminating"]}});
        assert!(!selects(&terminating, &info, &p));
        p["spec"]["activeDeadlineSeconds"] = json!(60);
        assert!(selects(&terminating, &info, &p));
        // Scopes are about pods: a scoped quota does not count other kinds.
        let cm = crate::registry::Registry::with_builtins()
            .get("", "configmaps")
            .unwrap();
        assert!(!selects(&best_effort, &cm, &json!({})));
    }

    #[test]
    fn quota_names_map_to_the_resources_they_count() {
        let core = |r: &str| Some((String::new(), r.to_string()));
        assert_eq!(
            resource_of("count/deployments.apps"),
            Some(("apps".into(), "deployments".into()))
        );
        assert_eq!(resource_of("count/secrets"), core("secrets"));
        assert_eq!(resource_of("limits.memory"), core("pods"));
        assert_eq!(resource_of("services.nodeports"), core("services"));
        assert_eq!(
            resource_of("requests.storage"),
            core("persistentvolumeclaims")
        );
        assert_eq!(resource_of("configmaps"), core("configmaps"));
        assert_eq!(resource_of("bogus"), None);
    }
}
