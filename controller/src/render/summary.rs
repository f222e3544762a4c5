//! What a reviewer reads before the objects: per tenant and environment, the namespace, the
//! quota, who gets which role, the egress destinations by name, the tenants traffic is
//! consented with, the hostnames and the Secret of the certificate that serves them, and
//! how many objects there are.
//!
//! The summary is read from the rendered objects themselves (not from the spec), so it
//! cannot say something the objects do not do: the egress destinations come from the
//! names annotated on the egress NetworkPolicy next to its rules, the roles from the
//! RoleBindings, the quota from the ResourceQuota. Pure, like the rest of `render`.

use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::access::{
    TENANT_ADMIN_ROLE, TENANT_EDIT_ROLE, TENANT_MONITORING_ROLE, TENANT_VIEW_ROLE,
};
use super::network::{ALLOW_EGRESS, ALLOW_FROM_TENANTS};
use super::quota::QUOTA_NAME;
use super::set::RenderedTenant;
use super::{ChildObject, Desired};
use crate::kinds::{ManagedKind, ObjectCounts};
use crate::labels;

impl Desired {
    /// The objects of the tenant, TLS Secrets (one per certificate request) included.
    pub fn counts(&self) -> ObjectCounts {
        let mut counts = ObjectCounts::default();
        for object in &self.objects {
            counts.add(object.kind());
        }
        for _ in &self.certificates {
            counts.add(ManagedKind::Secret);
        }
        counts
    }

    /// [`Desired::counts`] of the objects in (or being) namespace `namespace`.
    pub fn counts_in(&self, namespace: &str) -> ObjectCounts {
        let mut counts = ObjectCounts::default();
        for object in &self.objects {
            let inside = match object.kind() {
                ManagedKind::Namespace => object.name() == namespace,
                _ => object.namespace() == Some(namespace),
            };
            if inside {
                counts.add(object.kind());
            }
        }
        for _ in self
            .certificates
            .iter()
            .filter(|c| c.namespace == namespace)
        {
            counts.add(ManagedKind::Secret);
        }
        counts
    }
}

/// The summary of rendered tenants, one line per entry, for people. `render -o yaml`
/// prints it as YAML comments before the objects.
pub fn summary(tenants: &[RenderedTenant]) -> Vec<String> {
    let mut all = ObjectCounts::default();
    let mut environments = 0;
    let mut body = Vec::new();
    for tenant in tenants {
        let counts = tenant.desired.counts();
        all.extend(&counts);
        let namespaces: Vec<(&str, &str)> = tenant
            .desired
            .objects
            .iter()
            .filter_map(|o| match o {
                ChildObject::Namespace(ns) => Some((
                    o.name(),
                    ns.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(labels::ENVIRONMENT))
                        .map_or("", String::as_str),
                )),
                _ => None,
            })
            .collect();
        environments += namespaces.len();
        body.push(String::new());
        body.push(format!(
            "{}: {} environment{}, {counts} ({})",
            tenant.tenant,
            namespaces.len(),
            if namespaces.len() == 1 { "" } else { "s" },
            counts.by_kind()
        ));
        for (namespace, environment) in namespaces {
            body.extend(environment_lines(&tenant.desired, namespace, environment));
        }
    }
    let mut lines = vec![format!(
        "render summary: {} tenant{}, {environments} environment{}, {all} ({})",
        tenants.len(),
        if tenants.len() == 1 { "" } else { "s" },
        if environments == 1 { "" } else { "s" },
        all.by_kind()
    )];
    lines.extend(body);
    lines
}

/// The lines of one environment.
fn environment_lines(desired: &Desired, namespace: &str, environment: &str) -> Vec<String> {
    let inside = |kind: ManagedKind, name: &str| {
        desired
            .objects
            .iter()
            .find(|o| o.kind() == kind && o.namespace() == Some(namespace) && o.name() == name)
    };
    let mut lines = vec![format!(
        "  {environment}: namespace {namespace}, {}",
        desired.counts_in(namespace)
    )];
    if let Some(ChildObject::ResourceQuota(quota)) = inside(ManagedKind::ResourceQuota, QUOTA_NAME)
    {
        let hard = quota
            .spec
            .as_ref()
            .and_then(|s| s.hard.as_ref())
            .cloned()
            .unwrap_or_default();
        let amount = |key: &str, what: &str| hard.get(key).map(|q| format!("{} {what}", q.0));
        let parts: Vec<String> = [
            amount("limits.cpu", "CPU"),
            amount("limits.memory", "memory"),
            amount("requests.storage", "storage"),
            amount("limits.ephemeral-storage", "ephemeral storage"),
            amount("pods", "pods"),
            amount("services", "Services"),
            amount("persistentvolumeclaims", "volume claims"),
            amount("services.loadbalancers", "load balancers"),
        ]
        .into_iter()
        .flatten()
        .collect();
        lines.push(format!("    quota: {}", parts.join(", ")));
    }
    lines.push(format!("    roles: {}", roles(desired, namespace)));
    lines.push(format!(
        "    egress: {}",
        inside(ManagedKind::NetworkPolicy, ALLOW_EGRESS)
            .and_then(|o| match o {
                ChildObject::NetworkPolicy(policy) => Some(egress(policy)),
                _ => None,
            })
            .unwrap_or_else(|| "none beyond DNS and the namespace itself".to_string())
    ));
    if let Some(ChildObject::NetworkPolicy(policy)) =
        inside(ManagedKind::NetworkPolicy, ALLOW_FROM_TENANTS)
    {
        lines.push(format!("    traffic with tenants: {}", peers(policy)));
    }
    let certificates: Vec<String> = desired
        .certificates
        .iter()
        .filter(|c| c.namespace == namespace)
        .map(|c| {
            format!(
                "{}, served by the certificate of Secret {}",
                c.dns_names.join(", "),
                c.secret_name
            )
        })
        .collect();
    lines.push(format!(
        "    hostnames: {}",
        if certificates.is_empty() {
            "none".to_string()
        } else {
            certificates.join("; ")
        }
    ));
    lines
}

