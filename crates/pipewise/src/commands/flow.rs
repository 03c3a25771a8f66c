//! `pipewise flow FROM TO [--period P] [--deals]`

use crate::args::{FlowArgs, Format};
use crate::output::{Cell, Table};
use crate::settings::{self, user};
use anyhow::Result;
use pipewise_ledger::asof::Cut;
use pipewise_ledger::flow::{self, from_fixed};
use std::path::Path;

pub fn run(dir: &Path, a: &FlowArgs, format: Format) -> Result<()> {
    let from = settings::instant(&a.from, "FROM")?;
    let to = settings::instant(&a.to, "TO")?;
    if from > to {
        return Err(user("FROM is after TO"));
    }
    let ws = settings::open(dir)?;
    let period = a
        .period
        .as_deref()
        .map(|p| ws.period(p, "--period"))
        .transpose()?;
    let pb = super::spinner("classifying changes");
    let projection = pipewise_ledger::Projection {
        fields: Some(flow::fields()),
        old_values: false,
        recorded_at: false,
        ids: a.deals,
        // (flow classifies values and times; it never names an event's source)
        sources: false,
    };
    let log = ws
        .store
        .load_projected(&ws.store.manifest()?, &projection)?;
    let f = flow::flow(&log, &ws.process, Cut::at(from), Cut::at(to), period);
    pb.finish_and_clear();
    if a.deals {
        let mut t = Table::new(vec!["bucket", "opportunity_id", "count", "amount"]);
        let mut items = f.items.clone();
        items.sort_by_key(|i| (i.bucket, i.opportunity_key));
        for i in items {
            t.push(vec![
                Cell::from(i.bucket.as_str()),
                Cell::Text(log.keys.id(i.opportunity_key).to_string()),
                Cell::Int(i.count),
                Cell::Money(from_fixed(i.amount)),
            ]);
        }
        return super::print(&t, format);
    }
    let mut t = Table::new(vec!["bucket", "deals", "count", "amount"]);
    for b in f
        .totals
        .iter()
        .filter(|b| b.deals > 0 || matches!(b.bucket, flow::Bucket::Start | flow::Bucket::End))
    {
        t.push(vec![
            Cell::from(b.bucket.as_str()),
            Cell::Int(b.deals),
            Cell::Int(b.count),
            Cell::Money(from_fixed(b.amount)),
        ]);
    }
    super::print(&t, format)?;
    if format == Format::Table {
        eprintln!(
            "start + the membership buckets (new … other_out) = end, in count and amount; \
             stage, forecast category and owner moves are counts only"
        );
    }
    Ok(())
}
