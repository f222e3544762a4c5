//! The Helm chart against its sources and against the real `helm` binary:
//!
//! - the chart reads the CRDs, the default TenantClasses and the admission policies from
//!   their single source in the repository, through symlinks (Helm v4 follows them, and
//!   `helm package` stores the files they point to), so there is no copy to drift;
//! - with `helm` installed (`hack/install-tools.sh`): values.schema.json rejects wrong
//!   values, leader election follows the replica count, and the admission policies exempt
//!   the release's own ServiceAccount, whatever namespace the chart is installed in.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn chart() -> PathBuf {
    root().join("charts/tenant-operator")
}

/// The `*.yaml` file names of a directory (empty when it does not exist).
fn yaml_files(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(std::result::Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            Path::new(n)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("yaml"))
        })
        .collect();
    names.sort();
    names
}

#[test]
fn the_chart_links_to_the_single_sources_instead_of_copying_them() {
    for (link, target) in [
        ("crds", "../../crds"),
        ("files/classes", "../../../policies/classes"),
        ("files/admission", "../../../policies/admission"),
        ("files/delegations", "../../../policies/delegations"),
    ] {
        let path = chart().join(link);
        let found = std::fs::read_link(&path).unwrap_or_else(|e| {
            panic!(
                "charts/tenant-operator/{link} must be a symlink to {target} (not a copy that can drift): {e}"
            )
        });
        assert_eq!(found, Path::new(target), "charts/tenant-operator/{link}");
        assert!(
            !yaml_files(&path).is_empty(),
            "charts/tenant-operator/{link} -> {target} has no YAML files"
        );
    }
}

/// `helm` from `.tools/bin` or PATH; `None` (test skipped) unless `REQUIRE_TOOLS=1`.
fn helm() -> Option<PathBuf> {
    fake_apiserver::tools::find("helm")
}

