//! One module per command. Each takes resolved settings and prints data to stdout.

mod asof;
mod changes;
mod deals;
mod demo;
mod experiment;
mod flow;
mod forecast;
mod ingest;
mod init;
mod leads;
mod metric;
mod serve;
mod sql;
mod status;
mod submissions;
mod synth;

use crate::args::{Cli, Command};
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;

pub fn run(cli: Cli) -> Result<()> {
    let g = &cli.global;
    let ws = crate::settings::workspace_dir(&g.workspace);
    match &cli.command {
        Command::Init(a) => init::run(&ws, a, g.format),
        Command::Synth(a) => synth::run(&ws, a, g.format),
        Command::Ingest(c) => ingest::run(&ws, c, g.format),
        Command::Status => status::run(&ws, g.format),
        Command::Asof(a) => asof::run(&ws, a, g.format),
        Command::Changes(a) => changes::run(&ws, a, g.format),
        Command::Flow(a) => flow::run(&ws, a, g.format),
        Command::Sql(a) => sql::run(&ws, a, g.format),
        Command::Metrics => metric::list(&ws, g.format),
        Command::Metric(a) => metric::run(&ws, a, g.format),
        Command::Pacing(a) => metric::pacing(&ws, a, g.format),
        Command::Scorecard(a) => metric::scorecard(&ws, a, g.format),
        Command::Export(a) => sql::export(&ws, a, g.format),
        Command::Explain(a) => metric::explain(&ws, a, g.format),
        Command::Velocity(a) => metric::velocity(&ws, a, g.format),
        Command::Funnel(a) => metric::funnel(&ws, a, g.format),
        Command::Demo(a) => demo::run(g.workspace.as_deref(), a, g.format),
        Command::Experiment(c) => experiment::run(c, g.format),
        Command::Leads(c) => leads::run(&ws, c, g.format),
        Command::Deals(c) => deals::run(&ws, c, g.format),
        Command::Forecast(a) => forecast::run(&ws, a, g.format),
        Command::Backtest(a) => forecast::backtest(&ws, a, g.format),
        Command::Submit(a) => submissions::submit(&ws, a, g.format),
        Command::Submissions(a) => submissions::run(&ws, a, g.format),
        Command::Users(c) => serve::users(&ws, c, g.format),
        Command::Serve(a) => serve::serve(&ws, a),
    }
}

/// Print a value as pretty JSON to stdout.
pub fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Print a table to stdout.
pub fn print(t: &crate::output::Table, format: crate::args::Format) -> Result<()> {
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    t.render(format, &mut lock)?;
    lock.flush()?;
    Ok(())
}

/// A spinner on stderr for work that may take more than a second; hidden when
/// stderr is not a terminal.
pub fn spinner(msg: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

/// A progress bar with a known length.
pub fn bar(len: u64, msg: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(msg.to_string());
    pb
}
