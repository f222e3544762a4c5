//! ResourceQuota and LimitRange of one tenant environment, from the class plan and the
//! environment's overrides.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    LimitRange, LimitRangeItem, LimitRangeSpec, ResourceQuota, ResourceQuotaSpec, ScopeSelector,
    ScopedResourceSelectorRequirement,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::EnvironmentRef;
use crate::api::{QuotaOverride, ResourceAmounts, TenantClass};

/// Name of the ResourceQuota in every tenant namespace.
pub const QUOTA_NAME: &str = "tenancy-quota";
/// Name of the second ResourceQuota in every tenant namespace: no pods of the critical
/// PriorityClasses.
pub const CRITICAL_PRIORITY_QUOTA_NAME: &str = "tenancy-critical-priority";
/// The PriorityClasses Kubernetes reserves for the cluster's own components. A pod with one
/// of them preempts any other pod and is the last one evicted; kube-apiserver accepts
/// them in any namespace since 1.17 and leaves limiting them to quota.
pub const CRITICAL_PRIORITY_CLASSES: [&str; 2] =
    ["system-node-critical", "system-cluster-critical"];
/// Name of the LimitRange in every tenant namespace.
pub const LIMIT_RANGE_NAME: &str = "tenancy-limits";

/// The quota of one environment: each field of the override, else the class default.
/// CPU, memory and ephemeral storage bound both requests and limits, so a tenant cannot
/// overcommit the nodes beyond what it was granted; object counts bound the namespaced
/// kinds tenants create, so that no tenant can fill etcd.
pub(super) fn resource_quota(
    class: &TenantClass,
    quota_override: Option<&QuotaOverride>,
    env: &EnvironmentRef,
) -> ResourceQuota {
    let amounts = effective_amounts(&class.spec.quota.environment_default, quota_override);
    let count = |n: i64| Quantity(n.to_string());
    let mut hard = BTreeMap::from([
        ("requests.cpu".to_string(), amounts.cpu.clone()),
        ("limits.cpu".to_string(), amounts.cpu.clone()),
        ("requests.memory".to_string(), amounts.memory.clone()),
        ("limits.memory".to_string(), amounts.memory.clone()),
        ("requests.storage".to_string(), amounts.storage.clone()),
        ("pods".to_string(), count(amounts.pods)),
        ("services".to_string(), count(amounts.services)),
        (
            "persistentvolumeclaims".to_string(),
            count(amounts.persistent_volume_claims),
        ),
        (
            "requests.ephemeral-storage".to_string(),
            amounts.ephemeral_storage.clone(),
        ),
        (
            "limits.ephemeral-storage".to_string(),
            amounts.ephemeral_storage.clone(),
        ),
        ("count/secrets".to_string(), count(amounts.secrets)),
        ("count/configmaps".to_string(), count(amounts.config_maps)),
        ("count/jobs.batch".to_string(), count(amounts.jobs)),
        ("count/cronjobs.batch".to_string(), count(amounts.cron_jobs)),
        (
            "count/ingresses.networking.k8s.io".to_string(),
            count(amounts.ingresses),
        ),
        (
            "count/poddisruptionbudgets.policy".to_string(),
            count(amounts.pod_disruption_budgets),
        ),
        (
            "count/horizontalpodautoscalers.autoscaling".to_string(),
            count(amounts.horizontal_pod_autoscalers),
        ),
        (
            "count/serviceaccounts".to_string(),
            count(amounts.service_accounts),
        ),
        (
            "services.loadbalancers".to_string(),
            count(if class.spec.services.allow_load_balancer {
                amounts.load_balancers
            } else {
                0
            }),
        ),
    ]);
    if !class.spec.services.allow_node_port {
        // The admission policy refuses NodePort Services too; the quota is the second
        // line of defence where admission policies are switched off.
        hard.insert("services.nodeports".to_string(), count(0));
    }
    ResourceQuota {
        metadata: env.meta(QUOTA_NAME),
        spec: Some(ResourceQuotaSpec {
            hard: Some(hard),
            ..ResourceQuotaSpec::default()
        }),
        ..ResourceQuota::default()
    }
}