/// `helm template` of the chart in `namespace` with `--set` values: Ok(manifests) or Err(stderr).
fn template(helm: &Path, namespace: &str, set: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new(helm);
    cmd.arg("template")
        .arg("tenant-operator")
        .arg(chart())
        .args(["--namespace", namespace]);
    for value in set {
        cmd.args(["--set", value]);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("running helm: {e}"));
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn wrong_values_fail_before_anything_is_installed() {
    let Some(helm) = helm() else { return };
    template(&helm, "tenant-operator", &[]).expect("default values render");
    for (set, why) in [
        ("replicas=0", "replicas"),
        ("logFormat=xml", "logFormat"),
        ("replica=2", "replica"),
        ("image.pullPolicy=Sometimes", "pullPolicy"),
        ("image.digest=latest", "digest"),
        (
            "admissionPolicies.validationActions={Deny,Warn}",
            "validationActions",
        ),
        ("networkPolicy.apiServerCIDRs={10.0.0.1}", "apiServerCIDRs"),
        ("resources.limits.memory=lots", "memory"),
        ("reservedNamespaces={Flux_System}", "reservedNamespaces"),
        ("ca.permittedDnsDomains={*.it}", "permittedDnsDomains"),
        ("datacenterOperators.groups=dc-ops", "groups"),
        ("metrics.perTenant.maxTenants=0", "maxTenants"),
        // Every user, or every ServiceAccount, could restore over the policies.
        ("restore.groups={system:authenticated}", "restore"),
        ("restore.groups={system:serviceaccounts}", "restore"),
    ] {
        let err = template(&helm, "tenant-operator", &[set])
            .err()
            .unwrap_or_else(|| panic!("--set {set} must be rejected by values.schema.json"));
        assert!(
            err.contains(why),
            "--set {set}: the error names {why}: {err}"
        );
    }
}

#[test]
fn the_operator_and_the_pipeline_reserve_the_same_namespaces_and_the_groups_reach_the_policy() {
    let Some(helm) = helm() else { return };
    let rendered = template(
        &helm,
        "tenant-operator",
        &[
            "reservedNamespaces={rancher,harbor-*}",
            "ca.permittedDnsDomains={puglia.it,bari.it}",
            "datacenterOperators.groups={dc-ops,noc}",
            "restore.groups={system:serviceaccounts:velero}",
        ],
    )
    .expect("renders");
    let file = tenant_operator::samples::reserved_namespaces();
    assert!(!file.is_empty());
    let expected = format!(
        "- --reserved-namespaces={},rancher,harbor-*",
        file.join(",")
    );
    assert!(
        rendered.contains(&expected),
        "{expected} not in:\n{rendered}"
    );
    assert!(rendered.contains("- --ca-permitted-dns-domains=puglia.it,bari.it"));
    // The delegation policy names the given groups, and the writer role is bound to them.
    assert!(rendered.contains(r#"g in ["dc-ops","noc"]"#), "{rendered}");
    assert!(!rendered.contains("innovapuglia:datacenter-operators"));
    assert!(rendered.contains("name: \"tenant-operator:delegation-writer\""));
    // The three policies that let a restore through name the given groups.
    assert_eq!(
        rendered
            .matches(r#"g in ["system:serviceaccounts:velero"]"#)
            .count(),
        3,
        "{rendered}"
    );
    assert!(!rendered.contains("tenant-operator:restore"));
}

#[test]
fn leader_election_is_on_exactly_when_there_is_more_than_one_replica() {
    let Some(helm) = helm() else { return };
    let single = template(&helm, "tenant-operator", &["replicas=1"]).expect("renders");
    assert!(single.contains("- --leader-election=false"));
    assert!(
        single.contains("type: Recreate"),
        "one replica never overlaps with its successor"
    );
    let ha = template(&helm, "tenant-operator", &["replicas=3"]).expect("renders");
    assert!(ha.contains("- --leader-election=true"));
    assert!(ha.contains("type: RollingUpdate"));
}

#[test]
fn the_per_tenant_series_switch_reaches_the_operator() {
    let Some(helm) = helm() else { return };
    let default = template(&helm, "tenant-operator", &[]).expect("renders");
    assert!(default.contains("- --per-tenant-metrics-limit=1000"));
    let bounded = template(
        &helm,
        "tenant-operator",
        &["metrics.perTenant.maxTenants=300"],
    )
    .expect("renders");
    assert!(bounded.contains("- --per-tenant-metrics-limit=300"));
    let off = template(
        &helm,
        "tenant-operator",
        &[
            "metrics.perTenant.enabled=false",
            "metrics.perTenant.maxTenants=300",
        ],
    )
    .expect("renders");
    assert!(off.contains("- --per-tenant-metrics-limit=0"), "{off}");
}

#[test]
fn admission_policies_exempt_the_release_service_account() {
    let Some(helm) = helm() else { return };
    let out = template(
        &helm,
        "platform-tenancy",
        &["serviceAccount.name=tenancy-controller"],
    )
    .expect("renders");
    let policies = yaml_files(&root().join("policies/admission")).len();
    assert_eq!(
        out.matches("\nkind: ValidatingAdmissionPolicy\n").count(),
        policies,
        "one policy per file of policies/admission"
    );
    assert_eq!(
        out.matches("\nkind: ValidatingAdmissionPolicyBinding\n")
            .count(),
        policies
    );
    assert!(out.contains("system:serviceaccount:platform-tenancy:tenancy-controller"));
    assert!(
        !out.contains("system:serviceaccount:tenant-operator:tenant-operator"),
        "the default identity of the policy files must be replaced by the release's"
    );
    let off = template(
        &helm,
        "tenant-operator",
        &["admissionPolicies.enabled=false"],
    )
    .expect("renders");
    assert!(!off.contains("ValidatingAdmissionPolicy"));
    let audit = template(
        &helm,
        "tenant-operator",
        &["admissionPolicies.validationActions={Warn,Audit}"],
    )
    .expect("renders");
    assert!(audit.contains("validationActions:\n  - Warn\n  - Audit"));
}

/// The policies as the chart installs them, evaluated by the in-memory API server's
/// admission: a managed NetworkPolicy may be deleted by the release's ServiceAccount and
/// by nobody else, the default identity of the policy files included.
#[test]
fn the_installed_policies_let_only_the_release_service_account_change_managed_objects() {
    use fake_apiserver::identity::UserInfo;
    use fake_apiserver::{Operation, PolicyReview, ReviewRequest};
    let Some(helm) = helm() else { return };
    let out = template(
        &helm,
        "platform-tenancy",
        &["serviceAccount.name=tenancy-controller"],
    )
    .expect("renders");
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_str_multiple(&out).expect("helm output is YAML");
    let mut review = PolicyReview::new();
    let mut installed = 0;
    for doc in docs.iter().filter(|d| {
        d["apiVersion"]
            .as_str()
            .is_some_and(|a| a.starts_with("admissionregistration.k8s.io/"))
    }) {
        review.add(doc).expect("a served admission kind");
        installed += 1;
    }
    assert!(installed >= 6, "policies and their bindings are installed");
    // The tenant namespace the requests are about (the policies read its labels).
    review
        .add(&serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "comune-bari-prod", "labels": {
                "app.kubernetes.io/managed-by": "tenant-operator",
                "tenancy.innova.puglia.it/tenant": "comune-bari"}}}))
        .expect("a namespace");
    let managed = serde_json::json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny", "namespace": "comune-bari-prod",
            "labels": {"app.kubernetes.io/managed-by": "tenant-operator"}}});
    let request = |user: UserInfo, operation: Operation, namespace: &str, resource: &str| {
        let mut object = managed.clone();
        object["metadata"]["namespace"] = namespace.into();
        let (api_version, kind) = match resource {
            "networkpolicies" => ("networking.k8s.io/v1", "NetworkPolicy"),
            _ => ("v1", "Secret"),
        };
        object["apiVersion"] = api_version.into();
        object["kind"] = kind.into();
        let delete = operation == Operation::Delete;
        ReviewRequest {
            operation,
            api_version: api_version.into(),
            resource: resource.into(),
            subresource: String::new(),
            name: "default-deny".into(),
            namespace: namespace.into(),
            object: (!delete).then(|| object.clone()),
            old_object: delete.then_some(object),
            user,
        }
    };
    let failures = |review: &mut PolicyReview, request: &ReviewRequest| -> Vec<String> {
        review
            .review(request)
            .expect("a served resource")
            .into_iter()
            .flat_map(|r| {
                r.failed
                    .into_iter()
                    .map(move |m| format!("{}: {m}", r.policy))
            })
            .collect()
    };
    let release = UserInfo::service_account("platform-tenancy", "tenancy-controller");
    let delete = request(
        release.clone(),
        Operation::Delete,
        "comune-bari-prod",
        "networkpolicies",
    );
    assert_eq!(
        failures(&mut review, &delete),
        Vec::<String>::new(),
        "the release's ServiceAccount manages tenant objects"
    );
    let other = failures(
        &mut review,
        &request(
            UserInfo::service_account("tenant-operator", "tenant-operator"),
            Operation::Delete,
            "comune-bari-prod",
            "networkpolicies",
        ),
    );
    assert!(
        other.iter().any(
            |m| m.starts_with("tenant-operator-protect-managed-objects: ")
                && m.contains("is managed by tenant-operator")
        ),
        "the default identity of the files is not exempt once the chart renamed it: {other:?}"
    );
    // The confinement follows the release too: its own namespace is the release's, not the
    // files' default.
    let own = request(
        release.clone(),
        Operation::Create,
        "platform-tenancy",
        "secrets",
    );
    assert_eq!(failures(&mut review, &own), Vec::<String>::new());
    let default_ns = failures(
        &mut review,
        &request(release, Operation::Create, "tenant-operator", "secrets"),
    );
    assert!(
        default_ns
            .iter()
            .any(|m| m.starts_with("tenant-operator-confine-operator: ")
                && m.contains("in its own (platform-tenancy)")),
        "{default_ns:?}"
    );
}

