//! Data quality: what each ingest read, landed and quarantined (from the
//! ledger's manifest and the ingest's report), how complete the deals in
//! the caller's scope are, and the quarantined rows themselves.
//!
//! Quarantined rows and the reports' examples carry raw CRM values of any
//! owner's records, so only roles that see everything read them; the
//! counts are for everyone.

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::deals::cut;
use crate::routes::metrics::audited;
use arrow_array::Array;
use axum::Extension;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Which day's completeness.
#[derive(Debug, Deserialize, IntoParams)]
pub struct QualityQuery {
    /// Completeness of the deals open at this day's end (default: now).
    pub as_of: Option<String>,
    /// Only the team under this CRM user (inside the caller's scope).
    pub under: Option<String>,
    /// Only deals of this segment (as they stood at the day).
    pub segment: Option<String>,
}

/// One file an ingest read.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestFile {
    /// Its path as given to the ingest.
    pub path: String,
    /// Rows read.
    pub rows_read: u64,
    /// Rows landed.
    pub rows_landed: u64,
    /// Rows quarantined (read = landed + quarantined).
    pub rows_quarantined: u64,
}

/// One ingest.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ingest {
    /// Its id.
    pub id: String,
    /// The connector (salesforce, hubspot, csv, synth).
    pub kind: String,
    /// Its as-of time.
    pub recorded_at: String,
    /// The files it read.
    pub files: Vec<IngestFile>,
    /// Events it landed.
    pub events_added: u64,
    /// Events it skipped as already in the ledger.
    pub events_duplicate: u64,
    /// Its data-quality report (checks, completeness per file and field,
    /// notes, warnings); the checks' examples only for roles that see
    /// everything.
    #[schema(value_type = Object)]
    pub report: Option<serde_json::Value>,
}

/// How complete one field of the open deals is.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldCompleteness {
    /// The field.
    pub field: String,
    /// Open deals with a value.
    pub filled: usize,
    /// Open deals.
    pub deals: usize,
    /// filled ÷ deals.
    pub share: Option<f64>,
}

/// The workspace's data quality.
#[derive(Debug, Serialize, ToSchema)]
pub struct Quality {
    /// Every ingest, oldest first.
    pub ingests: Vec<Ingest>,
    /// Per field: how complete the open deals in scope are as of the day.
    pub completeness: Vec<FieldCompleteness>,
}

/// Every ingest's tallies and report, and the completeness of the open
/// deals in the caller's scope.
#[utoipa::path(get, path = "/api/quality", tag = "quality", params(QualityQuery),
    responses((status = 200, body = Quality), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn quality(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<QualityQuery>,
) -> ApiResult<Response> {
    let c = cut(q.as_of.as_deref(), None)?;
    let ws = app.loaded().await?;
    let (scope, _) = super::request_scope(&ws, &p, q.under.as_deref())?;
    let described = scope.describe();
    let everything = p.user.role.sees_everything();
    let dir = app.workspace.dir().to_path_buf();
    let store = app.workspace.store().clone();
    let answer = crate::compute(move || -> ApiResult<Quality> {
        let manifest = store.manifest().map_err(ApiError::internal)?;
        let ingests = manifest
            .ingests
            .iter()
            .map(|i| {
                let report = i
                    .report
                    .as_ref()
                    .and_then(|r| std::fs::read_to_string(dir.join(r)).ok())
                    .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                    .map(|mut v| {
                        if !everything
                            && let Some(checks) =
                                v.get_mut("checks").and_then(|c| c.as_object_mut())
                        {
                            for c in checks.values_mut() {
                                if let Some(o) = c.as_object_mut() {
                                    o.remove("examples");
                                }
                            }
                        }
                        v
                    });
                Ingest {
                    id: i.id.clone(),
                    kind: i.kind.clone(),
                    recorded_at: i.recorded_at.clone(),
                    files: i
                        .files
                        .iter()
                        .map(|f| IngestFile {
                            path: f.path.clone(),
                            rows_read: f.rows_read,
                            rows_landed: f.rows_landed,
                            rows_quarantined: f.rows_quarantined,
                        })
                        .collect(),
                    events_added: i.events_added,
                    events_duplicate: i.events_duplicate,
                    report,
                }
            })
            .collect();
        let s = ws
            .scoped(c, &scope, q.segment.as_deref())
            .map_err(ApiError::internal)?;
        let b = &s.batch;
        let closed = b
            .column_by_name("is_closed")
            .and_then(|c| c.as_any().downcast_ref::<arrow_array::BooleanArray>());
        let open: Vec<usize> = s
            .rows
            .iter()
            .map(|&i| i as usize)
            .filter(|&i| !closed.is_some_and(|c| c.is_valid(i) && c.value(i)))
            .collect();
        let skip = ["id", "is_closed", "is_won", "is_deleted", "created_at"];
        let completeness = b
            .schema()
            .fields()
            .iter()
            .zip(b.columns())
            .filter(|(f, _)| !skip.contains(&f.name().as_str()))
            .map(|(f, col)| {
                let filled = open.iter().filter(|&&i| col.is_valid(i)).count();
                FieldCompleteness {
                    field: f.name().clone(),
                    filled,
                    deals: open.len(),
                    share: (!open.is_empty()).then(|| filled as f64 / open.len() as f64),
                }
            })
            .collect();
        Ok(Quality {
            ingests,
            completeness,
        })
    })
    .await
    .ok_or_else(|| ApiError::internal("the data quality was cancelled"))??;
    Ok(audited(answer, described))
}

/// The ingest `id` of the manifest (404 naming where they are listed).
fn named_ingest<'a>(
    manifest: &'a pipewise_ledger::Manifest,
    id: &str,
) -> ApiResult<&'a pipewise_ledger::IngestRecord> {
    manifest.ingests.iter().find(|i| i.id == id).ok_or_else(|| {
        ApiError::not_found(format!(
            "ingest={id:?}: no such ingest; GET /api/quality lists them"
        ))
    })
}

