//! What can go wrong with certificates, keys and requests. Each message says what was wrong
//! and what to do; the caller adds which file, flag or request it was about.

/// A failure of the fleet PKI.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// The certificate request is not a PKCS#10 request that can be read.
    #[error(
        "the certificate request is malformed: {reason}; the agent makes it from its own key \
         (restart vigil-agent, or upgrade it if it keeps happening)"
    )]
    MalformedRequest {
        /// What is wrong with it.
        reason: String,
    },

    /// The request's signature does not verify with the public key it carries: no proof
    /// that the requester holds the private key.
    #[error(
        "the certificate request's signature does not verify with the public key it carries \
         (no proof that the agent holds the key): the agent must sign its request with its \
         own key.pem"
    )]
    BadRequestSignature,

    /// The request names a host other than the one enrolling (its subject common name or a
    /// DNS name it asks for).
    #[error(
        "the certificate request names {requested:?}, but it was made for host {expected:?}: \
         an agent may ask only for a certificate in its own host name"
    )]
    WrongHost {
        /// The name the request asks for (cut short when very long).
        requested: String,
        /// The host the certificate would be issued to.
        expected: String,
    },

    /// A key of a kind this PKI does not sign with or for.
    #[error(
        "unsupported key: {what}; use an ECDSA P-256 key (as vigil ca init and vigil-agent make)"
    )]
    UnsupportedKey {
        /// What the key is, or why it cannot be used.
        what: String,
    },

    /// The host a certificate is to name cannot be a certificate subject.
    #[error("{host:?} cannot be the host name of a certificate: {reason}")]
    InvalidHost {
        /// The host (cut short when very long).
        host: String,
        /// Why not.
        reason: &'static str,
    },

    /// A name given for the server certificate or the CA is not usable.
    #[error("{name:?} cannot go in a certificate: {reason}")]
    InvalidName {
        /// The name (cut short when very long).
        name: String,
        /// Why not, and what to give instead.
        reason: String,
    },

    /// PEM text that cannot be read.
    #[error("not readable as PEM: {reason}; give the PEM file (text starting -----BEGIN ...)")]
    Pem {
        /// What is wrong with it.
        reason: String,
    },

    /// PEM text with no `CERTIFICATE` block.
    #[error(
        "no certificate found (no -----BEGIN CERTIFICATE----- block): give the certificate's PEM file"
    )]
    NoCertificate,

    /// A certificate that does not parse.
    #[error("not a valid X.509 certificate: {reason}")]
    BadCertificate {
        /// What is wrong with it.
        reason: String,
    },

    /// A certificate given as a CA that is not one.
    #[error(
        "the certificate {subject:?} is not a CA certificate (its basic constraints do not say \
         CA:TRUE): give the certificate of the CA that is to sign the fleet's certificates, \
         not a server or client certificate"
    )]
    NotCa {
        /// The certificate's subject.
        subject: String,
    },

    /// A CA certificate whose key usage does not allow signing certificates.
    #[error(
        "the CA certificate {subject:?} may not sign certificates (its key usage lacks \
         keyCertSign): give a CA certificate made for signing, or make one with vigil ca init"
    )]
    CaCannotSign {
        /// The certificate's subject.
        subject: String,
    },

    /// The CA's private key cannot be read or used.
    #[error("cannot use the CA key: {reason}")]
    BadKey {
        /// What is wrong, and what to do.
        reason: String,
    },

    /// The private key is not the key of the CA certificate.
    #[error(
        "the key does not belong to the CA certificate {subject:?} (their public keys differ): \
         give the key file made with that certificate"
    )]
    KeyMismatch {
        /// The certificate's subject.
        subject: String,
    },

    /// A validity period that cannot be encoded or makes no sense.
    #[error("invalid validity: {reason}")]
    Validity {
        /// What is wrong with it.
        reason: String,
    },

    /// The CA certificate is no longer valid, so nothing it signs would be.
    #[error(
        "the CA certificate {subject:?} expired at {not_after}: make a new CA (vigil ca init) \
         and rotate to it"
    )]
    CaExpired {
        /// The certificate's subject.
        subject: String,
        /// When it expired, RFC 3339.
        not_after: String,
    },

    /// Signing failed (a fault of the crypto library, not of the input).
    #[error("cannot sign the certificate: {reason}")]
    Sign {
        /// What the library said.
        reason: String,
    },

    /// The system's random number generator failed.
    #[error("the system random number generator failed; try again")]
    Random,
}

/// `text` cut to at most `max` bytes (at a character boundary) with `…` when cut, so that
/// a hostile request cannot make an error message (or a log line) huge.
pub(crate) fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
