//! Rendering a set of tenants together, as `tenant-operator render`, the golden tests and
//! the benchmark do: each tenant with the others as its peers (for mutual `allowFrom`).
//! [`render_set`] first checks the set with the rules the controller applies
//! ([`validation::validate_set`]); [`render_all`] is for a set already checked (by
//! `tenant-operator render`, through the `validate` engine).

use std::collections::BTreeMap;

use kube::ResourceExt;

use super::{Desired, RenderContext, RenderError, render};
use crate::api::validation::{self, Problem, Trusted};
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
    /// A tenant names a class that is not in the set.
    #[error("TenantService {tenant}: TenantClass {class:?} is not among the classes given")]
    MissingClass {
        /// The tenant's name.
        tenant: String,
        /// The class it names.
        class: String,
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

/// Validates the set, then renders it (see [`render_all`]). Warnings do not stop rendering;
/// the caller may print them.
pub fn render_set(
    tenants: &[TenantService],
    classes: &[TenantClass],
    trusted: &Trusted,
    ctx: &RenderContext,
) -> Result<RenderedSet, SetError> {
    let problems = validation::validate_set(tenants, classes, trusted);
    if problems.has_errors() {
        return Err(SetError::Invalid {
            problems: problems.into_all(),
        });
    }
    Ok(RenderedSet {
        tenants: render_all(tenants, classes, ctx)?,
        warnings: problems.into_all(),
    })
}

/// Renders every tenant of a set already validated, with its class (the last of that name)
/// and the other tenants as peers; `ctx.peers` is ignored.
pub fn render_all(
    tenants: &[TenantService],
    classes: &[TenantClass],
    ctx: &RenderContext,
) -> Result<Vec<RenderedTenant>, SetError> {
    let by_name: BTreeMap<String, &TenantClass> =
        classes.iter().map(|c| (c.name_any(), c)).collect();
    let ctx = RenderContext {
        peers: tenants,
        ..*ctx
    };
    tenants
        .iter()
        .map(|tenant| {
            let name = tenant.name_any();
            let Some(class) = by_name.get(tenant.spec.class.as_str()) else {
                return Err(SetError::MissingClass {
                    tenant: name,
                    class: tenant.spec.class.clone(),
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
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixtures::{default_class, named_tenant, trusted};
    use crate::render::Platform;

    fn render_with_defaults(tenants: &[TenantService]) -> Result<RenderedSet, SetError> {
        let platform = Platform::default();
        let ctx = RenderContext {
            platform: &platform,
            peers: &[],
            ca_certificate: None,
        };
        render_set(tenants, &[default_class("standard")], &trusted(), &ctx)
    }

    #[test]
    fn a_valid_set_renders_every_tenant_with_the_others_as_peers() {
        let region = named_tenant(
            "regione-puglia",
            json!({"entity": {"type": "Regione", "displayName": "Regione Puglia", "istatCode": null, "province": null, "ipaCode": "r_puglia"},
                   "network": {"egress": [], "allowFrom": [{"tenant": "comune-molfetta"}]},
                   "tls": {"hostnames": []}}),
        );
        let tenants = [named_tenant("comune-molfetta", json!({})), region];
        let rendered = render_with_defaults(&tenants).expect("renders");
        let names: Vec<&str> = rendered.tenants.iter().map(|r| r.tenant.as_str()).collect();
        assert_eq!(names, ["comune-molfetta", "regione-puglia"]);
        // Mutual consent: each tenant admits the other, which only a set render can know.
        for tenant in &rendered.tenants {
            assert!(
                tenant
                    .desired
                    .objects
                    .iter()
                    .any(|o| o.name() == crate::render::network::ALLOW_FROM_TENANTS),
                "{}",
                tenant.tenant
            );
        }
    }

    #[test]
    fn an_invalid_set_is_refused_with_every_problem() {
        let tenants = [
            named_tenant("comune-molfetta", json!({})),
            named_tenant("comune-molfetta", json!({"class": "gold"})),
        ];
        let Err(SetError::Invalid { problems }) = render_with_defaults(&tenants) else {
            panic!("the name is claimed twice and class gold does not exist")
        };
        let paths: Vec<&str> = problems
            .iter()
            .filter(|p| p.is_error())
            .map(|p| p.path.as_str())
            .collect();
        assert_eq!(paths, ["metadata.name", "spec.class", "metadata.name"]);
    }

    #[test]
    fn rendering_without_validation_still_names_a_missing_class() {
        let platform = Platform::default();
        let ctx = RenderContext {
            platform: &platform,
            peers: &[],
            ca_certificate: None,
        };
        let tenant = named_tenant("comune-molfetta", json!({}));
        assert_eq!(
            render_all(std::slice::from_ref(&tenant), &[], &ctx),
            Err(SetError::MissingClass {
                tenant: "comune-molfetta".into(),
                class: "standard".into()
            })
        );
    }
}
