//! Who can reach whom, per namespace: between tenant namespaces, and from each tenant
//! namespace to the cluster DNS and its class's egress destinations, from the ingress
//! gateway and from the monitoring stack. Pods are not known, so each namespace stands for
//! any pod in it (the evaluator says when the answer holds only for some pods).
//!
//! Pairs of tenant namespaces are not tried one by one (all of Italy has 16,000 tenant
//! namespaces, 256 million ordered pairs). Each namespace's policies name the namespaces
//! they may let traffic in from (or out to): through namespace selectors, resolved with a
//! [`NamespaceIndex`], or everything, when a pod may be left unisolated, a rule has no
//! peers or an `ipBlock` overlaps the pod network. A pair is evaluated only when the
//! destination's ingress and the source's egress both name the other side; every other pair
//! is blocked by construction. So the work grows with the pairs that policies actually
//! open, not with the square of the namespaces.

use std::collections::{BTreeSet, HashMap};

use super::index::NamespaceIndex;
use super::model::Model;
use super::netpol::{self, Direction, Endpoint, Flow, Peer, Pod, Side};
use super::ports::{PortSet, Protocol};
use super::report::Reach;
use super::selector::Tri;
use crate::render::network;

/// Endpoint name of the cluster DNS.
pub const DNS: &str = "dns";
/// Endpoint name of the ingress gateway's namespace.
pub const INGRESS_GATEWAY: &str = "ingress-gateway";
/// Endpoint name of the monitoring stack's namespace.
pub const MONITORING: &str = "monitoring";
/// Prefix of the endpoint name of an egress destination.
pub const EGRESS_PREFIX: &str = "egress:";

/// Traffic between two namespaces, or from a namespace to addresses.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// Ports some pods may use.
    pub may: PortSet,
    /// Ports every pod can use.
    pub must: PortSet,
    /// `namespace/name` of the deciding policies (see [`Reach::policies`]).
    pub policies: BTreeSet<String>,
}

impl Verdict {
    /// Whether any traffic passes.
    pub fn allowed(&self) -> bool {
        !self.may.is_empty()
    }

    fn from_flow(
        model: &Model,
        flow: &Flow,
        source: Option<usize>,
        destination: Option<usize>,
    ) -> Verdict {
        let name = |namespace: Option<usize>, indices: &[usize]| -> Vec<String> {
            namespace
                .map(|n| indices.iter().map(|&i| model.policy_name(n, i)).collect())
                .unwrap_or_default()
        };
        let sides = [
            (flow.egress.as_ref(), source),
            (flow.ingress.as_ref(), destination),
        ];
        let mut policies = BTreeSet::new();
        if flow.allowed() {
            for (side, namespace) in sides {
                if let Some(side) = side {
                    policies.extend(name(namespace, &side.allowing));
                }
            }
        } else {
            let blocking: Vec<(&Side, Option<usize>, Direction)> = sides
                .iter()
                .zip([Direction::Egress, Direction::Ingress])
                .filter_map(|((side, namespace), direction)| {
                    side.map(|s| (s, *namespace, direction))
                })
                .filter(|(side, _, _)| side.may.is_empty())
                .collect();
            if blocking.is_empty() {
                // Each side allows something, but not the same ports.
                for (side, namespace) in sides {
                    if let Some(side) = side {
                        policies.extend(name(namespace, &side.allowing));
                    }
                }
            }
            for (side, namespace, direction) in blocking {
                // The policies that only isolate (no rules of this direction) say "deny"
                // most plainly; without such a policy, every isolating one decides.
                let pure: Vec<usize> = side
                    .isolating
                    .iter()
                    .copied()
                    .filter(|&i| {
                        namespace.is_some_and(|n| {
                            model.policies[n][i]
                                .rules(direction)
                                .is_some_and(<[_]>::is_empty)
                        })
                    })
                    .collect();
                let deciding = if pure.is_empty() {
                    &side.isolating
                } else {
                    &pure
                };
                policies.extend(name(namespace, deciding));
            }
        }
        Verdict {
            may: flow.may.clone(),
            must: flow.must.clone(),
            policies,
        }
    }