/// The container args of the Deployment in a rendered chart.
fn deployment_args(manifests: &str) -> Vec<String> {
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_str_multiple(manifests).expect("helm output is YAML");
    let deployment = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("the chart renders a Deployment");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["ports"][0]["containerPort"], 8080,
        "admin port of the operator"
    );
    container["args"]
        .as_array()
        .expect("container args")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_string())
        .collect()
}

/// The chart's command line is one the operator binary accepts, whatever the replica count
/// (clap parses every argument before it acts on the trailing `--help`), and the binary's
/// admin port is the one the probes and the Service use.
#[test]
fn the_operator_binary_accepts_the_arguments_the_chart_passes() {
    let Some(helm) = helm() else { return };
    for replicas in ["replicas=1", "replicas=3"] {
        let manifests = template(&helm, "tenant-operator", &[replicas]).expect("renders");
        let args = deployment_args(&manifests);
        assert_eq!(args.first().map(String::as_str), Some("run"));
        let out = Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
            .args(&args)
            .arg("--help")
            .output()
            .expect("run the tenant-operator binary");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{replicas}: tenant-operator rejects the chart's args {args:?}: {stderr}"
        );
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            help.contains("0.0.0.0:8080"),
            "the admin address defaults to port 8080 on all interfaces (probes come from the kubelet)"
        );
        for env in ["POD_NAMESPACE", "POD_NAME"] {
            assert!(
                help.contains(env),
                "`run` reads ${env}, which the Deployment sets"
            );
        }
    }
}

/// The value of the first line of `text` that starts with `prefix`, trimmed.
fn line_value<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|line| line.trim().strip_prefix(prefix))
        .map(str::trim)
}

