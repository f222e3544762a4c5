//! The Helm chart against its sources and against the real `helm` binary:
//!
//! - the copies in the chart (CRDs, default TenantClasses, admission policies) are
//!   byte-for-byte the files they are copied from (`hack/update-chart-files.sh`);
//! - with `helm` installed (`hack/install-tools.sh`): values.schema.json rejects wrong
//!   values, leader election follows the replica count, and the admission policies exempt
//!   the release's own ServiceAccount, whatever namespace the chart is installed in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn chart() -> PathBuf {
    root().join("charts/tenant-operator")
}

/// The `*.yaml` files of a directory with their contents (empty when it does not exist).
fn yaml_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "yaml"))
        .map(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (name, bytes)
        })
        .collect()
}

#[test]
fn chart_copies_match_their_sources() {
    let pairs = [
        ("crds", "charts/tenant-operator/crds"),
        ("policies/classes", "charts/tenant-operator/files/classes"),
        (
            "policies/admission",
            "charts/tenant-operator/files/admission",
        ),
    ];
    for (source, copy) in pairs {
        let want = yaml_files(&root().join(source));
        let have = yaml_files(&root().join(copy));
        let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            names(&have),
            names(&want),
            "{copy} must hold the files of {source}: run hack/update-chart-files.sh"
        );
        for (name, bytes) in &want {
            assert!(
                have.get(name) == Some(bytes),
                "{copy}/{name} differs from {source}/{name}: run hack/update-chart-files.sh (never edit the copy)"
            );
        }
    }
    assert!(
        !yaml_files(&root().join("policies/admission")).is_empty(),
        "the chart ships the admission policies"
    );
}

/// `helm` from PATH or `.tools/bin`; `None` (test skipped) unless `REQUIRE_TOOLS=1`.
fn helm() -> Option<PathBuf> {
    let local = root().join(".tools/bin/helm");
    let found = if local.is_file() {
        Some(local)
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("helm"))
                .find(|p| p.is_file())
        })
    };
    if found.is_none() {
        assert!(
            std::env::var("REQUIRE_TOOLS").as_deref() != Ok("1"),
            "helm is required (REQUIRE_TOOLS=1): run hack/install-tools.sh"
        );
        println!("skipped: helm not installed (run hack/install-tools.sh)");
    }
    found
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
fn leader_election_is_on_exactly_when_there_is_more_than_one_replica() {
    let Some(helm) = helm() else { return };
    let single = template(&helm, "tenant-operator", &["replicas=1"]).expect("renders");
    assert!(!single.contains("--leader-election"));
    assert!(
        single.contains("type: Recreate"),
        "one replica never overlaps with its successor"
    );
    let ha = template(&helm, "tenant-operator", &["replicas=3"]).expect("renders");
    assert!(ha.contains("- --leader-election"));
    assert!(ha.contains("type: RollingUpdate"));
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
