//! The NetworkPolicy evaluator: which traffic the `networking.k8s.io/v1` NetworkPolicies of
//! a cluster allow, with the semantics of the API reference and the upstream
//! documentation (pinned here, since the audit states what any conformant network plugin
//! enforces):
//!
//! - a pod is *isolated* for a direction when at least one policy of its namespace selects
//!   it (`spec.podSelector`) and lists that direction in `policyTypes`; a pod no policy
//!   isolates accepts and sends everything;
//! - `policyTypes` omitted means `Ingress`, plus `Egress` when the policy has egress rules;
//!   rules of a direction the policy does not list are ignored;
//! - policies add up: an isolated pod may use what at least one rule of one of the policies
//!   selecting it allows; a rule allows traffic that matches one of its peers *and* one of
//!   its ports; no peers (or `[]`) means every peer, no ports means every port;
//! - a peer is `podSelector` alone (pods of the policy's namespace), `namespaceSelector`
//!   alone (every pod of the selected namespaces), both in one entry (the selected pods of
//!   the selected namespaces), or `ipBlock` (`cidr` minus `except`);
//! - a port is a number, a range (`port` to `endPort`), every port of a protocol (`port`
//!   omitted) or a name, resolved on the destination pod; the protocol defaults to TCP;
//! - traffic between two pods needs the source's egress *and* the destination's ingress.
//!
//! Where the outcome depends on something the audit does not see, it says so instead of
//! guessing: pods are usually unknown (the audit reasons per namespace), so a selector on
//! them matches every pod, some pods ([`Tri::Maybe`]) or none; whether an `ipBlock` applies
//! to pod IPs is left by the API to the implementation, so an `ipBlock` that overlaps the
//! cluster's pod networks *may* match pods. Each verdict therefore carries two port sets:
//! what some pods may use (`may`) and what every pod can use (`must`).
//!
//! Out of scope, as upstream leaves them to the implementation: traffic from a node to its
//! own pods (always allowed), host-network pods, and a pod connecting to itself.

use std::net::IpAddr;

use ipnet::IpNet;
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::ports::{PortSet, Protocol, Ranges};
use super::selector::{Labels, Selector, SelectorError, Tri};

/// Traffic direction, as seen from the pods a policy selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// Traffic into the selected pods.
    Ingress,
    /// Traffic out of the selected pods.
    Egress,
}

/// A NetworkPolicy, validated and read once.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// Namespace of the policy (its `podSelector` and `podSelector`-only peers refer to it).
    pub namespace: String,
    /// Name of the policy.
    pub name: String,
    /// The pods the policy applies to.
    pub pod_selector: Selector,
    /// Ingress rules, when the policy isolates ingress (`None`: it does not).
    pub ingress: Option<Vec<Rule>>,
    /// Egress rules, when the policy isolates egress (`None`: it does not).
    pub egress: Option<Vec<Rule>>,
}

/// One ingress or egress rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// The peers the rule admits; `None` for every peer (`from`/`to` omitted or empty).
    pub peers: Option<Vec<Peer>>,
    /// The ports it admits ([`PortSet::all`] when `ports` is omitted or empty).
    pub ports: PortSet,
}

/// One entry of `from`/`to`.
#[derive(Clone, Debug, PartialEq)]
pub enum Peer {
    /// Pods selected by label.
    Pods {
        /// The namespaces; `None` for the policy's own namespace (no `namespaceSelector`).
        namespaces: Option<Selector>,
        /// The pods in them (`{}` when `podSelector` is omitted).
        pods: Selector,
    },
    /// Addresses: `cidr` minus `except`.
    IpBlock(IpBlock),
}

/// An `ipBlock` peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpBlock {
    /// The block.
    pub cidr: IpNet,
    /// Parts of it that are not admitted.
    pub except: Vec<IpNet>,
}

