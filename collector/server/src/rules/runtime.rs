//! The running rules: loads the rule files, evaluates each group every `interval` on its
//! own task, restores alert state saved before a restart, and reloads on request.
//!
//! A reload reads every file first; on any problem the old rules keep running and the
//! problems are returned. Otherwise groups are swapped: a rule with the same file, group,
//! name and definition keeps its state (pending timers, firing alerts); removed rules'
//! alerts are resolved and their saved state deleted. The built-in groups (host-down,
//! systemd) are not reloaded.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::{error, info, warn};

use super::collector_disk_filling;
use super::group::{GroupRun, RuleState, Source, same_definition};
use super::handover;
use super::host_anomaly::{self, Board};
use super::host_clock_skew;
use super::host_down;
use super::status::{ReloadReport, RulesSnapshot, RulesView};
use super::systemd_unit_failed;
use crate::notify::notifier::Notifier;
use crate::registry::Registry;
use vigil_promql::Engine;
use vigil_rules::file::load_files;
use vigil_rules::spec::RuleFile;
use vigil_store::clock::now_ms;
use vigil_store::{AlertKey, Labels, Store, StoredAlert};

/// What the rules runtime needs from the configuration (`[rules]`).
#[derive(Debug, Clone)]
pub struct RulesSettings {
    /// Rule files (paths or globs).
    pub files: Vec<PathBuf>,
    /// Interval of groups that do not set one.
    pub evaluation_interval: Duration,
    /// Silence after which a host counts as down; `None` turns the built-in rule off.
    pub host_down_after: Option<Duration>,
    /// `for` of the built-in `SystemdUnitFailed` rule; `None` turns it off.
    pub systemd_unit_failed_for: Option<Duration>,
    /// Horizon of the built-in `CollectorDiskFilling` forecast; `None` turns it off.
    pub collector_disk_filling_within: Option<Duration>,
    /// Skew over which the built-in `HostClockSkew` fires; `None` turns it off.
    pub host_clock_skew_over: Option<Duration>,
    /// Whether the built-in anomaly rules watch every host's core series.
    pub default_anomaly_rules: bool,
    /// Rate from which the built-in `HostAnomalous` fires; `None` turns it off.
    pub host_anomaly_rate_over: Option<f64>,
}

impl RulesSettings {
    /// The settings of `[rules]`.
    pub fn from_config(config: &crate::config::RulesConfig) -> Self {
        Self {
            files: config.files.clone(),
            evaluation_interval: config.evaluation_interval,
            host_down_after: (!config.host_down_after.is_zero()).then_some(config.host_down_after),
            systemd_unit_failed_for: (!config.systemd_unit_failed_for.is_zero())
                .then_some(config.systemd_unit_failed_for),
            collector_disk_filling_within: (!config.collector_disk_filling_within.is_zero())
                .then_some(config.collector_disk_filling_within),
            host_clock_skew_over: (!config.host_clock_skew_over.is_zero())
                .then_some(config.host_clock_skew_over),
            default_anomaly_rules: config.default_anomaly_rules,
            host_anomaly_rate_over: (config.host_anomaly_rate_over > 0.0)
                .then_some(config.host_anomaly_rate_over),
        }
    }
}

struct Inner {
    settings: RulesSettings,
    engine: Engine,
    store: Arc<dyn Store>,
    /// Where alerts go to be notified (none in tests that only evaluate).
    notifier: Option<Notifier>,
    runtime: tokio::runtime::Handle,
    groups: Mutex<Vec<Arc<GroupRun>>>,
    host_down: Option<Arc<GroupRun>>,
    /// The built-in groups other than host-down (`SystemdUnitFailed`), evaluated on the
    /// engine like file rules but never reloaded.
    builtin: Vec<Arc<GroupRun>>,
    /// Where the anomaly rules mark what they find, for the host anomaly rate.
    board: Arc<Board>,
    /// Alert state loaded at start and not yet claimed by a rule (kept until rule files
    /// load successfully, so a bad file at start does not lose it).
    restored: Mutex<Option<Vec<StoredAlert>>>,
    /// Serializes reloads.
    reloading: Mutex<()>,
}

