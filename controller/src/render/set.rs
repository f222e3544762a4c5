//! Validating and rendering a set of manifests together, as `tenant-operator render`,
//! the golden tests and the benchmark do: every tenant is checked with the same rules as
//! the controller (its class, the other tenants it may clash with), and only a set without
//! errors is rendered, each tenant with the others as its peers.

use std::collections::{BTreeMap, BTreeSet};

use kube::ResourceExt;

use super::{Desired, Platform, RenderContext, RenderError, render};
use crate::api::validation::{self, Problem};
use crate::api::{TenantClass, TenantService};

/// The objects of one tenant.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderedTenant {
    /// The tenant's name.
    pub tenant: String,
    /// Its child objects and certificate requests.
    pub desired: Desired,
}

/// A rendered set: the objects of every tenant, and the warnings validation gave.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderedSet {
    /// One entry per tenant, in input order.
    pub tenants: Vec<RenderedTenant>,
    /// Problems that did not stop rendering (e.g. a display name that differs from ISTAT's).
    pub warnings: Vec<Problem>,
}

/// Why a set could not be rendered.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SetError {
    /// Validation found errors; every problem (warnings too) is listed.
    #[error("{} error(s) in the TenantServices and TenantClasses", count_errors(.problems))]
    Invalid {
        /// Every problem found, errors and warnings.
        problems: Vec<Problem>,
    },
    /// A tenant passed validation but render refused it.
    #[error("TenantService {tenant}: {source}")]
    Render {
        /// The tenant's name.
        tenant: String,
        /// What render refused (boxed: it names fields and values, and the Ok path
        /// should not pay for its size).
        #[source]
        source: Box<RenderError>,
    },
}

fn count_errors(problems: &[Problem]) -> usize {
    problems.iter().filter(|p| p.is_error()).count()
}

/// Every problem of the set: each class on its own, each tenant with its class and with the
/// tenants it could clash with (same name, same namespace, same hostname). Peers are found
/// through indexes, so a set of every Comune of Italy is checked in linear time.
pub fn validate_set(tenants: &[TenantService], classes: &[TenantClass]) -> Vec<Problem> {
    let by_name = classes_by_name(classes);
    let mut problems: Vec<Problem> = classes
        .iter()
        .flat_map(validation::validate_class)
        .collect();
    let related = clash_candidates(tenants);
    for (index, tenant) in tenants.iter().enumerate() {
        let class = by_name.get(tenant.spec.class.as_str()).copied();
        problems.extend(validation::validate_tenant(tenant, class));
        let peers: Vec<TenantService> = related
            .get(&index)
            .into_iter()
            .flatten()
            .filter_map(|&i| tenants.get(i).cloned())
            .collect();
        if !peers.is_empty() {
            problems.extend(validation::validate_against_peers(tenant, &peers));
        }
    }
    problems
}

