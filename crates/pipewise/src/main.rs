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

/// mimalloc v3's `allow_thp` option (its header's enum; libmimalloc-sys 0.1.49
/// names only the v2 options).
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// mimalloc v3's `purge_delay` option (index 15 of its header's enum; not named
/// by libmimalloc-sys 0.1.49).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keep mimalloc off huge pages (explicit and transparent): with them fresh
/// arena memory is faulted in and zeroed by the kernel 2 MiB at a time, which
/// took two thirds of a 1M-deal `deal_facts` build and made it vary from 1.2
/// to 3.3 s between runs (1.6 s steadily without).
///
/// And never give freed memory back to the kernel while running: mimalloc's
/// default purges freed pages after 10 ms, and the next allocation faults
/// them in and has them zeroed again. On this class of VM that zeroing is
/// slow and erratic: a 1M-deal scorecard spent 0.4–1.9 s of system time on
/// it (wall 1.6–2.5 s) against 0.12–0.22 s without purging (wall 1.3 s).
/// A command is short-lived and its peak is what it needs anyway (peak RSS
/// went from 0.94 to 0.98 GB).
#[allow(unsafe_code)] // the FFI calls below; their soundness is argued inline
fn tune_allocator() {
    // SAFETY: mi_option_set takes two integers and only stores the value in
    // mimalloc's option table (atomically); it reads no pointers, so it is
    // sound to call at any time. All three options exist in the bundled mimalloc
    // v3 (indices 6, 15 and 43 of its mi_option_t enum; -1 is purge_delay's
    // documented "never purge").
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        libmimalloc_sys::mi_option_set(libmimalloc_sys::mi_option_large_os_pages, 0);
        libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0);
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
