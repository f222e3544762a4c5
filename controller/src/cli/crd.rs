//! `tenant-operator crd`: prints the CustomResourceDefinitions of the API, generated from
//! the Rust types (the same text as `crds/`), or writes them one file each.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use tenant_operator::api::crd;

use super::{GlobalArgs, OutputFormat};

/// Print the CRDs of TenantService and TenantClass, ready for `kubectl apply --server-side -f -`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output format: `yaml` (one document per CRD, as in `crds/`) or `json` (a `List`).
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Yaml)]
    pub output: OutputFormat,

    /// Instead of printing, write `<DIR>/<crd name>.yaml` for each CRD (what
    /// `hack/update-crds.sh` does to refresh `crds/`).
    #[arg(long, value_name = "DIR", conflicts_with = "output")]
    pub output_dir: Option<PathBuf>,
}

pub fn run(_global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    if let Some(dir) = args.output_dir {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create directory {}", dir.display()))?;
        for c in crd::crds() {
            let path = dir.join(format!("{}.yaml", crd::crd_name(&c)));
            std::fs::write(&path, crd::crd_yaml(&c)?)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let text = match args.output {
        OutputFormat::Yaml => crd::crds_yaml()?,
        OutputFormat::Json => crd::crds_json()?,
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write to standard output")?;
    Ok(ExitCode::SUCCESS)
}
