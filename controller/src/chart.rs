//! The Helm chart's access control without `helm`: the Roles, ClusterRoles and bindings of
//! `charts/tenant-operator/templates/`, rendered from the template files themselves
//! (embedded at build time) with the chart's `values.yaml`, and the admission policies as
//! the chart installs them, so that `tenant-operator dev` and the integration tests run the
//! operator under exactly the rights and policies the chart gives, on a machine without
//! `helm`.
//!
//! The renderer understands only the few template actions these files use (listed in
//! [`SUPPORTED_ACTIONS`]); any other action is an error naming the file and line, so a
//! template that grows a construct this renderer does not know stops `dev` and the tests
//! instead of being rendered wrongly. `controller/tests/chart_files.rs` compares the result
//! with `helm template` where `helm` is installed (CI), objects for objects.
//!
//! The chart's common labels (`include "tenant-operator.labels"`) are left out: they are
//! Helm's bookkeeping, and no RBAC decision reads them.

use serde_json::Value;

/// The chart templates that hold RBAC objects, as (path, text). The auditor's and the
/// delegation writers' ClusterRoleBindings (`auditor-clusterrolebinding.yaml`,
/// `delegation-writer-clusterrolebinding.yaml`) are not here: they exist only when
/// `auditor.groups` / `datacenterOperators.groups` are set, and the chart's defaults leave
/// them empty.
pub const RBAC_TEMPLATES: &[(&str, &str)] = &[
    (
        "charts/tenant-operator/templates/operator-clusterrole.yaml",
        include_str!("../../charts/tenant-operator/templates/operator-clusterrole.yaml"),
    ),
    (
        "charts/tenant-operator/templates/operator-role.yaml",
        include_str!("../../charts/tenant-operator/templates/operator-role.yaml"),
    ),
    (
        "charts/tenant-operator/templates/tenant-clusterroles.yaml",
        include_str!("../../charts/tenant-operator/templates/tenant-clusterroles.yaml"),
    ),
    (
        "charts/tenant-operator/templates/auditor-clusterrole.yaml",
        include_str!("../../charts/tenant-operator/templates/auditor-clusterrole.yaml"),
    ),
    (
        "charts/tenant-operator/templates/delegation-writer-clusterrole.yaml",
        include_str!("../../charts/tenant-operator/templates/delegation-writer-clusterrole.yaml"),
    ),
];

/// The chart's default values.
const VALUES: (&str, &str) = (
    "charts/tenant-operator/values.yaml",
    include_str!("../../charts/tenant-operator/values.yaml"),
);

/// What the renderer accepts inside `{{ }}`, for the error message.
pub const SUPPORTED_ACTIONS: &str = "comments, `.Release.Name`, `.Release.Namespace`, \
    `.Values.<path>` (a string), `include \"tenant-operator.fullname\" .` and \
    `include \"tenant-operator.labels\" . | nindent N`";

/// The release the chart is rendered for (`helm template NAME --namespace NAMESPACE`).
#[derive(Debug, Clone, Copy)]
pub struct Release<'a> {
    /// The release name (`.Release.Name`).
    pub name: &'a str,
    /// The namespace the release installs into (`.Release.Namespace`).
    pub namespace: &'a str,
}

impl Release<'_> {
    /// The release `tenant-operator` in namespace `tenant-operator`, as the README installs
    /// it and as `dev` runs.
    pub const DEFAULT: Release<'static> = Release {
        name: "tenant-operator",
        namespace: "tenant-operator",
    };
}

/// A template or values file this renderer cannot render.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error(
        "{file}:{line}: template action `{action}` is not supported by the built-in renderer (it renders {SUPPORTED_ACTIONS}); render the chart with `helm template` or keep the RBAC templates within these"
    )]
    /// An action outside [`SUPPORTED_ACTIONS`].
    UnsupportedAction {
        /// The template.
        file: String,
        /// Line of the action, from 1.
        line: usize,
        /// The action, without braces.
        action: String,
    },
    #[error("{file}:{line}: `{{{{` without a closing `}}}}`")]
    /// An action that never closes.
    Unterminated {
        /// The template.
        file: String,
        /// Line of the `{{`, from 1.
        line: usize,
    },
    #[error("{file}:{line}: `{path}` is not a string in {values}", values = VALUES.0)]
    /// A `.Values` path that names no string.
    MissingValue {
        /// The template (or the values file).
        file: String,
        /// Line of the action, from 1 (0 when no template asked).
        line: usize,
        /// The value's path, as written in the action.
        path: String,
    },
    /// Rendered text, or a policy file, that does not parse.
    #[error("{file}: not valid YAML once rendered: {message}")]
    Yaml {
        /// The template or values file.
        file: String,
        /// The parser's message.
        message: String,
    },
}

