//! What bounds a run and what a stopped case was doing. SIGINT, SIGTERM and `--run-timeout`
//! stop a run the same way: no new case starts (each is recorded as not run), running cases
//! get a short grace and are then cancelled (recorded as not run, with what they were waiting
//! on), and the main thread writes complete reports. libtest-mimic runs cases on its own
//! threads, so the state is process-wide: a run is one process.
//!
//! Each case also says what it is waiting on (`step`, `operation`), so that a case that runs
//! out of time, or is cancelled, names the step and the operation it was in.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::Notify;

/// Why a run stops before its cases are done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// `--run-timeout` ran out.
    RunTimeout,
}

impl Stop {
    fn code(self) -> u8 {
        match self {
            Stop::Interrupt => 1,
            Stop::Terminate => 2,
            Stop::RunTimeout => 3,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Stop::Interrupt),
            2 => Some(Stop::Terminate),
            3 => Some(Stop::RunTimeout),
            _ => None,
        }
    }

    /// Why, for people: `the run was interrupted (SIGINT)`.
    pub fn reason(self) -> String {
        match self {
            Stop::Interrupt => "the run was interrupted (SIGINT)".into(),
            Stop::Terminate => "the run was terminated (SIGTERM)".into(),
            Stop::RunTimeout => format!(
                "the run's timeout of {} ran out",
                RUN_TIMEOUT
                    .get()
                    .map(|d| crate::units::human(*d))
                    .unwrap_or_default()
            ),
        }
    }

    /// The process's exit code: 128 + the signal's number, as shells report a signal; a run
    /// that ran out of time failed.
    pub fn exit_code(self) -> u8 {
        match self {
            Stop::Interrupt => crate::exit::INTERRUPTED,
            Stop::Terminate => crate::exit::TERMINATED,
            Stop::RunTimeout => crate::exit::FAILED,
        }
    }

    /// The report state it leaves: `interrupted`, `terminated`, `timed-out`.
    pub fn state(self) -> &'static str {
        match self {
            Stop::Interrupt => "interrupted",
            Stop::Terminate => "terminated",
            Stop::RunTimeout => "timed-out",
        }
    }
}

/// How long running cases may go on after a signal before they are cancelled.
pub const GRACE: Duration = Duration::from_secs(5);
/// How long after the grace the main thread may take to write the reports before the
/// backstop writes them from what it has and ends the process.
const BACKSTOP: Duration = Duration::from_secs(10);

static STOP: AtomicU8 = AtomicU8::new(0);
static CANCELLED: AtomicBool = AtomicBool::new(false);
static CANCEL: Notify = Notify::const_new();
static RUN_TIMEOUT: OnceLock<Duration> = OnceLock::new();
/// Writes the reports and ends the process, when the main thread cannot (a case stuck outside
/// anything cancellable).
type Backstop = Box<dyn FnOnce(Stop) + Send>;
static BACKSTOP_HOOK: Mutex<Option<Backstop>> = Mutex::new(None);

/// Why the run is stopping, once it is.
pub fn stopping() -> Option<Stop> {
    Stop::from_code(STOP.load(Ordering::SeqCst))
}

/// Stops the run (the first reason given wins); returns false if it was stopping already.
pub fn stop(why: Stop) -> bool {
    if STOP
        .compare_exchange(0, why.code(), Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        return false;
    }
    let grace = if why == Stop::RunTimeout {
        Duration::ZERO
    } else {
        GRACE
    };
    let _ = std::thread::Builder::new()
        .name("stopping".into())
        .spawn(move || {
            std::thread::sleep(grace);
            cancel();
            std::thread::sleep(BACKSTOP);
            let hook = BACKSTOP_HOOK
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(hook) = hook {
                hook(why);
            }
        });
    true
}

/// Ends the running cases now.
fn cancel() {
    CANCELLED.store(true, Ordering::SeqCst);
    CANCEL.notify_waiters();
}

/// Resolves when running cases must end.
pub async fn cancelled() {
    loop {
        let notified = CANCEL.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if CANCELLED.load(Ordering::SeqCst) {
            return;
        }
        notified.await;
    }
}

