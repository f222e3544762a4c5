//! Subcommands of the `tenant-operator` binary, one module each.

pub mod audit;
pub mod crd;
#[cfg(feature = "dev")]
pub mod dev;
pub mod diff;
pub mod render;
pub mod run;
pub mod validate;

/// Flags shared by every subcommand.
#[derive(clap::Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Log format: `text` for people, `json` for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "TENANT_OPERATOR_LOG_FORMAT")]
    pub log_format: LogFormat,
}

/// Log output format.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Output format of commands that print objects, as in `kubectl -o`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    #[default]
    Yaml,
    Json,
}