/// The rules engine running inside the collector. Cheap to clone.
#[derive(Clone)]
pub struct RulesRuntime {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RulesRuntime {
    /// Loads saved alert state and the rule files, and starts evaluating. Must be called
    /// from within a tokio runtime; blocks on the store (call it before serving, or from
    /// `spawn_blocking`). A bad rule file is logged and the collector runs without those
    /// rules until a reload succeeds.
    pub fn start(
        settings: RulesSettings,
        engine: Engine,
        store: Arc<dyn Store>,
        registry: Arc<Registry>,
        notifier: Option<Notifier>,
    ) -> Result<Self, vigil_store::StoreError> {
        let restored = store.alerts()?;
        let mut restored_builtin: Vec<StoredAlert> = restored.clone();
        let host_down = settings.host_down_after.map(|down_after| {
            let rule = host_down::rule(down_after);
            let state = RuleState::new(
                rule,
                host_down::FILE,
                host_down::GROUP,
                &mut restored_builtin,
            );
            Arc::new(
                GroupRun::new(
                    host_down::FILE.to_owned(),
                    host_down::GROUP.to_owned(),
                    settings.evaluation_interval,
                    Source::HostDown {
                        registry,
                        down: host_down::Downtime {
                            after: down_after,
                            started_ms: now_ms(),
                        },
                    },
                    vec![state],
                )
                .notify_to(notifier.clone()),
            )
        });
        // The built-in groups evaluated on the engine like file rules, shown as file
        // `(built-in)`.
        let mut builtin_group = |rule, group: &str, interval| {
            let state = RuleState::new(rule, host_down::FILE, group, &mut restored_builtin);
            Arc::new(
                GroupRun::new(
                    host_down::FILE.to_owned(),
                    group.to_owned(),
                    interval,
                    Source::Files,
                    vec![state],
                )
                .notify_to(notifier.clone()),
            )
        };
        let board = Arc::new(Board::default());
        let mut builtin: Vec<Arc<GroupRun>> = Vec::new();
        if let Some(for_) = settings.systemd_unit_failed_for {
            builtin.push(builtin_group(
                systemd_unit_failed::rule(for_),
                systemd_unit_failed::GROUP,
                settings.evaluation_interval,
            ));
        }
        if let Some(within) = settings.collector_disk_filling_within {
            builtin.push(builtin_group(
                collector_disk_filling::rule(within),
                collector_disk_filling::GROUP,
                collector_disk_filling::INTERVAL,
            ));
        }
        if let Some(over) = settings.host_clock_skew_over {
            builtin.push(builtin_group(
                host_clock_skew::rule(over),
                host_clock_skew::GROUP,
                settings.evaluation_interval,
            ));
        }
        if settings.default_anomaly_rules {
            let states = host_anomaly::watch_rules()
                .into_iter()
                .map(|rule| {
                    RuleState::new(
                        rule,
                        host_down::FILE,
                        host_anomaly::WATCH_GROUP,
                        &mut restored_builtin,
                    )
                })
                .collect();
            builtin.push(Arc::new(
                GroupRun::new(
                    host_down::FILE.to_owned(),
                    host_anomaly::WATCH_GROUP.to_owned(),
                    settings.evaluation_interval,
                    Source::Files,
                    states,
                )
                .mark_on(Some(board.clone())),
            ));
        }
        if let Some(over) = settings.host_anomaly_rate_over {
            let [rate, count] = host_anomaly::record_rules();
            let states = [rate, count, host_anomaly::alert_rule(over)]
                .into_iter()
                .map(|rule| {
                    RuleState::new(
                        rule,
                        host_down::FILE,
                        host_anomaly::GROUP,
                        &mut restored_builtin,
                    )
                })
                .collect();
            builtin.push(Arc::new(
                GroupRun::new(
                    host_down::FILE.to_owned(),
                    host_anomaly::GROUP.to_owned(),
                    settings.evaluation_interval,
                    Source::HostAnomaly {
                        board: board.clone(),
                        over,
                    },
                    states,
                )
                .notify_to(notifier.clone()),
            ));
        }
        let restored: Vec<StoredAlert> = restored
            .into_iter()
            .filter(|a| a.key.file != host_down::FILE)
            .collect();
        let runtime = Self {
            inner: Arc::new(Inner {
                settings,
                engine,
                store,
                notifier,
                runtime: tokio::runtime::Handle::current(),
                groups: Mutex::new(Vec::new()),
                host_down,
                builtin,
                board,
                restored: Mutex::new(Some(restored)),
                reloading: Mutex::new(()),
            }),
        };
        for group in runtime.inner.host_down.iter().chain(&runtime.inner.builtin) {
            runtime.spawn(group.clone());
        }
        match runtime.reload_files() {
            Ok(report) => info!(files = report.files, rules = report.rules, "rules loaded"),
            Err(problems) => {
                error!(problems = %problems, "rule files not loaded; fix them and reload (SIGHUP or vigil rules reload)")
            }
        }
        Ok(runtime)
    }

