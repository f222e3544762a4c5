//! The CustomResourceDefinitions of the API, generated from the Rust types: what
//! `tenant-operator crd` prints and what `crds/` holds (`hack/update-crds.sh` writes it;
//! a test fails when it is stale).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use super::{DomainDelegation, TenantClass, TenantService};

/// First lines of every generated CRD document.
const HEADER: &str = "# Generated from controller/src/api by `tenant-operator crd`; do not edit.\n\
                      # After changing the API types, run hack/update-crds.sh.\n";

/// A CRD could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// YAML serialisation failed (cannot happen for the types of k8s-openapi, which are
    /// plain data; reported rather than unwrapped all the same).
    #[error("cannot write CRD {name} as YAML: {source}")]
    Yaml {
        /// `metadata.name` of the CRD.
        name: String,
        /// The serializer's error.
        source: serde_saphyr::SerializeError,
    },
    /// JSON serialisation failed (as above, not expected).
    #[error("cannot write CRD {name} as JSON: {source}")]
    Json {
        /// `metadata.name` of the CRD.
        name: String,
        /// The serializer's error.
        source: serde_json::Error,
    },
}

/// Every CRD, sorted by name (`domaindelegations`, `tenantclasses`, `tenantservices`).
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        DomainDelegation::crd(),
        TenantClass::crd(),
        TenantService::crd(),
    ]
}

/// `metadata.name` of a CRD (`<plural>.<group>`), which is also its file name in `crds/`
/// without the `.yaml`.
pub fn crd_name(crd: &CustomResourceDefinition) -> &str {
    crd.metadata.name.as_deref().unwrap_or_default()
}

/// The `openAPIV3Schema` of the CRD's served version as JSON, what
/// `crd_schema::{check, validate}` check objects against, e.g.
/// `openapi_schema(&TenantService::crd())`. `None` only for a CRD without a schema
/// (never one of ours).
pub fn openapi_schema(crd: &CustomResourceDefinition) -> Option<serde_json::Value> {
    let version = crd.spec.versions.iter().find(|v| v.served)?;
    let schema = version.schema.as_ref()?.open_api_v3_schema.as_ref()?;
    serde_json::to_value(schema).ok()
}

/// One CRD as a YAML document, with a header saying it is generated; this is the text
/// of `crds/<name>.yaml`.
pub fn crd_yaml(crd: &CustomResourceDefinition) -> Result<String, CrdError> {
    let body = serde_saphyr::to_string(crd).map_err(|source| CrdError::Yaml {
        name: crd_name(crd).to_string(),
        source,
    })?;
    Ok(format!("{HEADER}{body}"))
}

/// Every CRD as one multi-document YAML stream: the files of `crds/` joined by `---`.
pub fn crds_yaml() -> Result<String, CrdError> {
    let docs = crds().iter().map(crd_yaml).collect::<Result<Vec<_>, _>>()?;
    Ok(docs.join("---\n"))
}

/// Every CRD as a `v1` `List`, as `kubectl get -o json` prints several objects.
pub fn crds_json() -> Result<String, CrdError> {
    let items = crds()
        .iter()
        .map(|crd| {
            serde_json::to_value(crd).map_err(|source| CrdError::Json {
                name: crd_name(crd).to_string(),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let list =
        serde_json::json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items});
    serde_json::to_string_pretty(&list)
        .map(|text| text + "\n")
        .map_err(|source| CrdError::Json {
            name: "List".to_string(),
            source,
        })
}

/// How a live CRD's schemas differ from this build's: what it lacks (older) and what it
/// has that this build does not know (newer), as `<version>: <path>` (`v1alpha1: .spec.production`)
/// or `<version>` for a whole version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaSkew {
    /// In this build's schema, not in the live one.
    pub missing: Vec<String>,
    /// In the live schema, not in this build's.
    pub newer: Vec<String>,
}

/// Compares the served versions of `live` with those of `ours` (the same CRD), field by
/// field. Pure: what `reconcile::crds` decides on.
pub fn schema_skew(live: &CustomResourceDefinition, ours: &CustomResourceDefinition) -> SchemaSkew {
    let live = served_paths(live);
    let ours = served_paths(ours);
    SchemaSkew {
        missing: ours.difference(&live).cloned().collect(),
        newer: live.difference(&ours).cloned().collect(),
    }
}

/// Every served version (`v1alpha1`) and every field path of its schema (`v1alpha1: .spec.x`,
/// `[]` for list items, `.*` for map values).
fn served_paths(crd: &CustomResourceDefinition) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for version in crd.spec.versions.iter().filter(|v| v.served) {
        out.insert(version.name.clone());
        let schema = version
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .and_then(|s| serde_json::to_value(s).ok());
        if let Some(schema) = schema {
            collect_paths(&schema, &format!("{}: ", version.name), &mut out);
        }
    }
    out
}

