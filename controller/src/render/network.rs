//! NetworkPolicies of one tenant environment: default deny in both directions, then
//! only what the tenant needs. Every policy selects all pods of the namespace; the
//! allows add up (NetworkPolicies are a union of allows).

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use super::{ChildObject, EnvironmentRef, Platform, RenderContext, RenderError};
use crate::api::{AllowFrom, TenantClass, TenantService};
use crate::labels;

/// Denies all ingress and egress not allowed by another policy.
pub const DEFAULT_DENY: &str = "tenancy-default-deny";
/// Allows DNS lookups to the cluster DNS.
pub const ALLOW_DNS: &str = "tenancy-allow-dns";
/// Allows pods of the namespace to talk to each other.
pub const ALLOW_SAME_NAMESPACE: &str = "tenancy-allow-same-namespace";
/// Allows the regional ingress gateway in.
pub const ALLOW_INGRESS_GATEWAY: &str = "tenancy-allow-ingress-gateway";
/// Allows the monitoring stack to scrape.
pub const ALLOW_MONITORING: &str = "tenancy-allow-monitoring";
/// The tenant's egress allowlist.
pub const ALLOW_EGRESS: &str = "tenancy-allow-egress";
/// Ingress from tenants that consented on both sides.
pub const ALLOW_FROM_TENANTS: &str = "tenancy-allow-from-tenants";

/// Every NetworkPolicy of one environment.
pub(super) fn policies(
    tenant: &TenantService,
    class: &TenantClass,
    ctx: &RenderContext,
    env: &EnvironmentRef,
) -> Result<Vec<ChildObject>, RenderError> {
    let mut policies = vec![
        policy(env, DEFAULT_DENY, Vec::new(), Vec::new()),
        allow_dns(ctx.platform, env),
        policy(
            env,
            ALLOW_SAME_NAMESPACE,
            vec![ingress_from(vec![same_namespace_peer()])],
            vec![egress_to(vec![same_namespace_peer()], Vec::new())],
        ),
        policy(
            env,
            ALLOW_INGRESS_GATEWAY,
            vec![ingress_from(vec![namespace_peer(
                &ctx.platform.ingress_gateway_namespace,
            )])],
            Vec::new(),
        ),
        policy(
            env,
            ALLOW_MONITORING,
            vec![ingress_from(vec![namespace_peer(
                &ctx.platform.monitoring_namespace,
            )])],
            Vec::new(),
        ),
    ];
    let egress = egress_rules(tenant, class)?;
    if !egress.is_empty() {
        policies.push(policy(env, ALLOW_EGRESS, Vec::new(), egress));
    }
    let from_tenants = consented_peers(tenant, ctx.peers);
    if !from_tenants.is_empty() {
        policies.push(policy(
            env,
            ALLOW_FROM_TENANTS,
            vec![ingress_from(from_tenants)],
            Vec::new(),
        ));
    }
    Ok(policies
        .into_iter()
        .map(ChildObject::NetworkPolicy)
        .collect())
}

/// A policy over every pod of the namespace. It declares the policy types it has rules
/// for; the default-deny policy declares both with no rules, which is what denies
/// everything the other policies do not allow.
fn policy(
    env: &EnvironmentRef,
    name: &str,
    ingress: Vec<NetworkPolicyIngressRule>,
    egress: Vec<NetworkPolicyEgressRule>,
) -> NetworkPolicy {
    let mut types = Vec::new();
    if name == DEFAULT_DENY || !ingress.is_empty() {
        types.push("Ingress".to_string());
    }
    if name == DEFAULT_DENY || !egress.is_empty() {
        types.push("Egress".to_string());
    }
    NetworkPolicy {
        metadata: env.meta(name),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(types),
            ingress: (!ingress.is_empty()).then_some(ingress),
            egress: (!egress.is_empty()).then_some(egress),
        }),
    }
}

fn allow_dns(platform: &Platform, env: &EnvironmentRef) -> NetworkPolicy {
    let dns = NetworkPolicyPeer {
        namespace_selector: Some(match_labels([(
            labels::NAMESPACE_NAME,
            platform.dns_namespace.as_str(),
        )])),
        pod_selector: Some(LabelSelector {
            match_labels: Some(platform.dns_pod_labels.clone()),
            ..LabelSelector::default()
        }),
        ..NetworkPolicyPeer::default()
    };
    let ports = ["UDP", "TCP"]
        .into_iter()
        .map(|protocol| port(protocol, 53))
        .collect();
    policy(
        env,
        ALLOW_DNS,
        Vec::new(),
        vec![egress_to(vec![dns], ports)],
    )
}

