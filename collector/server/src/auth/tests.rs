use super::*;
use crate::config::auth::TokenConfig;
use crate::notify::secret::SecretSource;

const READ: &str = "read-secret-0123456789";
const ADMIN: &str = "admin-secret-0123456789";
const WEB: &str = "web-agent-secret-0123456789";

fn token(name: &str, role: Role, secret: &str, hosts: Option<&[&str]>) -> TokenConfig {
    TokenConfig {
        name: name.into(),
        role,
        secret: SecretSource::Inline(secret.into()),
        hosts: hosts.map(|h| h.iter().map(|s| s.to_string()).collect()),
    }
}

fn auth() -> Auth {
    let mut config = Config::default();
    config.auth.tokens = vec![
        token("grafana", Role::Read, READ, None),
        token("ops", Role::Admin, ADMIN, None),
        token("web-agents", Role::Agent, WEB, Some(&["web-*"])),
    ];
    Auth::from_config(&config).unwrap()
}

fn bearer(secret: &str) -> Presented<'_> {
    Presented {
        bearer: Some(secret),
        ..Presented::default()
    }
}

#[test]
fn roles_decide_what_a_token_may_do() {
    let auth = auth();
    let read = auth.admit(&bearer(READ), Need::Read).unwrap().unwrap();
    assert_eq!(read.name, "grafana");
    let denied = auth.admit(&bearer(READ), Need::Admin).unwrap_err();
    assert_eq!(denied.kind, Refusal::Forbidden);
    assert!(
        denied.message.contains("\"grafana\" has role read"),
        "{}",
        denied.message
    );
    assert!(
        denied.message.contains("an admin token"),
        "{}",
        denied.message
    );
    assert!(!denied.message.contains(READ));

    for need in [Need::Read, Need::Admin, Need::Import] {
        assert!(auth.admit(&bearer(ADMIN), need).is_ok(), "{need:?}");
    }
    assert_eq!(
        auth.admit(&bearer(ADMIN), Need::Ingest).unwrap_err().kind,
        Refusal::Forbidden,
        "admins do not stream as agents"
    );
    assert!(auth.admit(&bearer(WEB), Need::Ingest).unwrap().is_some());
    assert!(auth.admit(&bearer(WEB), Need::Import).unwrap().is_some());
    assert_eq!(
        auth.admit(&bearer(WEB), Need::Read).unwrap_err().kind,
        Refusal::Forbidden
    );
    assert_eq!(auth.admit(&bearer(WEB), Need::Nothing), Ok(None));
}

#[test]
fn missing_and_unknown_credentials_are_unauthenticated_and_counted() {
    let auth = auth();
    let missing = auth.admit(&Presented::default(), Need::Read).unwrap_err();
    assert_eq!(missing.kind, Refusal::Unauthenticated);
    assert!(missing.message.contains("--token"), "{}", missing.message);
    let wrong = auth
        .admit(&bearer("not-a-known-secret-at-all"), Need::Read)
        .unwrap_err();
    assert_eq!(wrong.kind, Refusal::Unauthenticated);
    assert!(
        !wrong.message.contains("not-a-known"),
        "never echoes the secret"
    );
    // Ingest and Import may still bring their token in the first message.
    assert_eq!(auth.admit(&Presented::default(), Need::Ingest), Ok(None));
    assert_eq!(auth.admit(&Presented::default(), Need::Import), Ok(None));
    let _ = auth.admit(&bearer(READ), Need::Admin);
    assert_eq!(
        auth.refused(),
        vec![("missing", 1), ("unknown_token", 1), ("wrong_role", 1)]
    );
}

#[test]
fn basic_auth_needs_the_name_and_the_secret() {
    let auth = auth();
    let basic = |user: &str, pass: &str| Presented {
        basic: Some((user.into(), pass.into())),
        ..Presented::default()
    };
    assert_eq!(
        auth.admit(&basic("grafana", READ), Need::Read)
            .unwrap()
            .unwrap()
            .name,
        "grafana"
    );
    assert_eq!(
        auth.admit(&basic("ops", READ), Need::Read)
            .unwrap_err()
            .kind,
        Refusal::Unauthenticated,
        "another token's name with this secret"
    );
    assert_eq!(
        auth.admit(&basic("grafana", "wrong"), Need::Read)
            .unwrap_err()
            .kind,
        Refusal::Unauthenticated
    );
}

#[test]
fn agents_write_only_their_hosts() {
    let auth = auth();
    let web = auth.admit(&bearer(WEB), Need::Ingest).unwrap().unwrap();
    assert!(web.may_write("web-1").is_ok());
    let refused = web.may_write("db-1").unwrap_err();
    assert_eq!(refused.kind, Refusal::Forbidden);
    assert!(refused.message.contains("\"db-1\""), "{}", refused.message);
    assert!(refused.message.contains("web-*"), "{}", refused.message);

    let admin = auth.admit(&bearer(ADMIN), Need::Import).unwrap().unwrap();
    assert!(admin.may_write("db-1").is_ok());

    // A certificate binds its holder to its own host, with or without a token.
    let certified = Presented {
        bearer: Some(WEB),
        certificate_host: Some("web-2".into()),
        ..Presented::default()
    };
    let caller = auth.admit(&certified, Need::Ingest).unwrap().unwrap();
    assert!(caller.may_write("web-2").is_ok());
    assert_eq!(
        caller.may_write("web-3").unwrap_err().reason,
        "identity_mismatch"
    );
}

