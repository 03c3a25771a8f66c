//! The `pipewise` binary: argument parsing, settings, rendering and wiring.
//! Nothing analytical lives here; see ARCHITECTURE.md.

/// mimalloc reuses freed pages across the as-of load's many large, short-lived
/// buffers; the system allocator returns them to the kernel and faults them back in.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod args;
mod commands;
mod output;
mod settings;

use clap::Parser;
use std::process::ExitCode;

/// Exit statuses, in one place: 0 success, 2 an error the user can fix
/// (bad input, missing workspace), 1 anything else.
#[derive(Debug, Clone, Copy)]
enum ExitStatus {
    Success,
    Error,
    UserError,
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> ExitCode {
        match s {
            ExitStatus::Success => ExitCode::SUCCESS,
            ExitStatus::Error => ExitCode::from(1),
            ExitStatus::UserError => ExitCode::from(2),
        }
    }
}

/// mimalloc v3's `purge_delay` option (index 15 of its header's enum; not named
/// by libmimalloc-sys 0.1.49).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Never give freed memory back to the kernel while running: mimalloc's
/// default purges freed pages after 10 ms, and the next allocation faults
/// them in and has them zeroed again. On this class of VM that zeroing is
/// slow and erratic: a 1M-deal scorecard spent 0.4–1.9 s of system time on
/// it (wall 1.6–2.5 s) against 0.1–0.2 s without purging (wall 1.2–1.3 s
/// then). A command is short-lived and its peak is what it needs anyway
/// (peak RSS went from 0.94 to 0.98 GB).
///
/// Transparent huge pages stay as the system sets them. (mimalloc reads its
/// `allow_thp` option when it starts, before `main`, so setting it here had
/// no effect; turning THP off through the environment made the scorecard
/// fault 220k pages instead of 2.7k and slower: 1.1–1.7 s against 0.8–1.4 s.)
#[allow(unsafe_code)] // the FFI call below; its soundness is argued inline
fn tune_allocator() {
    // SAFETY: mi_option_set takes two integers and only stores the value in
    // mimalloc's option table (atomically); it reads no pointers, so it is
    // sound to call at any time. purge_delay is index 15 of the bundled
    // mimalloc v3's mi_option_t enum; -1 is its documented "never purge".
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
    }
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = args::Cli::parse();
    let level = match cli.global.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PIPEWISE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::env::var_os("NO_COLOR").is_none())
        .init();
    let status = match commands::run(cli) {
        Ok(()) => ExitStatus::Success,
        Err(e) => {
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitStatus::Success.into(); // `pipewise … | head` is not a failure
            }
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            if settings::is_user_error(&e) {
                ExitStatus::UserError
            } else {
                ExitStatus::Error
            }
        }
    };
    status.into()
}