    /// The report entry.
    pub fn reach(&self, from: &str, to: &str) -> Reach {
        let allowed = self.allowed();
        Reach {
            from: from.to_string(),
            to: to.to_string(),
            allowed,
            ports: if allowed {
                self.may.entries()
            } else {
                Vec::new()
            },
            unconditional_ports: (allowed && self.may != self.must).then(|| self.must.entries()),
            policies: self.policies.iter().cloned().collect(),
        }
    }
}

/// Reachability of one tenant namespace to and from the platform.
pub struct NamespaceReach {
    /// The tenant namespace.
    pub namespace: usize,
    /// To the cluster DNS pods.
    pub dns: Verdict,
    /// From the ingress gateway's namespace.
    pub ingress_gateway: Verdict,
    /// From the monitoring namespace.
    pub monitoring: Verdict,
    /// To each egress destination of the namespace's class, by name, with whether the
    /// tenant asked for it.
    pub destinations: Vec<(String, bool, Verdict)>,
}

/// Traffic from one tenant namespace to another.
pub struct Pair {
    /// Source namespace.
    pub from: usize,
    /// Destination namespace.
    pub to: usize,
    /// The verdict.
    pub verdict: Verdict,
}

/// The reachability of every tenant namespace.
pub struct Reachability {
    /// One entry per tenant namespace, in [`Model::tenant_namespaces`] order.
    pub namespaces: Vec<NamespaceReach>,
    /// Every allowed pair of distinct tenant namespaces, and the blocked pairs of related
    /// namespaces (one tenant's environments; tenants where one names the other in
    /// `allowFrom`). Every other pair is blocked.
    pub pairs: Vec<Pair>,
    /// Ordered pairs of distinct tenant namespaces.
    pub total_pairs: usize,
    /// Of those, the allowed ones.
    pub allowed_pairs: usize,
}

/// Computes the reachability of every tenant namespace.
pub fn compute(model: &Model, index: &mut NamespaceIndex) -> Reachability {
    let namespaces = model
        .tenant_namespaces
        .iter()
        .map(|&n| platform_reach(model, n))
        .collect();
    let (pairs, allowed_pairs) = tenant_pairs(model, index);
    let count = model.tenant_namespaces.len();
    Reachability {
        namespaces,
        pairs,
        total_pairs: count * count.saturating_sub(1),
        allowed_pairs,
    }
}

/// The report entries, sorted by `from` then `to`.
pub fn entries(model: &Model, reachability: &Reachability) -> Vec<Reach> {
    let mut entries = Vec::new();
    for r in &reachability.namespaces {
        let name = &model.namespaces[r.namespace].name;
        entries.push(r.dns.reach(name, DNS));
        entries.push(r.ingress_gateway.reach(INGRESS_GATEWAY, name));
        entries.push(r.monitoring.reach(MONITORING, name));
        for (destination, _, verdict) in &r.destinations {
            entries.push(verdict.reach(name, &format!("{EGRESS_PREFIX}{destination}")));
        }
    }
    for pair in &reachability.pairs {
        entries.push(pair.verdict.reach(
            &model.namespaces[pair.from].name,
            &model.namespaces[pair.to].name,
        ));
    }
    entries.sort();
    entries
}

