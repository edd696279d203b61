//! Certificates made for one test run: a CA and the leaves it signs, written as PEM files
//! for the collector, agents and test servers to load.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use std::net::IpAddr;
use std::path::Path;

/// A fresh CA whose certificate is `ca.pem` in the directory it was made in.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    /// Makes a CA named `common_name` and writes its certificate to `dir/ca.pem`.
    pub fn new(dir: &Path, common_name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.join("ca.pem"), cert.pem()).unwrap();
        Self {
            issuer: Issuer::new(params, key),
        }
    }

    /// Writes `dir/<file>.pem` and `dir/<file>.key`: a certificate for `common_name`, the
    /// DNS names `dns` and the address `ip`, signed by this CA.
    pub fn leaf(
        &self,
        dir: &Path,
        file: &str,
        common_name: &str,
        dns: &[&str],
        ip: Option<IpAddr>,
    ) {
        let names = dns.iter().map(|d| (*d).to_owned()).collect::<Vec<_>>();
        let mut params = CertificateParams::new(names).unwrap();
        params.subject_alt_names.extend(ip.map(SanType::IpAddress));
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let key = KeyPair::generate().unwrap();
        std::fs::write(
            dir.join(format!("{file}.pem")),
            params.signed_by(&key, &self.issuer).unwrap().pem(),
        )
        .unwrap();
        std::fs::write(dir.join(format!("{file}.key")), key.serialize_pem()).unwrap();
    }
}