/// Which quarantined rows.
#[derive(Debug, Deserialize, IntoParams)]
pub struct QuarantineQuery {
    /// The ingest (default: the latest with a quarantine).
    pub ingest: Option<String>,
    /// At most this many rows (default 1000).
    pub limit: Option<usize>,
    /// Skip this many first.
    pub offset: Option<usize>,
}

/// A row an ingest set aside, with why.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QuarantinedRow {
    /// The input file.
    pub file: String,
    /// Its line in the file (the header is line 1).
    pub row: String,
    /// The column at fault.
    pub column: String,
    /// The value as read.
    pub raw_value: String,
    /// Why it was set aside.
    pub reason: String,
    /// In words, and how to fix it.
    pub detail: String,
    /// quarantined or flagged.
    pub action: String,
}

/// The rows an ingest quarantined (exec and admin: they hold raw CRM values
/// of any owner's records).
#[utoipa::path(get, path = "/api/quality/quarantine", tag = "quality", params(QuarantineQuery),
    responses((status = 200, body = [QuarantinedRow]), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn quarantine(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<QuarantineQuery>,
) -> ApiResult<Response> {
    if !p.user.role.sees_everything() {
        return Err(ApiError::forbidden(
            "quarantined rows hold raw CRM values of anyone's records: exec and admin only",
        ));
    }
    let dir = app.workspace.dir().to_path_buf();
    let store = app.workspace.store().clone();
    let (offset, limit) = (q.offset.unwrap_or(0), q.limit.unwrap_or(1000));
    let rows = crate::compute(move || -> ApiResult<Vec<QuarantinedRow>> {
        let manifest = store.manifest().map_err(ApiError::internal)?;
        let ingest = match &q.ingest {
            Some(id) => named_ingest(&manifest, id)?,
            None => match manifest
                .ingests
                .iter()
                .rev()
                .find(|i| i.quarantine.is_some())
            {
                Some(i) => i,
                // nothing was ever quarantined: an empty list, not an error
                None => return Ok(Vec::new()),
            },
        };
        let Some(rel) = &ingest.quarantine else {
            return Ok(Vec::new());
        };
        let path = dir.join(rel);
        let mut r = match csv::Reader::from_path(&path) {
            Ok(r) => r,
            Err(e) => return Err(ApiError::internal(format!("{}: {e}", path.display()))),
        };
        r.deserialize::<QuarantinedRow>()
            .skip(offset)
            .take(limit)
            .map(|row| row.map_err(|e| ApiError::internal(format!("{}: {e}", path.display()))))
            .collect()
    })
    .await
    .ok_or_else(|| ApiError::internal("reading the quarantine was cancelled"))??;
    Ok(audited(rows, "everything".into()))
}

/// Which ingest's changes.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ChangesQuery {
    /// The ingest (default: the latest).
    pub ingest: Option<String>,
    /// Only changes of this field (stage, amount, close_date, …).
    pub field: Option<String>,
    /// At most this many rows (default 1000).
    pub limit: Option<usize>,
    /// Skip this many first.
    pub offset: Option<usize>,
    /// Only deals of the team under this CRM user (inside the caller's scope).
    pub under: Option<String>,
}

/// How many changes of one field an ingest landed.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldChanges {
    /// The field.
    pub field: String,
    /// Changes landed.
    pub changes: usize,
    /// Deals they touch.
    pub deals: usize,
}

