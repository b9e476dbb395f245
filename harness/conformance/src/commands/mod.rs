//! The subcommands, one module each, over the suite API (`crate::session`). `serve` and
//! `mutants` need the reference provider and live with it, in `crate::reference`.

#[cfg(feature = "reference-provider")]
pub mod bench;
pub mod certify;
pub mod coverage;
pub mod decode;
pub mod keypackage;
pub mod matrix;
pub mod observe;
pub mod pki;
pub mod run;

/// Logs (warnings by default, `RUST_LOG` to change) go to stderr: stdout belongs to
/// libtest-mimic and to the commands' products.
pub fn init_logging() {
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes are for people at a terminal, not for log files and CI logs.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .try_init();
}

/// The runtime of a command that serves until interrupted; when there is none, the exit code
/// (the reason is on stderr).
pub fn runtime() -> Result<tokio::runtime::Runtime, std::process::ExitCode> {
    build_runtime().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        crate::exit::code(crate::exit::UNREACHABLE)
    })
}

/// The async runtime the commands run on (two workers: the machine is shared).
pub fn build_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}