/// The egress allowlist: one rule per entry, the class destination narrowed to the
/// tenant's CIDRs and ports when it lists some.
fn egress_rules(
    tenant: &TenantService,
    class: &TenantClass,
) -> Result<Vec<NetworkPolicyEgressRule>, RenderError> {
    let Some(network) = &tenant.spec.network else {
        return Ok(Vec::new());
    };
    let mut rules = Vec::with_capacity(network.egress.len());
    for (index, entry) in network.egress.iter().enumerate() {
        let path = format!("spec.network.egress[{index}]");
        let destination = class
            .spec
            .egress_destinations
            .iter()
            .find(|d| d.name == entry.name)
            .ok_or_else(|| RenderError::UnknownEgressDestination {
                path: format!("{path}.name"),
                name: entry.name.clone(),
                class: class.name_any(),
                available: class
                    .spec
                    .egress_destinations
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let cidrs = if entry.cidrs.is_empty() {
            &destination.cidrs
        } else {
            &entry.cidrs
        };
        let port_numbers = if entry.ports.is_empty() {
            &destination.ports
        } else {
            &entry.ports
        };
        let mut peers = Vec::with_capacity(cidrs.len());
        for (cidr_index, cidr) in cidrs.iter().enumerate() {
            let net: ipnet::IpNet = cidr.parse().map_err(|_| RenderError::InvalidCidr {
                path: format!("{path}.cidrs[{cidr_index}]"),
                cidr: cidr.clone(),
            })?;
            peers.push(NetworkPolicyPeer {
                // The canonical form (host bits cleared) is what the API server stores.
                ip_block: Some(IPBlock {
                    cidr: net.trunc().to_string(),
                    except: None,
                }),
                ..NetworkPolicyPeer::default()
            });
        }
        let ports = port_numbers.iter().map(|p| port("TCP", *p)).collect();
        rules.push(egress_to(peers, ports));
    }
    Ok(rules)
}

/// Namespaces of the peers that this tenant allows in *and* that allow this tenant in:
/// consent on both sides. A one-sided `allowFrom` has no effect.
fn consented_peers(tenant: &TenantService, peers: &[TenantService]) -> Vec<NetworkPolicyPeer> {
    let name = tenant.name_any();
    let Some(network) = &tenant.spec.network else {
        return Vec::new();
    };
    let mut allowed: Vec<&AllowFrom> = network
        .allow_from
        .iter()
        .filter(|entry| entry.tenant != name)
        .filter(|entry| {
            peers.iter().any(|peer| {
                peer.name_any() == entry.tenant
                    && peer
                        .spec
                        .network
                        .as_ref()
                        .is_some_and(|n| n.allow_from.iter().any(|back| back.tenant == name))
            })
        })
        .collect();
    allowed.sort_by(|a, b| a.tenant.cmp(&b.tenant));
    allowed.dedup_by(|a, b| a.tenant == b.tenant);
    allowed
        .into_iter()
        .map(|entry| {
            let mut selector = match_labels([
                (labels::TENANT, entry.tenant.as_str()),
                (labels::MANAGED_BY_KEY, labels::MANAGED_BY_VALUE),
            ]);
            if !entry.environments.is_empty() {
                let mut environments = entry.environments.clone();
                environments.sort();
                environments.dedup();
                selector.match_expressions = Some(vec![LabelSelectorRequirement {
                    key: labels::ENVIRONMENT.to_string(),
                    operator: "In".to_string(),
                    values: Some(environments),
                }]);
            }
            NetworkPolicyPeer {
                namespace_selector: Some(selector),
                ..NetworkPolicyPeer::default()
            }
        })
        .collect()
}

fn match_labels<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..LabelSelector::default()
    }
}

/// Every pod of the namespace by its immutable name label.
fn namespace_peer(namespace: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(match_labels([(labels::NAMESPACE_NAME, namespace)])),
        ..NetworkPolicyPeer::default()
    }
}

/// Every pod of the policy's own namespace.
fn same_namespace_peer() -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(LabelSelector::default()),
        ..NetworkPolicyPeer::default()
    }
}

fn ingress_from(from: Vec<NetworkPolicyPeer>) -> NetworkPolicyIngressRule {
    NetworkPolicyIngressRule {
        from: Some(from),
        ports: None,
    }
}

fn egress_to(to: Vec<NetworkPolicyPeer>, ports: Vec<NetworkPolicyPort>) -> NetworkPolicyEgressRule {
    NetworkPolicyEgressRule {
        to: Some(to),
        ports: (!ports.is_empty()).then_some(ports),
    }
}

fn port(protocol: &str, number: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        protocol: Some(protocol.to_string()),
        port: Some(IntOrString::Int(number)),
        end_port: None,
    }
}