/// Validates the set, then renders every tenant with the others as peers (for mutual
/// `allowFrom`) and `ca_certificate` in the CA bundles (see [`RenderContext`]). Warnings do
/// not stop rendering; the caller may print them.
pub fn render_set(
    tenants: &[TenantService],
    classes: &[TenantClass],
    platform: &Platform,
    ca_certificate: Option<&str>,
) -> Result<RenderedSet, SetError> {
    let problems = validate_set(tenants, classes);
    if problems.iter().any(Problem::is_error) {
        return Err(SetError::Invalid { problems });
    }
    let by_name = classes_by_name(classes);
    let ctx = RenderContext {
        platform,
        peers: tenants,
        ca_certificate,
    };
    let rendered = tenants
        .iter()
        .map(|tenant| {
            let name = tenant.name_any();
            let Some(class) = by_name.get(tenant.spec.class.as_str()) else {
                // validate_tenant reports a missing class as an error, so this is not
                // reached; refuse rather than assume.
                return Err(SetError::Invalid {
                    problems: validation::validate_tenant(tenant, None),
                });
            };
            render(tenant, class, &ctx)
                .map(|desired| RenderedTenant {
                    tenant: name.clone(),
                    desired,
                })
                .map_err(|source| SetError::Render {
                    tenant: name,
                    source: Box::new(source),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RenderedSet {
        tenants: rendered,
        warnings: problems,
    })
}

fn classes_by_name(classes: &[TenantClass]) -> BTreeMap<String, &TenantClass> {
    classes.iter().map(|c| (c.name_any(), c)).collect()
}

/// For each tenant (by index), the other tenants that share one of its claims (see
/// [`validation::claim_keys`]): the only ones `validate_against_peers` can object to.
fn clash_candidates(tenants: &[TenantService]) -> BTreeMap<usize, BTreeSet<usize>> {
    let mut claims: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (index, tenant) in tenants.iter().enumerate() {
        let keys = validation::claim_keys(tenant);
        for key in keys {
            let holders = claims.entry(key).or_default();
            if holders.last() != Some(&index) {
                holders.push(index);
            }
        }
    }
    let mut related: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for holders in claims.values().filter(|h| h.len() > 1) {
        for &a in holders {
            related
                .entry(a)
                .or_default()
                .extend(holders.iter().copied().filter(|&b| b != a));
        }
    }
    related
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn class() -> TenantClass {
        serde_json::from_value(json!({
            "apiVersion": "tenancy.innova.puglia.it/v1alpha1",
            "kind": "TenantClass",
            "metadata": {"name": "small"},
            "spec": {
                "quota": {
                    "environmentDefault": {"cpu": "2", "memory": "4Gi", "storage": "20Gi", "pods": 20, "services": 10, "persistentVolumeClaims": 5, "loadBalancers": 0},
                    "environmentMax": {"cpu": "4", "memory": "8Gi", "storage": "50Gi", "pods": 40, "services": 20, "persistentVolumeClaims": 10, "loadBalancers": 0},
                    "tenantMax": {"cpu": "8", "memory": "16Gi", "storage": "100Gi", "pods": 80, "services": 40, "persistentVolumeClaims": 20, "loadBalancers": 0}
                },
                "limitRange": {"defaultRequestCpu": "100m", "defaultRequestMemory": "128Mi", "defaultLimitCpu": "500m", "defaultLimitMemory": "512Mi", "maxCpu": "2", "maxMemory": "4Gi"},
                "allowedDataClassifications": ["ordinario"]
            }
        }))
        .expect("test class is valid")
    }

    fn comune(
        name: &str,
        istat: &str,
        display: &str,
        environments: &[&str],
        hosts: &[&str],
    ) -> TenantService {
        serde_json::from_value(json!({
            "apiVersion": "tenancy.innova.puglia.it/v1alpha1",
            "kind": "TenantService",
            "metadata": {"name": name},
            "spec": {
                "entity": {"type": "Comune", "displayName": display, "istatCode": istat, "ipaCode": "c_x000", "province": "BA"},
                "dataClassification": "ordinario",
                "class": "small",
                "environments": environments.iter().map(|e| json!({"name": e})).collect::<Vec<_>>(),
                "tls": {"hostnames": hosts}
            }
        }))
        .expect("test tenant is valid")
    }

    #[test]
    fn a_valid_set_renders_every_tenant() {
        let tenants = [
            comune(
                "comune-molfetta",
                "072029",
                "Comune di Molfetta",
                &["prod"],
                &["www.comune.molfetta.ba.it"],
            ),
            comune(
                "comune-bari",
                "072006",
                "Comune di Bari",
                &["prod", "test"],
                &["www.comune.bari.it"],
            ),
        ];
        let rendered =
            render_set(&tenants, &[class()], &Platform::default(), None).expect("renders");
        let names: Vec<&str> = rendered.tenants.iter().map(|r| r.tenant.as_str()).collect();
        assert_eq!(names, ["comune-molfetta", "comune-bari"]);
    }

    #[test]
    fn clashes_are_found_on_both_sides_and_stop_rendering() {
        // `comune-a` + `b-prod` and `comune-a-b` + `prod` both make `comune-a-b-prod`.
        let tenants = [
            comune(
                "comune-a",
                "072029",
                "Comune di Molfetta",
                &["b-prod"],
                &["www.example.it"],
            ),
            comune(
                "comune-a-b",
                "072006",
                "Comune di Bari",
                &["prod"],
                &["www.example.it"],
            ),
            comune("comune-c", "072004", "Comune di Altamura", &["prod"], &[]),
        ];
        let Err(SetError::Invalid { problems }) =
            render_set(&tenants, &[class()], &Platform::default(), None)
        else {
            panic!("the namespace and the hostname are claimed twice")
        };
        let errors: Vec<(&str, &str)> = problems
            .iter()
            .filter(|p| p.is_error())
            .map(|p| (p.object.as_str(), p.path.as_str()))
            .collect();
        assert_eq!(
            errors,
            [
                ("comune-a", "spec.environments[0].name"),
                ("comune-a", "spec.tls.hostnames[0]"),
                ("comune-a-b", "spec.environments[0].name"),
                ("comune-a-b", "spec.tls.hostnames[0]"),
            ]
        );
    }

    #[test]
    fn a_missing_class_is_a_problem_on_spec_class() {
        let tenants = [comune(
            "comune-bari",
            "072006",
            "Comune di Bari",
            &["prod"],
            &[],
        )];
        let Err(SetError::Invalid { problems }) =
            render_set(&tenants, &[], &Platform::default(), None)
        else {
            panic!("class small is missing")
        };
        assert!(
            problems
                .iter()
                .any(|p| p.path == "spec.class" && p.is_error()),
            "{problems:?}"
        );
    }
}
