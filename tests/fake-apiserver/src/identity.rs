//! Who sent a request: kube-apiserver's `user.Info`, after authentication and
//! impersonation. Authorization (RBAC) and admission (policies, Pod Security,
//! quota) read it from here.

use std::collections::BTreeMap;

use serde::Serialize;

/// The group every authenticated request carries.
pub const AUTHENTICATED: &str = "system:authenticated";
/// The group of requests without credentials.
pub const UNAUTHENTICATED: &str = "system:unauthenticated";
/// The user of requests without credentials.
pub const ANONYMOUS: &str = "system:anonymous";
/// The group that bypasses authorization (kube-apiserver's `system:masters`).
pub const MASTERS: &str = rbac::SYSTEM_MASTERS;

/// An authenticated user, as authorization and admission see it
/// (`authentication.k8s.io/v1` `UserInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    /// User name, e.g. `admin` or `system:serviceaccount:NS:NAME`.
    pub username: String,
    /// UID of the user, empty when unknown.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Groups, `system:authenticated` included.
    pub groups: Vec<String>,
    /// Extra attributes (impersonated with `Impersonate-Extra-*`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// The cluster administrator of the kubeconfig the server writes: user
    /// `admin` in `system:masters`.
    pub fn admin() -> Self {
        Self {
            username: "admin".into(),
            uid: String::new(),
            groups: vec![MASTERS.into(), AUTHENTICATED.into()],
            extra: BTreeMap::new(),
        }
    }

    /// A user authenticated as `username` in `groups` (`system:authenticated`
    /// is added, as every authenticator does).
    pub fn new(username: &str, groups: &[&str]) -> Self {
        let mut groups: Vec<String> = groups
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
        if !groups.iter().any(|g| g == AUTHENTICATED) {
            groups.push(AUTHENTICATED.into());
        }
        Self {
            username: username.into(),
            uid: String::new(),
            groups,
            extra: BTreeMap::new(),
        }
    }

    /// A request without credentials (kube-apiserver's anonymous authenticator).
    pub fn anonymous() -> Self {
        Self {
            username: ANONYMOUS.into(),
            uid: String::new(),
            groups: vec![UNAUTHENTICATED.into()],
            extra: BTreeMap::new(),
        }
    }

    /// The server's own identity for writes its internal controllers make
    /// (namespace lifecycle, garbage collection, bootstrap).
    pub fn apiserver() -> Self {
        Self {
            username: "system:apiserver".into(),
            uid: String::new(),
            groups: vec![MASTERS.into(), AUTHENTICATED.into()],
            extra: BTreeMap::new(),
        }
    }

    /// A ServiceAccount as the token authenticator presents it: user
    /// `system:serviceaccount:NS:NAME` in `system:serviceaccounts`,
    /// `system:serviceaccounts:NS` and `system:authenticated`.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Self {
            username: format!("system:serviceaccount:{namespace}:{name}"),
            uid: String::new(),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                AUTHENTICATED.into(),
            ],
            extra: BTreeMap::new(),
        }
    }

    /// Whether the user is in `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// Whether authorization and the RBAC escalation checks let the user
    /// through unasked (`system:masters`).
    pub fn is_master(&self) -> bool {
        self.in_group(MASTERS)
    }

    /// The user as the RBAC rules see it.
    pub fn rbac_user(&self) -> rbac::User {
        rbac::User {
            name: self.username.clone(),
            groups: self.groups.clone(),
        }
    }
}