fn platform_reach(model: &Model, namespace: usize) -> NamespaceReach {
    let platform = &model.settings.platform;
    let any_pod = |n: usize| Endpoint::Pod {
        namespace: model.namespaces[n].as_ref(),
        pod: Pod::Any,
        ip: None,
    };
    let between = |source: usize, destination: &Endpoint| {
        let destination_namespace = match destination {
            Endpoint::Pod { namespace, .. } => model.namespace(namespace.name),
            Endpoint::External(_) => None,
        };
        let flow = netpol::flow(
            &model.policies[source],
            destination_namespace.map_or(&[][..], |d| &model.policies[d]),
            &any_pod(source),
            destination,
            &model.cluster,
        );
        Verdict::from_flow(model, &flow, Some(source), destination_namespace)
    };
    let platform_namespaces = model.platform_namespaces;
    let dns = between(
        namespace,
        &Endpoint::Pod {
            namespace: model.namespaces[platform_namespaces.dns].as_ref(),
            pod: Pod::Labelled(&platform.dns_pod_labels),
            ip: None,
        },
    );
    let ingress_gateway = between(platform_namespaces.ingress_gateway, &any_pod(namespace));
    let monitoring = between(platform_namespaces.monitoring, &any_pod(namespace));
    let mut destinations = Vec::new();
    if let Some(class) = model.class_of(namespace) {
        let requested = model
            .tenant_of(namespace)
            .and_then(|t| network::egress_destinations(t, class).ok())
            .unwrap_or_default();
        for d in &class.spec.egress_destinations {
            let asked = requested.iter().find(|r| r.name == d.name);
            let cidrs: Vec<ipnet::IpNet> = match asked {
                Some(r) => r.cidrs.clone(),
                None => d
                    .cidrs
                    .iter()
                    .filter_map(|c| c.parse::<ipnet::IpNet>().ok())
                    .map(|n| n.trunc())
                    .collect(),
            };
            let mut verdict: Option<Verdict> = None;
            for cidr in cidrs {
                let v = between(namespace, &Endpoint::External(cidr));
                verdict = Some(match verdict {
                    None => v,
                    Some(mut acc) => {
                        acc.may = acc.may.union(&v.may);
                        acc.must = acc.must.intersect(&v.must);
                        acc.policies.extend(v.policies);
                        acc
                    }
                });
            }
            if let Some(verdict) = verdict {
                destinations.push((d.name.clone(), asked.is_some(), verdict));
            }
        }
    }
    NamespaceReach {
        namespace,
        dns,
        ingress_gateway,
        monitoring,
        destinations,
    }
}

/// The namespaces a side's policies may exchange traffic with.
enum Peers {
    /// Every namespace.
    All,
    /// These namespaces, sorted.
    Some(Vec<usize>),
}

impl Peers {
    fn contains(&self, namespace: usize) -> bool {
        match self {
            Peers::All => true,
            Peers::Some(list) => list.binary_search(&namespace).is_ok(),
        }
    }
}

/// The namespaces whose pods the policies of `namespace` may let traffic in from
/// (ingress) or out to (egress).
fn peers_of(
    model: &Model,
    index: &mut NamespaceIndex,
    namespace: usize,
    direction: Direction,
) -> Peers {
    let policies = &model.policies[namespace];
    let (isolated, selecting) = netpol::isolation(policies, direction, Pod::Any);
    if isolated != Tri::Yes {
        // Some pod may be left unisolated: it talks to everyone.
        return Peers::All;
    }
    let mut found: BTreeSet<usize> = BTreeSet::new();
    for policy in selecting.iter().map(|&i| &policies[i]) {
        for rule in policy.rules(direction).unwrap_or_default() {
            let Some(peers) = &rule.peers else {
                return Peers::All;
            };
            for peer in peers {
                match peer {
                    Peer::Pods { pods, .. } if pods.matches_unknown() == Tri::No => {}
                    Peer::Pods {
                        namespaces: None, ..
                    } => {
                        found.insert(namespace);
                    }
                    Peer::Pods {
                        namespaces: Some(selector),
                        ..
                    } => {
                        found.extend(index.select(selector).iter().copied());
                    }
                    Peer::IpBlock(block) => {
                        if model
                            .cluster
                            .pod_networks
                            .iter()
                            .any(|n| block.covers(n) != Tri::No)
                        {
                            return Peers::All;
                        }
                    }
                }
            }
        }
    }
    Peers::Some(found.into_iter().collect())
}

