//! `vigil rules check FILE...`: validates rule files on this machine, no collector needed,
//! with the rule-file reader's report ([`check_report`]), worded like `promtool check
//! rules`:
//!
//! ```text
//!   Checking rules/node.yml
//!     SUCCESS: 12 rules found
//!
//!   Checking rules/bad.yml
//!     FAILED:
//!   rules/bad.yml:14: group "node", rule "HighCpu": …
//! ```
//!
//! Any problem in any file makes the exit code 1. `--output json` writes one array instead,
//! an object per file, in file name order: `{"file":…,"rules":12,"problems":[{"line":14,
//! "message":…}]}` (`rules` 0 for a file with problems, `line` null when unknown).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;

use super::super::output::{self, Output};
use vigil_rules::file::{CheckReport, check_report};

/// Why `vigil rules check` or `vigil rules reload` failed; the details are already printed.
#[derive(Debug, thiserror::Error)]
pub enum RulesFailure {
    /// Some files did not pass.
    #[error("{bad} of {total} rule files have problems; fix them and check again")]
    Check {
        /// Files (or patterns) with problems.
        bad: usize,
        /// Files checked.
        total: usize,
    },
    /// The collector refused the new rule files.
    #[error(
        "the collector did not reload: its rule files have {0} problem(s), listed above; \
         it keeps running the rules it had"
    )]
    Reload(usize),
}

/// Checks every file and prints the outcome; fails when any file has a problem.
pub fn run(files: &[PathBuf], output: Output) -> anyhow::Result<()> {
    let report = check_report(files);
    let mut out = output::stdout();
    write_report(&report, output, &mut out)?;
    out.flush()?;
    if !report.ok() {
        let bad = by_file(&report)
            .values()
            .filter(|f| !f.problems.is_empty())
            .count();
        return Err(RulesFailure::Check {
            bad,
            total: report.files.len() + bad,
        }
        .into());
    }
    Ok(())
}

/// What one file came to, as `--output json` writes it.
#[derive(Debug, Default, Serialize)]
struct FileRecord {
    file: String,
    rules: usize,
    problems: Vec<Problem>,
}

/// One problem of a file.
#[derive(Debug, Serialize)]
struct Problem {
    line: Option<usize>,
    message: String,
}

/// The report file by file, in file name order.
fn by_file(report: &CheckReport) -> BTreeMap<String, FileRecord> {
    let mut files: BTreeMap<String, FileRecord> = BTreeMap::new();
    for file in &report.files {
        let name = file.path.display().to_string();
        let record = files.entry(name.clone()).or_default();
        record.file = name;
        record.rules = file.groups.iter().map(|g| g.rules.len()).sum();
    }
    for problem in &report.problems {
        let name = problem.file.display().to_string();
        let record = files.entry(name.clone()).or_default();
        record.file = name;
        record.problems.push(Problem {
            line: problem.line,
            message: problem.message.clone(),
        });
    }
    files
}

/// promtool's wording, or one JSON array.
fn write_report(report: &CheckReport, output: Output, out: &mut dyn Write) -> io::Result<()> {
    match output {
        Output::Json => {
            let files: Vec<FileRecord> = by_file(report).into_values().collect();
            output::write_json(out, &files)
        }
        Output::Table | Output::Csv => out.write_all(report.text.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "groups:
  - name: node
    rules:
      - alert: HighLoad
        expr: node_load1 > 4
        for: 5m
      - record: host:load1:max
        expr: max by (host) (node_load1)
";

    const BAD: &str = "groups:
  - name: node
    rules:
      - alert: HighLoad
        expr: node_load1 > 4
        for: soon
";

    fn files() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.yml");
        let bad = dir.path().join("bad.yml");
        std::fs::write(&good, GOOD).unwrap();
        std::fs::write(&bad, BAD).unwrap();
        (dir, good, bad)
    }

    fn written(paths: &[PathBuf], output: Output) -> String {
        let mut out = Vec::new();
        write_report(&check_report(paths), output, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn good_file_counts_its_rules() {
        let (_dir, good, _) = files();
        assert_eq!(
            written(std::slice::from_ref(&good), Output::Table),
            format!("Checking {}\n  SUCCESS: 2 rules found\n\n", good.display())
        );
        run(&[good], Output::Table).unwrap();
    }

    #[test]
    fn bad_file_names_file_and_line_and_exits_1() {
        let (_dir, good, bad) = files();
        let text = written(&[good.clone(), bad.clone()], Output::Table);
        let prefix = format!("{}:6: ", bad.display());
        assert!(
            text.contains(&format!("Checking {}\n  FAILED:\n{prefix}", bad.display())),
            "{text}"
        );
        let err = run(&[good, bad], Output::Table).unwrap_err();
        let failure = err.downcast_ref::<RulesFailure>().expect("a RulesFailure");
        assert!(matches!(failure, RulesFailure::Check { bad: 1, total: 2 }));
        assert_eq!(
            err.to_string(),
            "1 of 2 rule files have problems; fix them and check again"
        );
    }

    #[test]
    fn json_has_one_object_per_file() {
        let (_dir, good, bad) = files();
        let text = written(&[good.clone(), bad.clone()], Output::Json);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        // bad.yml sorts before good.yml.
        assert_eq!(v[0]["file"], bad.display().to_string());
        assert_eq!(v[0]["rules"], 0);
        assert_eq!(v[0]["problems"][0]["line"], 6);
        assert!(
            v[0]["problems"][0]["message"]
                .as_str()
                .unwrap()
                .contains("soon"),
            "{text}"
        );
        assert_eq!(v[1]["file"], good.display().to_string());
        assert_eq!(v[1]["rules"], 2);
        assert_eq!(v[1]["problems"], serde_json::json!([]));
    }

    #[test]
    fn a_missing_file_fails() {
        let err = run(&["/nonexistent/rules.yml".into()], Output::Json).unwrap_err();
        assert!(matches!(
            err.downcast_ref::<RulesFailure>(),
            Some(RulesFailure::Check { bad: 1, total: 1 })
        ));
    }
}
