//! One realistic tenant rendered with a default class of `policies/classes/`, shared by the
//! tests that check the chart and the admission policies against what render produces.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use tenant_operator::api::{TenantClass, TenantService};
use tenant_operator::render::{Platform, RenderContext, render};

/// A tenant as an entity would submit it (the README's example), rendered with the default
/// `standard` class of `policies/classes/`.
const SAMPLE_TENANT: &str = r#"
apiVersion: tenancy.innova.puglia.it/v1alpha1
kind: TenantService
metadata:
  name: comune-molfetta
spec:
  entity:
    type: Comune
    displayName: Comune di Molfetta
    istatCode: "072029"
    ipaCode: c_f284
    province: BA
  contacts:
    rtd: rtd@comune.molfetta.ba.it
  dataClassification: ordinario
  class: standard
  environments:
    - name: prod
    - name: test
  tls:
    hostnames: [servizi.comune.molfetta.ba.it]
  access:
    adminGroups: [comune-molfetta-admins]
    editGroups: [comune-molfetta-deployers]
    viewerGroups: [comune-molfetta-auditors]
  deletionPolicy: Retain
"#;

/// The rendered child objects (as JSON, with apiVersion and kind) and the labels of the TLS
/// Secrets the operator will issue for the sample tenant.
pub fn rendered() -> (Vec<Value>, Vec<BTreeMap<String, String>>) {
    let tenant: TenantService =
        serde_saphyr::from_str(SAMPLE_TENANT).expect("sample tenant parses");
    let class_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/classes/standard.yaml");
    let class_text = std::fs::read_to_string(&class_path)
        .unwrap_or_else(|e| panic!("{}: {e}", class_path.display()));
    let class: TenantClass = serde_saphyr::from_str(&class_text).expect("standard class parses");
    let platform = Platform::default();
    let ctx = RenderContext {
        platform: &platform,
        peers: &[],
        ca_certificate: None,
    };
    let desired = render(&tenant, &class, &ctx).expect("sample renders");
    let objects = desired
        .objects
        .iter()
        .map(|o| o.to_json().expect("object serialises"))
        .collect();
    let secret_labels = desired
        .certificates
        .iter()
        .map(|c| c.labels.clone())
        .collect();
    (objects, secret_labels)
}