#[test]
fn certificates_are_agent_identities() {
    let mut config = Config::default();
    config.tls.client_ca_file = Some("/etc/vigil/ca.pem".into());
    let auth = Auth::from_config(&config).unwrap();
    assert!(!auth.is_open());
    let cert = Presented {
        certificate_host: Some("web-1".into()),
        ..Presented::default()
    };
    let caller = auth.admit(&cert, Need::Ingest).unwrap().unwrap();
    assert_eq!(caller.name, "cert:web-1");
    assert!(caller.may_write("web-1").is_ok());
    assert!(caller.may_write("web-2").is_err());
    assert_eq!(
        auth.admit(&cert, Need::Read).unwrap_err().kind,
        Refusal::Forbidden
    );
    assert_eq!(
        auth.admit(&Presented::default(), Need::Read)
            .unwrap_err()
            .kind,
        Refusal::Unauthenticated,
        "neither a certificate nor a token"
    );
}

#[test]
fn without_tokens_or_client_ca_everyone_is_let_in() {
    let auth = Auth::from_config(&Config::default()).unwrap();
    assert!(auth.is_open());
    let caller = auth
        .admit(&Presented::default(), Need::Admin)
        .unwrap()
        .unwrap();
    assert_eq!(caller, Caller::anonymous(None));
    assert!(caller.may_write("anything").is_ok());
    // Open means open: a client that brings a token anyway still gets in.
    assert!(auth.admit(&bearer("nope"), Need::Read).is_ok());
}

#[test]
fn old_agent_tokens_still_admit_agents() {
    let mut config = Config::default();
    config.server.agent_tokens = vec!["legacy".into()];
    let auth = Auth::from_config(&config).unwrap();
    assert!(!auth.is_open());
    let caller = auth
        .admit_message_token("legacy", None, None, Need::Ingest)
        .unwrap();
    assert_eq!(caller.name, "server.agent_tokens[0]");
    assert!(caller.may_write("any-host").is_ok());
    let refused = auth
        .admit_message_token("", None, None, Need::Ingest)
        .unwrap_err();
    assert_eq!(refused.kind, Refusal::Unauthenticated);
    assert!(refused.message.contains("token"), "{}", refused.message);
}

#[test]
fn host_patterns() {
    assert!(glob("web-*", "web-1"));
    assert!(glob("web-*", "web-"));
    assert!(!glob("web-*", "db-1"));
    assert!(glob("*", ""));
    assert!(glob("w?b-1", "web-1"));
    assert!(glob("*-1", "web-1"));
    assert!(!glob("web-1", "web-10"));
    assert!(glob("a*b*c", "a-x-b-y-c"));
    assert!(!glob("a*b*c", "a-x-b-y"));
    // No exponential backtracking.
    let long = "a".repeat(10_000);
    assert!(!glob("*a*a*a*a*a*a*b", &long));
}

#[test]
fn grpc_methods_have_the_documented_roles() {
    use super::grpc::{METHODS, need};
    let admin: Vec<&str> = METHODS
        .iter()
        .copied()
        .filter(|m| need(m) == Need::Admin)
        .collect();
    assert_eq!(
        admin,
        [
            "/vigil.v1.Rules/Reload",
            "/vigil.v1.Notify/AddSilence",
            "/vigil.v1.Notify/ExpireSilence",
            "/vigil.v1.Notify/TestReceiver",
            "/vigil.v1.Admin/Backup",
            "/vigil.v1.Enroll/CreateToken",
            "/vigil.v1.Enroll/RevokeToken",
            "/vigil.v1.Enroll/RevokeHost",
            "/vigil.v1.Enroll/UnrevokeHost",
            "/vigil.v1.Incidents/AcknowledgeIncident",
        ]
    );
    assert_eq!(need("/vigil.v1.Enroll/Join"), Need::Nothing);
    assert_eq!(need("/vigil.v1.Enroll/Renew"), Need::Ingest);
    assert_eq!(need("/vigil.v1.Enroll/ListIdentities"), Need::Read);
    assert_eq!(need("/vigil.v1.Unknown/Method"), Need::Admin);
    assert_eq!(need("/vigil.v1.Ingest/Stream"), Need::Ingest);
}

#[test]
fn a_flood_of_refusals_is_counted_but_not_all_logged() {
    let auth = auth();
    let logged = (0..1000).filter(|_| auth.may_log().is_some()).count();
    // All within a second or two of each other: at most two seconds' worth get logged.
    assert!(logged as u64 <= 2 * LOGGED_PER_SECOND, "{logged}");
    for _ in 0..1000 {
        let _ = auth.admit(&bearer("not-a-known-secret-at-all"), Need::Read);
    }
    assert_eq!(auth.refused(), vec![("unknown_token", 1000)]);
}