/// `admin: g1, g2; edit: g3; view: g4; monitoring: ServiceAccount monitoring/prometheus-k8s`.
fn roles(desired: &Desired, namespace: &str) -> String {
    let mut roles: Vec<(usize, String)> = desired
        .objects
        .iter()
        .filter_map(|o| match o {
            ChildObject::RoleBinding(b) if o.namespace() == Some(namespace) => Some(b),
            _ => None,
        })
        .map(|binding| {
            let role = binding.role_ref.name.as_str();
            let (order, label) = match role {
                TENANT_ADMIN_ROLE => (0, "admin"),
                TENANT_EDIT_ROLE => (1, "edit"),
                TENANT_VIEW_ROLE => (2, "view"),
                TENANT_MONITORING_ROLE => (3, "monitoring"),
                other => (4, other),
            };
            let subjects: Vec<String> = binding
                .subjects
                .iter()
                .flatten()
                .map(|s| match (s.kind.as_str(), &s.namespace) {
                    ("Group", _) => s.name.clone(),
                    (kind, Some(ns)) => format!("{kind} {ns}/{}", s.name),
                    (kind, None) => format!("{kind} {}", s.name),
                })
                .collect();
            (order, format!("{label}: {}", subjects.join(", ")))
        })
        .collect();
    roles.sort();
    if roles.is_empty() {
        return "none".to_string();
    }
    roles
        .into_iter()
        .map(|(_, r)| r)
        .collect::<Vec<_>>()
        .join("; ")
}

