//! `vigil rules reload`: has the collector re-read its rule files. Prints what is now
//! loaded, or the diagnostics on stderr (then the collector keeps its old rules, and the
//! exit code is 1). `--output json`: `{"ok":true,"files":2,"rules":14,"unchanged":12,
//! "diagnostics":[]}`, with the same exit code.

use std::io::{self, Write};

use serde::Serialize;
use vigil_proto::v1::ReloadRequest;
use vigil_proto::v1::ReloadResponse;
use vigil_proto::v1::rules_client::RulesClient;

use super::super::alerts::refused;
use super::super::client::{Collector, Target};
use super::super::output::{self, Output};
use super::check::RulesFailure;

/// Asks for the reload and prints its outcome.
pub async fn run(target: &Target, output: Output) -> anyhow::Result<()> {
    let collector = Collector::connect(target).await?;
    let mut client = RulesClient::new(collector.channel());
    let response = client.reload(ReloadRequest {}).await;
    let response = response.map_err(|s| refused(target, s))?.into_inner();
    let mut out = output::stdout();
    write(&response, output, &mut out, &mut io::stderr().lock())?;
    out.flush()?;
    if !response.ok {
        return Err(RulesFailure::Reload(response.diagnostics.len().max(1)).into());
    }
    Ok(())
}

/// The JSON form.
#[derive(Serialize)]
struct ReloadRecord<'a> {
    ok: bool,
    files: u64,
    rules: u64,
    unchanged: u64,
    diagnostics: &'a [String],
}

fn write(
    response: &ReloadResponse,
    output: Output,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<()> {
    if output == Output::Json {
        return output::write_json(
            out,
            &ReloadRecord {
                ok: response.ok,
                files: response.files,
                rules: response.rules,
                unchanged: response.unchanged,
                diagnostics: &response.diagnostics,
            },
        );
    }
    if response.ok {
        let plural =
            |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        writeln!(
            out,
            "reloaded: {} from {} ({} unchanged, their alerts kept)",
            plural(response.rules, "rule", "rules"),
            plural(response.files, "file", "files"),
            response.unchanged
        )
    } else {
        for line in &response.diagnostics {
            writeln!(err, "{line}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(response: &ReloadResponse, output: Output) -> (String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        write(response, output, &mut out, &mut err).unwrap();
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn success_says_what_is_loaded() {
        let ok = ReloadResponse {
            ok: true,
            files: 2,
            rules: 14,
            unchanged: 12,
            diagnostics: vec![],
        };
        assert_eq!(
            written(&ok, Output::Table),
            (
                "reloaded: 14 rules from 2 files (12 unchanged, their alerts kept)\n".into(),
                String::new()
            )
        );
        assert_eq!(
            written(&ok, Output::Json).0,
            "{\"ok\":true,\"files\":2,\"rules\":14,\"unchanged\":12,\"diagnostics\":[]}\n"
        );
    }

    #[test]
    fn failure_lists_the_diagnostics() {
        let bad = ReloadResponse {
            ok: false,
            diagnostics: vec!["a.yml:3: bad".into(), "a.yml:9: worse".into()],
            ..ReloadResponse::default()
        };
        assert_eq!(
            written(&bad, Output::Table),
            (String::new(), "a.yml:3: bad\na.yml:9: worse\n".into())
        );
    }
}