    /// Stops every group, waiting for evaluations in progress, and saves the anomaly
    /// rules' detectors. Saved state stays.
    pub fn stop(&self) {
        let store = self.inner.store.as_ref();
        let now = now_ms();
        let groups: Vec<Arc<GroupRun>> = lock(&self.inner.groups).drain(..).collect();
        for group in groups
            .iter()
            .chain(self.inner.host_down.iter())
            .chain(&self.inner.builtin)
        {
            for rule in group.stop() {
                rule.checkpoint(store, now);
            }
        }
    }

    /// Deletes the saved detectors of anomaly rules that no longer exist.
    fn sweep_detectors(&self, groups: &[Arc<GroupRun>]) {
        let live: Vec<Vec<u8>> = groups
            .iter()
            .chain(&self.inner.builtin)
            .flat_map(|g| g.watch_keys())
            .collect();
        let saved = match self.inner.store.kv_scan(vigil_store::Space::Anomaly) {
            Ok(saved) => saved,
            Err(e) => {
                warn!(error = %e, "listing saved anomaly detectors failed");
                return;
            }
        };
        let stale: Vec<vigil_store::KvOp> = saved
            .into_iter()
            .filter(|(key, _)| !live.iter().any(|l| key.starts_with(l)))
            .map(|(key, _)| vigil_store::KvOp::delete(vigil_store::Space::Anomaly, key))
            .collect();
        if stale.is_empty() {
            return;
        }
        info!(
            detectors = stale.len(),
            "deleting the saved detectors of removed anomaly rules"
        );
        for chunk in stale.chunks(4_096) {
            if let Err(e) = self.inner.store.kv_write(chunk) {
                warn!(error = %e, "deleting saved anomaly detectors failed");
                return;
            }
        }
    }

    /// Records that a notification about an alert was sent at `at_ms`; saved with the
    /// group's next evaluation. False when no such alert is pending or firing.
    pub fn mark_notified(&self, group: &str, rule: &str, labels: &Labels, at_ms: i64) -> bool {
        let groups = lock(&self.inner.groups);
        groups
            .iter()
            .chain(self.inner.host_down.iter())
            .chain(&self.inner.builtin)
            .filter(|g| g.name == group)
            .any(|g| g.mark_notified(rule, labels, at_ms))
    }

    fn spawn(&self, group: Arc<GroupRun>) {
        let (engine, store) = (self.inner.engine.clone(), self.inner.store.clone());
        let evaluated = group.clone();
        let task = self.inner.runtime.spawn(async move {
            let group = evaluated;
            let mut tick = tokio::time::interval(group.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                let (g, e, s) = (group.clone(), engine.clone(), store.clone());
                match tokio::task::spawn_blocking(move || g.evaluate(&e, s.as_ref(), now_ms()))
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => warn!(group = %group.name, error = %e, "rule evaluation panicked"),
                }
            }
        });
        group.set_task(task.abort_handle());
    }

    fn reload_files(&self) -> Result<ReloadReport, String> {
        let _one_at_a_time = lock(&self.inner.reloading);
        let files = load_files(&self.inner.settings.files).map_err(|problems| {
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        })?;
        let old: Vec<Arc<GroupRun>> = std::mem::take(&mut *lock(&self.inner.groups));
        let mut old_rules: Vec<(String, String, Vec<RuleState>)> = old
            .iter()
            .map(|g| (g.file.clone(), g.name.clone(), g.stop()))
            .collect();
        let mut restored = lock(&self.inner.restored).take().unwrap_or_default();
        let (groups, report) = self.build(&files, &mut old_rules, &mut restored);
        let now = now_ms();
        self.resolve_ended(&old_rules, &restored, now);
        for (_, _, removed) in &mut old_rules {
            GroupRun::end_series(removed, self.inner.store.as_ref(), now);
        }
        let mut ended: Vec<AlertKey> = old_rules
            .into_iter()
            .flat_map(|(_, _, rules)| rules.into_iter().flat_map(|r| r.persisted))
            .collect();
        ended.extend(restored.into_iter().map(|a| a.key));
        if let Err(e) = self.inner.store.write_alerts(&[], &ended) {
            warn!(error = %e, "deleting the saved state of removed rules failed");
        }
        self.sweep_detectors(&groups);
        for group in &groups {
            self.spawn(group.clone());
        }
        *lock(&self.inner.groups) = groups;
        Ok(report)
    }