/// Every RBAC object of the chart for `release` with the default values, in template
/// order, as JSON ready to apply.
pub fn rbac_objects(release: Release<'_>) -> Result<Vec<Value>, ChartError> {
    let values = values()?;
    let mut objects = Vec::new();
    for (file, template) in RBAC_TEMPLATES {
        let text = render(file, template, release, &values)?;
        let documents: Vec<Value> =
            serde_saphyr::from_str_multiple(&text).map_err(|e| ChartError::Yaml {
                file: (*file).to_string(),
                message: e.to_string(),
            })?;
        objects.extend(
            documents
                .into_iter()
                .filter(|d| !d.is_null())
                .map(without_empty_labels),
        );
    }
    Ok(objects)
}

/// The datacenter operators' groups as `protect-domain-delegations.yaml` writes them (a CEL
/// list); the chart replaces the list with `datacenterOperators.groups`.
const WRITTEN_DATACENTER_OPERATORS: &str = "['innovapuglia:datacenter-operators']";

/// The restore identity's groups as the policies write them (a CEL list); the chart
/// replaces the list with `restore.groups`.
const WRITTEN_RESTORE_GROUPS: &str = "['tenant-operator:restore']";

/// The admission policies and bindings of `policies/admission/` as the chart installs them
/// for `release` (`admission-policies.yaml`): the operator's user name, written in the files
/// for the default release, becomes the release's, and the datacenter operators' and the
/// restore identity's groups become `datacenterOperators.groups` and `restore.groups` of
/// the values (as `toJson`, a CEL list literal). The chart's labels are left out, as for
/// the RBAC.
pub fn admission_policies(release: Release<'_>) -> Result<Vec<Value>, ChartError> {
    let written = operator_username(Release::DEFAULT)?;
    let installed = operator_username(release)?;
    let values = values()?;
    let list = |path: &str| {
        values
            .pointer(path)
            .cloned()
            .unwrap_or_else(|| Value::Array(Vec::new()))
            .to_string()
    };
    let groups = list("/datacenterOperators/groups");
    let restore_groups = list("/restore/groups");
    let mut objects = Vec::new();
    for (file, text) in crate::audit::platform::ADMISSION_POLICIES {
        let text = text
            .replace(&written, &installed)
            .replace(WRITTEN_DATACENTER_OPERATORS, &groups)
            .replace(WRITTEN_RESTORE_GROUPS, &restore_groups);
        let documents: Vec<Value> =
            serde_saphyr::from_str_multiple(&text).map_err(|e| ChartError::Yaml {
                file: (*file).to_string(),
                message: e.to_string(),
            })?;
        objects.extend(documents.into_iter().filter(|d| !d.is_null()));
    }
    Ok(objects)
}

/// What the chart installs that decides who may do what, in install order: its RBAC
/// ([`rbac_objects`]) and the admission policies ([`admission_policies`]). `dev` and the
/// integration tests install these and run the operator as [`operator_username`].
pub fn access_objects(release: Release<'_>) -> Result<Vec<Value>, ChartError> {
    let mut objects = rbac_objects(release)?;
    objects.extend(admission_policies(release)?);
    Ok(objects)
}

/// The user name the API server gives the operator's ServiceAccount in `release`
/// (`tenant-operator.username` of `_helpers.tpl`): what its bindings name and what the
/// admission policies exempt.
pub fn operator_username(release: Release<'_>) -> Result<String, ChartError> {
    let values = values()?;
    let name =
        value_at(&values, "serviceAccount.name").ok_or_else(|| ChartError::MissingValue {
            file: VALUES.0.to_string(),
            line: 0,
            path: ".Values.serviceAccount.name".to_string(),
        })?;
    Ok(format!(
        "system:serviceaccount:{}:{name}",
        release.namespace
    ))
}

fn values() -> Result<Value, ChartError> {
    serde_saphyr::from_str(VALUES.1).map_err(|e| ChartError::Yaml {
        file: VALUES.0.to_string(),
        message: e.to_string(),
    })
}

/// The string at a dotted path of the values.
fn value_at<'v>(values: &'v Value, path: &str) -> Option<&'v str> {
    path.split('.')
        .try_fold(values, |v, key| v.get(key))
        .and_then(Value::as_str)
}