/// `pagopa (203.0.113.0/26 TCP 443), spid-cie (...)`: each rule with the destination name
/// annotated for it.
fn egress(policy: &NetworkPolicy) -> String {
    let names = egress_destination_names(policy);
    let rules = policy
        .spec
        .as_ref()
        .and_then(|s| s.egress.as_ref())
        .cloned()
        .unwrap_or_default();
    rules
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            let cidrs: Vec<String> = rule
                .to
                .iter()
                .flatten()
                .filter_map(|peer| peer.ip_block.as_ref().map(|b| b.cidr.clone()))
                .collect();
            let ports: Vec<String> = rule
                .ports
                .iter()
                .flatten()
                .map(|p| {
                    let port = p.port.as_ref().map_or_else(String::new, |port| match port {
                        IntOrString::Int(n) => n.to_string(),
                        IntOrString::String(s) => s.clone(),
                    });
                    format!("{} {port}", p.protocol.as_deref().unwrap_or("TCP"))
                })
                .collect();
            let name = names.get(i).map_or("(unnamed)", String::as_str);
            format!("{name} ({}; {})", cidrs.join(", "), ports.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The destination names annotated on an egress policy, one per rule, in rule order.
pub fn egress_destination_names(policy: &NetworkPolicy) -> Vec<String> {
    policy
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(labels::EGRESS_DESTINATIONS_ANNOTATION))
        .map(|names| {
            names
                .split(',')
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// `regione-puglia (prod), asl-bari (every environment)`: the peers a consent policy admits.
fn peers(policy: &NetworkPolicy) -> String {
    policy
        .spec
        .as_ref()
        .and_then(|s| s.ingress.as_ref())
        .into_iter()
        .flatten()
        .flat_map(|rule| rule.from.iter().flatten())
        .filter_map(|peer| peer.namespace_selector.as_ref())
        .map(|selector| {
            let tenant = selector
                .match_labels
                .as_ref()
                .and_then(|l| l.get(labels::TENANT))
                .map_or("?", String::as_str);
            let environments = selector
                .match_expressions
                .iter()
                .flatten()
                .find(|e| e.key == labels::ENVIRONMENT)
                .and_then(|e| e.values.as_ref())
                .map_or_else(|| "every environment".to_string(), |v| v.join(", "));
            format!("{tenant} ({environments})")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixtures::{default_class, named_tenant};
    use crate::render::{Platform, RenderContext, render};

    fn rendered(
        name: &str,
        spec: serde_json::Value,
        peers: &[crate::api::TenantService],
    ) -> RenderedTenant {
        let platform = Platform::default();
        let tenant = named_tenant(name, spec);
        let class = default_class(&tenant.spec.class);
        let desired = render(
            &tenant,
            &class,
            &RenderContext {
                platform: &platform,
                peers,
                ca_certificate: None,
            },
        )
        .expect("renders");
        RenderedTenant {
            tenant: name.to_string(),
            desired,
        }
    }

    #[test]
    fn a_reviewer_reads_each_environment_in_a_few_lines() {
        let region = named_tenant(
            "regione-puglia",
            json!({"network": {"allowFrom": [{"tenant": "comune-molfetta", "environments": ["prod"]}]}}),
        );
        let molfetta = rendered(
            "comune-molfetta",
            json!({
                "class": "standard",
                "environments": [{"name": "prod", "quota": {"cpu": "6", "memory": "12Gi"}}, {"name": "test"}],
                "network": {
                    "egress": [{"name": "pagopa"}, {"name": "pec", "ports": [465]}],
                    "allowFrom": [{"tenant": "regione-puglia"}]
                },
                "tls": {"hostnames": ["servizi.comune.molfetta.ba.it"]},
                "access": {"adminGroups": ["molfetta-ced"], "viewerGroups": ["molfetta-rtd", "molfetta-audit"]}
            }),
            std::slice::from_ref(&region),
        );
        let lines = summary(std::slice::from_ref(&molfetta));
        let total = molfetta.desired.counts();
        assert_eq!(
            lines[0],
            format!(
                "render summary: 1 tenant, 2 environments, {total} ({})",
                total.by_kind()
            )
        );
        let text = lines.join("\n");
        let prod = text
            .split("\n  prod: ")
            .nth(1)
            .and_then(|s| s.split("\n  test: ").next())
            .expect("a prod section");
        assert!(prod.starts_with(&format!(
            "namespace comune-molfetta-prod, {}",
            molfetta.desired.counts_in("comune-molfetta-prod")
        )));
        assert!(prod.contains("\n    quota: 6 CPU, 12Gi memory, "), "{prod}");
        assert!(
            prod.contains(
                "\n    roles: admin: molfetta-ced; view: molfetta-audit, molfetta-rtd; monitoring: ServiceAccount monitoring/prometheus-k8s"
            ),
            "{prod}"
        );
        assert!(prod.contains("\n    egress: pagopa ("), "{prod}");
        assert!(prod.contains("), pec ("), "{prod}");
        assert!(prod.contains("; TCP 465)"), "{prod}");
        assert!(
            prod.contains("\n    traffic with tenants: regione-puglia (every environment)"),
            "{prod}"
        );
        assert!(
            prod.contains(
                "\n    hostnames: servizi.comune.molfetta.ba.it, served by the certificate of Secret comune-molfetta-tls"
            ),
            "{prod}"
        );
        let test = text.split("\n  test: ").nth(1).expect("a test section");
        assert!(
            test.contains("hostnames: test.servizi.comune.molfetta.ba.it"),
            "{test}"
        );
        // The region consents for prod only: test has no cross-tenant traffic.
        assert!(!test.contains("traffic with tenants"), "{test}");
    }

    #[test]
    fn the_counts_of_the_environments_add_up_to_the_tenants() {
        let tenant = rendered(
            "comune-molfetta",
            json!({"environments": [{"name": "prod"}, {"name": "test"}, {"name": "dev"}],
                   "tls": {"hostnames": ["servizi.comune.molfetta.ba.it"]}}),
            &[],
        );
        let total = tenant.desired.counts();
        let mut sum = ObjectCounts::default();
        for env in ["prod", "test", "dev"] {
            sum.extend(&tenant.desired.counts_in(&format!("comune-molfetta-{env}")));
        }
        assert_eq!(sum, total);
        assert_eq!(
            total.total(),
            tenant.desired.objects.len() + tenant.desired.certificates.len()
        );
    }

    #[test]
    fn egress_names_are_annotated_in_rule_order() {
        let tenant = rendered(
            "comune-molfetta",
            json!({"network": {"egress": [{"name": "spid-cie"}, {"name": "pagopa"}]}}),
            &[],
        );
        let policy = tenant
            .desired
            .objects
            .iter()
            .find_map(|o| match o {
                ChildObject::NetworkPolicy(p) if o.name() == ALLOW_EGRESS => Some(p),
                _ => None,
            })
            .expect("an egress policy");
        assert_eq!(egress_destination_names(policy), ["spid-cie", "pagopa"]);
        let rules = policy
            .spec
            .as_ref()
            .and_then(|s| s.egress.as_ref())
            .expect("rules");
        assert_eq!(rules.len(), 2);
    }
}
