//! `vigil rules check FILE...`: validates rule files on this machine, no collector needed,
//! and words the answer like `promtool check rules`:
//!
//! ```text
//!   stdout  Checking rules/node.yml
//!             SUCCESS: 12 rules found
//!
//!   stderr    FAILED:
//!           rules/bad.yml:14: group "node", rule "HighCpu": …
//! ```
//!
//! Any problem in any file makes the exit code 1. `--output json` writes one array instead,
//! an object per file: `{"file":…,"rules":12,"problems":[{"line":14,"message":…}]}`
//! (`rules` 0 and `line` null when unknown).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::super::output::{self, Output};
use crate::rules::file::{Diagnostic, load_files};

/// Why `vigil rules check` or `vigil rules reload` failed; the details are already printed.
#[derive(Debug, thiserror::Error)]
pub enum RulesFailure {
    /// Some files did not pass.
    #[error("{bad} of {total} rule files have problems; fix them and check again")]
    Check {
        /// Files with problems.
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

/// What one file came to.
#[derive(Debug, Serialize)]
struct FileReport {
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

/// Checks every file and prints the outcome; fails when any file has a problem.
pub fn run(files: &[PathBuf], output: Output) -> anyhow::Result<()> {
    let reports: Vec<FileReport> = files.iter().map(|f| check_file(f)).collect();
    let mut out = output::stdout();
    write_reports(&reports, output, &mut out, &mut io::stderr().lock())?;
    out.flush()?;
    let bad = reports.iter().filter(|r| !r.problems.is_empty()).count();
    if bad > 0 {
        return Err(RulesFailure::Check {
            bad,
            total: reports.len(),
        }
        .into());
    }
    Ok(())
}

/// Loads one file (a glob is expanded by the loader) and counts its rules.
fn check_file(file: &Path) -> FileReport {
    let (rules, diagnostics) = match load_files(&[file.to_owned()]) {
        Ok(loaded) => (
            loaded
                .iter()
                .flat_map(|f| &f.groups)
                .map(|g| g.rules.len())
                .sum(),
            Vec::new(),
        ),
        Err(diagnostics) => (0, diagnostics),
    };
    FileReport {
        file: file.display().to_string(),
        rules,
        problems: diagnostics.iter().map(problem).collect(),
    }
}

fn problem(diagnostic: &Diagnostic) -> Problem {
    // The file is named in the report already; a diagnostic of another file (an included
    // glob match) keeps its name in the message.
    Problem {
        line: diagnostic.line,
        message: diagnostic.to_string(),
    }
}

/// promtool's wording on `out` and `err`, or one JSON array on `out`.
fn write_reports(
    reports: &[FileReport],
    output: Output,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<()> {
    if output == Output::Json {
        let json: Vec<serde_json::Value> = reports
            .iter()
            .map(|r| {
                serde_json::json!({
                    "file": r.file,
                    "rules": r.rules,
                    "problems": r.problems.iter().map(|p| {
                        // The message without the `FILE:LINE: ` the fields already hold.
                        let prefix = match p.line {
                            Some(line) => format!("{}:{line}: ", r.file),
                            None => format!("{}: ", r.file),
                        };
                        let message = p.message.strip_prefix(&prefix).unwrap_or(&p.message);
                        serde_json::json!({"line": p.line, "message": message})
                    }).collect::<Vec<_>>(),
                })
            })
            .collect();
        return output::write_json(out, &json);
    }
    for report in reports {
        writeln!(out, "Checking {}", report.file)?;
        if report.problems.is_empty() {
            writeln!(out, "  SUCCESS: {} rules found", report.rules)?;
            writeln!(out)?;
        } else {
            out.flush()?;
            writeln!(err, "  FAILED:")?;
            for problem in &report.problems {
                writeln!(err, "{}", problem.message)?;
            }
            writeln!(err)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reports() -> Vec<FileReport> {
        vec![
            FileReport {
                file: "rules/node.yml".into(),
                rules: 12,
                problems: vec![],
            },
            FileReport {
                file: "rules/bad.yml".into(),
                rules: 0,
                problems: vec![
                    problem(&Diagnostic {
                        file: "rules/bad.yml".into(),
                        line: Some(14),
                        message: "group \"node\", rule \"HighCpu\": `for` is not a duration".into(),
                    }),
                    problem(&Diagnostic {
                        file: "rules/bad.yml".into(),
                        line: None,
                        message: "no groups".into(),
                    }),
                ],
            },
        ]
    }

    fn written(output: Output) -> (String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        write_reports(&reports(), output, &mut out, &mut err).unwrap();
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn worded_like_promtool_with_file_and_line() {
        let (out, err) = written(Output::Table);
        assert_eq!(
            out,
            "Checking rules/node.yml\n  SUCCESS: 12 rules found\n\nChecking rules/bad.yml\n"
        );
        assert_eq!(
            err,
            "  FAILED:\nrules/bad.yml:14: group \"node\", rule \"HighCpu\": `for` is not a duration\n\
             rules/bad.yml: no groups\n\n"
        );
    }

    #[test]
    fn json_has_one_object_per_file() {
        let (out, err) = written(Output::Json);
        assert_eq!(err, "");
        assert_eq!(
            out,
            concat!(
                r#"[{"file":"rules/node.yml","problems":[],"rules":12},"#,
                r#"{"file":"rules/bad.yml","problems":[{"line":14,"message":"#,
                r#""group \"node\", rule \"HighCpu\": `for` is not a duration"},"#,
                r#"{"line":null,"message":"no groups"}],"rules":0}]"#,
                "\n"
            )
        );
    }

    #[test]
    fn a_missing_file_fails_with_exit_code_1() {
        let err = run(&["/nonexistent/rules.yml".into()], Output::Json).unwrap_err();
        let failure = err.downcast_ref::<RulesFailure>().expect("a RulesFailure");
        assert!(matches!(failure, RulesFailure::Check { bad: 1, total: 1 }));
        assert_eq!(
            err.to_string(),
            "1 of 1 rule files have problems; fix them and check again"
        );
    }
}
