//! kube-controller-manager's `clusterrole-aggregation` controller: after a
//! ClusterRole changes, every ClusterRole with an `aggregationRule` gets as
//! `rules` the union of the rules of the ClusterRoles its selectors match
//! ([`rbac::aggregate`]). It runs in the server's background loop, so, as in
//! a real cluster, a new `aggregate-to-*` role shows in `admin`/`edit`/`view`
//! shortly after it is written, not in the same request.

use serde_json::json;

use crate::authz::RBAC_GROUP;
use crate::clock::Clock;
use crate::identity::UserInfo;
use crate::ops;
use crate::store::State;

/// The controller's field manager.
const MANAGER: &str = "clusterrole-aggregation-controller";

/// Recomputes aggregated ClusterRoles if a ClusterRole changed since the last
/// run, until nothing changes: an aggregated role may itself be aggregated
/// (`view` into `edit` into `admin`), so one pass is not always enough.
pub fn sync(st: &mut State, clock: &Clock) {
    // Called after every burst of writes: most change no ClusterRole.
    if !st.aggregation_pending {
        return;
    }
    // Each pass that changes something completes at least one more level of nesting.
    let bound = st
        .list(&(RBAC_GROUP.to_string(), "clusterroles".to_string()), None)
        .len()
        + 1;
    for _ in 0..bound {
        if !std::mem::take(&mut st.aggregation_pending) {
            return;
        }
        sync_once(st, clock);
    }
}

fn sync_once(st: &mut State, clock: &Clock) {
    let Some(info) = st.registry.get(RBAC_GROUP, "clusterroles") else {
        return;
    };
    let roles: Vec<rbac::ClusterRole> = st
        .list_values(&info.key(), None)
        .iter()
        .filter_map(|v| serde_json::from_value((**v).clone()).ok())
        .collect();
    for role in &roles {
        let Some(rules) = rbac::aggregate(role, &roles) else {
            continue;
        };
        if role.rules.as_ref().unwrap_or(&Vec::new()) == &rules {
            continue;
        }
        let name = role.metadata.name.clone().unwrap_or_default();
        let rules = json!(rules);
        // Kept as the server's own identity: the controller's ServiceAccount would need
        // the `escalate` grant kube-controller-manager's bootstrap policy gives it.
        let apiserver = UserInfo::apiserver();
        let req = ops::controller_write(&info, "", MANAGER, &apiserver);
        if let Err(e) = ops::internal_update(st, clock, &req, &name, |o| {
            o["rules"] = rules;
        }) {
            tracing::warn!(%name, error = %e, "could not update an aggregated ClusterRole");
        }
    }
}
