//! Authorization of every request, as kube-apiserver's `WithAuthorization`
//! filter with the `RBAC` authorizer behind the `system:masters` one:
//! the request's attributes come from its path alone
//! (`k8s.io/apiserver/pkg/endpoints/request/requestinfo.go`), members of
//! `system:masters` pass, everyone else needs an RBAC rule
//! ([`rbac::Policy::authorize`]), and a refusal is the upstream 403
//! (`handlers/responsewriters/errors.go` `Forbidden`).

use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::errors::ApiError;
use crate::http::Query;
use crate::identity::UserInfo;
use crate::store::State;

/// The RBAC API group.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The attributes kube-apiserver's `RequestInfoFactory` derives from a request:
/// `/api/v1/...` and `/apis/G/V/...` with at least a resource are resource
/// requests (`namespaces/NS/R/N/S`; for `namespaces/N[/status|finalize]` the
/// namespace is the object's name), everything else (discovery of a group or
/// version included) is a non-resource request on the path. A GET without a
/// name is `list` or `watch`, narrowed to one name by a
/// `metadata.name=` field selector; a DELETE without a name is `deletecollection`.
pub fn request_attributes(method: &str, path: &str, query: &Query) -> rbac::Attributes {
    let non_resource = || rbac::Attributes::non_resource(&method.to_lowercase(), path);
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let (group, rest) = match parts.as_slice() {
        ["api", rest @ ..] if rest.len() >= 2 => ("", rest),
        ["apis", group, rest @ ..] if rest.len() >= 2 => (*group, rest),
        _ => return non_resource(),
    };
    // rest = [version, ...]
    let mut parts = &rest[1..];
    let mut verb = match method {
        "POST" => "create",
        "GET" | "HEAD" => "get",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "",
    };
    if let ["watch", tail @ ..] = parts {
        verb = "watch";
        parts = tail;
    }
    let mut namespace = "";
    if let ["namespaces", ns, tail @ ..] = parts {
        namespace = ns;
        if !tail.is_empty() && !matches!(tail[0], "status" | "finalize") {
            parts = tail;
        }
    }
    let at = |i: usize| parts.get(i).copied().unwrap_or("");
    let mut attrs = rbac::Attributes::resource(verb, group, at(0))
        .in_namespace(namespace)
        .named(at(1))
        .subresource(at(2));
    if attrs.name.is_empty() && attrs.verb == "get" {
        attrs.verb = if query.flag("watch") == Some(true) {
            "watch".into()
        } else {
            "list".into()
        };
        if let Some(name) = query
            .get("fieldSelector")
            .and_then(exact_name)
            .filter(|n| valid_path_segment(n))
        {
            attrs.name = name.to_string();
        }
    }
    if attrs.name.is_empty() && attrs.verb == "delete" {
        attrs.verb = "deletecollection".into();
    }
    attrs
}

/// The name a field selector requires exactly (`metadata.name=x` or `==x`).
fn exact_name(selector: &str) -> Option<&str> {
    selector.split(',').find_map(|term| {
        let term = term.trim();
        term.strip_prefix("metadata.name==")
            .or_else(|| term.strip_prefix("metadata.name="))
    })
}

/// `path.IsValidPathSegmentName`: not `.` or `..`, no `/` or `%`.
pub fn valid_path_segment(name: &str) -> bool {
    name != "." && name != ".." && !name.contains('/') && !name.contains('%')
}

fn load<T: DeserializeOwned>(st: &State, plural: &str) -> Vec<T> {
    st.list_values(&(RBAC_GROUP.to_string(), plural.to_string()), None)
        .into_iter()
        .filter_map(|v| match T::deserialize(&*v) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(%plural, error = %e, "RBAC object not understood; ignored by the authorizer");
                None
            }
        })
        .collect()
}

/// The cluster's RBAC objects, rebuilt after an RBAC write and shared until the next.
pub fn policy(st: &mut State) -> Arc<rbac::Policy> {
    if let Some(p) = &st.rbac_policy {
        return p.clone();
    }
    let p = Arc::new(rbac::Policy::new(
        load(st, "roles"),
        load(st, "clusterroles"),
        load(st, "rolebindings"),
        load(st, "clusterrolebindings"),
    ));
    st.rbac_policy = Some(p.clone());
    p
}

/// What the authorizer chain answers for `user` and `attrs`: `system:masters`
/// is allowed everything (`authorizerfactory.NewPrivilegedGroups`), everyone
/// else whatever RBAC allows.
pub fn decide(policy: &rbac::Policy, user: &UserInfo, attrs: &rbac::Attributes) -> rbac::Decision {
    if user.is_master() {
        return rbac::Decision {
            allowed: true,
            reason: String::new(),
        };
    }
    policy.authorize(&user.rbac_user(), attrs)
}

