//! Loading manifests: `-f` arguments (files, directories read recursively, `-` for standard
//! input) expanded into files, each parsed into its documents. The one loader of
//! `validate`, `render` and `dev`.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::document::{Document, SyntaxError, parse};
use crate::api::validation::Rule;

/// File name extensions read from directories.
pub const EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// What `-f -` stands for in messages.
pub const STDIN_NAME: &str = "<stdin>";

/// A file or directory that could not be read; the message ends with its rule
/// (`[INPUT-UNREADABLE]`), as every problem's does.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Reading a file, a directory or standard input failed.
    #[error("cannot read {path}: {source} [{}]", Rule::InputUnreadable)]
    Io {
        /// The path as given (`<stdin>` for standard input).
        path: String,
        /// What the operating system said (not found, permission denied, ...).
        source: std::io::Error,
    },
    /// The trusted policy folder (`--classes`) cannot be read, or holds no TenantClass: said
    /// as such before any rule runs, rather than as every tenant's class missing.
    #[error(
        "--classes {path}: {problem}; --classes names the trusted policy folder of TenantClasses, DomainDelegations and reserved namespaces (default policies, relative to the working directory) [{}]",
        Rule::InputPolicyFolder
    )]
    Library {
        /// The folder (or file) as given.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// Expands the `-f` arguments into files: a file as itself, `-` as standard input, a
/// directory as every `*.yaml`, `*.yml` and `*.json` below it, sorted by path so that
/// output is deterministic.
pub fn collect_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut files = Vec::new();
    for input in inputs {
        if input.as_os_str() == "-" {
            files.push(input.clone());
            continue;
        }
        let meta = std::fs::metadata(input).map_err(|source| io(input, source))?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(input, &mut found)?;
            found.sort();
            files.extend(found);
        } else {
            files.push(input.clone());
        }
    }
    Ok(files)
}

fn io(path: &Path, source: std::io::Error) -> LoadError {
    LoadError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Every manifest file below `dir`.
fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    for entry in std::fs::read_dir(dir).map_err(|source| io(dir, source))? {
        let path = entry.map_err(|source| io(dir, source))?.path();
        // `metadata` follows symlinks, as `kubectl apply -f DIR` does.
        let meta = std::fs::metadata(&path).map_err(|source| io(&path, source))?;
        if meta.is_dir() {
            walk(&path, found)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e))
        {
            found.push(path);
        }
    }
    Ok(())
}

/// Documents and syntax errors of all inputs (see [`collect_files`]); standard input is
/// read at most once, however often `-` is given.
pub fn load(inputs: &[PathBuf]) -> Result<(Vec<Document>, Vec<SyntaxError>), LoadError> {
    load_files(&collect_files(inputs)?)
}

/// Documents and syntax errors of files as [`collect_files`] gives them.
fn load_files(files: &[PathBuf]) -> Result<(Vec<Document>, Vec<SyntaxError>), LoadError> {
    let mut documents = Vec::new();
    let mut errors = Vec::new();
    let mut stdin_read = false;
    for file in files {
        let (name, text) = if file.as_os_str() == "-" {
            if stdin_read {
                continue;
            }
            stdin_read = true;
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|source| LoadError::Io {
                    path: STDIN_NAME.to_string(),
                    source,
                })?;
            (STDIN_NAME.to_string(), text)
        } else {
            let text = std::fs::read_to_string(file).map_err(|source| io(file, source))?;
            (file.display().to_string(), text)
        };
        let (docs, errs) = parse(&name, &text);
        documents.extend(docs);
        errors.extend(errs);
    }
    Ok((documents, errors))
}

/// The manifests of a check: the documents given with `-f`, and the class library (the
/// TenantClasses tenants may name, e.g. `policies/classes`).
#[derive(Debug, Default)]
pub struct Manifests {
    /// The documents of the `-f` inputs.
    pub documents: Vec<Document>,
    /// The documents of the class library.
    pub library: Vec<Document>,
    /// The documents of either that could not be parsed.
    pub syntax: Vec<SyntaxError>,
    /// How many files were read.
    pub files: usize,
}

