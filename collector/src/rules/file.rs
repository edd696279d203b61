//! Reading rule files (Prometheus's format plus Vigil's `clear:` and `forecast:`), with
//! file and line in every error. Placeholder: being written.

use std::path::{Path, PathBuf};

use super::spec::RuleFile;

/// One thing wrong with a rule file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong, and what to do about it.
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Reads and validates one rule file.
pub fn load_file(path: &Path) -> Result<RuleFile, Vec<Diagnostic>> {
    Err(vec![Diagnostic {
        file: path.to_owned(),
        line: None,
        message: "rule files are being written".into(),
    }])
}

/// Reads and validates every file (paths may be globs); all problems of all files, or the
/// files.
pub fn load_files(paths: &[PathBuf]) -> Result<Vec<RuleFile>, Vec<Diagnostic>> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        match load_file(path) {
            Ok(f) => files.push(f),
            Err(mut d) => problems.append(&mut d),
        }
    }
    if problems.is_empty() { Ok(files) } else { Err(problems) }
}
