//! What enrollment keeps in the store: join tokens (by id, only their secrets' digests) and
//! host identities (by host), as JSON values in their own key spaces.

use serde::{Deserialize, Serialize};
use vigil_proto::v1::{HostIdentity, JoinToken};

/// Prefix of every join token's text.
pub const TOKEN_PREFIX: &str = "vjt";
/// Hex digits of a token's public id.
pub const ID_DIGITS: usize = 12;
/// Hex digits of a token's secret (128 bits).
pub const SECRET_DIGITS: usize = 32;

/// A join token as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Public id.
    pub id: String,
    /// SHA-256 of the secret, hex.
    pub digest: String,
    /// Host patterns it may enroll.
    pub hosts: Vec<String>,
    /// Created and expiry times, ms since the epoch.
    pub created_ms: i64,
    /// When it stops working.
    pub expires_ms: i64,
    /// Most uses; 0 is any number.
    pub uses: u32,
    /// Uses so far.
    pub used: u32,
    /// May enroll a host that has a valid certificate.
    pub replace: bool,
    /// Free text.
    pub description: String,
    /// Who made it.
    pub created_by: String,
    /// When it was revoked, 0 if not.
    pub revoked_ms: i64,
}

impl TokenRecord {
    /// As the API shows it (never the digest).
    pub fn to_proto(&self) -> JoinToken {
        JoinToken {
            id: self.id.clone(),
            hosts: self.hosts.clone(),
            created_ms: self.created_ms,
            expires_ms: self.expires_ms,
            uses: self.uses,
            used: self.used,
            replace: self.replace,
            description: self.description.clone(),
            created_by: self.created_by.clone(),
            revoked_ms: self.revoked_ms,
        }
    }
}

/// One certificate issued to a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issued {
    /// Serial, lowercase hex.
    pub serial: String,
    /// Validity, ms since the epoch.
    pub not_before_ms: i64,
    /// End of validity.
    pub not_after_ms: i64,
}

/// A host's identity as stored: the certificates issued to it that have not expired, and
/// whether it is revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct IdentityRecord {
    /// Host name.
    pub host: String,
    /// Certificates issued and not yet expired, latest last.
    pub issued: Vec<Issued>,
    /// When it first joined (0 if it never did: revoked before it enrolled).
    pub joined_ms: i64,
    /// Token id it joined with last.
    pub token_id: String,
    /// Renewals since it joined.
    pub renewals: u32,
    /// When it was revoked, 0 if it is not.
    pub revoked_ms: i64,
    /// Serials revoked with the host, kept until they expire (so un-revoking the host
    /// does not bring them back).
    pub revoked: Vec<Issued>,
    /// `SHA256:` of the latest certificate's public key.
    pub key_fingerprint: String,
}

impl IdentityRecord {
    /// The latest certificate, if any.
    pub fn latest(&self) -> Option<&Issued> {
        self.issued.last()
    }

    /// Whether the host holds a certificate that is valid at `now_ms` and not revoked.
    pub fn has_valid(&self, now_ms: i64) -> bool {
        self.revoked_ms == 0 && self.issued.iter().any(|i| i.not_after_ms > now_ms)
    }

    /// Drops certificates that have expired by `now_ms` (they cannot be used anyway).
    pub fn prune(&mut self, now_ms: i64) {
        self.issued.retain(|i| i.not_after_ms > now_ms);
        self.revoked.retain(|i| i.not_after_ms > now_ms);
    }

    /// As the API shows it.
    pub fn to_proto(&self) -> HostIdentity {
        let latest = self.latest();
        HostIdentity {
            host: self.host.clone(),
            serial: latest.map(|i| i.serial.clone()).unwrap_or_default(),
            not_before_ms: latest.map_or(0, |i| i.not_before_ms),
            not_after_ms: latest.map_or(0, |i| i.not_after_ms),
            joined_ms: self.joined_ms,
            token_id: self.token_id.clone(),
            renewals: self.renewals,
            revoked_ms: self.revoked_ms,
            key_fingerprint: self.key_fingerprint.clone(),
        }
    }
}

/// A token's text: `vjt.<id>.<secret>`.
pub fn token_text(id: &str, secret: &str) -> String {
    format!("{TOKEN_PREFIX}.{id}.{secret}")
}

/// The id and secret of a token's text, if it has the shape of one.
pub fn split_token(text: &str) -> Option<(&str, &str)> {
    let mut parts = text.trim().split('.');
    let (prefix, id, secret) = (parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (prefix == TOKEN_PREFIX
        && parts.next().is_none()
        && hex(id, ID_DIGITS)
        && hex(secret, SECRET_DIGITS))
    .then_some((id, secret))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