/// Loads the `-f` inputs and the class `library` (a directory or file), as `validate`,
/// `render`, `audit` and `diff` do. A library file also given with `-f` is read once, as an
/// input, so that a pull request changing a class is checked with the change.
///
/// A library that cannot be read, holds no manifest file or no TenantClass is a
/// [`LoadError::Library`] naming it: every tenant would otherwise be reported as naming a
/// class that does not exist, which sends a newcomer looking in the wrong place.
pub fn load_with_library(
    inputs: &[PathBuf],
    library: Option<&Path>,
) -> Result<Manifests, LoadError> {
    let files = collect_files(inputs)?;
    let given: BTreeSet<PathBuf> = files.iter().filter_map(|f| canonical(f)).collect();
    let (documents, mut syntax) = load_files(&files)?;
    let library_files: Vec<PathBuf> = match library {
        Some(dir) => {
            let all = library_files(dir)?;
            let (own, _) = load_files(&all).map_err(|e| library_error(dir, e.to_string()))?;
            if !own.iter().any(|d| d.kind() == Some("TenantClass")) {
                return Err(library_error(
                    dir,
                    format!(
                        "holds no TenantClass ({} manifest file(s) read); point it at the folder with the classes tenants name, e.g. the repository's policies/",
                        all.len()
                    ),
                ));
            }
            all.into_iter()
                .filter(|f| canonical(f).is_none_or(|c| !given.contains(&c)))
                .collect()
        }
        None => Vec::new(),
    };
    let (library, library_syntax) = load_files(&library_files)?;
    syntax.extend(library_syntax);
    Ok(Manifests {
        documents,
        library,
        syntax,
        files: files.len() + library_files.len(),
    })
}

/// The manifest files of the library `dir`, or why there are none.
fn library_files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    if let Err(e) = std::fs::metadata(dir) {
        return Err(library_error(dir, e.to_string()));
    }
    let files =
        collect_files(&[dir.to_path_buf()]).map_err(|e| library_error(dir, e.to_string()))?;
    if files.is_empty() {
        return Err(library_error(
            dir,
            format!(
                "holds no manifest file ({}); point it at the folder with the classes tenants name, e.g. the repository's policies/",
                EXTENSIONS.map(|e| format!("*.{e}")).join(", ")
            ),
        ));
    }
    Ok(files)
}

fn library_error(dir: &Path, problem: String) -> LoadError {
    LoadError::Library {
        path: dir.display().to_string(),
        problem,
    }
}

/// The file itself, as the file system names it; `None` for standard input.
fn canonical(path: &Path) -> Option<PathBuf> {
    (path.as_os_str() != "-")
        .then(|| path.canonicalize().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_walked_recursively_and_sorted() {
        let dir = std::env::temp_dir().join(format!("manifest-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        for f in ["b.yaml", "a.yml", "sub/c.json", "notes.txt"] {
            std::fs::write(dir.join(f), "kind: X\n").unwrap();
        }
        let files = collect_files(std::slice::from_ref(&dir)).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|p| p.strip_prefix(&dir).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a.yml", "b.yaml", "sub/c.json"]);
        let (docs, _) = load(std::slice::from_ref(&dir)).unwrap();
        assert_eq!(docs.len(), 3);
        assert!(matches!(
            collect_files(&[dir.join("missing")]),
            Err(LoadError::Io { .. })
        ));
        // A library without a TenantClass is refused as such.
        let err = load_with_library(&[dir.join("b.yaml")], Some(dir.as_path())).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "--classes {}: holds no TenantClass (3 manifest file(s) read)",
                dir.display()
            )),
            "{err}"
        );
        // A library file also given as an input is read once, as an input.
        std::fs::write(dir.join("a.yml"), "kind: TenantClass\n").unwrap();
        let manifests = load_with_library(&[dir.join("b.yaml")], Some(dir.as_path())).unwrap();
        assert_eq!(manifests.documents.len(), 1);
        assert_eq!(manifests.library.len(), 2);
        assert_eq!(manifests.files, 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_or_empty_library_is_named_as_such() {
        let dir = std::env::temp_dir().join(format!("manifest-library-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let missing = load_with_library(&[], Some(dir.as_path())).unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with(&format!("--classes {}: No such file", dir.display())),
            "{missing}"
        );
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("notes.txt"), "not a manifest").unwrap();
        let empty = load_with_library(&[], Some(dir.as_path())).unwrap_err();
        assert!(
            empty.to_string().starts_with(&format!(
                "--classes {}: holds no manifest file (*.yaml, *.yml, *.json)",
                dir.display()
            )),
            "{empty}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
