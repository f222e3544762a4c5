//! What a request asks for, as the authorizer sees it (`authorizer.Attributes`
//! built by `k8s.io/apiserver/pkg/endpoints/request.RequestInfoFactory`).

/// One request to authorize: a verb on a resource (namespaced or not, optionally
/// one object and a subresource) or on a non-resource URL path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attributes {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`, or a special verb (`impersonate`, `bind`, `escalate`);
    /// for a non-resource request the lower-cased HTTP method.
    pub verb: String,
    /// True for a resource request, false for a non-resource URL.
    pub resource_request: bool,
    /// Namespace, empty for cluster-scoped resources and requests across all namespaces.
    pub namespace: String,
    /// API group, empty for the core group.
    pub api_group: String,
    /// Resource (plural), e.g. `pods`.
    pub resource: String,
    /// Subresource, e.g. `log` or `status`; empty for the object itself.
    pub subresource: String,
    /// Object name, empty for collection requests (list, create, ...).
    pub name: String,
    /// URL path of a non-resource request, e.g. `/healthz`.
    pub path: String,
}

impl Attributes {
    /// A resource request: `verb` on `resource` in `api_group` (cluster scope, every
    /// name); narrow it with [`Attributes::in_namespace`], [`Attributes::named`] and
    /// [`Attributes::subresource`].
    pub fn resource(verb: &str, api_group: &str, resource: &str) -> Self {
        Attributes {
            verb: verb.into(),
            resource_request: true,
            api_group: api_group.into(),
            resource: resource.into(),
            ..Default::default()
        }
    }

    /// A non-resource request: `verb` on the URL `path`.
    pub fn non_resource(verb: &str, path: &str) -> Self {
        Attributes {
            verb: verb.into(),
            resource_request: false,
            path: path.into(),
            ..Default::default()
        }
    }

    /// The same request in `namespace`.
    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The same request on the object `name`.
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    /// The same request on `subresource`.
    pub fn subresource(mut self, subresource: &str) -> Self {
        self.subresource = subresource.into();
        self
    }

    /// The resource as rules name it: `pods` or `pods/log`.
    pub fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }

    /// kube-apiserver's refusal text for this request by `user`
    /// (`k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go`
    /// `forbiddenMessage`), e.g. `User "x" cannot create resource "networkpolicies"
    /// in API group "networking.k8s.io" in the namespace "y"`.
    pub fn forbidden_message(&self, user: &str) -> String {
        if !self.resource_request {
            return format!("User {user:?} cannot {} path {:?}", self.verb, self.path);
        }
        let resource = self.combined_resource();
        if self.namespace.is_empty() {
            format!(
                "User {user:?} cannot {} resource {resource:?} in API group {:?} at the cluster scope",
                self.verb, self.api_group
            )
        } else {
            format!(
                "User {user:?} cannot {} resource {resource:?} in API group {:?} in the namespace {:?}",
                self.verb, self.api_group, self.namespace
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_messages_are_worded_as_upstream() {
        let a = Attributes::resource("create", "networking.k8s.io", "networkpolicies")
            .in_namespace("y");
        assert_eq!(
            a.forbidden_message("x"),
            r#"User "x" cannot create resource "networkpolicies" in API group "networking.k8s.io" in the namespace "y""#
        );
        let a = Attributes::resource("get", "", "namespaces")
            .named("y")
            .subresource("status");
        assert_eq!(
            a.forbidden_message("x"),
            r#"User "x" cannot get resource "namespaces/status" in API group "" at the cluster scope"#
        );
        assert_eq!(
            Attributes::non_resource("get", "/metrics").forbidden_message("system:anonymous"),
            r#"User "system:anonymous" cannot get path "/metrics""#
        );
    }
}
