//! Writes one TenantService manifest per Comune, from the ISTAT registry embedded in the
//! library, for scale tests and demos:
//!
//! ```text
//! cargo run -p tenant-operator --example gen_tenants -- --region puglia --out /tmp/puglia
//! tenant-operator render -f /tmp/puglia
//! ```
//!
//! The tenants are those of `tenant_operator::samples::comuni_tenants` (see there for how
//! the class is chosen); each file is `<tenant>.yaml`.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use kube::ResourceExt;
use tenant_operator::samples::{Scope, comuni_tenants};

/// Write one TenantService per Comune of Puglia or of Italy.
#[derive(Parser, Debug)]
struct Args {
    /// Which Comuni: `puglia` (257) or `italia` (7,896).
    #[arg(long, value_enum, default_value_t = Region::Puglia)]
    region: Region,
    /// Directory to write the manifests to (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Region {
    Puglia,
    Italia,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let scope = match args.region {
        Region::Puglia => Scope::Puglia,
        Region::Italia => Scope::Italia,
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let tenants = comuni_tenants(scope);
    for tenant in &tenants {
        let path = args.out.join(format!("{}.yaml", tenant.name_any()));
        let yaml = serde_saphyr::to_string(tenant)
            .with_context(|| format!("serialising {}", tenant.name_any()))?;
        std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!(
        "wrote {} TenantServices to {}",
        tenants.len(),
        args.out.display()
    );
    Ok(())
}
