//! One pool for many runs of the cases against the reference provider in different
//! configurations (`mutants`: a fault each; `variants`: a legal behaviour each). Every
//! (configuration, case) pair chosen (`run_chosen`; all of them: `run_all`) is a job for one
//! set of worker threads sized for a load that mostly waits, so the waits of one configuration
//! overlap the work of others and the cores stay busy. Jobs are taken in two rounds: the cases
//! that may wait first, longest first across configurations, then the others configuration by
//! configuration. A configuration's providers for a round are started by the first job that
//! needs them, or a few configurations ahead of it (outside any lock), and stop after its last
//! job in the round. `run_serially` runs each configuration's cases one at a time instead, so
//! that what its providers do is one case's doing.

use crate::case::Case;
use crate::runner::events::{CaseRecord, EventSink};
use crate::runner::head_start::HeadStart;
use crate::runner::{longest_wait, run_case};
use crate::session::{prepare, Prepared, Providers};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// How many jobs run at once by default: cases mostly wait (on the providers, and under a
/// fault on a step's whole timeout, 10 s and more), and a worker that waits does nothing else,
/// so many more than there are cores.
pub fn default_jobs() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    (cores * 64).clamp(8, 256)
}

/// How many configurations after the one whose first job was just taken have their providers
/// started already: enough that a start is done before its jobs come, few enough to bound how
/// many sets of providers live at once.
const AHEAD: usize = 2;

/// One configuration's providers, as far as the pool has got with them.
enum Slot {
    NotStarted,
    /// A worker is starting them.
    Starting,
    Running(Arc<Prepared>),
    /// They could not start: why.
    Failed(String),
    Finished,
}

/// One configuration's providers for a share of its jobs.
struct Part {
    slot: Mutex<Slot>,
    /// Signalled when the slot leaves `Starting`.
    started: Condvar,
    /// Where its jobs begin in the pool's work.
    first_job: usize,
    /// Its jobs not done yet.
    left: AtomicUsize,
    /// Taken by its session when its providers start.
    head_start: Mutex<Option<HeadStart>>,
}

impl Part {
    fn new(first_job: usize, jobs: usize, head_start: HeadStart) -> Self {
        Self {
            slot: Mutex::new(Slot::NotStarted),
            started: Condvar::new(),
            first_job,
            left: AtomicUsize::new(jobs),
            head_start: Mutex::new(Some(head_start)),
        }
    }

    fn slot(&self) -> MutexGuard<'_, Slot> {
        lock(&self.slot)
    }

    /// Starts its providers if nobody has yet, outside the slot's lock.
    fn start(&self, providers: impl FnOnce() -> Providers, cases: &[Case]) {
        {
            let mut slot = self.slot();
            if !matches!(*slot, Slot::NotStarted) {
                return;
            }
            *slot = Slot::Starting;
        }
        let prepared = prepare(
            providers(),
            EventSink::discard(),
            false,
            cases,
            Default::default(),
        );
        *self.slot() = match prepared {
            Ok(mut p) => {
                if let (Some(session), Some(head)) =
                    (Arc::get_mut(&mut p.session), lock(&self.head_start).take())
                {
                    session.head_start = head;
                }
                Slot::Running(Arc::new(p))
            }
            Err(e) => Slot::Failed(e.message()),
        };
        self.started.notify_all();
    }

    /// Its providers once they are started (waiting while they start); `None` if they could
    /// not start.
    fn running(&self) -> Option<Arc<Prepared>> {
        let mut slot = self.slot();
        while let Slot::Starting = *slot {
            slot = (self.started.wait(slot)).unwrap_or_else(|e| e.into_inner());
        }
        match &*slot {
            Slot::Running(p) => Some(p.clone()),
            _ => None,
        }
    }

    /// Its last job is done: its providers stop (when the last worker lets go of them).
    fn finish(&self) {
        let mut slot = self.slot();
        if let Slot::Running(_) = *slot {
            *slot = Slot::Finished;
        }
    }
}

/// Runs every case against every configuration (a name and what `providers` makes the
/// configuration's providers from), `jobs` at a time. The records come back per configuration,
/// in the order of `cases`; a configuration whose providers could not start is an error naming
/// it.
pub fn run_all<C: Sync>(
    configurations: &[(String, C)],
    cases: &[Case],
    providers: impl Fn(&C) -> Providers + Sync,
    jobs: usize,
) -> Result<Vec<Vec<CaseRecord>>, String> {
    let every: Vec<Vec<usize>> = configurations
        .iter()
        .map(|_| (0..cases.len()).collect())
        .collect();
    let records = run_chosen(configurations, &every, cases, providers, jobs, true)?;
    configurations
        .iter()
        .zip(records)
        .map(|((name, _), records)| {
            (records.into_iter())
                .map(|r| r.ok_or_else(|| format!("{name}: a case did not run")))
                .collect()
        })
        .collect()
}