/// A NetworkPolicy the API server would have refused, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("NetworkPolicy {namespace}/{name}: {path}: {message}")]
pub struct PolicyError {
    /// Namespace of the policy.
    pub namespace: String,
    /// Name of the policy.
    pub name: String,
    /// Field path, e.g. `spec.ingress[0].from[1].ipBlock.cidr`.
    pub path: String,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl Policy {
    /// Reads a NetworkPolicy, refusing what kube-apiserver's validation refuses (so that a
    /// manifest under review that could never be applied is not audited as if it were).
    pub fn from_k8s(policy: &NetworkPolicy) -> Result<Policy, PolicyError> {
        let namespace = policy.metadata.namespace.clone().unwrap_or_default();
        let name = policy.metadata.name.clone().unwrap_or_default();
        let error = |path: String, message: String| PolicyError {
            namespace: namespace.clone(),
            name: name.clone(),
            path,
            message,
        };
        let spec = policy.spec.clone().unwrap_or_default();
        let pod_selector = selector(spec.pod_selector.as_ref(), "spec.podSelector")
            .map_err(|(path, message)| error(path, message))?;
        // policyTypes omitted: Ingress always, Egress when there are egress rules.
        let has_egress_rules = spec.egress.as_ref().is_some_and(|e| !e.is_empty());
        let (isolates_ingress, isolates_egress) = match &spec.policy_types {
            None => (true, has_egress_rules),
            Some(types) => {
                for (index, t) in types.iter().enumerate() {
                    if t != "Ingress" && t != "Egress" {
                        return Err(error(
                            format!("spec.policyTypes[{index}]"),
                            format!("{t:?} is not a policy type; use Ingress or Egress"),
                        ));
                    }
                }
                (
                    types.iter().any(|t| t == "Ingress"),
                    types.iter().any(|t| t == "Egress"),
                )
            }
        };
        let ingress = spec
            .ingress
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, r)| {
                let at = format!("spec.ingress[{i}]");
                read_rule(
                    r.from.as_ref(),
                    r.ports.as_ref(),
                    &format!("{at}.from"),
                    &format!("{at}.ports"),
                )
            })
            .collect::<Result<Vec<Rule>, FieldError>>()
            .map_err(|(path, message)| error(path, message))?;
        let egress = spec
            .egress
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, r)| {
                let at = format!("spec.egress[{i}]");
                read_rule(
                    r.to.as_ref(),
                    r.ports.as_ref(),
                    &format!("{at}.to"),
                    &format!("{at}.ports"),
                )
            })
            .collect::<Result<Vec<Rule>, FieldError>>()
            .map_err(|(path, message)| error(path, message))?;
        Ok(Policy {
            namespace: namespace.clone(),
            name: name.clone(),
            pod_selector,
            ingress: isolates_ingress.then_some(ingress),
            egress: isolates_egress.then_some(egress),
        })
    }

    /// The rules of one direction, if the policy isolates it.
    pub fn rules(&self, direction: Direction) -> Option<&[Rule]> {
        match direction {
            Direction::Ingress => self.ingress.as_deref(),
            Direction::Egress => self.egress.as_deref(),
        }
    }
}

/// A field path and message, before the policy's name is added.
type FieldError = (String, String);

fn selector(selector: Option<&LabelSelector>, path: &str) -> Result<Selector, FieldError> {
    match selector {
        None => Ok(Selector::everything()),
        Some(s) => Selector::from_k8s(s).map_err(
            |SelectorError {
                 path: inner,
                 message,
             }| { (format!("{path}.{inner}"), message) },
        ),
    }
}

