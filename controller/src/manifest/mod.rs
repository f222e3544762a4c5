//! Manifests on disk, as the pull-request pipeline and `dev` read them: files, directories
//! and standard input loaded into documents that know their `file:line` ([`load`](mod@load),
//! [`document`]), and the `validate` engine that checks them ([`check`]).

pub mod check;
pub mod document;
mod hints;
pub mod load;
mod repair;
mod traps;

pub use document::{Document, Segment, SyntaxError, parse, parse_path, path_without_indices};
pub use load::{
    EXTENSIONS, LoadError, Manifests, STDIN_NAME, collect_files, load, load_with_library,
};
