//! Tests of `vigil rules` rendering, on the fixture snapshot in its wire form.

use super::*;
use crate::fixture;

const T: i64 = fixture::T;

fn rendered(output: Output) -> String {
    let groups: Vec<RuleGroup> = fixture::groups();
    let mut out = Vec::new();
    render(&groups, output, T, &mut out).expect("write to a Vec");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn table() {
    assert_eq!(
        rendered(Output::Table),
        "GROUP   RULE                  KIND       HEALTH    LAST EVAL   EVAL TIME   ALERTS      ERROR\n\
         node    HighCpu               alert      ok        12s ago         1.5ms   1 firing    -\n\
         node    DiskFull              forecast   ok        12s ago         250ms   1 pending   -\n\
         node    host:cpu_busy:avg5m   record     ok        12s ago          42µs   -           -\n\
         node    Broken                alert      err       12s ago         0.5µs   -           many-to-many matching not allowed\n\
         vigil   HostDown              alert      unknown   never               -   -           -\n"
    );
}

#[test]
fn json() {
    assert_eq!(
        rendered(Output::Json),
        concat!(
            r#"[{"name":"node","file":"/etc/vigil/rules/node.yml","interval":30,"#,
            r#""last_evaluation":1795240188,"rules":["#,
            r#"{"name":"HighCpu","kind":"alert","query":"cpu_busy > 90","clear":"cpu_busy < 80","#,
            r#""for":300,"keep_firing_for":60,"labels":{"severity":"page"},"#,
            r#""annotations":{"summary":"CPU at {{ $value }}% on {{ $labels.host }}"},"#,
            r#""forecast":null,"health":"ok","last_error":null,"last_evaluation":1795240188,"#,
            r#""evaluation_time":0.0015,"firing":1,"pending":0},"#,
            r#"{"name":"DiskFull","kind":"forecast","query":"disk_used_ratio","clear":null,"#,
            r#""for":600,"keep_firing_for":0,"labels":{},"annotations":{},"#,
            r#""forecast":{"threshold":0.9,"direction":"above","lookback":604800,"#,
            r#""horizon":259200,"model":"holt_winters","season":"daily"},"#,
            r#""health":"ok","last_error":null,"last_evaluation":1795240188,"#,
            r#""evaluation_time":0.25,"firing":0,"pending":1},"#,
            r#"{"name":"host:cpu_busy:avg5m","kind":"record","#,
            r#""query":"avg_over_time(cpu_busy[5m])","clear":null,"for":0,"keep_firing_for":0,"#,
            r#""labels":{"team":"ops"},"annotations":{},"forecast":null,"health":"ok","#,
            r#""last_error":null,"last_evaluation":1795240188,"evaluation_time":0.000042148,"#,
            r#""firing":0,"pending":0},"#,
            r#"{"name":"Broken","kind":"alert","query":"rate(x[5m]) > on(a) y","clear":null,"#,
            r#""for":0,"keep_firing_for":0,"labels":{},"annotations":{},"forecast":null,"#,
            r#""health":"err","last_error":"many-to-many matching not allowed","#,
            r#""last_evaluation":1795240188,"evaluation_time":5e-7,"firing":0,"pending":0}]},"#,
            r#"{"name":"vigil","file":"(built-in)","interval":15,"last_evaluation":null,"#,
            r#""rules":[{"name":"HostDown","kind":"alert","query":"vigil_host_up == 0","#,
            r#""clear":null,"for":0,"keep_firing_for":0,"labels":{},"annotations":{},"#,
            r#""forecast":null,"health":"unknown","last_error":null,"last_evaluation":null,"#,
            r#""evaluation_time":0,"firing":0,"pending":0}]}]"#,
            "\n"
        )
    );
}

#[test]
fn csv() {
    assert_eq!(
        rendered(Output::Csv),
        "group,file,interval,name,kind,query,for,health,last_error,last_evaluation,\
         evaluation_time,firing,pending\n\
         node,/etc/vigil/rules/node.yml,30,HighCpu,alert,cpu_busy > 90,300,ok,,1795240188,0.0015,1,0\n\
         node,/etc/vigil/rules/node.yml,30,DiskFull,forecast,disk_used_ratio,600,ok,,1795240188,0.25,0,1\n\
         node,/etc/vigil/rules/node.yml,30,host:cpu_busy:avg5m,record,avg_over_time(cpu_busy[5m]),\
         0,ok,,1795240188,0.000042148,0,0\n\
         node,/etc/vigil/rules/node.yml,30,Broken,alert,rate(x[5m]) > on(a) y,0,err,\
         many-to-many matching not allowed,1795240188,5e-7,0,0\n\
         vigil,(built-in),15,HostDown,alert,vigil_host_up == 0,0,unknown,,,0,0,0\n"
    );
}

#[test]
fn evaluation_times_for_people() {
    assert_eq!(format_seconds(0.000_000_5), "0.5µs");
    assert_eq!(format_seconds(0.000_042_148), "42µs");
    assert_eq!(format_seconds(0.0015), "1.5ms");
    assert_eq!(format_seconds(0.25), "250ms");
    assert_eq!(format_seconds(2.345), "2.35s");
    assert_eq!(alerts_cell(1, 2), "1 firing, 2 pending");
    assert_eq!(alerts_cell(0, 0), "-");
}

#[test]
fn command_line_forms() {
    use super::super::Cli;
    use clap::Parser;
    let action = |args: &[&str]| match Cli::try_parse_from(args).expect("valid").command {
        super::super::Command::Rules(args) => args.action,
        other => panic!("not rules: {other:?}"),
    };
    assert!(action(&["vigil", "rules"]).is_none());
    assert!(matches!(
        action(&["vigil", "rules", "list"]),
        Some(RulesAction::List)
    ));
    assert!(matches!(
        action(&["vigil", "rules", "reload"]),
        Some(RulesAction::Reload)
    ));
    match action(&["vigil", "rules", "check", "a.yml", "b.yml", "-o", "json"]) {
        Some(RulesAction::Check { files }) => {
            assert_eq!(files, [PathBuf::from("a.yml"), PathBuf::from("b.yml")])
        }
        other => panic!("{other:?}"),
    }
    let err = Cli::try_parse_from(["vigil", "rules", "check"]).expect_err("no file");
    assert_eq!(err.exit_code(), 2);
}