/// One change an ingest landed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Change {
    /// The deal.
    pub opportunity_id: String,
    /// The field.
    pub field: String,
    /// When it took effect.
    pub effective_at: String,
    /// When the ledger learned of it.
    pub recorded_at: String,
    /// The deal's value of the field just before (by effective time, as the
    /// ledger holds it now; `null`: none or cleared).
    pub before: Option<String>,
    /// The value it took (`null`: cleared).
    pub after: Option<String>,
}

/// What one ingest changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestChanges {
    /// The ingest.
    pub ingest: String,
    /// Whether the ledger recorded which changes it landed (ingests before
    /// that was recorded have only their counts).
    pub known: bool,
    /// Per field, in the caller's scope.
    pub by_field: Vec<FieldChanges>,
    /// Changes matching the query in the caller's scope (rows pages them).
    pub total: usize,
    /// The changes, by deal, field and effective time.
    pub rows: Vec<Change>,
}

/// The changes one ingest landed on the deals in the caller's scope (owners
/// as they stand now): counts per field and the changes themselves.
#[utoipa::path(get, path = "/api/quality/changes", tag = "quality", params(ChangesQuery),
    responses((status = 200, body = IngestChanges), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn changes(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<ChangesQuery>,
) -> ApiResult<Response> {
    let ws = app.loaded().await?;
    let (scope, _) = super::request_scope(&ws, &p, q.under.as_deref())?;
    let described = scope.describe();
    let field = match q.field.as_deref().filter(|f| !f.is_empty()) {
        Some(f) => Some(pipewise_model::Field::parse(f).ok_or_else(|| {
            ApiError::bad_request(format!(
                "field={f:?}: not a field (stage, amount, close_date, owner_id, …, custom.<name>)"
            ))
        })?),
        None => None,
    };
    let store = app.workspace.store().clone();
    let (offset, limit) = (q.offset.unwrap_or(0), q.limit.unwrap_or(1000));
    let answer = crate::compute(move || -> ApiResult<IngestChanges> {
        let manifest = store.manifest().map_err(ApiError::internal)?;
        let ingest = match &q.ingest {
            Some(id) => named_ingest(&manifest, id)?,
            None => manifest
                .ingests
                .last()
                .ok_or_else(|| ApiError::not_found("no ingest yet"))?,
        };
        let Some([first, next]) = ingest.seqs else {
            return Ok(IngestChanges {
                ingest: ingest.id.clone(),
                known: false,
                by_field: Vec::new(),
                total: 0,
                rows: Vec::new(),
            });
        };
        let s = ws
            .scoped(cut(None, None)?, &scope, None)
            .map_err(ApiError::internal)?;
        let mut by_field = Vec::new();
        // (key, field, effective, seq) → change, sorted once at the end
        let mut hits: Vec<(u32, usize, i64, u64, usize)> = Vec::new();
        let cols: Vec<_> = ws.log.columns.values().collect();
        for (c, col) in cols.iter().enumerate() {
            let mut n = 0;
            let mut deals = std::collections::HashSet::new();
            for i in 0..col.len() {
                let seq = col.seq[i];
                let key = col.opp[i];
                if seq < first || seq >= next || !s.keys.get(key as usize).copied().unwrap_or(false)
                {
                    continue;
                }
                n += 1;
                deals.insert(key);
                if field.as_ref().is_none_or(|f| f == &col.field) {
                    hits.push((key, c, col.effective_at[i], seq, i));
                }
            }
            if n > 0 {
                by_field.push(FieldChanges {
                    field: col.field.name().into_owned(),
                    changes: n,
                    deals: deals.len(),
                });
            }
        }
        let keys = &ws.log.keys;
        hits.sort_unstable_by(|a, b| {
            keys.id(a.0)
                .cmp(keys.id(b.0))
                .then((a.1, a.2, a.3).cmp(&(b.1, b.2, b.3)))
        });
        let total = hits.len();
        let rows = hits
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|(key, c, _, _, i)| {
                let col = cols[c];
                let e = ws.log.event(col, i);
                let run = col.run(key);
                let before = (i > run.start)
                    .then(|| col.new.get(i - 1).to_canonical_string())
                    .flatten();
                Change {
                    opportunity_id: e.opportunity_id,
                    field: e.field.name().into_owned(),
                    effective_at: pipewise_model::time::format_timestamp(e.effective_at),
                    recorded_at: pipewise_model::time::format_timestamp(e.recorded_at),
                    before,
                    after: e.new_value.to_canonical_string(),
                }
            })
            .collect();
        Ok(IngestChanges {
            ingest: ingest.id.clone(),
            known: true,
            by_field,
            total,
            rows,
        })
    })
    .await
    .ok_or_else(|| ApiError::internal("the changes were cancelled"))??;
    Ok(audited(answer, described))
}
