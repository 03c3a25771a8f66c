//! Time the phases of an as-of over a workspace (development aid).
use pipewise_ledger::asof::{Cut, GroupBy, totals};
use pipewise_ledger::{Projection, Store};
use pipewise_model::{Field, SalesProcess};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: phases WORKSPACE")?;
    let store = Store::open(std::path::Path::new(&dir))?;
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
