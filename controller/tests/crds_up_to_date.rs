//! `crds/` holds exactly what `tenant-operator crd` generates from the Rust types, so the
//! checked-in CRDs (and the chart's copy of them) never drift from the code.

use std::path::{Path, PathBuf};

use tenant_operator::api::crd;

fn crds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds")
}

#[test]
fn crds_dir_matches_the_generated_crds() {
    let dir = crds_dir();
    let mut stale = Vec::new();
    for c in crd::crds() {
        let file = format!("{}.yaml", crd::crd_name(&c));
        let want = crd::crd_yaml(&c).expect("a CRD always serialises");
        match std::fs::read_to_string(dir.join(&file)) {
            Ok(have) if have == want => {}
            Ok(_) => stale.push(format!("crds/{file} differs from the generated CRD")),
            Err(e) => stale.push(format!("crds/{file} cannot be read: {e}")),
        }
    }
    assert!(
        stale.is_empty(),
        "{}\nrun hack/update-crds.sh and commit crds/ (the chart links to it)",
        stale.join("\n")
    );
}

#[test]
fn crds_dir_holds_no_other_files() {
    let expected: Vec<String> = crd::crds()
        .iter()
        .map(|c| format!("{}.yaml", crd::crd_name(c)))
        .collect();
    let mut extra: Vec<String> = std::fs::read_dir(crds_dir())
        .expect("crds/ exists")
        .filter_map(std::result::Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !expected.contains(name))
        .collect();
    extra.sort();
    assert!(
        extra.is_empty(),
        "crds/ has files no CRD generates: {extra:?}; run hack/update-crds.sh, which removes them"
    );
}

#[test]
fn cli_prints_the_same_yaml() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
        .arg("crd")
        .output()
        .expect("the tenant-operator binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        crd::crds_yaml().unwrap()
    );
}

#[test]
fn cli_prints_a_json_list() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
        .args(["crd", "-o", "json"])
        .output()
        .expect("the tenant-operator binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(list["kind"], "List");
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "domaindelegations.tenancy.innova.puglia.it",
            "tenantclasses.tenancy.innova.puglia.it",
            "tenantservices.tenancy.innova.puglia.it"
        ]
    );
}
