//! Keeping the identity fresh: renew at two thirds of the certificate's lifetime (from
//! not-before to not-after) with a new key pair, over mTLS with the current certificate;
//! on failure try again with backoff, streaming with the current certificate meanwhile;
//! after each new certificate, hand the stream its new TLS settings so that it reconnects
//! with them. The clock is passed in so tests can move it.

use super::identity::{self, Identity};
use super::x509::CertInfo;
use super::{EnrollError, Enroller, join, refused, request, time_text};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tonic::transport::ClientTlsConfig;
use tracing::{error, info, warn};
use vigil_proto::v1::RenewRequest;
use vigil_proto::v1::enroll_client::EnrollClient;

/// The wall clock, or a test's.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> SystemTime;
}

/// [`SystemTime::now`].
#[derive(Debug, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Longest single sleep: the wall clock is read again at least this often, so a machine
/// that was suspended (monotonic time stands still) renews on time when it wakes.
const RECHECK: Duration = Duration::from_secs(600);

/// When a certificate is due for renewal: two thirds into its lifetime.
pub fn renew_at(info: &CertInfo) -> SystemTime {
    let lifetime = info
        .not_after
        .duration_since(info.not_before)
        .unwrap_or_default();
    info.not_before + lifetime * 2 / 3
}

/// What to do about a certificate at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Nothing yet: renewal is due in this long.
    Wait(Duration),
    /// Renew now.
    Renew,
    /// It has expired: only a new join can help.
    Expired,
}

/// What to do about `info` at `now`.
pub fn next(info: &CertInfo, now: SystemTime) -> Next {
    if now >= info.not_after {
        return Next::Expired;
    }
    match renew_at(info).duration_since(now) {
        Ok(wait) if !wait.is_zero() => Next::Wait(wait),
        _ => Next::Renew,
    }
}

/// Renews `current` with a new key pair; stores and returns the new identity. On failure
/// the current files stay as they are.
pub async fn renew(enroller: &Enroller, current: &Identity) -> Result<Identity, EnrollError> {
    let (key_pem, csr_der) = request(&enroller.host)?;
    identity::write_pending_key(&enroller.dir, key_pem.as_bytes())
        .map_err(|e| EnrollError::Files(format!("enroll.dir: {e}")))?;
    let outcome = async {
        let channel = join::connect(&enroller.target, enroller.client_tls(current)).await?;
        let response = EnrollClient::new(channel)
            .renew(RenewRequest { csr_der })
            .await
            .map_err(|status| refused("renewal", &status, enroller))?
            .into_inner();
        join::store(enroller, &key_pem, &response, None)
    }
    .await;
    if outcome.is_err() {
        identity::discard_pending_key(&enroller.dir);
    }
    outcome
}

/// Joins first when `start` is `None`; then renews whenever due, until `shutdown` turns
/// true. Each new identity's TLS settings go to `tls`. Returns an error only when the first
/// join is refused (a wrong token, a fingerprint mismatch: nothing to try again); the
/// collector being out of reach is tried again with backoff.
pub async fn maintain(
    enroller: Enroller,
    start: Option<Identity>,
    tls: watch::Sender<Option<ClientTlsConfig>>,
    clock: Arc<dyn Clock>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), EnrollError> {
    let mut backoff = Backoff::new(enroller.backoff);
    let mut identity = match start {
        Some(identity) => identity,
        None => loop {
            match join::join(&enroller).await {
                Ok(identity) => {
                    announce(&enroller, &identity, "joined; streaming over mTLS", &tls);
                    break identity;
                }
                Err(e) if e.is_transient() => {
                    let wait = backoff.next();
                    warn!(error = %e, retry_in_s = wait.as_secs_f64(), "cannot join yet; trying again");
                    if stopped(wait, &mut shutdown).await {
                        return Ok(());
                    }
                }
                Err(e) => return Err(e),
            }
        },
    };
    backoff.reset();
    loop {
        // A renewal, or a join once expired, is tried the same way: adopt what it gives,
        // or log why not and wait for the next try.
        let (attempt, done, failed) = match next(&identity.info, clock.now()) {
            Next::Wait(wait) => {
                if stopped(wait.min(RECHECK), &mut shutdown).await {
                    return Ok(());
                }
                continue;
            }
            Next::Renew => (
                renew(&enroller, &identity).await,
                "renewed the certificate; reconnecting with it",
                "certificate renewal failed; trying again while the current certificate lasts",
            ),
            Next::Expired if enroller.token.is_some() => (
                join::join(&enroller).await,
                "the certificate had expired; joined again",
                "the certificate expired and joining again failed; trying again",
            ),
            Next::Expired => {
                error!(
                    expired = %time_text(identity.info.not_after),
                    dir = %identity::shown(&enroller.dir),
                    "the certificate expired and cannot be renewed; rounds are spooled \
                     meanwhile: create a join token with `vigil enroll create --hosts {}` and \
                     restart the agent with --join TOKEN --ca-fingerprint SHA256:...",
                    enroller.host
                );
                let wait = enroller.backoff.1.max(Duration::from_secs(60));
                if stopped(wait, &mut shutdown).await {
                    return Ok(());
                }
                continue;
            }
        };
        let wait = match attempt {
            Ok(new) => {
                announce(&enroller, &new, done, &tls);
                identity = new;
                match settle(&identity, clock.as_ref(), &mut backoff) {
                    Some(wait) => wait,
                    None => continue,
                }
            }
            Err(e) => {
                let wait = backoff.next();
                warn!(
                    error = %e,
                    retry_in_s = wait.as_secs_f64(),
                    expires = %time_text(identity.info.not_after),
                    "{failed}"
                );
                wait
            }
        };
        if stopped(wait, &mut shutdown).await {
            return Ok(());
        }
    }
}

/// After a new certificate: `None` (carry on) when it is not due yet; else how long to
/// wait, as after a failure, so that a certificate due at once (a collector backdating it
/// past two thirds of its lifetime, or a clock far ahead) cannot make the loop spin.
fn settle(identity: &Identity, clock: &dyn Clock, backoff: &mut Backoff) -> Option<Duration> {
    match next(&identity.info, clock.now()) {
        Next::Wait(_) => {
            backoff.reset();
            None
        }
        Next::Renew | Next::Expired => Some(backoff.next()),
    }
}

fn announce(
    enroller: &Enroller,
    identity: &Identity,
    what: &str,
    tls: &watch::Sender<Option<ClientTlsConfig>>,
) {
    info!(
        host = %identity.info.host,
        serial = %identity.info.serial,
        expires = %time_text(identity.info.not_after),
        renews = %time_text(renew_at(&identity.info)),
        dir = %identity::shown(&enroller.dir),
        "{what}"
    );
    let _ = tls.send(Some(enroller.client_tls(identity)));
}

/// Sleeps `wait`; true when `shutdown` turned true (or its sender is gone) meanwhile.
async fn stopped(wait: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    if *shutdown.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(wait) => false,
        _ = shutdown.changed() => true,
    }
}

/// Retry delays: doubling from the first to the most.
struct Backoff {
    next: Duration,
    range: (Duration, Duration),
}

impl Backoff {
    fn new(range: (Duration, Duration)) -> Self {
        Self {
            next: range.0,
            range,
        }
    }

    fn next(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(self.range.1);
        now
    }

    fn reset(&mut self) {
        self.next = self.range.0;
    }
}
