//! ResourceQuota and LimitRange of one tenant environment, from the class plan and the
//! environment's overrides.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    LimitRange, LimitRangeItem, LimitRangeSpec, ResourceQuota, ResourceQuotaSpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::EnvironmentRef;
use crate::api::{QuotaOverride, ResourceAmounts, TenantClass};

/// Name of the ResourceQuota in every tenant namespace.
pub const QUOTA_NAME: &str = "tenancy-quota";
/// Name of the LimitRange in every tenant namespace.
pub const LIMIT_RANGE_NAME: &str = "tenancy-limits";

/// The quota of one environment: each field of the override, else the class default.
/// CPU and memory bound both requests and limits, so a tenant cannot overcommit the
/// nodes beyond what it was granted.
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
    }
}

/// Container defaults and bounds, so that pods without resources still fit the quota.
pub(super) fn limit_range(class: &TenantClass, env: &EnvironmentRef) -> LimitRange {
    let l = &class.spec.limit_range;
    let pair = |cpu: &Quantity, memory: &Quantity| {
        BTreeMap::from([
            ("cpu".to_string(), cpu.clone()),
            ("memory".to_string(), memory.clone()),
        ])
    };
    LimitRange {
        metadata: env.meta(LIMIT_RANGE_NAME),
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".to_string(),
                default: Some(pair(&l.default_limit_cpu, &l.default_limit_memory)),
                default_request: Some(pair(&l.default_request_cpu, &l.default_request_memory)),
                max: Some(pair(&l.max_cpu, &l.max_memory)),
                ..LimitRangeItem::default()
            }],
        }),
    }
}
