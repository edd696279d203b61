//! # vigil-pki
//!
//! The fleet's certificates: the CA that `vigil ca init` makes (or the operator brings),
//! the collector's server certificate, and the short-lived client certificate the
//! collector issues to each agent that joins. Shared by the collector (which signs agents'
//! requests) and the CLI (which makes the CA and shows certificates); nothing here does
//! I/O or reads the clock: callers pass files' text and `now` in.
//!
//! # Layout
//! - `ca`: [`Ca`]: generate or load a CA, issue the collector's server certificate.
//! - `request`: [`Ca::sign_request`]: check an agent's PKCS#10 request (signature, host
//!   names) and issue its client certificate ([`Issued`]); [`request_host`].
//! - `cert`: read certificates: [`pem_certificates`], [`cert_info`]; SPKI fingerprints
//!   (`SHA256:<hex>`, the format of [`vigil_proto::pin`]), serials, validity times.
//! - `error`: [`PkiError`].
//!
//! Keys are ECDSA P-256 (what rcgen's `PKCS_ECDSA_P256_SHA256` makes). Agent keys may also
//! be P-384 or Ed25519; a brought CA may have any key ring signs with (PKCS#8).

mod ca;
mod cert;
mod error;
mod request;
#[cfg(test)]
mod testing;

pub use ca::Ca;
pub use cert::{CertInfo, cert_info, is_dns_name, pem_certificates};
pub use error::PkiError;
pub use request::{Issued, request_host};
