//! Reading rule files (Prometheus's format plus Vigil's `clear:` and `forecast:`), with
//! file and line in every error, and the report of `vigil rules check`.
//!
//! ```yaml
//! groups:
//!   - name: host                 # unique in the file
//!     interval: 30s              # optional; the collector's default otherwise
//!     limit: 0                   # accepted for Prometheus files; not applied by Vigil
//!     rules:
//!       - alert: HostHighCpu     # any non-empty name
//!         expr: cpu_busy > 0.9   # PromQL: an instant vector or a scalar
//!         clear: cpu_busy < 0.8  # Vigil: must hold before a firing alert resolves
//!         for: 10m               # Prometheus durations: 90s, 5m, 1h30m, 1d, 1w
//!         keep_firing_for: 5m
//!         labels: {severity: warning}
//!         annotations:
//!           summary: "CPU at {{ $value | humanizePercentage }} on {{ $labels.host }}"
//!       - alert: DiskFullSoon    # Vigil: `forecast:` instead of `expr:`
//!         forecast: {expr: disk_used_ratio, threshold: 0.95, lookback: 7d, horizon: 2d}
//!       - record: host:cpu_busy:avg5m   # a valid metric name
//!         expr: avg_over_time(cpu_busy[5m])
//! ```
//!
//! Checks follow `promtool check rules` (Prometheus 2.42): YAML syntax, unknown fields
//! (named), duplicate group names, missing or empty names and expressions, recording-rule
//! names, label and annotation names, templates, PromQL that does not parse; and further
//! what Prometheus only finds when the rule runs: PromQL constructs Vigil's engine does not
//! evaluate (named), expressions of the wrong type, and the `forecast:` parameters. Every
//! problem of a file is reported, each with the line of its rule or field.
//!
//! # Layout
//! - `parse`: the walk over the YAML tree (file, groups); `rule`: one rule;
//!   `forecast_block`: the `forecast:` block.
//! - `lines`: line numbers from the text's block structure.
//! - `promql_check`, `duration`: expressions and durations.
//! - `glob`: `*.yml` in rule-file paths.

mod anomaly_block;
pub use anomaly_block::SENSITIVITY;
mod duration;
mod forecast_block;
mod glob;
mod lines;
mod parse;
mod promql_check;
mod rule;
#[cfg(test)]
mod tests;

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
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![Diagnostic {
            file: path.to_owned(),
            line: None,
            message: format!("cannot read the rule file: {e}; check the path and its permissions"),
        }]
    })?;
    parse::read(path, &text)
}

/// Reads and validates every file (paths may be globs); all problems of all files, or the
/// files. A glob that matches nothing adds no file, as in Prometheus's `rule_files`.
pub fn load_files(paths: &[PathBuf]) -> Result<Vec<RuleFile>, Vec<Diagnostic>> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for path in paths.iter().flat_map(|p| glob::expand(p)) {
        match load_file(&path) {
            Ok(f) => files.push(f),
            Err(mut d) => problems.append(&mut d),
        }
    }
    if problems.is_empty() {
        Ok(files)
    } else {
        Err(problems)
    }
}

/// What `vigil rules check FILE...` found.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The files that passed.
    pub files: Vec<RuleFile>,
    /// Every problem in the files that did not.
    pub problems: Vec<Diagnostic>,
    /// The report as `promtool check rules` prints it, one section per file:
    /// `Checking FILE` then `  SUCCESS: N rules found`, or `  FAILED:` and the problems.
    pub text: String,
}

impl CheckReport {
    /// Whether every file passed (the command exits 0).
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks every file (paths may be globs; unlike [`load_files`], a pattern that matches
/// nothing is a problem here, since the user asked for those files).
pub fn check_report(paths: &[PathBuf]) -> CheckReport {
    let mut report = CheckReport {
        files: Vec::new(),
        problems: Vec::new(),
        text: String::new(),
    };
    for pattern in paths {
        let expanded = glob::expand(pattern);
        if expanded.is_empty() {
            let problem = Diagnostic {
                file: pattern.clone(),
                line: None,
                message: "no file matches this pattern".into(),
            };
            report.text += &format!("Checking {}\n  FAILED:\n{problem}\n\n", pattern.display());
            report.problems.push(problem);
        }
        for path in expanded {
            report.text += &format!("Checking {}\n", path.display());
            match load_file(&path) {
                Ok(file) => {
                    let count: usize = file.groups.iter().map(|g| g.rules.len()).sum();
                    report.text += &format!("  SUCCESS: {count} rules found\n\n");
                    report.files.push(file);
                }
                Err(problems) => {
                    report.text += "  FAILED:\n";
                    for p in &problems {
                        report.text += &format!("{p}\n");
                    }
                    report.text += "\n";
                    report.problems.extend(problems);
                }
            }
        }
    }
    report
}