/// The 403 for a refused request.
pub fn forbidden(user: &UserInfo, attrs: &rbac::Attributes, reason: &str) -> ApiError {
    let mut why = attrs.forbidden_message(&user.username);
    if !reason.is_empty() {
        why = format!("{why}: {reason}");
    }
    ApiError::forbidden_request(&attrs.api_group, &attrs.resource, &attrs.name, &why)
}

/// Ok when `user` may make the request `attrs`, else the upstream 403.
pub fn authorize(
    st: &mut State,
    user: &UserInfo,
    attrs: &rbac::Attributes,
) -> Result<(), ApiError> {
    if user.is_master() {
        return Ok(());
    }
    let d = decide(&policy(st), user, attrs);
    if d.allowed {
        Ok(())
    } else {
        Err(forbidden(user, attrs, &d.reason))
    }
}

/// The rules that apply to `user` in `namespace`, as the authorizer chain
/// lists them (`RulesFor`): `system:masters` first holds `*` on everything.
pub fn rules_for(policy: &rbac::Policy, user: &UserInfo, namespace: &str) -> rbac::ResolvedRules {
    let mut resolved = policy.rules_for(&user.rbac_user(), namespace);
    if user.is_master() {
        resolved.rules.splice(0..0, rbac::full_authority());
    }
    resolved
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: &str, path: &str, query: &str) -> rbac::Attributes {
        let q = Query::parse(Some(query));
        request_attributes(method, path, &q)
    }

    #[test]
    fn resource_paths_become_resource_attributes() {
        let a = attrs("GET", "/api/v1/namespaces/demo/pods/p/log", "");
        assert_eq!(
            a,
            rbac::Attributes::resource("get", "", "pods")
                .in_namespace("demo")
                .named("p")
                .subresource("log")
        );
        let a = attrs(
            "POST",
            "/apis/networking.k8s.io/v1/namespaces/y/networkpolicies",
            "",
        );
        assert_eq!(
            a,
            rbac::Attributes::resource("create", "networking.k8s.io", "networkpolicies")
                .in_namespace("y")
        );
        assert_eq!(attrs("GET", "/apis/apps/v1/deployments", "").verb, "list");
        assert_eq!(
            attrs("GET", "/apis/apps/v1/deployments", "watch=1").verb,
            "watch"
        );
        assert_eq!(
            attrs("DELETE", "/api/v1/namespaces/a/configmaps", "").verb,
            "deletecollection"
        );
        let one = attrs(
            "GET",
            "/api/v1/namespaces/a/configmaps",
            "watch=true&fieldSelector=metadata.name%3Dc",
        );
        assert_eq!((one.verb.as_str(), one.name.as_str()), ("watch", "c"));
    }

    #[test]
    fn a_namespace_is_its_own_namespace() {
        let a = attrs("GET", "/api/v1/namespaces/demo", "");
        assert_eq!(
            a,
            rbac::Attributes::resource("get", "", "namespaces")
                .in_namespace("demo")
                .named("demo")
        );
        let a = attrs("PUT", "/api/v1/namespaces/demo/status", "");
        assert_eq!(
            a,
            rbac::Attributes::resource("update", "", "namespaces")
                .in_namespace("demo")
                .named("demo")
                .subresource("status")
        );
        assert_eq!(
            attrs("GET", "/api/v1/namespaces", ""),
            rbac::Attributes::resource("list", "", "namespaces")
        );
    }

    #[test]
    fn discovery_and_other_paths_are_non_resource() {
        for p in [
            "/api",
            "/api/v1",
            "/apis",
            "/apis/apps",
            "/apis/apps/v1",
            "/version",
            "/openapi/v3/apis/apps/v1",
        ] {
            assert_eq!(
                attrs("GET", p, ""),
                rbac::Attributes::non_resource("get", p),
                "{p}"
            );
        }
    }

    #[test]
    fn refusals_are_worded_as_upstream() {
        let alice = UserInfo::new("alice", &[]);
        let e = forbidden(
            &alice,
            &attrs(
                "POST",
                "/apis/networking.k8s.io/v1/namespaces/y/networkpolicies",
                "",
            ),
            "",
        );
        assert_eq!(
            e.message,
            r#"networkpolicies.networking.k8s.io is forbidden: User "alice" cannot create resource "networkpolicies" in API group "networking.k8s.io" in the namespace "y""#
        );
        let e = forbidden(
            &alice,
            &attrs("GET", "/api/v1/namespaces/a/pods/p/log", ""),
            "",
        );
        assert_eq!(
            e.message,
            r#"pods "p" is forbidden: User "alice" cannot get resource "pods/log" in API group "" in the namespace "a""#
        );
        let e = forbidden(&UserInfo::anonymous(), &attrs("GET", "/api", ""), "");
        assert_eq!(
            e.message,
            r#"forbidden: User "system:anonymous" cannot get path "/api""#
        );
        assert_eq!(e.code, 403);
    }
}
