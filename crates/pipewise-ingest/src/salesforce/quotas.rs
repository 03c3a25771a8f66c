//! Quotas: `ForecastingQuota.csv`.

use super::*;

/// ForecastingQuota.csv (Collaborative Forecasts): amount quotas per owner and
/// period. A quota's period is its `PeriodId`'s in Period.csv; without it, the
/// calendar month from `StartDate` (flagged). Quantity-only quotas are
/// accounted for and reported, not landed.
pub(super) fn ingest_quotas(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
    draft: &mut Draft,
    periods: &HashMap<String, (pipewise_model::Date, pipewise_model::Date, String)>,
) -> Result<(), IngestError> {
    let hint = "ForecastingQuota.csv has QuotaOwnerId, StartDate, QuotaAmount (and PeriodId)";
    let owner = f.require("QuotaOwnerId", hint)?;
    let start = f.require("StartDate", hint)?;
    let amount = f.require("QuotaAmount", hint)?;
    let period = f.column("PeriodId");
    let currency = f.column("CurrencyIsoCode");
    let id = f.column("Id");
    let mut seen = HashMap::new();
    for r in &f.rows {
        if let Some(c) = id {
            let qid = cell(r, Some(c));
            if !qid.is_empty() && ctx.duplicate(f, r, "Id", qid, &mut seen) {
                continue;
            }
        }
        let who = cell(r, Some(owner));
        if who.is_empty() {
            ctx.reject(
                f,
                r,
                "QuotaOwnerId",
                "",
                Reason::MissingRequired,
                "a quota needs its owner",
            );
            continue;
        }
        let raw_amount = cell(r, Some(amount));
        if raw_amount.is_empty() {
            ctx.flag(
                &f.name,
                r.line,
                "QuotaAmount",
                "",
                Reason::OutOfScope,
                "a quantity quota (no QuotaAmount): pipewise keeps amount quotas",
            );
            ctx.landed(f);
            continue;
        }
        let Ok(a) = crate::values::number(raw_amount) else {
            ctx.reject(
                f,
                r,
                "QuotaAmount",
                raw_amount,
                Reason::UnparsableNumber,
                "a quota amount is a number",
            );
            continue;
        };
        let (period_start, period_end, label) = match periods.get(cell(r, period)) {
            Some((s, e, l)) => (*s, *e, l.clone()),
            None => {
                let Ok(s) = ctx.req_date(f, r, Some(start), "StartDate") else {
                    continue;
                };
                use chrono::Datelike;
                let d = pipewise_model::time::naive_from_date(s);
                let (y, m) = (d.year(), d.month());
                let next = if m == 12 {
                    pipewise_model::time::ymd(y + 1, 1, 1)
                } else {
                    pipewise_model::time::ymd(y, m + 1, 1)
                };
                let e = next.map(|n| n - 1).unwrap_or(s);
                ctx.flag(
                    &f.name,
                    r.line,
                    "PeriodId",
                    cell(r, period),
                    Reason::InferredPeriod,
                    "the period is not in Period.csv: taken as the calendar month of StartDate",
                );
                (s, e, format!("{y}-{m:02}"))
            }
        };
        // A quota in another currency is converted as a deal's amount is
        // (at the rate of its period's start); without a rate it cannot land.
        let code = cell(r, currency);
        let a = if ctx.rates.is_empty() {
            ctx.money(f, r, "QuotaAmount", a, code, None); // notes the currency
            a
        } else {
            let code = if code.is_empty() {
                ctx.rates.corporate().to_string()
            } else {
                code.to_string()
            };
            match ctx.rates.to_corporate(a, &code, Some(period_start)) {
                Some(c) => c.amount,
                None => {
                    ctx.reject(
                        f,
                        r,
                        "CurrencyIsoCode",
                        &code,
                        Reason::NoExchangeRate,
                        "no rate for the quota's currency: add it to CurrencyType.csv or the workspace's currencies.csv",
                    );
                    continue;
                }
            }
        };
        draft.quotas.push(pipewise_model::Quota {
            owner_id: who.to_string(),
            period: label,
            period_start,
            period_end,
            amount: a,
        });
        ctx.landed(f);
    }
    Ok(())
}
