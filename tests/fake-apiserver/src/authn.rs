//! Who sends a request: bearer tokens with kube-apiserver's static-token
//! semantics (`--token-auth-file`: a token names a user, its uid and groups;
//! `system:authenticated` is added), anonymous requests without credentials
//! (`system:anonymous` in `system:unauthenticated`), an unknown token refused
//! with 401, and then impersonation as
//! `k8s.io/apiserver/pkg/endpoints/filters/impersonation.go` does it.

use std::collections::{BTreeMap, HashMap};

use axum::http::HeaderMap;

use crate::errors::ApiError;
use crate::identity::{ANONYMOUS, AUTHENTICATED, UNAUTHENTICATED, UserInfo};

/// The impersonation headers `kubectl --as`, `--as-group`, `--as-uid` and
/// `--as-user-extra` send.
pub const IMPERSONATE_USER: &str = "impersonate-user";
/// Repeated once per group.
pub const IMPERSONATE_GROUP: &str = "impersonate-group";
/// The uid to act as.
pub const IMPERSONATE_UID: &str = "impersonate-uid";
/// Prefix of `Impersonate-Extra-<key>` (key lower-cased and %-decoded).
pub const IMPERSONATE_EXTRA_PREFIX: &str = "impersonate-extra-";

/// A static token and the user it authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticToken {
    /// The bearer token.
    pub token: String,
    /// The user (`system:authenticated` is added when missing).
    pub user: UserInfo,
}

impl StaticToken {
    /// A token for `username` in `groups`.
    pub fn new(token: &str, username: &str, groups: &[&str]) -> Self {
        StaticToken {
            token: token.into(),
            user: UserInfo::new(username, groups),
        }
    }

    /// Parses kube-apiserver's token file: one `token,user,uid[,"group1,group2"]`
    /// line per token; blank lines and `#` comments are skipped. Err names the line.
    pub fn parse_file(text: &str) -> Result<Vec<StaticToken>, String> {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields = split_csv(line);
            let [token, user, uid, rest @ ..] = fields.as_slice() else {
                return Err(format!(
                    "line {}: want token,user,uid[,\"group1,group2\"], got {} field(s)",
                    i + 1,
                    fields.len()
                ));
            };
            if token.is_empty() || user.is_empty() {
                return Err(format!(
                    "line {}: the token and the user must not be empty",
                    i + 1
                ));
            }
            let groups: Vec<&str> = rest
                .first()
                .map(|g| {
                    g.split(',')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            let mut t = StaticToken::new(token, user, &groups);
            t.user.uid.clone_from(uid);
            out.push(t);
        }
        Ok(out)
    }
}

/// Splits a CSV line with double-quoted fields.
fn split_csv(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(String::new()),
            c => {
                if let Some(f) = fields.last_mut() {
                    f.push(c);
                }
            }
        }
    }
    fields.into_iter().map(|f| f.trim().to_string()).collect()
}

/// The bearer-token authenticator.
#[derive(Debug, Clone, Default)]
pub struct Authenticator {
    tokens: HashMap<String, UserInfo>,
}

impl Authenticator {
    /// An authenticator for `tokens`.
    pub fn new(tokens: &[StaticToken]) -> Self {
        let tokens = tokens
            .iter()
            .map(|t| {
                let mut user = t.user.clone();
                if !user.in_group(AUTHENTICATED) {
                    user.groups.push(AUTHENTICATED.into());
                }
                (t.token.clone(), user)
            })
            .collect();
        Authenticator { tokens }
    }

    /// The user of a request: its bearer token's, anonymous without an
    /// `Authorization` header, 401 for a token nobody has.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<UserInfo, ApiError> {
        let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
            return Ok(UserInfo::anonymous());
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(ApiError::unauthorized)?;
        self.tokens
            .get(token)
            .cloned()
            .ok_or_else(ApiError::unauthorized)
    }
}

/// One thing a request asks to act as, with the check it needs: the
/// `impersonate` verb on users, groups, serviceaccounts (core group) or on
/// uids and `userextras/<key>` (authentication.k8s.io).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Impersonation {
    /// `Impersonate-User` naming a user.
    User(String),
    /// `Impersonate-User: system:serviceaccount:NS:NAME`.
    ServiceAccount {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// One `Impersonate-Group`.
    Group(String),
    /// `Impersonate-Uid`.
    Uid(String),
    /// One value of `Impersonate-Extra-<key>`.
    Extra {
        /// Lower-cased, %-decoded key.
        key: String,
        /// Value.
        value: String,
    },
}