/// Runs `backstop` if the main thread has not finished the run `BACKSTOP` after the grace;
/// `disarm` when it has.
pub fn arm_backstop(backstop: impl FnOnce(Stop) + Send + 'static) {
    *BACKSTOP_HOOK.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(backstop));
}

pub fn disarm_backstop() {
    BACKSTOP_HOOK
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
}

/// Turns SIGINT and SIGTERM into stopping the run; a second signal cancels running cases at
/// once. Returns once the handlers are in place, so that no signal can slip past them.
pub fn listen_for_signals() -> std::io::Result<()> {
    static LISTENING: OnceLock<()> = OnceLock::new();
    if LISTENING.set(()).is_err() {
        return Ok(());
    }
    let (ready, is_ready) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            use tokio::signal::unix::{signal, SignalKind};
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => return drop(ready.send(Err(e))),
            };
            runtime.block_on(async move {
                let handlers = signal(SignalKind::interrupt())
                    .and_then(|i| Ok((i, signal(SignalKind::terminate())?)));
                let (mut interrupt, mut terminate) = match handlers {
                    Ok(h) => {
                        let _ = ready.send(Ok(()));
                        h
                    }
                    Err(e) => return drop(ready.send(Err(e))),
                };
                loop {
                    let why = tokio::select! {
                        _ = interrupt.recv() => Stop::Interrupt,
                        _ = terminate.recv() => Stop::Terminate,
                    };
                    if stop(why) {
                        eprintln!(
                            "\n{}: no new case starts; running cases have {} to finish (again to stop them now)",
                            why.reason(),
                            crate::units::human(GRACE)
                        );
                    } else {
                        cancel();
                    }
                }
            });
        })?;
    is_ready
        .recv()
        .unwrap_or_else(|_| Err(std::io::Error::other("the signal thread ended")))
}

/// Stops the run when `limit` has passed.
pub fn bound_run(limit: Duration) {
    let _ = RUN_TIMEOUT.set(limit);
    let _ = std::thread::Builder::new()
        .name("run-timeout".into())
        .spawn(move || {
            std::thread::sleep(limit);
            if stop(Stop::RunTimeout) {
                eprintln!(
                    "\n{}: no new case starts; running cases are stopped",
                    Stop::RunTimeout.reason()
                );
            }
        });
}

/// What a case is doing: its step, and the operation it is waiting on.
#[derive(Clone, Default)]
pub struct Progress(Arc<Mutex<(String, String)>>);

tokio::task_local! {
    static PROGRESS: Progress;
}

impl Progress {
    /// Runs `f` with this progress as the one `step` and `operation` update.
    pub fn watch<F: Future>(&self, f: F) -> impl Future<Output = F::Output> {
        PROGRESS.scope(self.clone(), f)
    }

    /// `in step "claim", waiting for the response to POST https://...`.
    pub fn describe(&self) -> String {
        let (step, operation) = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match (step.is_empty(), operation.is_empty()) {
            (true, _) => "before its first step".into(),
            (false, true) => format!("in step {step:?}"),
            (false, false) => format!("in step {step:?}, waiting for {operation}"),
        }
    }
}

/// The case in this task starts a step.
pub fn step(name: &str) {
    let _ = PROGRESS.try_with(|p| {
        *p.0.lock().unwrap_or_else(|e| e.into_inner()) = (name.to_string(), String::new());
    });
}

/// The case in this task now waits on `what` (`the response to POST https://...`).
pub fn operation(what: impl FnOnce() -> String) {
    let _ = PROGRESS.try_with(|p| {
        p.0.lock().unwrap_or_else(|e| e.into_inner()).1 = what();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_names_the_step_and_the_operation() {
        let progress = Progress::default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(progress.watch(async {
            step("claim");
            operation(|| "the response to POST https://a.example/v1/keyMaterial/x".into());
        }));
        assert_eq!(
            progress.describe(),
            "in step \"claim\", waiting for the response to POST https://a.example/v1/keyMaterial/x"
        );
        // Outside a watched task nothing is recorded, and nothing fails.
        step("elsewhere");
        assert!(progress.describe().starts_with("in step \"claim\""));
    }
}