fn collect_paths(
    schema: &serde_json::Value,
    at: &str,
    out: &mut std::collections::BTreeSet<String>,
) {
    if let Some(properties) = schema.get("properties").and_then(|p| p.as_object()) {
        for (name, sub) in properties {
            let path = format!("{at}.{name}");
            out.insert(path.clone());
            collect_paths(sub, &path, out);
        }
    }
    if let Some(items) = schema.get("items") {
        collect_paths(items, &format!("{at}[]"), out);
    }
    if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        collect_paths(values, &format!("{at}.*"), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_names_missing_and_unknown_fields_per_version() {
        let ours = TenantService::crd();
        assert_eq!(schema_skew(&ours, &ours), SchemaSkew::default());
        let mut older = ours.clone();
        let mut json = serde_json::to_value(&older).unwrap();
        let spec = &mut json["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
            ["properties"];
        spec.as_object_mut().unwrap().remove("deletionPolicy");
        spec["futureField"] = serde_json::json!({"type": "string"});
        older = serde_json::from_value(json).unwrap();
        let skew = schema_skew(&older, &ours);
        assert_eq!(skew.missing, ["v1alpha1: .spec.deletionPolicy"]);
        assert_eq!(skew.newer, ["v1alpha1: .spec.futureField"]);
        let mut unserved = ours.clone();
        unserved.spec.versions[0].served = false;
        assert!(
            schema_skew(&unserved, &ours)
                .missing
                .contains(&"v1alpha1".to_string())
        );
    }

    #[test]
    fn crds_are_named_after_plural_and_group_and_sorted() {
        let names: Vec<String> = crds().iter().map(|c| crd_name(c).to_string()).collect();
        assert_eq!(
            names,
            [
                "domaindelegations.tenancy.innova.puglia.it",
                "tenantclasses.tenancy.innova.puglia.it",
                "tenantservices.tenancy.innova.puglia.it"
            ]
        );
    }

    #[test]
    fn yaml_stream_is_the_documents_joined_and_reads_back() {
        let text = crds_yaml().unwrap();
        let docs: Vec<CustomResourceDefinition> = serde_saphyr::from_str_multiple(&text).unwrap();
        assert_eq!(docs, crds());
        assert!(text.starts_with("# Generated"));
    }

    #[test]
    fn schema_of_each_crd_describes_its_spec() {
        for c in crds() {
            let schema = openapi_schema(&c).unwrap();
            assert_eq!(schema["type"], "object");
            assert_eq!(
                schema["properties"]["spec"]["type"],
                "object",
                "{}",
                crd_name(&c)
            );
        }
    }

    #[test]
    fn json_is_a_list_of_every_crd() {
        let list: serde_json::Value = serde_json::from_str(&crds_json().unwrap()).unwrap();
        assert_eq!(list["kind"], "List");
        assert_eq!(
            list["items"][0]["spec"]["names"]["kind"],
            "DomainDelegation"
        );
        assert_eq!(list["items"][2]["spec"]["names"]["kind"], "TenantService");
        for item in list["items"].as_array().unwrap() {
            assert_eq!(item["spec"]["scope"], "Cluster");
        }
    }
}