impl Impersonation {
    /// The request to authorize before acting as this.
    pub fn attributes(&self) -> rbac::Attributes {
        let imp = |group: &str, resource: &str| {
            rbac::Attributes::resource("impersonate", group, resource)
        };
        match self {
            Impersonation::User(u) => imp("", "users").named(u),
            Impersonation::ServiceAccount { namespace, name } => imp("", "serviceaccounts")
                .in_namespace(namespace)
                .named(name),
            Impersonation::Group(g) => imp("", "groups").named(g),
            Impersonation::Uid(u) => imp("authentication.k8s.io", "uids").named(u),
            Impersonation::Extra { key, value } => imp("authentication.k8s.io", "userextras")
                .subresource(key)
                .named(value),
        }
    }
}

fn header_values<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = &'a str> {
    headers.get_all(name).iter().filter_map(|v| v.to_str().ok())
}

/// `%XX` decoding of an extra key (`url.PathUnescape`); malformed keys are kept as sent.
fn unescape_key(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = key
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                None => return key.to_string(),
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| key.to_string())
}

/// What the headers ask to impersonate (`buildImpersonationRequests`); empty
/// when nothing. Groups, uid or extras without a user are an error.
pub fn requested(headers: &HeaderMap) -> Result<Vec<Impersonation>, ApiError> {
    let mut out = Vec::new();
    let user = header_values(headers, IMPERSONATE_USER)
        .next()
        .filter(|u| !u.is_empty());
    if let Some(u) = user {
        out.push(match rbac::split_service_account(u) {
            Some((namespace, name)) => Impersonation::ServiceAccount {
                namespace: namespace.into(),
                name: name.into(),
            },
            None => Impersonation::User(u.into()),
        });
    }
    out.extend(header_values(headers, IMPERSONATE_GROUP).map(|g| Impersonation::Group(g.into())));
    let mut extras: Vec<Impersonation> = Vec::new();
    for (name, value) in headers {
        if let Some(key) = name.as_str().strip_prefix(IMPERSONATE_EXTRA_PREFIX)
            && let Ok(v) = value.to_str()
        {
            extras.push(Impersonation::Extra {
                key: unescape_key(key),
                value: v.into(),
            });
        }
    }
    out.extend(extras);
    if let Some(uid) = header_values(headers, IMPERSONATE_UID)
        .next()
        .filter(|u| !u.is_empty())
    {
        out.push(Impersonation::Uid(uid.into()));
    }
    if user.is_none() && !out.is_empty() {
        return Err(ApiError::internal(format!(
            "requested {out:?} without impersonating a user"
        )));
    }
    Ok(out)
}

