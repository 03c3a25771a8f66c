//! Amounts in the corporate currency: `CurrencyType.csv` and `DatedConversionRate.csv` rates, and each deal's conversion.

use super::*;

/// An amount's currency code among parsed values (blank when none).
pub(super) fn currency_in<'v>(values: impl Iterator<Item = (&'v Field, &'v Value)>) -> &'v str {
    values
        .into_iter()
        .find(|(f, _)| **f == Field::Currency)
        .and_then(|(_, v)| v.as_text())
        .unwrap_or("")
}

/// Replace a parsed amount by what [`Ctx::money`] lands for it (converted,
/// native, rate), with the close date among the values.
pub(super) fn convert_amount(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
    r: &RawRow,
    vals: &mut Vec<(Field, Value)>,
    fallback_code: &str,
) {
    let Some(pos) = vals.iter().position(|(fl, _)| *fl == Field::Amount) else {
        return;
    };
    let Value::Number(native) = vals[pos].1 else {
        return;
    };
    let close = vals
        .iter()
        .find_map(|(fl, v)| (*fl == Field::CloseDate).then(|| v.as_date()).flatten());
    let code = match currency_in(vals.iter().map(|(f, v)| (f, v))) {
        "" => fallback_code.to_string(),
        c => c.to_string(),
    };
    vals.remove(pos);
    vals.extend(ctx.money(f, r, "Amount", native, &code, close));
}

/// CurrencyType.csv (IsoCode, ConversionRate, IsCorporate) and, when the org
/// has Advanced Currency Management, DatedConversionRate.csv (IsoCode,
/// ConversionRate, StartDate, NextStartDate).
pub(super) fn ingest_rates(
    ctx: &mut Ctx<'_>,
    types: &RawFile,
    dated: Option<&RawFile>,
) -> Result<pipewise_model::currency::Rates, IngestError> {
    let mut rates = crate::rates_from(
        types,
        "IsoCode",
        "ConversionRate",
        "",
        "",
        "IsCorporate",
        None,
    )?;
    for _ in &types.rows {
        ctx.landed(types);
    }
    if let Some(d) = dated {
        let dr = crate::rates_from(
            d,
            "IsoCode",
            "ConversionRate",
            "StartDate",
            "NextStartDate",
            "",
            Some(rates.corporate()),
        )?;
        for (code, span) in dr.spans() {
            if span.start.is_some() {
                rates.add(code, *span);
            }
        }
        for _ in &d.rows {
            ctx.landed(d);
        }
    }
    Ok(rates)
}