/// Runs the cases `chosen` for each configuration (indices into `cases`), `jobs` at a time.
/// The records come back per configuration, in the order of `cases`, `None` for a case not
/// chosen; a configuration with no case chosen is never started.
///
/// The run ends when its last job does, and a job that waits for what a broken provider never
/// sends lasts as long as its case's waits allow (`longest_wait`), so those go first: in a
/// first round, every configuration's cases that may wait, the longest waits first whatever
/// their configuration; in a second, on a fresh start of each configuration's providers, the
/// cases that wait for nothing, configuration by configuration, which fill the cores while the
/// first round's last waits run out. With `head_start`, within each part the cases with
/// imposed waits begin them before the others start (`runner::head_start`): not for mutants,
/// where a fault can keep such a case from ever beginning its wait.
pub fn run_chosen<C: Sync>(
    configurations: &[(String, C)],
    chosen: &[Vec<usize>],
    cases: &[Case],
    providers: impl Fn(&C) -> Providers + Sync,
    jobs: usize,
    head_start: bool,
) -> Result<Vec<Vec<Option<CaseRecord>>>, String> {
    let waits: Vec<_> = cases.iter().map(longest_wait).collect();
    // Each round's share of each configuration is a part with providers of its own.
    let mut parts: Vec<(usize, Part)> = Vec::new();
    let mut work: Vec<(usize, usize)> = Vec::new();
    for waiting in [true, false] {
        for (c, indices) in chosen.iter().enumerate().take(configurations.len()) {
            let mut indices: Vec<usize> = (indices.iter().copied())
                .filter(|&i| i < cases.len() && waits[i].is_zero() != waiting)
                .collect();
            if indices.is_empty() {
                continue;
            }
            indices.sort_by_key(|&i| std::cmp::Reverse(waits[i]));
            let head = if head_start {
                HeadStart::of(indices.iter().map(|&i| &cases[i]))
            } else {
                HeadStart::default()
            };
            parts.push((c, Part::new(work.len(), indices.len(), head)));
            let part = parts.len() - 1;
            work.extend(indices.into_iter().map(|i| (part, i)));
        }
        if waiting {
            // Across configurations: a long wait that began late would end the run late.
            work.sort_by_key(|&(_, i)| std::cmp::Reverse(waits[i]));
            for (at, &(p, _)) in work.iter().enumerate().rev() {
                parts[p].1.first_job = at;
            }
        }
    }
    let records: Vec<Mutex<Vec<Option<CaseRecord>>>> = configurations
        .iter()
        .map(|_| Mutex::new(cases.iter().map(|_| None).collect()))
        .collect();
    let start = |p: usize| {
        let (c, part) = &parts[p];
        part.start(|| providers(&configurations[*c].1), cases)
    };
    let next = AtomicUsize::new(0);
    let worker = || loop {
        let job = next.fetch_add(1, Ordering::Relaxed);
        let Some(&(p, i)) = work.get(job) else {
            return;
        };
        // Started already as a rule; but a worker can reach a part before the one that took
        // its first job has marked it starting, and must not find it not started.
        start(p);
        let (c, part) = &parts[p];
        if part.first_job == job {
            (p + 1..=p + AHEAD)
                .filter(|&q| q < parts.len())
                .for_each(start);
        }
        let prepared = part.running();
        if let Some(prepared) = &prepared {
            let record = run_case(&cases[i], &prepared.session);
            lock(&records[*c])[i] = Some(record);
        }
        if part.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            part.finish();
        }
        drop(prepared);
    };
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, work.len().max(1)) {
            scope.spawn(worker);
        }
    });
    for (c, part) in &parts {
        if let Slot::Failed(why) = &*part.slot() {
            return Err(not_started(&configurations[*c].0, why));
        }
    }
    Ok(records
        .into_iter()
        .map(|r| r.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect())
}