fn read_rule(
    peers: Option<&Vec<NetworkPolicyPeer>>,
    ports: Option<&Vec<NetworkPolicyPort>>,
    peers_path: &str,
    ports_path: &str,
) -> Result<Rule, FieldError> {
    let peers = match peers {
        None => None,
        Some(list) if list.is_empty() => None,
        Some(list) => Some(
            list.iter()
                .enumerate()
                .map(|(i, p)| read_peer(p, &format!("{peers_path}[{i}]")))
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let ports = match ports {
        None => PortSet::all(),
        Some(list) if list.is_empty() => PortSet::all(),
        Some(list) => {
            let mut set = PortSet::empty();
            for (i, p) in list.iter().enumerate() {
                set = set.union(&read_port(p, &format!("{ports_path}[{i}]"))?);
            }
            set
        }
    };
    Ok(Rule { peers, ports })
}

fn read_peer(peer: &NetworkPolicyPeer, path: &str) -> Result<Peer, FieldError> {
    match (&peer.ip_block, &peer.namespace_selector, &peer.pod_selector) {
        (Some(block), None, None) => {
            let parse = |text: &str, field: String| {
                text.parse::<IpNet>().map_err(|_| {
                    (
                        field,
                        format!("{text:?} is not a CIDR; use e.g. 10.0.0.0/24"),
                    )
                })
            };
            let cidr = parse(&block.cidr, format!("{path}.ipBlock.cidr"))?;
            let mut except = Vec::new();
            for (i, e) in block.except.iter().flatten().enumerate() {
                let field = format!("{path}.ipBlock.except[{i}]");
                let net = parse(e, field.clone())?;
                // Upstream validation: every except lies strictly inside the cidr.
                if !(cidr.contains(&net) && net.prefix_len() > cidr.prefix_len()) {
                    return Err((
                        field,
                        format!(
                            "{e} is not inside {}; except entries must be strictly within the cidr",
                            block.cidr
                        ),
                    ));
                }
                except.push(net);
            }
            Ok(Peer::IpBlock(IpBlock {
                cidr: cidr.trunc(),
                except,
            }))
        }
        (Some(_), _, _) => Err((
            format!("{path}.ipBlock"),
            "ipBlock cannot be combined with podSelector or namespaceSelector; use separate peers"
                .to_string(),
        )),
        (None, None, None) => Err((
            path.to_string(),
            "a peer needs podSelector, namespaceSelector or ipBlock".to_string(),
        )),
        (None, namespaces, pods) => Ok(Peer::Pods {
            namespaces: namespaces
                .as_ref()
                .map(|s| selector(Some(s), &format!("{path}.namespaceSelector")))
                .transpose()?,
            pods: selector(pods.as_ref(), &format!("{path}.podSelector"))?,
        }),
    }
}

fn read_port(port: &NetworkPolicyPort, path: &str) -> Result<PortSet, FieldError> {
    let protocol = match &port.protocol {
        None => Protocol::Tcp,
        Some(p) => Protocol::parse(p).ok_or_else(|| {
            (
                format!("{path}.protocol"),
                format!("{p:?} is not a protocol; use TCP, UDP or SCTP"),
            )
        })?,
    };
    let number = |n: i32, field: &str| {
        u16::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| {
            (
                format!("{path}.{field}"),
                format!("{n} is not a port; use 1-65535"),
            )
        })
    };
    match (&port.port, port.end_port) {
        (None, None) => Ok(PortSet::numbers(protocol, Ranges::all())),
        (None, Some(_)) => Err((format!("{path}.endPort"), "endPort needs port".to_string())),
        (Some(IntOrString::Int(p)), end) => {
            let from = number(*p, "port")?;
            let to = match end {
                None => from,
                Some(e) => number(e, "endPort")?,
            };
            if to < from {
                return Err((
                    format!("{path}.endPort"),
                    format!("{to} is below port {from}; endPort must be at least port"),
                ));
            }
            Ok(PortSet::numbers(protocol, Ranges::range(from, to)))
        }
        (Some(IntOrString::String(name)), None) => Ok(PortSet::named(protocol, name)),
        (Some(IntOrString::String(_)), Some(_)) => Err((
            format!("{path}.endPort"),
            "endPort cannot be used with a named port; give port as a number".to_string(),
        )),
    }
}

impl IpBlock {
    /// Whether every, some or none of the addresses of `net` are in the block.
    pub fn covers(&self, net: &IpNet) -> Tri {
        if !overlaps(&self.cidr, net) {
            return Tri::No;
        }
        // CIDR blocks are nested or disjoint: the common part is the smaller one.
        let common = if self.cidr.contains(net) {
            *net
        } else {
            self.cidr
        };
        if covered_by(&common, &self.except) {
            return Tri::No;
        }
        if self.cidr.contains(net) && !self.except.iter().any(|e| overlaps(e, net)) {
            Tri::Yes
        } else {
            Tri::Maybe
        }
    }

    /// Whether the address is in the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.cidr.contains(&ip) && !self.except.iter().any(|e| e.contains(&ip))
    }
}

impl std::fmt::Display for IpBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.cidr)?;
        if !self.except.is_empty() {
            let except: Vec<String> = self.except.iter().map(ToString::to_string).collect();
            write!(f, " except {}", except.join(", "))?;
        }
        Ok(())
    }
}

