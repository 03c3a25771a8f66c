//! `pipewise experiment plan | analyze`: experiment design and analysis
//! (pipewise-score's `experiment`), with no workspace.

use crate::args::{AnalyzeArgs, ExperimentCommand, Format, PlanArgs};
use crate::output::{Cell, Table};
use crate::settings::user;
use anyhow::Result;
use pipewise_score::experiment as ex;

pub fn run(c: &ExperimentCommand, format: Format) -> Result<()> {
    match c {
        ExperimentCommand::Plan(a) => plan(a, format),
        ExperimentCommand::Analyze(a) => analyze(a, format),
    }
}

/// A rate or share: `0.2` or `20%`.
fn share(raw: &str, what: &str) -> Result<f64> {
    let t = raw.trim();
    let (num, scale) = match t.strip_suffix('%') {
        Some(n) => (n.trim(), 100.0),
        None => (t, 1.0),
    };
    num.parse::<f64>()
        .ok()
        .map(|v| v / scale)
        .filter(|v| v.is_finite())
        .ok_or_else(|| {
            user(format!(
                "{what} {raw:?}: expected a rate such as 0.2 or 20%"
            ))
        })
}

fn check_level(v: f64, what: &str) -> Result<()> {
    if v > 0.0 && v < 1.0 {
        Ok(())
    } else {
        Err(user(format!(
            "{what} {v}: expected a value between 0 and 1"
        )))
    }
}

/// A number: to six significant places in a table, in full in CSV and JSON.
fn number(v: f64, format: Format) -> Cell {
    if format == Format::Table && v != 0.0 && v.is_finite() {
        let digits = 6 - (v.abs().log10().floor() as i32 + 1);
        let scale = 10f64.powi(digits.clamp(0, 12));
        Cell::Float((v * scale).round() / scale)
    } else {
        Cell::Float(v)
    }
}

fn plan(a: &PlanArgs, format: Format) -> Result<()> {
    let p0 = share(&a.baseline, "--baseline")?;
    let lift = share(&a.lift, "--lift")?;
    check_level(a.alpha, "--alpha")?;
    check_level(a.power, "--power")?;
    let p1 = if a.absolute {
        p0 + lift
    } else {
        p0 * (1.0 + lift)
    };
    let n = ex::sample_size_two_proportions(p0, p1, a.alpha, a.power).ok_or_else(|| {
        user(format!(
            "--baseline {p0} and a target of {p1}: both must be between 0 and 1 and differ"
        ))
    })?;
    let mut t = Table::new(vec!["item", "value"]);
    let row = |t: &mut Table, k: &str, v: Cell| t.push(vec![Cell::from(k), v]);
    row(&mut t, "baseline rate", number(p0, format));
    row(&mut t, "target rate", number(p1, format));
    row(&mut t, "alpha (two-sided)", number(a.alpha, format));
    row(&mut t, "power", number(a.power, format));
    row(&mut t, "rows per arm needed", Cell::Int(n.ceil() as i64));
    if let Some(have) = a.per_arm {
        row(
            &mut t,
            "power with --per-arm rows",
            number(ex::power_two_proportions(p0, p1, have, a.alpha), format),
        );
        let needed = if a.absolute {
            None
        } else {
            ex::baseline_for_power(have, lift, a.alpha, a.power)
        };
        row(
            &mut t,
            "lowest baseline --per-arm rows detect the lift at",
            needed.map_or(Cell::Null, |v| number(v, format)),
        );
    }
    super::print(&t, format)
}

/// `CONVERTED/ROWS`.
fn arm(raw: &str, what: &str) -> Result<(u64, u64)> {
    let bad = || {
        user(format!(
            "{what} {raw:?}: expected CONVERTED/ROWS, e.g. 230/1000"
        ))
    };
    let (x, n) = raw.split_once('/').ok_or_else(bad)?;
    let (x, n): (u64, u64) = (
        x.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if x > n || n == 0 {
        return Err(bad());
    }
    Ok((x, n))
}

fn analyze(a: &AnalyzeArgs, format: Format) -> Result<()> {
    check_level(a.alpha, "--alpha")?;
    let mut t = Table::new(vec!["item", "value"]);
    let row = |t: &mut Table, k: &str, v: f64| t.push(vec![Cell::from(k), number(v, format)]);
    let level = format!("{:.0}%", 100.0 * (1.0 - a.alpha));
    let interval = |t: &mut Table, (low, high): (f64, f64)| {
        row(t, &format!("difference, {level} interval low"), low);
        row(t, &format!("difference, {level} interval high"), high);
    };
    if let (Some(ra), Some(rb)) = (&a.a, &a.b) {
        let ((x1, n1), (x2, n2)) = (arm(ra, "--a")?, arm(rb, "--b")?);
        let r = ex::two_proportion_z_test(x1, n1, x2, n2, a.alpha)
            .ok_or_else(|| user("every row of both arms has the same outcome: nothing to test"))?;
        row(&mut t, "rate a", x1 as f64 / n1 as f64);
        row(&mut t, "rate b", x2 as f64 / n2 as f64);
        row(&mut t, "difference (a − b)", r.difference);
        interval(&mut t, r.interval);
        row(&mut t, "z", r.z);
        row(&mut t, "p-value (two-sided)", r.p_value);
    } else if !a.a_values.is_empty() {
        let r = ex::welch_t_test(&a.a_values, &a.b_values, a.alpha).ok_or_else(|| {
            user("each group needs at least two values, and the values some variance")
        })?;
        row(&mut t, "difference of means (a − b)", r.difference);
        interval(&mut t, r.interval);
        row(&mut t, "Welch t", r.t);
        row(&mut t, "degrees of freedom", r.df);
        row(&mut t, "p-value (two-sided)", r.p_value);
        row(&mut t, "Cohen's d", r.cohens_d);
    } else {
        return Err(user(
            "give --a and --b (CONVERTED/ROWS each) or --a-values and --b-values",
        ));
    }
    super::print(&t, format)
}
