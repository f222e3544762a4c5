//! The load step: what a tenant's reconcile reads besides the tenant itself, from the
//! controller's caches (no API request): its class, the peers it may clash or exchange
//! traffic with, and the domains delegated to its body.

use std::sync::Arc;

use kube::runtime::reflector::ObjectRef;

use super::context::Context;
use crate::api::{TenantClass, TenantService};

/// What a tenant refers to, as the caches hold it now.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The TenantClass named by `spec.class` — the version the tenant keeps while a change of
    /// the class waits for its turn ([`super::rollout`]); `None` if there is no such class.
    pub class: Option<Arc<TenantClass>>,
    /// The other tenants related to this one (see [`super::peers`]): those it names in
    /// `allowFrom`, that name it, or that share one of its claims.
    pub peers: Vec<TenantService>,
    /// The DNS domains delegated to the tenant's body (its IPA code), sorted.
    pub delegated: Vec<String>,
}

/// Reads the class, the related tenants and the delegated domains of `tenant` from the
/// caches.
pub fn load(tenant: &TenantService, ctx: &Context) -> Loaded {
    Loaded {
        class: ctx
            .rollout
            .class_for(tenant)
            .or_else(|| ctx.classes.get(&ObjectRef::new(&tenant.spec.class))),
        peers: ctx
            .peers
            .peers_of(tenant)
            .iter()
            .filter_map(|peer| ctx.tenants.get(&ObjectRef::new(peer)))
            .map(|peer| (*peer).clone())
            .collect(),
        delegated: ctx.delegations.domains_of(&tenant.spec.entity.ipa_code),
    }
}
