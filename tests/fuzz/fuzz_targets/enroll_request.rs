//! What an agent sends to join or renew, from arbitrary bytes: the certificate request
//! through the collector's enrollment (token checks, request parsing and signature, host
//! names, signing) on the in-memory store at a fixed clock, and every certificate reader
//! an agent or collector points at bytes from the wire (the CA pin's SPKI and DER reader,
//! `vigil-pki`'s certificate and PEM readers).
//!
//! Input: one byte choosing the host asked for (the request's own name, another, or a
//! hostile one), then the request. Checked beyond "no panic": a certificate is issued only
//! for the host asked for, it names that host, and only a request naming that host gets
//! one.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, UNIX_EPOCH};
use vigil_collector::auth::Auth;
use vigil_collector::config::{Config, EnrollConfig};
use vigil_collector::enroll::Enrollment;
use vigil_proto::v1::{CreateTokenRequest, JoinRequest};
use vigil_store::memory::MemoryStore;

const NOW_MS: i64 = 1_800_000_000_000;

fuzz_target!(|data: &[u8]| vigil_fuzz::run(|| enroll(data)));

/// A collector's enrollment with one join token for every host, made once.
fn fixture() -> &'static (Enrollment, String) {
    static FIXTURE: OnceLock<(Enrollment, String)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("vigil-fuzz-enroll-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let start = UNIX_EPOCH + Duration::from_millis(NOW_MS as u64 - 86_400_000);
        let ca = vigil_pki::Ca::generate("fuzz CA", Duration::from_secs(3650 * 86_400), start)
            .unwrap();
        std::fs::write(dir.join("ca.pem"), ca.cert_pem()).unwrap();
        std::fs::write(dir.join("ca.key"), ca.key_pem()).unwrap();
        let config = EnrollConfig {
            ca_cert_file: Some(dir.join("ca.pem")),
            ca_key_file: Some(dir.join("ca.key")),
            ..EnrollConfig::default()
        };
        let auth = Arc::new(Auth::from_config(&Config::default()).unwrap());
        let enrollment = Enrollment::open(&config, Arc::new(MemoryStore::new()), auth).unwrap();
        let token = enrollment
            .create_token(
                &CreateTokenRequest {
                    hosts: vec!["*".into()],
                    ttl_ms: 86_400_000,
                    replace: true,
                    ..CreateTokenRequest::default()
                },
                "fuzz",
                NOW_MS,
            )
            .unwrap()
            .token;
        (enrollment, token)
    })
}

fn enroll(data: &[u8]) {
    let Some((&selector, request)) = data.split_first() else {
        return;
    };
    // The readers of what comes off the wire, on the same bytes.
    if let Some(spki) = vigil_proto::pin::spki(request) {
        assert!(request.windows(spki.len()).any(|w| w == spki));
    }
    let _ = vigil_proto::pin::der(request);
    let _ = vigil_pki::cert_info(request);
    let _ = vigil_pki::pem_certificates(&String::from_utf8_lossy(request));
    let named = vigil_pki::request_host(request).ok();

    let (enrollment, token) = fixture();
    let host = match selector % 4 {
        0 => named.clone().unwrap_or_else(|| "web-1".into()),
        1 => "web-1".into(),
        2 => "db-1".into(),
        _ => String::from_utf8_lossy(&request[..request.len().min(40)]).into_owned(),
    };
    let answer = enrollment.join(
        &JoinRequest {
            token: token.clone(),
            host: host.clone(),
            csr_der: request.to_vec(),
        },
        "fuzz",
        NOW_MS,
    );
    if let Ok(issued) = answer {
        assert_eq!(issued.host, host.trim());
        assert_eq!(named.as_deref(), Some(host.trim()), "issued for a request naming another host");
        let der = vigil_pki::pem_certificates(&issued.certificate_pem).unwrap();
        let info = vigil_pki::cert_info(&der[0]).unwrap();
        assert_eq!(info.subject_cn.as_deref(), Some(host.trim()));
        assert!(!info.is_ca);
    }
}
