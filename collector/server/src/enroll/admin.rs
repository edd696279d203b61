//! What administrators do: make, list and revoke join tokens; list, revoke and un-revoke
//! hosts.

use super::records::{self, IdentityRecord, TokenRecord};
use super::{Enrollment, KEEP_DEAD_TOKENS_MS, MAX_IDENTITIES, MAX_PATTERNS, MAX_TOKENS, token_op};
use crate::auth::digest;
use crate::limits::shorten;
use ring::rand::SecureRandom;
use tonic::Status;
use tracing::{info, warn};
use vigil_proto::v1::{CreateTokenRequest, CreateTokenResponse, HostIdentity, JoinToken};
use vigil_store::{KvOp, Space};

impl Enrollment {
    /// Makes a join token; returns its text once.
    pub fn create_token(
        &self,
        request: &CreateTokenRequest,
        created_by: &str,
        now_ms: i64,
    ) -> Result<CreateTokenResponse, Status> {
        self.signer()?;
        if request.hosts.is_empty() {
            return Err(Status::invalid_argument(
                "--hosts: name at least one host pattern (`web-*`, `db-?`, or `*` for any host)",
            ));
        }
        if request.hosts.len() > MAX_PATTERNS {
            return Err(Status::invalid_argument(format!(
                "--hosts: at most {MAX_PATTERNS} patterns per token"
            )));
        }
        for pattern in &request.hosts {
            let bad = pattern.is_empty()
                || pattern.len() > crate::ingest::session::MAX_HOSTNAME_BYTES
                || pattern.chars().any(|c| c.is_whitespace() || c.is_control());
            if bad {
                return Err(Status::invalid_argument(format!(
                    "--hosts: {:?} is not a host pattern (letters, digits, `.-_`, `*` and `?`; \
                     no spaces)",
                    shorten(pattern)
                )));
            }
        }
        let max = i64::try_from(self.max_token_ttl.as_millis()).unwrap_or(i64::MAX);
        if request.ttl_ms <= 0 || request.ttl_ms > max {
            return Err(Status::invalid_argument(format!(
                "--ttl: must be more than 0 and at most {} (enroll.max_token_ttl)",
                humantime::format_duration(self.max_token_ttl)
            )));
        }
        if request.description.len() > 1024 {
            return Err(Status::invalid_argument(
                "--description: at most 1024 bytes",
            ));
        }
        let mut random = [0u8; 22];
        ring::rand::SystemRandom::new()
            .fill(&mut random)
            .map_err(|_| Status::internal("no random numbers from the operating system"))?;
        let id = records::hex(&random[..6]);
        let secret = records::hex(&random[6..]);
        let record = TokenRecord {
            id: id.clone(),
            digest: records::hex(&digest(&secret)),
            hosts: request.hosts.clone(),
            created_ms: now_ms,
            expires_ms: now_ms.saturating_add(request.ttl_ms),
            uses: request.uses,
            used: 0,
            replace: request.replace,
            description: request.description.clone(),
            created_by: created_by.to_owned(),
            revoked_ms: 0,
        };
        let mut state = self.lock();
        let dead: Vec<String> = state
            .tokens
            .values()
            .filter(|t| {
                let end = if t.revoked_ms != 0 {
                    t.revoked_ms.min(t.expires_ms)
                } else {
                    t.expires_ms
                };
                end.saturating_add(KEEP_DEAD_TOKENS_MS) < now_ms
            })
            .map(|t| t.id.clone())
            .collect();
        if state.tokens.len() - dead.len() >= MAX_TOKENS {
            return Err(Status::resource_exhausted(format!(
                "this collector already holds {MAX_TOKENS} join tokens; revoke unused ones \
                 (`vigil enroll list`, `vigil enroll revoke ID`)"
            )));
        }
        let mut ops: Vec<KvOp> = dead
            .iter()
            .map(|id| KvOp::delete(Space::EnrollTokens, id.as_bytes().to_vec()))
            .collect();
        ops.push(token_op(&record)?);
        self.store
            .kv_write(&ops)
            .map_err(|e| Status::unavailable(format!("storing the join token: {e}")))?;
        for id in dead {
            state.tokens.remove(&id);
        }
        state.tokens.insert(id.clone(), record.clone());
        info!(token = %id, hosts = ?record.hosts, by = created_by, "join token created");
        Ok(CreateTokenResponse {
            token: records::token_text(&id, &secret),
            info: Some(record.to_proto()),
        })
    }

