//! One mapped file's cells: a canonical field's raw value after the
//! mapping's renames and fixes, parsed, or quarantined with its column.

use super::*;

/// A mapped file being read: its mapping and its rows.
pub(super) struct FileCtx<'a> {
    pub(super) fm: &'a FileMapping,
    pub(super) f: &'a RawFile,
}

impl FileCtx<'_> {
    /// The raw cell for a canonical field, after value renames and fixes, or
    /// the default. `None` when the field is not mapped.
    pub(super) fn get(&self, ctx: &mut Ctx<'_>, r: &RawRow, field: &str) -> Option<String> {
        let raw = match self.fm.columns.get(field) {
            Some(col) => cell(r, self.f.column(col)).to_string(),
            None => self.fm.defaults.get(field)?.clone(),
        };
        if let Some(fixed) = self.fm.fixes.get(field).and_then(|m| m.get(&raw)) {
            ctx.flag(
                &self.f.name,
                r.line,
                self.fm
                    .columns
                    .get(field)
                    .map(String::as_str)
                    .unwrap_or(field),
                &raw,
                Reason::ValueMapped,
                format!("{raw:?} → {fixed:?}"),
            );
            return Some(fixed.clone());
        }
        if let Some(v) = self.fm.values.get(field).and_then(|m| m.get(&raw)) {
            return Some(v.clone());
        }
        Some(raw)
    }

    pub(super) fn col_name(&self, field: &str) -> String {
        self.fm
            .columns
            .get(field)
            .cloned()
            .unwrap_or_else(|| field.to_string())
    }

    /// Parse an optional mapped field: `Ok(None)` when unmapped or blank, and
    /// when `parse` rejects the value (the field is then left unknown and
    /// reported; the row lands).
    pub(super) fn parsed<T>(
        &self,
        ctx: &mut Ctx<'_>,
        r: &RawRow,
        field: &str,
        parse: impl Fn(&Ctx<'_>, &str) -> Result<T, (Reason, String)>,
    ) -> Result<Option<T>, crate::Quarantined> {
        let Some(raw) = self.get(ctx, r, field) else {
            return Ok(None);
        };
        if raw.is_empty() {
            return Ok(None);
        }
        Ok(parse(ctx, &raw)
            .map_err(|(reason, detail)| {
                ctx.leave_unknown(self.f, r, &self.col_name(field), &raw, reason, detail);
            })
            .ok())
    }

    /// A required mapped field: a blank or a value `parse` rejects
    /// quarantines the row (`None`).
    pub(super) fn required_parsed<T>(
        &self,
        ctx: &mut Ctx<'_>,
        r: &RawRow,
        field: &str,
        parse: impl Fn(&Ctx<'_>, &str) -> Result<T, (Reason, String)>,
    ) -> Option<T> {
        let raw = self.required(ctx, r, field)?;
        parse(ctx, &raw)
            .map_err(|(reason, detail)| {
                ctx.reject(self.f, r, &self.col_name(field), &raw, reason, detail);
            })
            .ok()
    }

    pub(super) fn parse_number(
        &self,
        field: &str,
    ) -> impl Fn(&Ctx<'_>, &str) -> Result<f64, (Reason, String)> {
        let scale = self.fm.scale.get(field).copied().unwrap_or(1.0);
        move |_, raw| match number(raw) {
            Ok(v) if v >= 0.0 => Ok(v * scale),
            Ok(_) => Err((
                Reason::NegativeAmount,
                "expected a non-negative number".into(),
            )),
            Err(e) => Err((Reason::UnparsableNumber, e)),
        }
    }

    /// A non-negative number, scaled as the mapping says.
    pub(super) fn number(
        &self,
        ctx: &mut Ctx<'_>,
        r: &RawRow,
        field: &str,
    ) -> Result<Option<f64>, crate::Quarantined> {
        self.parsed(ctx, r, field, self.parse_number(field))
    }

    pub(super) fn instant(
        &self,
        ctx: &mut Ctx<'_>,
        r: &RawRow,
        field: &str,
    ) -> Result<Option<i64>, crate::Quarantined> {
        self.parsed(ctx, r, field, parse_instant)
    }

    pub(super) fn date(
        &self,
        ctx: &mut Ctx<'_>,
        r: &RawRow,
        field: &str,
    ) -> Result<Option<i32>, crate::Quarantined> {
        self.parsed(ctx, r, field, parse_date)
    }

    pub(super) fn required(&self, ctx: &mut Ctx<'_>, r: &RawRow, field: &str) -> Option<String> {
        match self.get(ctx, r, field) {
            Some(v) if !v.is_empty() => Some(v),
            _ => {
                ctx.reject(
                    self.f,
                    r,
                    &self.col_name(field),
                    "",
                    Reason::MissingRequired,
                    format!("{field} is required"),
                );
                None
            }
        }
    }

    /// The row's id, or `None` after quarantining a row without one or with a repeated one.
    pub(super) fn row_id(
        &self,
        ctx: &mut Ctx<'_>,
        r: &RawRow,
        seen: &mut HashMap<String, u64>,
    ) -> Option<String> {
        let id = self.required(ctx, r, "id")?;
        (!ctx.duplicate(self.f, r, &self.col_name("id"), &id, seen)).then_some(id)
    }

    /// The mapped `custom.<name>` fields with a value, as (name, value).
    pub(super) fn custom_fields(&self, ctx: &mut Ctx<'_>, r: &RawRow) -> Vec<(String, String)> {
        self.fm
            .columns
            .keys()
            .filter_map(|k| k.strip_prefix("custom.").map(|n| (k, n)))
            .filter_map(|(k, n)| {
                self.get(ctx, r, k)
                    .filter(|v| !v.is_empty())
                    .map(|v| (n.to_string(), v))
            })
            .collect()
    }
}

pub(super) fn parse_instant(c: &Ctx<'_>, raw: &str) -> Result<i64, (Reason, String)> {
    c.parser
        .instant(raw)
        .map_err(|e| (Reason::UnparsableDate, e))
}

pub(super) fn parse_date(c: &Ctx<'_>, raw: &str) -> Result<i32, (Reason, String)> {
    c.parser.date(raw).map_err(|e| (Reason::UnparsableDate, e))
}
