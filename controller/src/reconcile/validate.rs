//! The validate step: the rules of `tenant-operator validate`, on the tenant with its class,
//! its peers, the reserved namespaces and the domains delegated to its body. Pure. A tenant with an error becomes [`Error::InvalidSpec`], which the
//! error policy treats as permanent: nothing is created until something changes.

use std::sync::Arc;

use kube::ResourceExt;

use super::error::Error;
use super::load::Loaded;
use crate::api::validation::{self, Problem, ReservedNamespaces};
use crate::api::{TenantClass, TenantService};
use crate::render::{Platform, RenderContext};

/// A tenant's inputs that passed validation: render may use them.
#[derive(Clone, Debug)]
pub struct Valid {
    /// The tenant's class.
    pub class: Arc<TenantClass>,
    /// The related tenants.
    pub peers: Vec<TenantService>,
}

impl Valid {
    /// What render needs besides the tenant and its class.
    pub fn render_context<'a>(
        &'a self,
        platform: &'a Platform,
        ca_certificate: &'a str,
    ) -> RenderContext<'a> {
        RenderContext {
            platform,
            peers: &self.peers,
            // Empty while no CA is known (none loaded, none recorded): the bundle stays as
            // the controller last wrote it.
            ca_certificate: Some(ca_certificate).filter(|pem| !pem.is_empty()),
        }
    }
}

/// Checks `tenant` with what was loaded for it and the namespaces the platform reserves.
/// Warnings do not stop it; they are for the pull-request pipeline, where `validate` prints
/// them.
pub fn validate(
    tenant: &TenantService,
    loaded: Loaded,
    reserved: &ReservedNamespaces,
) -> Result<Valid, Error> {
    let mut problems = validation::validate_tenant(tenant, loaded.class.as_deref());
    problems.extend(validation::validate_trusted(
        tenant,
        reserved,
        &loaded.delegated,
    ));
    problems.extend(validation::validate_against_peers(tenant, &loaded.peers));
    problems.retain(Problem::is_error);
    match loaded.class {
        // A missing class is itself an error of validate_tenant (on `spec.class`).
        Some(class) if problems.is_empty() => Ok(Valid {
            class,
            peers: loaded.peers,
        }),
        _ => Err(Error::InvalidSpec {
            tenant: tenant.name_any(),
            problems,
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixtures::{default_class, named_tenant, tenant, trusted};

    /// What the caches would hold for the fixture tenant: its class, its peers and the
    /// delegation of Molfetta's domain.
    fn loaded(class: Option<TenantClass>, peers: Vec<TenantService>) -> Loaded {
        Loaded {
            class: class.map(Arc::new),
            peers,
            delegated: vec!["comune.molfetta.ba.it".to_string()],
        }
    }

    fn validate(tenant: &TenantService, loaded: Loaded) -> Result<Valid, Error> {
        super::validate(tenant, loaded, &trusted().reserved)
    }

    #[test]
    fn reserved_namespaces_and_undelegated_hostnames_are_permanent_invalid_specs() {
        let t = tenant(json!({"environments": [{"name": "prod"}]}));
        let mut undelegated = loaded(Some(default_class("standard")), vec![]);
        undelegated.delegated = vec!["comune.bari.it".to_string()];
        let Err(error) = validate(&t, undelegated) else {
            panic!("servizi.comune.molfetta.ba.it is not delegated to Molfetta here")
        };
        assert!(error.is_permanent());
        assert!(
            error.to_string().contains("spec.tls.hostnames[0]: \"servizi.comune.molfetta.ba.it\" is not inside the DNS domains delegated to \"c_f284\" (comune.bari.it)"),
            "{error}"
        );
        // `tenant` + `operator` would be the operator's own namespace.
        let takeover = named_tenant("tenant", json!({"environments": [{"name": "operator"}]}));
        let Err(error) = validate(&takeover, loaded(Some(default_class("standard")), vec![]))
        else {
            panic!("tenant-operator is the operator's namespace")
        };
        assert!(error.is_permanent());
        assert!(
            error
                .to_string()
                .contains("spec.environments[0].name: namespace \"tenant-operator\" is reserved"),
            "{error}"
        );
    }

    #[test]
    fn a_valid_tenant_passes_with_its_class_and_peers() {
        // Another tenant with other namespaces and hostnames.
        let peer = named_tenant("comune-bari", json!({"tls": {"hostnames": []}}));
        let valid = validate(
            &tenant(json!({})),
            loaded(Some(default_class("standard")), vec![peer]),
        )
        .expect("the fixture tenant is valid");
        assert_eq!(valid.class.metadata.name.as_deref(), Some("standard"));
        assert_eq!(valid.peers.len(), 1);
    }

    #[test]
    fn warnings_do_not_stop_a_tenant() {
        let t = tenant(json!({"entity": {"displayName": "Comune di Bari"}}));
        assert!(
            !validation::validate_tenant(&t, Some(&default_class("standard"))).is_empty(),
            "the display name differs from ISTAT's: a warning"
        );
        assert!(validate(&t, loaded(Some(default_class("standard")), vec![])).is_ok());
    }

    #[test]
    fn a_missing_class_is_a_permanent_invalid_spec_naming_the_field() {
        let Err(error) = validate(&tenant(json!({"class": "gold"})), loaded(None, vec![])) else {
            panic!("class gold does not exist")
        };
        assert!(matches!(&error, Error::InvalidSpec { problems, .. } if problems.len() == 1));
        assert_eq!(error.category(), "InvalidSpec");
        assert_eq!(error.action(), "Validate");
        assert!(error.is_permanent());
        assert!(
            error
                .to_string()
                .contains("spec.class: TenantClass \"gold\" does not exist"),
            "{error}"
        );
    }

    #[test]
    fn a_clash_with_a_peer_is_an_invalid_spec_and_only_errors_are_listed() {
        // Same namespace `comune-molfetta-prod`, and a display name that differs from
        // ISTAT's (a warning, not listed).
        let t = tenant(json!({"entity": {"displayName": "Comune di Bari"}}));
        let twin = tenant(json!({}));
        let Err(Error::InvalidSpec { problems, .. }) =
            validate(&t, loaded(Some(default_class("standard")), vec![twin]))
        else {
            panic!("two tenants claim the same name and namespaces")
        };
        assert!(!problems.is_empty());
        assert!(problems.iter().all(Problem::is_error), "{problems:?}");
    }
}