    /// Every token, oldest first.
    pub fn tokens(&self) -> Vec<JoinToken> {
        let state = self.lock();
        let mut tokens: Vec<JoinToken> = state.tokens.values().map(TokenRecord::to_proto).collect();
        tokens.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        tokens
    }

    /// Revokes a token by its id (or whole text).
    pub fn revoke_token(&self, id_or_token: &str, now_ms: i64) -> Result<JoinToken, Status> {
        let text = id_or_token.trim();
        let id = records::split_token(text).map_or(text, |(id, _)| id);
        let mut state = self.lock();
        let mut token = state.tokens.get(id).cloned().ok_or_else(|| {
            Status::not_found(format!(
                "no join token has id {:?}; `vigil enroll list` shows them",
                shorten(id)
            ))
        })?;
        if token.revoked_ms == 0 {
            token.revoked_ms = now_ms;
            self.store
                .kv_write(&[token_op(&token)?])
                .map_err(|e| Status::unavailable(format!("storing the revocation: {e}")))?;
            info!(token = %token.id, "join token revoked");
        }
        let shown = token.to_proto();
        state.tokens.insert(token.id.clone(), token);
        Ok(shown)
    }

    /// Every host identity, by host name.
    pub fn identities(&self) -> Vec<HostIdentity> {
        self.lock()
            .identities
            .values()
            .map(IdentityRecord::to_proto)
            .collect()
    }

    /// Revokes `host`: its certificates, its open streams and future joins.
    pub fn revoke_host(&self, host: &str, now_ms: i64) -> Result<(HostIdentity, u32), Status> {
        let host = crate::ingest::session::check_hostname(host)
            .map_err(|v| Status::invalid_argument(v.message))?;
        let mut state = self.lock();
        let mut identity = state
            .identities
            .get(host)
            .cloned()
            .unwrap_or_else(|| IdentityRecord {
                host: host.to_owned(),
                ..IdentityRecord::default()
            });
        if identity.revoked_ms == 0 {
            if !state.identities.contains_key(host) && state.identities.len() >= MAX_IDENTITIES {
                return Err(Status::resource_exhausted(format!(
                    "this collector already holds {MAX_IDENTITIES} host identities"
                )));
            }
            identity.prune(now_ms);
            identity.revoked_ms = now_ms;
            let issued = std::mem::take(&mut identity.issued);
            identity.revoked.extend(issued.iter().cloned());
            // Keep the latest for display; it is revoked with the rest.
            if let Some(last) = issued.last() {
                identity.issued.push(last.clone());
            }
            self.write(None, &identity)?;
            self.revocations.revoke(
                host,
                now_ms,
                identity.revoked.iter().map(|i| i.serial.clone()),
            );
            warn!(host = %host, "host revoked: its certificates are refused and its streams end");
        }
        let ended = self.revocations.open_streams(host);
        let shown = identity.to_proto();
        state.identities.insert(host.to_owned(), identity);
        Ok((shown, ended))
    }

    /// Lets a revoked host join again.
    pub fn unrevoke_host(&self, host: &str, now_ms: i64) -> Result<HostIdentity, Status> {
        let mut state = self.lock();
        let mut identity = state
            .identities
            .get(host)
            .filter(|i| i.revoked_ms != 0)
            .cloned()
            .ok_or_else(|| {
                Status::not_found(format!(
                    "host {:?} is not revoked; `vigil hosts` shows which are",
                    shorten(host)
                ))
            })?;
        identity.prune(now_ms);
        identity.revoked_ms = 0;
        identity.issued.clear();
        self.write(None, &identity)?;
        self.revocations.unrevoke(host);
        info!(host = %host, "host un-revoked: it may join again with a new token");
        let shown = identity.to_proto();
        state.identities.insert(host.to_owned(), identity);
        Ok(shown)
    }
}