/// No pods of the critical PriorityClasses: a quota scoped to them with `pods: 0` refuses
/// every such pod (the upstream way to keep them in `kube-system`, "Limit Priority Class
/// consumption by default" in the ResourceQuota documentation).
pub(super) fn critical_priority_quota(env: &EnvironmentRef) -> ResourceQuota {
    ResourceQuota {
        metadata: env.meta(CRITICAL_PRIORITY_QUOTA_NAME),
        spec: Some(ResourceQuotaSpec {
            hard: Some(BTreeMap::from([(
                "pods".to_string(),
                Quantity("0".to_string()),
            )])),
            scope_selector: Some(ScopeSelector {
                match_expressions: Some(vec![ScopedResourceSelectorRequirement {
                    scope_name: "PriorityClass".to_string(),
                    operator: "In".to_string(),
                    values: Some(CRITICAL_PRIORITY_CLASSES.map(String::from).to_vec()),
                }]),
            }),
            ..ResourceQuotaSpec::default()
        }),
        ..ResourceQuota::default()
    }
}

/// The class default with the override's fields laid over it.
pub fn effective_amounts(
    default: &ResourceAmounts,
    quota_override: Option<&QuotaOverride>,
) -> ResourceAmounts {
    let Some(o) = quota_override else {
        return default.clone();
    };
    ResourceAmounts {
        cpu: o.cpu.clone().unwrap_or_else(|| default.cpu.clone()),
        memory: o.memory.clone().unwrap_or_else(|| default.memory.clone()),
        storage: o.storage.clone().unwrap_or_else(|| default.storage.clone()),
        pods: o.pods.unwrap_or(default.pods),
        services: o.services.unwrap_or(default.services),
        persistent_volume_claims: o
            .persistent_volume_claims
            .unwrap_or(default.persistent_volume_claims),
        load_balancers: o.load_balancers.unwrap_or(default.load_balancers),
        ephemeral_storage: o
            .ephemeral_storage
            .clone()
            .unwrap_or_else(|| default.ephemeral_storage.clone()),
        secrets: o.secrets.unwrap_or(default.secrets),
        config_maps: o.config_maps.unwrap_or(default.config_maps),
        jobs: o.jobs.unwrap_or(default.jobs),
        cron_jobs: o.cron_jobs.unwrap_or(default.cron_jobs),
        ingresses: o.ingresses.unwrap_or(default.ingresses),
        pod_disruption_budgets: o
            .pod_disruption_budgets
            .unwrap_or(default.pod_disruption_budgets),
        horizontal_pod_autoscalers: o
            .horizontal_pod_autoscalers
            .unwrap_or(default.horizontal_pod_autoscalers),
        service_accounts: o.service_accounts.unwrap_or(default.service_accounts),
    }
}

/// Container defaults and bounds, so that pods without resources still fit the quota.
pub(super) fn limit_range(class: &TenantClass, env: &EnvironmentRef) -> LimitRange {
    let l = &class.spec.limit_range;
    let triple = |cpu: &Quantity, memory: &Quantity, ephemeral: &Quantity| {
        BTreeMap::from([
            ("cpu".to_string(), cpu.clone()),
            ("memory".to_string(), memory.clone()),
            ("ephemeral-storage".to_string(), ephemeral.clone()),
        ])
    };
    LimitRange {
        metadata: env.meta(LIMIT_RANGE_NAME),
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".to_string(),
                default: Some(triple(
                    &l.default_limit_cpu,
                    &l.default_limit_memory,
                    &l.default_limit_ephemeral_storage,
                )),
                default_request: Some(triple(
                    &l.default_request_cpu,
                    &l.default_request_memory,
                    &l.default_request_ephemeral_storage,
                )),
                max: Some(triple(&l.max_cpu, &l.max_memory, &l.max_ephemeral_storage)),
                ..LimitRangeItem::default()
            }],
        }),
    }
}
