//! The cap on queries evaluated at once, and their time limit, shared by everything that
//! runs PromQL for a client: the HTTP API, the Query service's `Instant` and `Range`, and
//! the Forecast service. One [`QuerySlots`] is built at start-up from
//! `server.http_max_concurrent_queries` and `server.http_query_timeout`, so a client cannot
//! get around the cap by switching protocols.
//!
//! A query runs on a blocking thread that holds its slot itself: when its client's time is
//! up the client gets its answer at once, but the slot stays taken until the query really
//! stops (the engine checks its own deadline), so abandoned queries cannot pile up.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Query slots and the time limit; cheap to clone, all clones share the slots.
#[derive(Debug, Clone)]
pub struct QuerySlots {
    slots: Arc<Semaphore>,
    timeout: Duration,
}

/// Why [`QuerySlots::run`] gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotError {
    /// The time limit passed while waiting for a slot or running; the limit is given.
    TimedOut(Duration),
    /// The work panicked, or the slots were closed; says which.
    Failed(String),
}

impl QuerySlots {
    /// `max_concurrent` slots (at least one) and a time limit of `timeout` per query.
    pub fn new(max_concurrent: usize, timeout: Duration) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max_concurrent.max(1))),
            timeout,
        }
    }

    /// The configured time limit: the default, and the most a client may ask for.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs `work` on a blocking thread within `timeout` (waiting for a slot included).
    /// On timeout the caller gets [`SlotError::TimedOut`] at once; the work finishes in
    /// the background, keeping its slot until then.
    pub async fn run<T: Send + 'static>(
        &self,
        timeout: Duration,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, SlotError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let slot = tokio::time::timeout_at(deadline, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| SlotError::TimedOut(timeout))?
            .map_err(|e| SlotError::Failed(format!("query slots closed: {e}")))?;
        let task = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            work()
        });
        match tokio::time::timeout_at(deadline, task).await {
            Err(_) => Err(SlotError::TimedOut(timeout)),
            Ok(Err(e)) => Err(SlotError::Failed(e.to_string())),
            Ok(Ok(result)) => Ok(result),
        }
    }
}

impl From<SlotError> for crate::error::Error {
    fn from(e: SlotError) -> Self {
        match e {
            SlotError::TimedOut(limit) => Self::Query(vigil_promql::QueryError::Timeout(limit)),
            SlotError::Failed(why) => Self::Serve(format!("query task failed: {why}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_timed_out_call_keeps_its_slot_until_it_stops() {
        let slots = QuerySlots::new(1, Duration::from_secs(5));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let slow = slots.run(Duration::from_millis(20), move || {
            let _ = wait.recv();
            1
        });
        assert_eq!(
            slow.await,
            Err(SlotError::TimedOut(Duration::from_millis(20)))
        );
        // The abandoned call still holds the only slot.
        let quick = slots.run(Duration::from_millis(20), || 2).await;
        assert_eq!(quick, Err(SlotError::TimedOut(Duration::from_millis(20))));
        release.send(()).expect("the slow call is still waiting");
        assert_eq!(slots.run(Duration::from_secs(5), || 3).await, Ok(3));
    }

    #[tokio::test]
    async fn clones_share_the_slots() {
        let slots = QuerySlots::new(1, Duration::from_secs(5));
        let other = slots.clone();
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let held = slots.run(Duration::from_millis(20), move || wait.recv().is_ok());
        assert!(held.await.is_err());
        assert!(other.run(Duration::from_millis(20), || ()).await.is_err());
        release.send(()).expect("the first call is still waiting");
        assert_eq!(other.run(Duration::from_secs(5), || 7).await, Ok(7));
    }

    #[tokio::test]
    async fn a_panic_is_a_failure_not_a_crash() {
        let slots = QuerySlots::new(1, Duration::from_secs(5));
        let e = slots
            .run(Duration::from_secs(5), || -> u8 { panic!("boom") })
            .await
            .unwrap_err();
        assert!(
            matches!(e, SlotError::Failed(ref m) if m.contains("panic")),
            "{e:?}"
        );
        let status = tonic::Status::from(crate::error::Error::from(SlotError::TimedOut(
            Duration::from_secs(3),
        )));
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
        assert_eq!(slots.run(Duration::from_secs(5), || 1).await, Ok(1));
    }
}
