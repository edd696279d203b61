use super::*;

/// A fresh directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("vigil-check-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn delivery(dir: Option<PathBuf>) -> DeliveryConfig {
    DeliveryConfig {
        spool_dir: dir,
        ..DeliveryConfig::default()
    }
}

#[test]
fn lines_start_with_a_stable_word_in_six_columns() {
    assert_eq!(
        Line::ok("config", "/etc/vigil/agent.toml").to_string(),
        "ok    config /etc/vigil/agent.toml"
    );
    assert_eq!(Line::warn("spool", "x").to_string(), "warn  spool x");
    assert_eq!(
        Line::fail("collector", "a\nb").to_string(),
        "FAIL  collector a b",
        "one line, whatever the message"
    );
}

#[test]
fn memory_only_is_a_warning_that_names_the_setting() {
    let line = spool(&delivery(Some(PathBuf::new())));
    assert_eq!(line.outcome, Outcome::Warn);
    assert!(line.detail.contains("delivery.spool_dir"), "{line}");
}

#[test]
fn the_spool_check_leaves_the_directory_as_it_found_it() {
    let tmp = Scratch::new("probe");
    let existing = tmp.path().join("spool");
    std::fs::create_dir(&existing).unwrap();
    let line = spool(&delivery(Some(existing.clone())));
    assert_eq!(line.outcome, Outcome::Ok, "{line}");
    assert!(line.detail.ends_with("(writable)"), "{line}");
    assert_eq!(
        std::fs::read_dir(&existing).unwrap().count(),
        0,
        "probe removed"
    );

    let missing = tmp.path().join("a/b/spool");
    let line = spool(&delivery(Some(missing.clone())));
    assert_eq!(line.outcome, Outcome::Ok, "{line}");
    assert!(line.detail.contains("can be created"), "{line}");
    assert!(!tmp.path().join("a").exists(), "what it created is gone");
}

#[test]
fn a_spool_that_cannot_be_created_fails_and_says_what_to_do() {
    let tmp = Scratch::new("blocked");
    let blocker = tmp.path().join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let line = spool(&delivery(Some(blocker.join("spool"))));
    assert_eq!(line.outcome, Outcome::Fail, "{line}");
    assert!(line.detail.contains("cannot create it"), "{line}");
    assert!(line.detail.contains("--spool-dir"), "{line}");
    let line = spool(&delivery(Some(blocker.clone())));
    assert_eq!(line.outcome, Outcome::Fail, "{line}");
    assert!(
        line.detail.contains("not a directory") || line.detail.contains("exists"),
        "{line}"
    );
    assert_eq!(
        std::fs::read_to_string(&blocker).unwrap(),
        "not a directory"
    );
}

#[test]
fn refusals_name_the_code_and_the_next_step() {
    let mut config = Config::default();
    let status = tonic::Status::unauthenticated("missing token");
    assert_eq!(
        refusal(&status, &config, "db-1"),
        "UNAUTHENTICATED: missing token (set token or VIGIL_AGENT__TOKEN)"
    );
    config.token = "wrong".into();
    let text = refusal(&status, &config, "db-1");
    assert_eq!(
        text,
        "UNAUTHENTICATED: missing token (check token or VIGIL_AGENT__TOKEN)"
    );
    let text = refusal(
        &tonic::Status::permission_denied("host not allowed"),
        &config,
        "db-1",
    );
    assert_eq!(
        text,
        "PERMISSION_DENIED: host not allowed (check hostname \"db-1\" against the \
         token's hosts or the certificate's name)"
    );
}

#[test]
fn error_chains_say_each_cause_once() {
    let inner = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
    let outer = std::io::Error::other(inner);
    assert_eq!(chain(&outer), "refused");
    assert_eq!(code_name(Code::Unavailable), "UNAVAILABLE");
}
