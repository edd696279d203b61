//! Import: the `vigil.v1.Import` gRPC service behind `vigil import`, a thin adapter over
//! [`backfill::Backfill`].
//!
//! Each `Write` is judged on a blocking thread (the store writes durably) with the same
//! checks as agent ingest; its answer says how many samples are stored and, when one was
//! refused, its line and the rule. The wire format is documented in
//! `proto/vigil/v1/import.proto`.

pub mod backfill;

use crate::auth::{Auth, Caller, Need};
use crate::config::Config;
use crate::error::Error;
use crate::ingest::Counters;
use backfill::{Backfill, BackfillError};
use std::sync::Arc;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};
use tracing::{info, warn};
use vigil_proto::v1::import_server::{Import, ImportServer};
use vigil_proto::v1::{ImportRequest, ImportResponse};
use vigil_store::Store;
use vigil_store::clock::now_ms;

/// The service as the server mounts it, writing to `store` under `config`'s limits for
/// callers `auth` admits; requests up to `limits.max_message_bytes`. What it stores and
/// refuses is counted in `counters`, with the agents' samples.
pub fn server(
    store: Arc<dyn Store>,
    config: &Config,
    auth: Arc<Auth>,
    counters: Arc<Counters>,
) -> ImportServer<ImportService> {
    let backfill = Backfill::new(store, Arc::new(config.limits.clone()))
        .with_retention(config.storage.retention)
        .with_memory_budget(counters.clone());
    ImportServer::new(ImportService::new(backfill, auth, counters))
        .max_decoding_message_size(config.limits.max_message_bytes)
        .accept_compressed(CompressionEncoding::Gzip)
}

/// The Import service.
pub struct ImportService {
    backfill: Arc<Backfill>,
    auth: Arc<Auth>,
    counters: Arc<Counters>,
}

impl ImportService {
    /// A service storing through `backfill` for callers `auth` admits (by the gRPC layer,
    /// else by the token in the request); stored and refused samples are counted in
    /// `counters`.
    pub fn new(backfill: Backfill, auth: Arc<Auth>, counters: Arc<Counters>) -> Self {
        Self {
            backfill: Arc::new(backfill),
            auth,
            counters,
        }
    }
}

#[tonic::async_trait]
impl Import for ImportService {
    async fn write(
        &self,
        request: Request<ImportRequest>,
    ) -> Result<Response<ImportResponse>, Status> {
        let peer = request
            .remote_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let admitted = request.extensions().get::<Caller>().cloned();
        let remote = request.remote_addr();
        let request = request.into_inner();
        let caller = match admitted {
            Some(caller) => caller,
            None => self
                .auth
                .admit_message_token(&request.token, None, remote, Need::Import)
                .map_err(|v| {
                    self.counters.rejected(v.reason, 1);
                    Status::from(v)
                })?,
        };
        if let Err(why) = self.counters.storage.check(now_ms()) {
            self.counters.rejected("storage_unavailable", 1);
            warn!(peer = %peer, "import refused: {why}");
            return Err(Status::unavailable(why));
        }
        let backfill = self.backfill.clone();
        let who = caller.clone();
        let written = tokio::task::spawn_blocking(move || backfill.write(request, &who, now_ms()))
            .await
            .map_err(|e| Status::internal(format!("import task failed: {e}")))?;
        match written {
            Ok(response) => {
                self.counters.storage.write_ok();
                self.counters.accepted(response.accepted_samples);
                info!(target: "audit", caller = %caller.name, peer = %peer, samples = response.accepted_samples, "import");
                if let Some(r) = &response.rejection {
                    self.counters.rejected("import_refused", 1);
                    info!(peer = %peer, line = r.line, reason = %r.reason, accepted = response.accepted_samples, "import stopped at a refused sample");
                }
                Ok(Response::new(response))
            }
            Err(BackfillError::Refused(v)) => {
                self.counters.rejected(v.reason, 1);
                if v.reason == "host_not_allowed" || v.reason == "identity_mismatch" {
                    self.auth.count(v.reason);
                }
                warn!(target: "audit", caller = %caller.name, peer = %peer, reason = v.reason, error = %v, "import refused");
                Err(Status::from(v))
            }
            Err(BackfillError::Store(e)) => {
                self.counters.storage.write_failed(&e, now_ms());
                warn!(peer = %peer, error = %e, "import write failed");
                Err(Status::from(Error::from(e)))
            }
        }
    }
}
