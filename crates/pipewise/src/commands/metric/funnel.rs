//! `pipewise funnel`: stage conversion and time in stage; `--aging` for the open pipeline.

use super::round4;
use crate::args::{Format, FunnelArgs};
use crate::output::{Cell, Table};
use crate::settings::{self};
use anyhow::Result;
use std::path::Path;

pub fn funnel(dir: &Path, a: &FunnelArgs, format: Format) -> Result<()> {
    let ws = settings::open(dir)?;
    let (from, to) = match &a.period {
        None => (i64::MIN, i64::MAX),
        Some(p) => {
            let (s, e) = ws.period(p, "--period")?;
            (
                pipewise_model::time::date_start(s),
                pipewise_model::time::date_end(e),
            )
        }
    };
    let cut = match &a.as_of {
        Some(s) => pipewise_ledger::asof::Cut::at(settings::instant(s, "--as-of")?),
        None => pipewise_ledger::asof::Cut::at(i64::MAX),
    };
    // --pipeline: that process's stages only.
    let only = match &a.pipeline {
        None => None,
        Some(name) => Some(ws.process.pipelines()[ws.pipeline(name)?].name.clone()),
    };
    let keep = |p: &str| only.as_deref().is_none_or(|o| o == p);
    let pb = crate::commands::spinner("walking stage histories");
    let projection = pipewise_ledger::Projection {
        fields: Some(vec![
            pipewise_model::Field::Stage,
            pipewise_model::Field::Pipeline,
        ]),
        old_values: false,
        recorded_at: false,
        ids: false,
        sources: false,
    };
    let log = ws
        .store
        .load_projected(&ws.store.manifest()?, &projection)?;
    if a.aging {
        let rows = pipewise_metrics::funnel::aging(&log, &ws.process, cut);
        pb.finish_and_clear();
        let rows = rows.into_iter().filter(|r| keep(&r.pipeline));
        let share = |n: u64, of: u64| round4((of > 0).then(|| n as f64 / of as f64));
        let mut t = Table::new(vec![
            "pipeline",
            "stage",
            "open",
            "median_days",
            "p75_days",
            "over_1_5x_median",
            "share_over_1_5x_median",
            "over_p75",
            "share_over_p75",
        ]);
        for r in rows {
            t.push(vec![
                Cell::Text(r.pipeline),
                Cell::Text(r.stage),
                Cell::Int(r.open as i64),
                round4(r.median_days),
                round4(r.p75_days),
                Cell::Int(r.over_1_5x_median as i64),
                share(r.over_1_5x_median, r.open),
                Cell::Int(r.over_p75 as i64),
                share(r.over_p75, r.open),
            ]);
        }
        return crate::commands::print(&t, format);
    }
    let rows = pipewise_metrics::funnel::funnel(&log, &ws.process, from, to, cut);
    pb.finish_and_clear();
    let rows = rows.into_iter().filter(|r| keep(&r.pipeline));
    let mut t = Table::new(vec![
        "pipeline",
        "stage",
        "entered",
        "advanced",
        "conversion",
        "stays",
        "mean_days",
        "p25_days",
        "median_days",
        "p75_days",
    ]);
    for r in rows {
        t.push(vec![
            Cell::Text(r.pipeline),
            Cell::Text(r.stage),
            Cell::Int(r.entered as i64),
            Cell::Int(r.advanced as i64),
            round4(r.conversion),
            Cell::Int(r.stays as i64),
            round4(r.mean_days),
            round4(r.p25_days),
            round4(r.median_days),
            round4(r.p75_days),
        ]);
    }
    crate::commands::print(&t, format)
}
