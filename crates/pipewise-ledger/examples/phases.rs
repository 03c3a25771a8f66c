//! Time the phases of an as-of over a workspace (development aid).
use pipewise_ledger::asof::{Cut, GroupBy, totals};
use pipewise_ledger::{Projection, Store};
use pipewise_model::{Field, SalesProcess};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: phases WORKSPACE")?;
    let store = Store::open(std::path::Path::new(&dir))?;
    if std::env::args().nth(2).as_deref() == Some("facts") {
        return facts_phases(&store);
    }
    let t = Instant::now();
    let m = store.manifest()?;
    eprintln!("manifest {:?}", t.elapsed());
    for fields in [
        vec![],
        vec![Field::Stage],
        vec![Field::Amount],
        vec![Field::Stage, Field::Amount, Field::IsDeleted],
    ] {
        let t = Instant::now();
        let p = Projection {
            fields: Some(fields.clone()),
            old_values: false,
            recorded_at: false,
            ids: false,
            sources: true,
        };
        let log = store.load_projected(&m, &p)?;
        eprintln!(
            "load {:?}: {:?} ({} events)",
            fields,
            t.elapsed(),
            log.event_count()
        );
        if fields.len() == 3 {
            let t = Instant::now();
            let at = pipewise_model::time::parse_iso_instant("2026-03-31", true).ok_or("date")?;
            let r = totals(
                &log,
                &SalesProcess::default_process(),
                &GroupBy::Stage,
                &[Cut::at(at)],
                false,
            );
            eprintln!("totals {:?} {}", t.elapsed(), r[0].len());
        }
    }
    Ok(())
}

/// Deal facts: full load vs a load without old values, then the batch.
fn facts_phases(store: &Store) -> Result<(), Box<dyn std::error::Error>> {
    let m = store.manifest()?;
    let at = pipewise_model::time::parse_iso_instant("2026-06-30", true).ok_or("date")?;
    for f in Field::BUILT_IN {
        let t = Instant::now();
        let p = Projection {
            fields: Some(vec![f.clone()]),
            old_values: false,
            recorded_at: false,
            ids: false,
            sources: true,
        };
        let log = store.load_projected(&m, &p)?;
        eprintln!("  {f:?}: {:?} ({} events)", t.elapsed(), log.event_count());
    }
    let t = Instant::now();
    let p = Projection {
        fields: Some(vec![]),
        old_values: false,
        recorded_at: false,
        ids: true,
        sources: true,
    };
    store.load_projected(&m, &p)?;
    eprintln!("  ids: {:?}", t.elapsed());
    let t = Instant::now();
    let full = store.load(None, true)?;
    eprintln!(
        "full load {:?} ({} events)",
        t.elapsed(),
        full.event_count()
    );
    drop(full);
    let t = Instant::now();
    let p = Projection {
        fields: None,
        old_values: false,
        recorded_at: true,
        ids: true,
        sources: true,
    };
    let log = store.load_projected(&m, &p)?;
    eprintln!("load without old values {:?}", t.elapsed());
    let t = Instant::now();
    let lean = Projection {
        fields: Some(
            Field::BUILT_IN
                .iter()
                .filter(|f| !matches!(f, Field::Name | Field::NextStep | Field::AccountId))
                .cloned()
                .collect(),
        ),
        old_values: false,
        recorded_at: false,
        ids: true,
        sources: true,
    };
    store.load_projected(&m, &lean)?;
    eprintln!("lean load without recorded_at {:?}", t.elapsed());
    let t = Instant::now();
    store.load_projected(
        &m,
        &Projection {
            recorded_at: true,
            ..lean.clone()
        },
    )?;
    eprintln!("lean load with recorded_at {:?}", t.elapsed());
    let t = Instant::now();
    let b = pipewise_ledger::asof::deal_facts_batch(
        &log,
        &SalesProcess::default_process(),
        Cut::at(at),
    )?;
    eprintln!("deal_facts_batch {:?} ({} rows)", t.elapsed(), b.num_rows());
    Ok(())
}