/// Whether two CIDR blocks share an address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(b) || b.contains(a)
}

/// Whether the union of `nets` holds every address of `net`. Aggregation merges the nets
/// into the fewest blocks, so a covered block lies inside one of them.
pub fn covered_by(net: &IpNet, nets: &[IpNet]) -> bool {
    IpNet::aggregate(&nets.to_vec())
        .iter()
        .any(|n| n.contains(net))
}

/// A namespace as policies see it: its name and labels.
#[derive(Clone, Copy, Debug)]
pub struct NamespaceRef<'a> {
    /// The namespace's name.
    pub name: &'a str,
    /// Its labels (with `kubernetes.io/metadata.name`, which the API server sets).
    pub labels: &'a Labels,
}

/// A pod, or any pod of a namespace.
#[derive(Clone, Copy, Debug)]
pub enum Pod<'a> {
    /// Some pod whose labels are not known.
    Any,
    /// A pod with these labels.
    Labelled(&'a Labels),
}

impl Pod<'_> {
    fn selected_by(self, selector: &Selector) -> Tri {
        match self {
            Pod::Any => selector.matches_unknown(),
            Pod::Labelled(labels) => Tri::from_bool(selector.matches(labels)),
        }
    }
}

/// One end of a connection.
#[derive(Clone, Copy, Debug)]
pub enum Endpoint<'a> {
    /// A pod in the cluster.
    Pod {
        /// Its namespace.
        namespace: NamespaceRef<'a>,
        /// The pod.
        pod: Pod<'a>,
        /// Its IP address, if known (for `ipBlock` peers).
        ip: Option<IpAddr>,
    },
    /// Addresses outside the cluster's pods.
    External(IpNet),
}

/// What the evaluator assumes about the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    /// Networks pod IPs come from: an `ipBlock` overlapping one of them may admit pods.
    pub pod_networks: Vec<IpNet>,
}

/// One side of a connection: the source's egress or the destination's ingress.
#[derive(Clone, Debug, PartialEq)]
pub struct Side {
    /// Whether the pods on this side are isolated for this direction.
    pub isolated: Tri,
    /// Ports some of these pods may use to reach the peer.
    pub may: PortSet,
    /// Ports every one of these pods can use to reach the peer.
    pub must: PortSet,
    /// Indices (into the policies given) of the policies that select the pods.
    pub isolating: Vec<usize>,
    /// Indices of the policies with a rule that admits the peer (for some pods at least).
    pub allowing: Vec<usize>,
}

impl Side {
    /// No policy on this side: everything allowed.
    fn open() -> Side {
        Side {
            isolated: Tri::No,
            may: PortSet::all(),
            must: PortSet::all(),
            isolating: Vec::new(),
            allowing: Vec::new(),
        }
    }
}

/// Whether the policies of a namespace isolate `subject` (one of its pods) for
/// `direction`, and the indices of the policies that (may) select it.
pub fn isolation(policies: &[Policy], direction: Direction, subject: Pod) -> (Tri, Vec<usize>) {
    let mut isolated = Tri::No;
    let mut selecting = Vec::new();
    for (index, policy) in policies.iter().enumerate() {
        if policy.rules(direction).is_none() {
            continue;
        }
        let selects = subject.selected_by(&policy.pod_selector);
        if selects != Tri::No {
            isolated = isolated.max(selects);
            selecting.push(index);
        }
    }
    (isolated, selecting)
}

/// What the policies allow for `subject` (a pod of the namespace the `policies` belong to)
/// towards `peer`, in one direction.
pub fn side(
    policies: &[Policy],
    direction: Direction,
    subject: Pod,
    peer: &Endpoint,
    cluster: &Cluster,
) -> Side {
    let (isolated, isolating) = isolation(policies, direction, subject);
    let mut may = PortSet::empty();
    let mut must = PortSet::empty();
    let mut allowing = Vec::new();
    for &index in &isolating {
        let policy = &policies[index];
        let selects = subject.selected_by(&policy.pod_selector);
        for rule in policy.rules(direction).unwrap_or_default() {
            let admits = selects.and(rule.admits(peer, &policy.namespace, cluster));
            if admits == Tri::No {
                continue;
            }
            if allowing.last() != Some(&index) {
                allowing.push(index);
            }
            may = may.union(&rule.ports);
            if admits == Tri::Yes {
                must = must.union(&rule.ports);
            }
        }
    }
    Side {
        isolated,
        // A pod that no policy isolates may use everything.
        may: if isolated == Tri::Yes {
            may
        } else {
            PortSet::all()
        },
        must: if isolated == Tri::No {
            PortSet::all()
        } else {
            must
        },
        isolating,
        allowing,
    }
}

