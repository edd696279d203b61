//! A rule file from arbitrary text: `vigil rules check`'s load and report
//! (`vigil_rules::file::check_report`: YAML, fields, durations, PromQL, templates,
//! `forecast:` blocks), then every annotation and label template of a file that passes,
//! expanded with sample data.
//!
//! Input: the file's text (inputs that are not UTF-8 are skipped: the loader refuses them
//! before parsing). Checked beyond "no panic": a file either loads or has problems, each
//! naming the file, and the report says which.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use vigil_rules::template::{TemplateData, expand};

fuzz_target!(|data: &[u8]| vigil_fuzz::run(|| check(data)));

/// The file each input is written to (the loader reads paths): one per process.
fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            shm.to_owned()
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("vigil-fuzz-rules-{}.yml", std::process::id()))
    })
}

fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = path();
    std::fs::write(path, text).expect("the fuzz rule file can be written");
    let report = vigil_rules::file::check_report(std::slice::from_ref(path));
    assert_eq!(report.ok(), report.files.len() == 1, "{}", report.text);
    assert!(report.text.starts_with("Checking "));
    for problem in &report.problems {
        assert_eq!(&problem.file, path);
        assert!(!problem.message.is_empty());
        assert!(problem.line.is_none_or(|l| l >= 1), "{problem}");
    }
    let labels: BTreeMap<String, String> = [("host", "web-1"), ("mountpoint", "/")]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
    let vars: BTreeMap<String, String> = [("eta", "1700003600"), ("model", "linear")]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
    for file in &report.files {
        for rule in file.groups.iter().flat_map(|g| &g.rules) {
            for (value, template) in [0.93, f64::NAN, -1e300].into_iter().flat_map(|v| {
                rule.annotations
                    .values()
                    .chain(rule.labels.values())
                    .map(move |t| (v, t))
            }) {
                let data = TemplateData {
                    labels: Some(&labels),
                    value,
                    vars: vars.clone(),
                };
                // A template that passed the check may still fail on data; it must not panic.
                let _ = expand(template, &data);
            }
        }
    }
}
