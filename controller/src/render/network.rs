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
use crate::api::{AllowFrom, TenantClass, TenantService, consent};
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
/// Egress to tenants that consented on both sides: the calling side of the same consent,
/// without which the receiving side's ingress rule would never see a packet (every
/// namespace denies egress by default).
pub const ALLOW_TO_TENANTS: &str = "tenancy-allow-to-tenants";

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
    let destinations = egress_destinations(tenant, class)?;
    if !destinations.is_empty() {
        let names = destinations
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let mut egress = policy(env, ALLOW_EGRESS, Vec::new(), egress_rules(&destinations));
        egress.metadata.annotations = Some(BTreeMap::from([(
            labels::EGRESS_DESTINATIONS_ANNOTATION.to_string(),
            names,
        )]));
        policies.push(egress);
    }
    // Consent is one relation between namespaces, symmetric by construction (see
    // `consented_peers`): the peers this environment accepts traffic from are exactly the
    // peers it may call, so both directions get the same selectors.
    let peers = consented_peers(tenant, env.environment, ctx.peers);
    if !peers.is_empty() {
        policies.push(policy(
            env,
            ALLOW_FROM_TENANTS,
            vec![ingress_from(peers.clone())],
            Vec::new(),
        ));
        policies.push(policy(
            env,
            ALLOW_TO_TENANTS,
            Vec::new(),
            vec![egress_to(peers, Vec::new())],
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

/// One entry of a tenant's egress allowlist, resolved against its class: the class
/// destination, narrowed to the tenant's CIDRs and ports when it lists some.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressDestination {
    /// The destination's name in the class catalogue.
    pub name: String,
    /// Its networks, canonical (host bits cleared), sorted, without duplicates.
    pub cidrs: Vec<ipnet::IpNet>,
    /// Its TCP ports, sorted, without duplicates.
    pub ports: Vec<u16>,
}

/// The egress allowlist: one rule per destination, in the same order.
fn egress_rules(destinations: &[EgressDestination]) -> Vec<NetworkPolicyEgressRule> {
    destinations
        .iter()
        .map(|destination| {
            let peers = destination
                .cidrs
                .iter()
                .map(|cidr| NetworkPolicyPeer {
                    ip_block: Some(IPBlock {
                        cidr: cidr.to_string(),
                        except: None,
                    }),
                    ..NetworkPolicyPeer::default()
                })
                .collect();
            let ports = destination
                .ports
                .iter()
                .map(|p| port("TCP", i32::from(*p)))
                .collect();
            egress_to(peers, ports)
        })
        .collect()
}

/// The tenant's egress entries resolved against its class, in the order of the spec.
/// Validation refuses a widening entry first; render refuses it again because the policy
/// built from this is the last line of defence. The audit uses the same resolution to know
/// what a tenant is entitled to reach.
pub fn egress_destinations(
    tenant: &TenantService,
    class: &TenantClass,
) -> Result<Vec<EgressDestination>, RenderError> {
    let Some(network) = &tenant.spec.network else {
        return Ok(Vec::new());
    };
    let mut resolved = Vec::with_capacity(network.egress.len());
    for (index, entry) in network.egress.iter().enumerate() {
        let path = format!("spec.network.egress[{index}]");
        let (destination_index, destination) = class
            .spec
            .egress_destinations
            .iter()
            .enumerate()
            .find(|(_, d)| d.name == entry.name)
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
        let class_path = format!(
            "TenantClass {}: spec.egressDestinations[{destination_index}]",
            class.name_any()
        );
        let destination_nets = destination
            .cidrs
            .iter()
            .enumerate()
            .map(|(i, cidr)| parse_cidr(cidr, &format!("{class_path}.cidrs[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let mut nets = if entry.cidrs.is_empty() {
            destination_nets
        } else {
            let mut nets = Vec::with_capacity(entry.cidrs.len());
            for (i, cidr) in entry.cidrs.iter().enumerate() {
                let cidr_path = format!("{path}.cidrs[{i}]");
                let net = parse_cidr(cidr, &cidr_path)?;
                if !destination_nets.iter().any(|d| d.contains(&net)) {
                    return Err(RenderError::EgressWidens {
                        path: cidr_path,
                        value: cidr.clone(),
                        destination: destination.name.clone(),
                        allowed: destination.cidrs.join(", "),
                    });
                }
                nets.push(net);
            }
            nets
        };
        let class_ports = destination
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| check_port(*p, &format!("{class_path}.ports[{i}]")))
            .collect::<Result<Vec<u16>, _>>()?;
        let mut ports = if entry.ports.is_empty() {
            class_ports
        } else {
            let mut ports = Vec::with_capacity(entry.ports.len());
            for (i, p) in entry.ports.iter().enumerate() {
                let port_path = format!("{path}.ports[{i}]");
                let number = check_port(*p, &port_path)?;
                if !destination.ports.contains(p) {
                    return Err(RenderError::EgressWidens {
                        path: port_path,
                        value: p.to_string(),
                        destination: destination.name.clone(),
                        allowed: join_ports(&destination.ports),
                    });
                }
                ports.push(number);
            }
            ports
        };
        // Sorted as text, the order the API server's clients have always seen.
        nets.sort_by_key(ToString::to_string);
        nets.dedup();
        ports.sort_unstable();
        ports.dedup();
        resolved.push(EgressDestination {
            name: entry.name.clone(),
            cidrs: nets,
            ports,
        });
    }
    Ok(resolved)
}

/// A CIDR in its canonical form (host bits cleared), which is what the API server stores.
fn parse_cidr(cidr: &str, path: &str) -> Result<ipnet::IpNet, RenderError> {
    cidr.parse::<ipnet::IpNet>()
        .map(|net| net.trunc())
        .map_err(|_| RenderError::InvalidCidr {
            path: path.to_string(),
            cidr: cidr.to_string(),
        })
}

fn check_port(port: i32, path: &str) -> Result<u16, RenderError> {
    u16::try_from(port)
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| RenderError::InvalidPort {
            path: path.to_string(),
            port,
        })
}

fn join_ports(ports: &[i32]) -> String {
    ports
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Namespaces of the peers that this tenant allows in *and* that allow this tenant in:
/// consent on both sides. A one-sided `allowFrom` has no effect. Both sides may narrow by
/// environment: this tenant's entry picks the peer environments that may connect, the
/// peer's entry picks the environments of this tenant it agrees to talk to, so a namespace
/// the peer did not name gets no policy for it.
///
/// The relation is symmetric: `T:e` and `P:x` are paired when T's entry for P admits `x`
/// and P's entry for T admits `e`, which is the same condition read from P's side. So the
/// result serves both as the sources this environment accepts and as the destinations it
/// may call, and the peer renders the mirror image.
fn consented_peers(
    tenant: &TenantService,
    environment: &str,
    peers: &[TenantService],
) -> Vec<NetworkPolicyPeer> {
    consents(tenant, environment, peers)
        .into_iter()
        .map(|(peer, environments)| {
            // By UID too, when known: the namespaces of a tenant deleted and created again
            // under the same name do not match, even before this tenant is reconciled.
            let uid = peers
                .iter()
                .find(|p| p.metadata.name.as_deref() == Some(peer.as_str()))
                .and_then(|p| p.metadata.uid.as_deref());
            let mut selector = match_labels(
                [
                    (labels::TENANT, peer.as_str()),
                    (labels::MANAGED_BY_KEY, labels::MANAGED_BY_VALUE),
                ]
                .into_iter()
                .chain(uid.map(|uid| (labels::TENANT_UID, uid))),
            );
            if let Some(environments) = environments {
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

/// The consent of `tenant`'s environment `environment`: the peers it is paired with, as
/// `consented_peers` pairs them, each by name with the peer's environments on the other end
/// of the pairs (`None` for every environment of the peer; sorted, without duplicates
/// otherwise). Each side's consent counts only for the tenant it is bound to
/// ([`consent::holds_for`]: a tenant re-created under the same name is not paired). The
/// audit compares the traffic the policies allow with this.
pub fn consents(
    tenant: &TenantService,
    environment: &str,
    peers: &[TenantService],
) -> BTreeMap<String, Option<Vec<String>>> {
    let name = tenant.name_any();
    let Some(network) = &tenant.spec.network else {
        return BTreeMap::new();
    };
    let peer_consents = |entry: &AllowFrom| {
        peers.iter().any(|peer| {
            peer.metadata.name.as_deref() == Some(entry.tenant.as_str())
                && consent::holds_for(tenant, peer)
                && consent::holds_for(peer, tenant)
                && peer.spec.network.as_ref().is_some_and(|n| {
                    n.allow_from.iter().any(|back| {
                        back.tenant == name
                            && (back.environments.is_empty()
                                || back.environments.iter().any(|e| e == environment))
                    })
                })
        })
    };
    // One peer per name; several entries for the same peer widen each other.
    let mut allowed: BTreeMap<String, Option<Vec<String>>> = BTreeMap::new();
    for entry in network
        .allow_from
        .iter()
        .filter(|entry| entry.tenant != name)
        .filter(|entry| peer_consents(entry))
    {
        let environments = allowed
            .entry(entry.tenant.clone())
            .or_insert(Some(Vec::new()));
        match (environments.as_mut(), entry.environments.is_empty()) {
            (_, true) => *environments = None,
            (Some(list), false) => list.extend(entry.environments.iter().cloned()),
            (None, false) => {}
        }
    }
    for environments in allowed.values_mut().flatten() {
        environments.sort();
        environments.dedup();
    }
    allowed
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
