//! `--vm-url`: the same fleet sent live to VictoriaMetrics' `/api/v1/import`, so that it
//! ingests the load Vigil gets (same hosts, series, samples, timing and ramp) and the two
//! can be compared side by side.
//!
//! Each host runs as in [`super::send`], with one HTTP POST in place of a Batch: its
//! backfill in bodies of about `batch_samples` samples as fast as they are answered (at
//! most `concurrency` hosts at once), then one POST per scrape when the scrape is due
//! (plus the host's ramp delay). A body is JSON lines, one line per series with one sample
//! each ([`super::emit::vm_import_scrape`]). A host waits for the answer to a POST before
//! it sends the next, and at most [`POSTS`] POSTs are open at once (one HTTP/1.1 connection
//! each), so a server that falls behind makes hosts late rather than piling up requests.
//!
//! The "acknowledgement" is VictoriaMetrics' 204: it has parsed the rows, resolved or
//! created their series and buffered the samples (it flushes them to disk within about a
//! second; it does not fsync them, unlike Vigil's Ack). Latency is from when the POST was
//! due (or the host started, if later), so waiting for a connection counts. A host's first POST creates its series.

use super::emit::vm_import_scrape;
use super::fleet::{Fleet, Host};
use super::report::{Phase, Stats};
use super::send::{due_at, errors_of, instant_of, ramp_delay};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Most POSTs open at once.
pub const POSTS: usize = 64;

/// How to drive VictoriaMetrics.
#[derive(Debug, Clone)]
pub struct VmPlan {
    /// VictoriaMetrics' base URL, e.g. `http://127.0.0.1:8428`.
    pub url: String,
    /// The hosts and their samples.
    pub fleet: Fleet,
    /// Steps sent as fast as answered, before the live ones.
    pub backfill_steps: i64,
    /// Steps sent in real time after the backfill.
    pub live_steps: i64,
    /// Hosts backfilling at once.
    pub concurrency: usize,
    /// Samples per backfill POST (whole scrapes; at least one).
    pub batch_samples: usize,
    /// Hosts start spread over this long.
    pub ramp: Duration,
}

/// Runs every host of the plan; returns the errors of hosts that failed.
pub async fn run(plan: Arc<VmPlan>, stats: Arc<Stats>) -> Vec<String> {
    let client = match crate::http_client()
        .pool_max_idle_per_host(POSTS)
        .timeout(Duration::from_secs(120))
        .build()
    {
        Ok(c) => c,
        Err(e) => return vec![format!("cannot make an HTTP client for --vm-url: {e}")],
    };
    let url = format!("{}/api/v1/import", plan.url.trim_end_matches('/'));
    let posts = Arc::new(Semaphore::new(POSTS));
    let permits = Arc::new(Semaphore::new(plan.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..plan.fleet.spec().hosts {
        let (plan, stats, posts, permits) =
            (plan.clone(), stats.clone(), posts.clone(), permits.clone());
        let (client, url) = (client.clone(), url.clone());
        tasks.spawn(async move {
            let mut host = plan.fleet.host(index);
            let delay = ramp_delay(plan.ramp, index, plan.fleet.spec().hosts);
            tokio::time::sleep(delay).await;
            let poster = Poster {
                client,
                url,
                posts,
                stats,
                first: true,
            };
            drive(&plan, &mut host, poster, &permits, delay)
                .await
                .map_err(|e| format!("{}: {e}", host.name()))
        });
    }
    errors_of(tasks).await
}

/// One host from its first POST to its last.
async fn drive(
    plan: &VmPlan,
    host: &mut Host,
    mut poster: Poster,
    permits: &Semaphore,
    delay: Duration,
) -> Result<(), String> {
    poster.stats.connecting();
    poster.stats.connected();
    let started = Instant::now();
    if plan.backfill_steps > 0 {
        let _permit = permits
            .acquire()
            .await
            .map_err(|_| "the backfill semaphore closed".to_owned())?;
        while host.step() < plan.backfill_steps {
            let (body, samples) = lines(host, plan.backfill_steps, plan.batch_samples);
            poster
                .post(body, samples, Phase::Backfill, Instant::now())
                .await?;
        }
    }
    let end = plan.backfill_steps + plan.live_steps;
    let delay_ms = delay.as_millis() as i64;
    while host.step() < end {
        let due_ms = host.nominal_ms(host.step()) + delay_ms;
        tokio::time::sleep_until(due_at(due_ms)).await;
        let (body, samples) = lines(host, host.step() + 1, 1);
        poster
            .post(body, samples, Phase::Live, instant_of(due_ms).max(started))
            .await?;
    }
    Ok(())
}

/// Whole scrapes from the host's next step, until `samples` samples or step `end`, as
/// import lines; with their sample count.
fn lines(host: &mut Host, end: i64, samples: usize) -> (String, u64) {
    let mut body = String::new();
    let mut count = 0;
    while host.step() < end && (count == 0 || count < samples) {
        let (ts, ids, values) = host.next_scrape();
        let (ids, values) = (ids.to_vec(), values.to_vec());
        vm_import_scrape(host, ts, &ids, &values, &mut body);
        count += ids.len();
    }
    (body, count as u64)
}

/// What a host posts with.
struct Poster {
    client: reqwest::Client,
    url: String,
    posts: Arc<Semaphore>,
    stats: Arc<Stats>,
    /// No POST answered yet: the next success creates the host's series.
    first: bool,
}

impl Poster {
    /// POSTs `body` and counts the answer; Err when VictoriaMetrics cannot be reached.
    async fn post(
        &mut self,
        body: String,
        samples: u64,
        phase: Phase,
        since: Instant,
    ) -> Result<(), String> {
        self.stats.generated(phase, samples);
        self.stats.sent(phase, samples);
        let _slot = self
            .posts
            .acquire()
            .await
            .map_err(|_| "the POST semaphore closed".to_owned())?;
        let answer = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "POST {}: {e} (is VictoriaMetrics running there? see --vm-url)",
                    self.url
                )
            })?;
        let status = answer.status();
        if status.is_success() {
            self.stats.acked(phase, since.elapsed(), samples, 0, None);
            if std::mem::take(&mut self.first) {
                self.stats.created();
            }
        } else {
            let text = answer.text().await.unwrap_or_default();
            let why = format!(
                "HTTP {status}: {}",
                text.chars().take(300).collect::<String>()
            );
            self.stats
                .acked(phase, since.elapsed(), 0, samples, Some(why));
        }
        Ok(())
    }
}