/// Renders one template: text outside `{{ }}` is copied, each action replaced by its
/// value, with Helm's whitespace trimming (`{{-` trims whitespace before the action, `-}}`
/// after it).
fn render(
    file: &str,
    template: &str,
    release: Release<'_>,
    values: &Value,
) -> Result<String, ChartError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    let mut consumed = 0;
    while let Some(start) = rest.find("{{") {
        let line = template[..consumed + start].matches('\n').count() + 1;
        out.push_str(&rest[..start]);
        let after_open = &rest[start + 2..];
        // A comment may contain `}}`; it ends at `*/}}` (with optional trim markers).
        let body_end = if after_open
            .trim_start_matches('-')
            .trim_start()
            .starts_with("/*")
        {
            after_open
                .find("*/")
                .and_then(|c| after_open[c..].find("}}").map(|e| c + e))
        } else {
            after_open.find("}}")
        }
        .ok_or_else(|| ChartError::Unterminated {
            file: file.to_string(),
            line,
        })?;
        let raw = &after_open[..body_end];
        let trim_before = raw.starts_with('-');
        let trim_after = raw.ends_with('-');
        let inner = raw.strip_prefix('-').unwrap_or(raw);
        let action = inner.strip_suffix('-').unwrap_or(inner).trim();
        if trim_before {
            out.truncate(out.trim_end().len());
        }
        out.push_str(
            &evaluate(action, release, values).map_err(|error| match error {
                Evaluation::Unsupported => ChartError::UnsupportedAction {
                    file: file.to_string(),
                    line,
                    action: action.to_string(),
                },
                Evaluation::MissingValue(path) => ChartError::MissingValue {
                    file: file.to_string(),
                    line,
                    path,
                },
            })?,
        );
        let next = start + 2 + body_end + 2;
        consumed += next;
        rest = &rest[next..];
        if trim_after {
            let trimmed = rest.trim_start();
            consumed += rest.len() - trimmed.len();
            rest = trimmed;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Why an action has no value.
enum Evaluation {
    Unsupported,
    MissingValue(String),
}

/// The value of one action (without its braces and trim markers).
fn evaluate(action: &str, release: Release<'_>, values: &Value) -> Result<String, Evaluation> {
    if action.starts_with("/*") && action.ends_with("*/") {
        return Ok(String::new());
    }
    match action {
        ".Release.Name" => return Ok(release.name.to_string()),
        ".Release.Namespace" => return Ok(release.namespace.to_string()),
        // `tenant-operator.fullname`: `default "tenant-operator" .Values.fullnameOverride |
        // trunc 52 | trimSuffix "-"`.
        "include \"tenant-operator.fullname\" ." => {
            let name = value_at(values, "fullnameOverride")
                .filter(|o| !o.is_empty())
                .unwrap_or("tenant-operator");
            let truncated: String = name.chars().take(52).collect();
            return Ok(truncated
                .strip_suffix('-')
                .unwrap_or(&truncated)
                .to_string());
        }
        _ => {}
    }
    if let Some(path) = action.strip_prefix(".Values.") {
        return value_at(values, path)
            .map(str::to_string)
            .ok_or_else(|| Evaluation::MissingValue(action.to_string()));
    }
    if action
        .strip_prefix("include \"tenant-operator.labels\" . | nindent ")
        .is_some_and(|n| n.parse::<usize>().is_ok())
    {
        return Ok(String::new());
    }
    Err(Evaluation::Unsupported)
}

/// An object [`install`] could not apply.
#[derive(Debug, thiserror::Error)]
#[error("applying {kind} {name}: {source}")]
pub struct InstallError {
    /// The object's kind.
    pub kind: String,
    /// The object's name (namespace/name when namespaced).
    pub name: String,
    /// What the API server answered.
    #[source]
    pub source: kube::Error,
}

/// Server-side applies each object (any kind the API server serves, found through
/// discovery) as `field_manager`, in order, stopping at the first refusal: how `dev` and
/// the integration tests install what the chart would.
pub async fn install(
    client: &kube::Client,
    objects: &[Value],
    field_manager: &str,
) -> Result<(), InstallError> {
    use kube::api::{DynamicObject, Patch, PatchParams};
    use kube::core::GroupVersionKind;
    for object in objects {
        let kind = object["kind"].as_str().unwrap_or_default();
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let namespace = object["metadata"]["namespace"].as_str();
        let error = |source| InstallError {
            kind: kind.to_string(),
            name: namespace.map_or_else(|| name.to_string(), |ns| format!("{ns}/{name}")),
            source,
        };
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let (resource, _) =
            kube::discovery::pinned_kind(client, &GroupVersionKind::gvk(group, version, kind))
                .await
                .map_err(error)?;
        let api: kube::Api<DynamicObject> = match namespace {
            Some(ns) => kube::Api::namespaced_with(client.clone(), ns, &resource),
            None => kube::Api::all_with(client.clone(), &resource),
        };
        api.patch(
            name,
            &PatchParams::apply(field_manager).force(),
            &Patch::Apply(object),
        )
        .await
        .map_err(error)?;
    }
    Ok(())
}

/// Drops `metadata.labels: null`, which the left-out labels leave behind.
fn without_empty_labels(mut object: Value) -> Value {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut)
        && metadata.get("labels").is_some_and(Value::is_null)
    {
        metadata.remove("labels");
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds_and_names(objects: &[Value]) -> Vec<(String, String)> {
        objects
            .iter()
            .map(|o| {
                (
                    o["kind"].as_str().unwrap_or_default().to_string(),
                    o["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn the_chart_rbac_renders_into_the_operator_and_tenant_roles_and_their_bindings() {
        let objects = rbac_objects(Release::DEFAULT).expect("renders");
        let names = kinds_and_names(&objects);
        let expected = [
            ("ClusterRole", "tenant-operator"),
            ("ClusterRoleBinding", "tenant-operator"),
            ("Role", "tenant-operator"),
            ("RoleBinding", "tenant-operator"),
            ("ClusterRole", "tenant-operator:tenant-view"),
            ("ClusterRole", "tenant-operator:tenant-edit"),
            ("ClusterRole", "tenant-operator:tenant-admin"),
            ("ClusterRole", "tenant-operator:tenant-monitoring"),
            ("ClusterRole", "tenant-operator:auditor"),
            ("ClusterRole", "tenant-operator:delegation-writer"),
        ]
        .map(|(k, n)| (k.to_string(), n.to_string()));
        assert_eq!(names, expected);
        for object in &objects {
            assert!(object["metadata"].get("labels").is_none(), "{object}");
        }
    }

    #[test]
    fn the_bindings_name_the_release_service_account_in_the_release_namespace() {
        let release = Release {
            name: "to",
            namespace: "platform",
        };
        let objects = rbac_objects(release).expect("renders");
        let subject = serde_json::json!([{"kind": "ServiceAccount", "name": "tenant-operator", "namespace": "platform"}]);
        let bindings: Vec<&Value> = objects
            .iter()
            .filter(|o| o["kind"].as_str().is_some_and(|k| k.ends_with("Binding")))
            .collect();
        assert_eq!(bindings.len(), 2);
        for binding in bindings {
            assert_eq!(binding["subjects"], subject, "{binding}");
        }
        let role = objects.iter().find(|o| o["kind"] == "Role").expect("Role");
        assert_eq!(role["metadata"]["namespace"], "platform");
        assert_eq!(
            operator_username(release).expect("username"),
            "system:serviceaccount:platform:tenant-operator"
        );
    }

    #[test]
    fn the_policies_exempt_the_release_service_account_as_the_chart_writes_them() {
        let release = Release {
            name: "to",
            namespace: "platform",
        };
        let text = serde_json::to_string(&admission_policies(release).expect("parse"))
            .expect("serialises");
        assert!(text.contains("system:serviceaccount:platform:tenant-operator"));
        assert!(!text.contains("system:serviceaccount:tenant-operator:tenant-operator"));
        let kinds: Vec<String> = access_objects(Release::DEFAULT)
            .expect("renders")
            .iter()
            .map(|o| o["kind"].as_str().unwrap_or_default().to_string())
            .collect();
        let policies = kinds
            .iter()
            .filter(|k| *k == "ValidatingAdmissionPolicy")
            .count();
        assert_eq!(policies, crate::audit::platform::ADMISSION_POLICIES.len());
        assert_eq!(
            kinds
                .iter()
                .filter(|k| *k == "ValidatingAdmissionPolicyBinding")
                .count(),
            policies
        );
    }

    #[test]
    fn an_action_the_renderer_does_not_know_is_an_error_naming_file_and_line() {
        let values = values().expect("values");
        let template = "kind: Role\n{{- if .Values.rbac.create }}\nrules: []\n{{- end }}\n";
        let error = render("t.yaml", template, Release::DEFAULT, &values)
            .expect_err("if is not supported")
            .to_string();
        assert!(
            error.starts_with("t.yaml:2: template action `if .Values.rbac.create`"),
            "{error}"
        );
        let error = render(
            "t.yaml",
            "a: {{ .Values.nope }}\n",
            Release::DEFAULT,
            &values,
        )
        .expect_err("no such value")
        .to_string();
        assert!(
            error.contains("t.yaml:1: `.Values.nope` is not a string"),
            "{error}"
        );
        let error = render("t.yaml", "a: {{ .Release.Name\n", Release::DEFAULT, &values)
            .expect_err("unterminated")
            .to_string();
        assert_eq!(error, "t.yaml:1: `{{` without a closing `}}`");
    }

    #[test]
    fn trim_markers_remove_the_whitespace_beside_the_action_as_helm_does() {
        let values = values().expect("values");
        let template = "{{- /* a comment with }} inside */ -}}\na:\n  b: x\n  labels:\n    {{- include \"tenant-operator.labels\" . | nindent 4 }}\nc: {{ .Release.Namespace }}-{{ include \"tenant-operator.fullname\" . }}\n";
        assert_eq!(
            render("t.yaml", template, Release::DEFAULT, &values).expect("renders"),
            "a:\n  b: x\n  labels:\nc: tenant-operator-tenant-operator\n"
        );
    }
}
