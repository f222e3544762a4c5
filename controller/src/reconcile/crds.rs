//! The CRDs at start-up: installed or upgraded by the operator when told to
//! (`run --install-crds`, which the chart sets), and checked against what this build
//! understands before anything else runs.
//!
//! Why the operator applies them: Helm installs `crds/` once and never upgrades them, and a
//! later `kubectl apply --server-side -f crds/` conflicts with the fields Helm's field
//! manager owns. Server-side apply under the operator's own field manager with `force` takes
//! those fields over, so an upgrade of the chart upgrades the CRDs with the operator that
//! needs them.
//!
//! Skew: a CRD that lacks a field this build's schema has is older than this build
//! understands; the operator refuses to run against it (its writes would be pruned by the
//! API server, its reads would miss fields). A CRD with fields this build does not know is
//! newer (an operator rolled back, or an old replica during a rollout): it is left as it is,
//! never downgraded, and the operator runs (fields are only ever added within a version).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

use super::FIELD_MANAGER;
use crate::api::crd::{self, SchemaSkew};

/// Why the CRDs could not be installed or are not usable.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// Reading a CRD failed.
    #[error("reading CRD {crd}: {source}")]
    Read {
        /// The CRD's name.
        crd: String,
        /// The API server's answer.
        #[source]
        source: Box<kube::Error>,
    },
    /// Applying a CRD failed.
    #[error("installing CRD {crd} (server-side apply as {FIELD_MANAGER}, forced): {source}")]
    Apply {
        /// The CRD's name.
        crd: String,
        /// The API server's answer.
        #[source]
        source: Box<kube::Error>,
    },
    /// A CRD is older than this build: it lacks fields the operator uses.
    #[error(
        "CRD {crd} is older than this operator ({version}) understands: it lacks {missing}; upgrade the CRDs first (`tenant-operator crd | kubectl apply --server-side --force-conflicts -f -`), or let the operator install them (`run --install-crds`, chart value crds.install=true)",
        version = env!("CARGO_PKG_VERSION"),
        missing = .missing.join(", ")
    )]
    TooOld {
        /// The CRD's name.
        crd: String,
        /// Schema paths this build has and the CRD lacks (`v1alpha1: .spec.production`).
        missing: Vec<String>,
    },
}

/// Installs or upgrades every CRD of this build, except one the cluster holds in a newer
/// form (fields this build does not know), which is left as it is. An apply that changes
/// nothing is no write for the API server, so every replica may do this at every start.
pub async fn install(client: &Client) -> Result<(), CrdError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for ours in crd::crds() {
        let name = crd::crd_name(&ours).to_string();
        let live = api.get_opt(&name).await.map_err(|source| CrdError::Read {
            crd: name.clone(),
            source: Box::new(source),
        })?;
        if let Some(live) = &live {
            let skew = crd::schema_skew(live, &ours);
            if !skew.newer.is_empty() {
                tracing::warn!(crd = %name, unknown = ?skew.newer, "CRD is newer than this operator; left as it is (never downgraded)");
                continue;
            }
        }
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&ours),
        )
        .await
        .map_err(|source| CrdError::Apply {
            crd: name.clone(),
            source: Box::new(source),
        })?;
        tracing::info!(crd = %name, upgraded = live.is_some(), "installed CRD");
    }
    Ok(())
}

/// Refuses a CRD older than this build; reports (and accepts) a newer one.
pub async fn check(client: &Client) -> Result<(), CrdError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for ours in crd::crds() {
        let name = crd::crd_name(&ours).to_string();
        let live = api.get(&name).await.map_err(|source| CrdError::Read {
            crd: name.clone(),
            source: Box::new(source),
        })?;
        let SchemaSkew { missing, newer } = crd::schema_skew(&live, &ours);
        if !missing.is_empty() {
            return Err(CrdError::TooOld { crd: name, missing });
        }
        if !newer.is_empty() {
            tracing::info!(crd = %name, unknown = ?newer, "CRD is newer than this operator; running (fields are only added within a version)");
        }
    }
    Ok(())
}