/// The user that `requests` make, once each was authorized: the named user or
/// ServiceAccount (whose groups are `system:serviceaccounts` and
/// `system:serviceaccounts:NS` unless groups are given), the groups asked
/// for, and `system:authenticated` added unless `system:authenticated` or
/// `system:unauthenticated` is already there (`system:unauthenticated` for
/// `system:anonymous`).
pub fn acting_as(requests: &[Impersonation]) -> UserInfo {
    let groups_specified = requests
        .iter()
        .any(|r| matches!(r, Impersonation::Group(_)));
    let mut user = UserInfo {
        username: String::new(),
        uid: String::new(),
        groups: Vec::new(),
        extra: BTreeMap::new(),
    };
    for r in requests {
        match r {
            Impersonation::User(u) => user.username.clone_from(u),
            Impersonation::ServiceAccount { namespace, name } => {
                user.username = rbac::service_account_username(namespace, name);
                if !groups_specified {
                    user.groups = rbac::service_account_groups(namespace).to_vec();
                }
            }
            Impersonation::Group(g) => user.groups.push(g.clone()),
            Impersonation::Uid(u) => user.uid.clone_from(u),
            Impersonation::Extra { key, value } => user
                .extra
                .entry(key.clone())
                .or_default()
                .push(value.clone()),
        }
    }
    if user.username != ANONYMOUS {
        if !user.in_group(AUTHENTICATED) && !user.in_group(UNAUTHENTICATED) {
            user.groups.push(AUTHENTICATED.into());
        }
    } else if !user.in_group(UNAUTHENTICATED) {
        user.groups.push(UNAUTHENTICATED.into());
    }
    user
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn tokens_authenticate_and_anonymous_is_the_default() {
        let a = Authenticator::new(&[StaticToken::new("t1", "alice", &["devs"])]);
        let alice = a
            .authenticate(&headers(&[("authorization", "Bearer t1")]))
            .unwrap();
        assert_eq!(alice.username, "alice");
        assert_eq!(alice.groups, ["devs", "system:authenticated"]);
        assert_eq!(
            a.authenticate(&headers(&[])).unwrap(),
            UserInfo::anonymous()
        );
        assert_eq!(
            a.authenticate(&headers(&[("authorization", "Bearer nope")]))
                .unwrap_err()
                .code,
            401
        );
        assert_eq!(
            a.authenticate(&headers(&[("authorization", "Basic eDp5")]))
                .unwrap_err()
                .code,
            401
        );
    }

    #[test]
    fn token_files_follow_the_apiserver_format() {
        let t = StaticToken::parse_file("# comment\n\ntok,bob,42,\"a,b\"\nt2,carol,7\n").unwrap();
        assert_eq!(t[0].user.username, "bob");
        assert_eq!(t[0].user.uid, "42");
        assert_eq!(t[0].user.groups, ["a", "b", "system:authenticated"]);
        assert_eq!(t[1].user.groups, ["system:authenticated"]);
        let e = StaticToken::parse_file("only,two\n").unwrap_err();
        assert!(e.starts_with("line 1:"), "{e}");
    }

    #[test]
    fn impersonating_a_user_adds_authenticated() {
        let r = requested(&headers(&[
            ("impersonate-user", "bob"),
            ("impersonate-group", "devs"),
        ]))
        .unwrap();
        assert_eq!(
            r,
            vec![
                Impersonation::User("bob".into()),
                Impersonation::Group("devs".into())
            ]
        );
        let u = acting_as(&r);
        assert_eq!(
            (u.username.as_str(), u.groups.clone()),
            (
                "bob",
                vec!["devs".to_string(), "system:authenticated".into()]
            )
        );
        assert_eq!(
            r[0].attributes(),
            rbac::Attributes::resource("impersonate", "", "users").named("bob")
        );
        assert_eq!(
            r[1].attributes(),
            rbac::Attributes::resource("impersonate", "", "groups").named("devs")
        );
    }

    #[test]
    fn impersonating_a_service_account_gives_its_groups() {
        let r = requested(&headers(&[(
            "impersonate-user",
            "system:serviceaccount:ns:bot",
        )]))
        .unwrap();
        let u = acting_as(&r);
        assert_eq!(u.username, "system:serviceaccount:ns:bot");
        assert_eq!(
            u.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:ns",
                "system:authenticated"
            ]
        );
        assert_eq!(
            r[0].attributes(),
            rbac::Attributes::resource("impersonate", "", "serviceaccounts")
                .in_namespace("ns")
                .named("bot")
        );
        // Groups given explicitly replace the ServiceAccount groups.
        let r = requested(&headers(&[
            ("impersonate-user", "system:serviceaccount:ns:bot"),
            ("impersonate-group", "g"),
        ]))
        .unwrap();
        assert_eq!(acting_as(&r).groups, ["g", "system:authenticated"]);
    }

    #[test]
    fn extras_uids_and_anonymous() {
        let r = requested(&headers(&[
            ("impersonate-user", "system:anonymous"),
            ("impersonate-extra-scopes%2Fa", "x"),
            ("impersonate-uid", "u-1"),
        ]))
        .unwrap();
        let u = acting_as(&r);
        assert_eq!(u.groups, ["system:unauthenticated"]);
        assert_eq!(u.uid, "u-1");
        assert_eq!(u.extra["scopes/a"], ["x"]);
        assert_eq!(
            r[1].attributes(),
            rbac::Attributes::resource("impersonate", "authentication.k8s.io", "userextras")
                .subresource("scopes/a")
                .named("x")
        );
        let e = requested(&headers(&[("impersonate-group", "g")])).unwrap_err();
        assert_eq!(e.code, 500);
        assert!(
            e.message.contains("without impersonating a user"),
            "{}",
            e.message
        );
        assert!(requested(&headers(&[])).unwrap().is_empty());
    }
}
