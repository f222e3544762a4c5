//! `tenant-operator diff` through the binary, compared with golden files.
//!
//! The fixtures (`tests/fixtures/diff/`) are a base tree and a pull request on it: the
//! class `small` raises its default quota (every tenant of that class changes), Binetto
//! gains a viewer group, Cellamare drops its `test` environment (kept: Retain), Turi is
//! deleted (deleted: Delete) and Sammichele di Bari is added. The offline form compares the
//! two trees; the live form applies the base's objects to the in-memory API server, as the
//! controller does, and compares the pull request with what is live.
//! `UPDATE_GOLDEN=1 cargo test -p tenant-operator --test diff_golden` rewrites the files.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use serde_json::Value;
use support::assert_golden;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diff")
}

/// Runs the binary in the fixtures directory (so that file names print short).
fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
        .current_dir(fixtures())
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const OFFLINE: [&str; 9] = [
    "diff",
    "-f",
    "new/tenants",
    "--classes",
    "new/classes",
    "--base",
    "base/tenants",
    "--base-classes",
    "base/classes",
];

#[test]
fn offline_diff_of_two_trees_in_every_format() {
    for (format, golden) in [
        ("text", "diff/offline.txt"),
        ("markdown", "diff/offline.md"),
        ("github", "diff/offline.github.txt"),
        ("gitlab", "diff/offline.gitlab.json"),
        ("sarif", "diff/offline.sarif"),
    ] {
        let o = run(&[&OFFLINE[..], &["-o", format]].concat());
        assert_eq!(
            o.status.code(),
            Some(1),
            "-o {format}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_golden(golden, &stdout(&o));
    }
}

#[test]
fn a_class_change_shows_every_namespace_of_that_class() {
    // Only the class changes: both tenants of class small change their quota, nothing else.
    let o = run(&[
        "diff",
        "-f",
        "base/tenants",
        "--classes",
        "new/classes",
        "--base",
        "base/tenants",
        "--base-classes",
        "base/classes",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let headers: Vec<String> = stdout(&o)
        .lines()
        .filter(|l| l.ends_with(": changed"))
        .map(str::to_string)
        .collect();
    assert_eq!(
        headers,
        [
            "ResourceQuota comune-binetto-prod/tenancy-quota: changed",
            "ResourceQuota comune-cellamare-prod/tenancy-quota: changed",
            "ResourceQuota comune-cellamare-test/tenancy-quota: changed",
            "ResourceQuota comune-turi-prod/tenancy-quota: changed",
        ]
    );
    assert!(
        stdout(&o).ends_with("4 changed; TenantClass small changed\n"),
        "{}",
        stdout(&o)
    );
    // The class itself comes first: its tenants, checked again, and their namespaces.
    let mut lines = stdout(&o).lines().map(str::to_string).collect::<Vec<_>>();
    lines.truncate(5);
    assert_eq!(
        lines,
        [
            "TenantClass small changed: 3 tenants checked again (comune-binetto, comune-cellamare, comune-turi); quota or policies change in 4 namespaces: comune-binetto-prod, comune-cellamare-prod, comune-cellamare-test, comune-turi-prod",
            "  comune-binetto-prod: ResourceQuota tenancy-quota changed",
            "  comune-cellamare-prod: ResourceQuota tenancy-quota changed",
            "  comune-cellamare-test: ResourceQuota tenancy-quota changed",
            "  comune-turi-prod: ResourceQuota tenancy-quota changed",
        ]
    );
    // On the line of the class in the pull request, for the forges.
    let o = run(&[
        "diff",
        "-f",
        "base/tenants",
        "--classes",
        "new/classes",
        "--base",
        "base/tenants",
        "--base-classes",
        "base/classes",
        "-o",
        "github",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains(
            "::notice file=new/classes/small.yaml,line=12,title=TenantClass/small::TenantClass small changed: 3 tenants checked again"
        ),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_class_change_that_a_tenant_no_longer_fits_is_refused_naming_that_tenant() {
    // The class lowers its tenant-wide CPU to 5: Cellamare's two environments (3 CPUs
    // each by default) no longer fit, Binetto's one does.
    let classes = std::env::temp_dir().join(format!("diff-narrowed-{}", std::process::id()));
    std::fs::create_dir_all(&classes).expect("directory");
    let class = std::fs::read_to_string(fixtures().join("new/classes/small.yaml")).expect("class");
    let narrowed = class.replacen(
        "{ cpu: \"6\", memory: 12Gi",
        "{ cpu: \"5\", memory: 12Gi",
        1,
    );
    assert_ne!(class, narrowed, "the fixture's tenantMax moved");
    std::fs::write(classes.join("small.yaml"), narrowed).expect("written");
    let o = run(&[
        "diff",
        "-f",
        "base/tenants",
        "--classes",
        classes.to_str().expect("UTF-8 path"),
        "--base",
        "base/tenants",
        "--base-classes",
        "base/classes",
    ]);
    let _ = std::fs::remove_dir_all(&classes);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert_eq!(stdout(&o), "");
    assert!(
        stderr.contains("base/tenants/comune-cellamare.yaml:"),
        "{stderr}"
    );
    assert!(!stderr.contains("comune-binetto.yaml"), "{stderr}");
}

#[test]
fn no_change_exits_0_and_invalid_input_exits_2() {
    let o = run(&[
        "diff",
        "-f",
        "base/tenants",
        "--classes",
        "base/classes",
        "--base",
        "base/tenants",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "no changes\n");

    let o = run(&[
        "diff",
        "-f",
        "../validate/traps",
        "--classes",
        "new/classes",
        "--base",
        "base/tenants",
        "-o",
        "github",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stdout(&o).contains("::error file=../validate/traps/yaml-traps.yaml,line=13,"),
        "{}",
        stdout(&o)
    );
}

/// Objects of a render, as the `render -o json` of the binary prints them.
fn rendered(tenants: &str, classes: &str) -> Vec<Value> {
    let o = run(&["render", "-f", tenants, "--classes", classes, "-o", "json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let list: Value = serde_json::from_slice(&o.stdout).expect("a v1 List");
    list["items"].as_array().cloned().unwrap_or_default()
}

#[test]
fn live_diff_against_the_in_memory_api_server() {
    let base = rendered("base/tenants", "base/classes");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let kubeconfig =
        std::env::temp_dir().join(format!("diff-live-{}.kubeconfig", std::process::id()));
    let server = runtime.block_on(async {
        let server = fake_apiserver::start(fake_apiserver::Config::default())
            .await
            .expect("server starts");
        let client = server.client();
        // As the controller applies them: server-side, its field manager, forced.
        let params = PatchParams::apply("tenant-operator").force();
        for object in &base {
            let kind = object["kind"].as_str().unwrap_or_default();
            let (group, version) = object["apiVersion"]
                .as_str()
                .and_then(|v| v.split_once('/'))
                .unwrap_or(("", "v1"));
            let gvk = kube::core::GroupVersionKind::gvk(group, version, kind);
            let plural = format!("{}s", kind.to_lowercase()).replace("policys", "policies");
            let resource = ApiResource::from_gvk_with_plural(&gvk, &plural);
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            let api: Api<DynamicObject> = match object["metadata"]["namespace"].as_str() {
                Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
                None => Api::all_with(client.clone(), &resource),
            };
            api.patch(name, &params, &Patch::Apply(object))
                .await
                .unwrap_or_else(|e| panic!("apply {kind} {name}: {e}"));
        }
        server.write_kubeconfig(&kubeconfig).expect("kubeconfig");
        server
    });
    let kubeconfig_arg = kubeconfig.to_str().expect("UTF-8 path");

    // What is live is what the base renders: no change (noise such as managedFields,
    // uid and the server's defaults does not count).
    let o = run(&[
        "diff",
        "-f",
        "base/tenants",
        "--classes",
        "base/classes",
        "--kubeconfig",
        kubeconfig_arg,
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(stdout(&o), "no changes\n");

    // The pull request, against the cluster.
    let o = run(&[
        "diff",
        "-f",
        "new/tenants",
        "--classes",
        "new/classes",
        "--kubeconfig",
        kubeconfig_arg,
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_golden("diff/live.txt", &stdout(&o));

    runtime.block_on(server.shutdown());
    let _ = std::fs::remove_file(&kubeconfig);
}