/// Allowed pairs of distinct tenant namespaces, plus the blocked pairs of related ones;
/// and the number of allowed pairs.
fn tenant_pairs(model: &Model, index: &mut NamespaceIndex) -> (Vec<Pair>, usize) {
    let tenants = &model.tenant_namespaces;
    let is_tenant = {
        let mut flags = vec![false; model.namespaces.len()];
        for &t in tenants {
            flags[t] = true;
        }
        flags
    };
    let ingress: HashMap<usize, Peers> = tenants
        .iter()
        .map(|&n| (n, peers_of(model, index, n, Direction::Ingress)))
        .collect();
    let egress: HashMap<usize, Peers> = tenants
        .iter()
        .map(|&n| (n, peers_of(model, index, n, Direction::Egress)))
        .collect();
    // Who may send to each namespace, from the senders' side.
    let mut senders: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut send_everywhere: Vec<usize> = Vec::new();
    for &t in tenants {
        match &egress[&t] {
            Peers::All => send_everywhere.push(t),
            Peers::Some(list) => {
                for &d in list {
                    senders.entry(d).or_default().push(t);
                }
            }
        }
    }
    let evaluate = |from: usize, to: usize| {
        let flow = netpol::flow(
            &model.policies[from],
            &model.policies[to],
            &Endpoint::Pod {
                namespace: model.namespaces[from].as_ref(),
                pod: Pod::Any,
                ip: None,
            },
            &Endpoint::Pod {
                namespace: model.namespaces[to].as_ref(),
                pod: Pod::Any,
                ip: None,
            },
            &model.cluster,
        );
        Verdict::from_flow(model, &flow, Some(from), Some(to))
    };
    let mut pairs = Vec::new();
    let mut evaluated: BTreeSet<(usize, usize)> = BTreeSet::new();
    for &to in tenants {
        let candidates: Vec<usize> = match &ingress[&to] {
            Peers::Some(list) => list.clone(),
            Peers::All => {
                let mut c: Vec<usize> = senders.get(&to).cloned().unwrap_or_default();
                c.extend(&send_everywhere);
                c.sort_unstable();
                c.dedup();
                c
            }
        };
        for from in candidates {
            if from == to || !is_tenant[from] || !egress[&from].contains(to) {
                continue;
            }
            let verdict = evaluate(from, to);
            evaluated.insert((from, to));
            if verdict.allowed() {
                pairs.push(Pair { from, to, verdict });
            }
        }
    }
    let allowed = pairs.len();
    for (from, to) in related_pairs(model) {
        if evaluated.insert((from, to)) {
            let verdict = evaluate(from, to);
            debug_assert!(!verdict.allowed(), "an allowed pair is a candidate");
            pairs.push(Pair { from, to, verdict });
        }
    }
    (pairs, allowed)
}

/// Ordered pairs of distinct tenant namespaces of one tenant, or of two tenants where one
/// names the other in `allowFrom`: the blocked pairs a reviewer wants to see listed.
fn related_pairs(model: &Model) -> Vec<(usize, usize)> {
    let mut by_tenant: HashMap<&str, Vec<usize>> = HashMap::new();
    for &n in &model.tenant_namespaces {
        if let Some(t) = &model.namespaces[n].tenant {
            by_tenant.entry(t.as_str()).or_default().push(n);
        }
    }
    let mut tenant_pairs: BTreeSet<(&str, &str)> = BTreeSet::new();
    for tenant in by_tenant.keys() {
        tenant_pairs.insert((tenant, tenant));
        let Some(t) = model.tenants.get(*tenant) else {
            continue;
        };
        for entry in t.spec.network.iter().flat_map(|n| &n.allow_from) {
            if let Some((peer, _)) = by_tenant.get_key_value(entry.tenant.as_str()) {
                tenant_pairs.insert((tenant, peer));
                tenant_pairs.insert((peer, tenant));
            }
        }
    }
    let mut out = Vec::new();
    for (a, b) in tenant_pairs {
        for &from in &by_tenant[a] {
            for &to in &by_tenant[b] {
                if from != to {
                    out.push((from, to));
                }
            }
        }
    }
    out
}

/// The ports of DNS: UDP and TCP 53.
pub fn dns_ports() -> PortSet {
    PortSet::numbers(Protocol::Udp, super::ports::Ranges::range(53, 53)).union(&PortSet::numbers(
        Protocol::Tcp,
        super::ports::Ranges::range(53, 53),
    ))
}