/// Runs the cases `chosen` for each configuration one after another, each configuration on a
/// thread of its own, so that what its providers do between two calls of `after` is one case's
/// doing: `after(configuration, None)` once its providers have started, and
/// `after(configuration, Some(case))` after each case (its link-B traffic is settled by then).
/// The records come back as `run_chosen`'s do.
pub fn run_serially<C: Sync>(
    configurations: &[(String, C)],
    chosen: &[Vec<usize>],
    cases: &[Case],
    providers: impl Fn(&C) -> Providers + Sync,
    after: impl Fn(usize, Option<usize>) + Sync,
) -> Result<Vec<Vec<Option<CaseRecord>>>, String> {
    let outcomes: Vec<Result<Vec<Option<CaseRecord>>, String>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (configurations.iter().zip(chosen).enumerate())
            .map(|(c, ((name, configuration), chosen))| {
                let (providers, after) = (&providers, &after);
                scope.spawn(move || {
                    let mut records: Vec<Option<CaseRecord>> = cases.iter().map(|_| None).collect();
                    if chosen.is_empty() {
                        return Ok(records);
                    }
                    let part = Part::new(0, chosen.len(), HeadStart::default());
                    part.start(|| providers(configuration), cases);
                    let Some(prepared) = part.running() else {
                        let why = match &*part.slot() {
                            Slot::Failed(why) => why.clone(),
                            _ => String::new(),
                        };
                        return Err(not_started(name, &why));
                    };
                    after(c, None);
                    for &i in chosen.iter().filter(|&&i| i < cases.len()) {
                        let record = run_case(&cases[i], &prepared.session);
                        after(c, Some(i));
                        records[i] = Some(record);
                    }
                    Ok(records)
                })
            })
            .collect();
        (threads.into_iter())
            .map(|t| t.join().unwrap_or_else(|_| Err("a run panicked".into())))
            .collect()
    });
    outcomes.into_iter().collect()
}

fn not_started(configuration: &str, why: &str) -> String {
    format!("{configuration}: the providers could not start: {why}")
}

/// A lock, whether or not a thread panicked holding it (a run's records outlive a panic).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{Catalogue, HARNESS_CATALOGUE};
    use std::path::{Path, PathBuf};

    fn a_case() -> Case {
        let catalogue = Catalogue::parse(HARNESS_CATALOGUE).unwrap();
        let source = r#"title: a claim
checks: [KM-16]
links: [B]
actors:
  providers: {target: under-test, hub: harness}
  clients: {alice: {on: hub}}
needs: [keyMaterial]
steps:
  - name: claim for nobody
    by: hub
    on: target
    call: keyMaterial
    path: {targetUser: "mimi://{{ target.domain }}/u/nobody"}
    body:
      KeyMaterialRequest: {requester: alice}
    expect:
      status: 200
"#;
        crate::case::parse_case(
            Path::new("pool"),
            Path::new("pool/B/a.yaml"),
            source.into(),
            &catalogue,
        )
        .unwrap_or_else(|e| panic!("{e:?}"))
    }

    /// A configuration whose providers cannot start, and how to make them.
    fn nowhere() -> [(String, PathBuf); 1] {
        [(
            "nowhere".to_string(),
            PathBuf::from("/no/such/profile.yaml"),
        )]
    }

    #[expect(
        clippy::ptr_arg,
        reason = "the pool hands each configuration over as &C"
    )]
    fn profile(path: &PathBuf) -> Providers {
        Providers::ProfileFiles(vec![path.clone()])
    }

    #[test]
    fn a_configuration_whose_providers_cannot_start_is_an_error_naming_it() {
        let cases = [a_case()];
        let error = run_all(&nowhere(), &cases, profile, 4).unwrap_err();
        assert!(
            error.starts_with("nowhere: the providers could not start"),
            "{error}"
        );
    }

    #[test]
    fn a_configuration_with_no_case_chosen_is_never_started() {
        let cases = [a_case()];
        let configurations = nowhere();
        let records = run_chosen(&configurations, &[vec![]], &cases, profile, 4, true).unwrap();
        assert!(records.len() == 1 && records[0].iter().all(Option::is_none));
        let calls = Mutex::new(0);
        let records = run_serially(&configurations, &[vec![]], &cases, profile, |_, _| {
            *lock(&calls) += 1
        })
        .unwrap();
        assert!(records[0].iter().all(Option::is_none) && *lock(&calls) == 0);
        // Chosen, it is started, and the error names it.
        let error =
            run_serially(&configurations, &[vec![0]], &cases, profile, |_, _| {}).unwrap_err();
        assert!(
            error.starts_with("nowhere: the providers could not start"),
            "{error}"
        );
    }

    #[test]
    fn no_cases_is_no_run_and_no_error() {
        let records = run_all(&nowhere(), &[], profile, 4).unwrap();
        assert!(records.len() == 1 && records[0].is_empty());
    }
}