impl Rule {
    /// Whether the rule's peers admit `endpoint`; `namespace` is the policy's namespace.
    pub fn admits(&self, endpoint: &Endpoint, namespace: &str, cluster: &Cluster) -> Tri {
        match &self.peers {
            None => Tri::Yes,
            Some(peers) => peers
                .iter()
                .map(|p| p.admits(endpoint, namespace, cluster))
                .max()
                .unwrap_or(Tri::No),
        }
    }
}

impl Peer {
    /// Whether this peer admits `endpoint`; `namespace` is the policy's namespace.
    pub fn admits(&self, endpoint: &Endpoint, namespace: &str, cluster: &Cluster) -> Tri {
        match (self, endpoint) {
            (
                Peer::Pods { namespaces, pods },
                Endpoint::Pod {
                    namespace: ns, pod, ..
                },
            ) => {
                let in_namespace = match namespaces {
                    None => ns.name == namespace,
                    Some(selector) => selector.matches(ns.labels),
                };
                if in_namespace {
                    pod.selected_by(pods)
                } else {
                    Tri::No
                }
            }
            (Peer::Pods { .. }, Endpoint::External(_)) => Tri::No,
            (Peer::IpBlock(block), Endpoint::External(net)) => block.covers(net),
            (Peer::IpBlock(block), Endpoint::Pod { ip: Some(ip), .. }) => {
                Tri::from_bool(block.contains(*ip))
            }
            // Whether ipBlock applies to pod IPs is up to the implementation: an overlap
            // with the pod networks may admit the pod.
            (Peer::IpBlock(block), Endpoint::Pod { ip: None, .. }) => {
                if cluster
                    .pod_networks
                    .iter()
                    .any(|n| block.covers(n) != Tri::No)
                {
                    Tri::Maybe
                } else {
                    Tri::No
                }
            }
        }
    }
}

/// A connection from one endpoint to another.
#[derive(Clone, Debug, PartialEq)]
pub struct Flow {
    /// The source's egress, when the source is a pod.
    pub egress: Option<Side>,
    /// The destination's ingress, when the destination is a pod.
    pub ingress: Option<Side>,
    /// Ports some source pods may use to reach some destination pods.
    pub may: PortSet,
    /// Ports every source pod can use to reach every destination pod.
    pub must: PortSet,
}

impl Flow {
    /// Whether any traffic may pass.
    pub fn allowed(&self) -> bool {
        !self.may.is_empty()
    }
}

/// Evaluates a connection: the source's egress (policies of the source's namespace) and
/// the destination's ingress (policies of the destination's namespace) must both allow it.
pub fn flow(
    source_policies: &[Policy],
    destination_policies: &[Policy],
    source: &Endpoint,
    destination: &Endpoint,
    cluster: &Cluster,
) -> Flow {
    let egress = match source {
        Endpoint::Pod { pod, .. } => Some(side(
            source_policies,
            Direction::Egress,
            *pod,
            destination,
            cluster,
        )),
        Endpoint::External(_) => None,
    };
    let ingress = match destination {
        Endpoint::Pod { pod, .. } => Some(side(
            destination_policies,
            Direction::Ingress,
            *pod,
            source,
            cluster,
        )),
        Endpoint::External(_) => None,
    };
    let open = Side::open();
    let (e, i) = (
        egress.as_ref().unwrap_or(&open),
        ingress.as_ref().unwrap_or(&open),
    );
    Flow {
        may: e.may.intersect(&i.may),
        must: e.must.intersect(&i.must),
        egress,
        ingress,
    }
}

#[cfg(test)]
mod tests;