    /// Tells the notifier that the firing alerts of removed rules, and saved alerts no rule
    /// claimed, resolved at `now_ms`.
    fn resolve_ended(
        &self,
        removed: &[(String, String, Vec<RuleState>)],
        unclaimed: &[StoredAlert],
        now_ms: i64,
    ) {
        let Some(notifier) = &self.inner.notifier else {
            return;
        };
        let mut ended: Vec<crate::notify::model::Alert> = removed
            .iter()
            .flat_map(|(_, _, rules)| rules.iter())
            .flat_map(|r| handover::ended(r.lifecycle.instances(), now_ms))
            .collect();
        ended.extend(unclaimed.iter().filter(|a| a.firing).map(|a| {
            let since = a.firing_since_ms.unwrap_or(a.active_since_ms);
            handover::ended_saved(&a.key.labels, since, now_ms)
        }));
        if !ended.is_empty() {
            notifier.observe(ended);
        }
    }

    /// New groups for `files`, taking the state of unchanged rules out of `old` and saved
    /// state out of `restored`.
    fn build(
        &self,
        files: &[RuleFile],
        old: &mut [(String, String, Vec<RuleState>)],
        restored: &mut Vec<StoredAlert>,
    ) -> (Vec<Arc<GroupRun>>, ReloadReport) {
        let mut report = ReloadReport {
            files: files.len(),
            ..ReloadReport::default()
        };
        let mut groups = Vec::new();
        for file in files {
            let path = file.path.display().to_string();
            for group in &file.groups {
                let mut previous = old
                    .iter_mut()
                    .find(|(f, g, _)| *f == path && *g == group.name)
                    .map(|(_, _, rules)| rules);
                let mut states = Vec::new();
                for rule in &group.rules {
                    report.rules += 1;
                    let kept = previous.as_mut().and_then(|rules| {
                        let at = rules.iter().position(|r| same_definition(&r.rule, rule))?;
                        Some(rules.remove(at))
                    });
                    states.push(match kept {
                        Some(mut state) => {
                            report.unchanged += 1;
                            state.rule = rule.clone();
                            state
                        }
                        None => RuleState::new(rule.clone(), &path, &group.name, restored),
                    });
                }
                let interval = group
                    .interval
                    .unwrap_or(self.inner.settings.evaluation_interval);
                groups.push(Arc::new(
                    GroupRun::new(
                        path.clone(),
                        group.name.clone(),
                        interval,
                        Source::Files,
                        states,
                    )
                    .notify_to(self.inner.notifier.clone())
                    .mark_on(Some(self.inner.board.clone())),
                ));
            }
        }
        (groups, report)
    }
}

impl RulesView for RulesRuntime {
    fn snapshot(&self) -> RulesSnapshot {
        let groups = lock(&self.inner.groups).clone();
        RulesSnapshot {
            groups: groups
                .iter()
                .chain(self.inner.host_down.iter())
                .chain(&self.inner.builtin)
                .map(|g| g.status())
                .collect(),
        }
    }

    fn reload(&self) -> Result<ReloadReport, String> {
        let result = self.reload_files();
        match &result {
            Ok(r) => info!(
                files = r.files,
                rules = r.rules,
                unchanged = r.unchanged,
                "rules reloaded"
            ),
            Err(problems) => {
                warn!(problems = %problems, "rules not reloaded; the old rules keep running")
            }
        }
        result
    }
}

/// Reloads the rules on every SIGHUP, logging the outcome; runs until the process ends.
pub async fn reload_on_hangup(rules: Arc<dyn RulesView>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGHUP; reload rules with vigil rules reload");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            info!("SIGHUP: reloading rules");
            let rules = rules.clone();
            // The outcome is logged by reload itself.
            let _ = tokio::task::spawn_blocking(move || rules.reload()).await;
        }
    }
    #[cfg(not(unix))]
    let _ = rules;
}