#[test]
fn the_image_the_dockerfile_builds_is_the_one_the_chart_runs() {
    let read = |path: PathBuf| {
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let dockerfile = read(root().join("Dockerfile"));
    let chart_yaml = read(chart().join("Chart.yaml"));
    let deployment = read(chart().join("templates/deployment.yaml"));
    let workspace = read(root().join("Cargo.toml"));

    // The tag: the Dockerfile's version label is the chart's appVersion (its default image
    // tag) and the workspace version the binary reports.
    let app_version = line_value(&chart_yaml, "appVersion:").map(|v| v.trim_matches('"'));
    assert_eq!(line_value(&dockerfile, "ARG VERSION="), app_version);
    assert_eq!(
        line_value(&workspace, "version =").map(|v| v.trim_matches('"')),
        app_version
    );
    // The compiler: the release `rust-version` names, which .ci/run insists on.
    let rust_version = line_value(&workspace, "rust-version =")
        .map(|v| v.trim_matches('"'))
        .expect("rust-version in Cargo.toml");
    assert!(
        dockerfile.contains(&format!("FROM docker.io/library/rust:{rust_version}.")),
        "the Dockerfile must build with Rust {rust_version}"
    );
    // The user: the image's is the one the pod's securityContext names, not root.
    assert_eq!(line_value(&dockerfile, "USER "), Some("65532:65532"));
    assert_eq!(line_value(&deployment, "runAsUser:"), Some("65532"));
    assert_eq!(line_value(&deployment, "runAsGroup:"), Some("65532"));
    // The admin port the probes use.
    assert_eq!(line_value(&dockerfile, "EXPOSE "), Some("8080"));
    assert_eq!(line_value(&deployment, "containerPort:"), Some("8080"));
    // The binary is the entrypoint: the chart passes the subcommand as its first argument.
    assert_eq!(
        line_value(&dockerfile, "ENTRYPOINT "),
        Some(r#"["/usr/local/bin/tenant-operator"]"#)
    );
    assert_eq!(
        deployment
            .lines()
            .skip_while(|l| l.trim() != "args:")
            .nth(1)
            .map(str::trim),
        Some("- run")
    );
    // The product without test infrastructure: no `dev`, so no in-memory API server.
    assert!(
        dockerfile.contains("cargo build --release --locked --no-default-features"),
        "the image must be built without the dev feature"
    );
}

/// The RBAC objects and admission policies of rendered manifests, without the chart's labels
/// and `helm.sh/resource-policy` annotations (which the built-in renderer leaves out), sorted
/// by kind, namespace and name.
fn access_without_labels(objects: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    let mut rbac: Vec<serde_json::Value> = objects
        .into_iter()
        .filter(|o| {
            matches!(
                o["kind"].as_str(),
                Some(
                    "Role"
                        | "ClusterRole"
                        | "RoleBinding"
                        | "ClusterRoleBinding"
                        | "ValidatingAdmissionPolicy"
                        | "ValidatingAdmissionPolicyBinding"
                )
            )
        })
        .map(|mut o| {
            if let Some(metadata) = o["metadata"].as_object_mut() {
                metadata.remove("labels");
                // Helm's bookkeeping too (kept on uninstall); no access decision reads it.
                if let Some(annotations) = metadata
                    .get_mut("annotations")
                    .and_then(serde_json::Value::as_object_mut)
                {
                    annotations.remove("helm.sh/resource-policy");
                    if annotations.is_empty() {
                        metadata.remove("annotations");
                    }
                }
            }
            o
        })
        .collect();
    rbac.sort_by_key(|o| {
        (
            o["kind"].to_string(),
            o["metadata"]["namespace"].to_string(),
            o["metadata"]["name"].to_string(),
        )
    });
    rbac
}

/// `tenant-operator dev` and the integration tests install the chart's RBAC and admission
/// policies through the built-in renderer (`tenant_operator::chart`), on machines without
/// helm: it must give exactly the Roles, ClusterRoles, bindings and policies `helm template`
/// gives, in any namespace.
#[test]
fn the_built_in_renderer_gives_the_rbac_and_policies_helm_template_gives() {
    let Some(helm) = helm() else { return };
    for namespace in ["tenant-operator", "platform-system"] {
        let manifests = template(&helm, namespace, &[]).expect("renders");
        let rendered: Vec<serde_json::Value> =
            serde_saphyr::from_str_multiple(&manifests).expect("helm output is YAML");
        let from_helm =
            access_without_labels(rendered.into_iter().filter(|d| !d.is_null()).collect());
        let release = tenant_operator::chart::Release {
            name: "tenant-operator",
            namespace,
        };
        let built_in = access_without_labels(
            tenant_operator::chart::access_objects(release).expect("the built-in renderer renders"),
        );
        assert!(!built_in.is_empty());
        assert_eq!(
            built_in, from_helm,
            "namespace {namespace}: the built-in renderer and helm template disagree on the chart's RBAC or policies"
        );
    }
}
