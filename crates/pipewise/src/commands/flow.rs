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
    // Amounts in the corporate currency; --currency shows them in another.
    let factor = ws.currency(a.currency.as_deref())?;
    let money = |fixed| Cell::Money(from_fixed(fixed) * factor.as_ref().map_or(1.0, |f| f.1));
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
        let mut cols = vec!["bucket", "opportunity_id", "count", "amount"];
        if factor.is_some() {
            cols.push("currency");
        }
        let mut t = Table::new(cols);
        let mut items = f.items.clone();
        items.sort_by_key(|i| (i.bucket, i.opportunity_key));
        for i in items {
            let mut row = vec![
                Cell::from(i.bucket.as_str()),
                Cell::Text(log.keys.id(i.opportunity_key).to_string()),
                Cell::Int(i.count),
                money(i.amount),
            ];
            row.extend(factor.iter().map(|(code, _)| Cell::Text(code.clone())));
            t.push(row);
        }
        return super::print(&t, format);
    }
    let mut cols = vec!["bucket", "deals", "count", "amount"];
    if factor.is_some() {
        cols.push("currency");
    }
    let mut t = Table::new(cols);
    for b in f
        .totals
        .iter()
        .filter(|b| b.deals > 0 || matches!(b.bucket, flow::Bucket::Start | flow::Bucket::End))
    {
        let mut row = vec![
            Cell::from(b.bucket.as_str()),
            Cell::Int(b.deals),
            Cell::Int(b.count),
            money(b.amount),
        ];
        row.extend(factor.iter().map(|(code, _)| Cell::Text(code.clone())));
        t.push(row);
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
