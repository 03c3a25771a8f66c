//! Ingest from the browser (admins): the files of one CRM export are
//! uploaded in one multipart request, kept under
//! `uploads/<when>-<login>/` in the workspace (so a quarantined row's
//! file and line can still be looked up later), and ingested as a job
//! whose progress is the ingest's phases — what `pipewise ingest
//! salesforce|hubspot|csv DIR` does, as of the moment of the upload.
//!
//! Everything the ingest can refuse before it starts (an unknown
//! connector, no files, a name that is not a plain `.csv`, a bad date
//! order, time zone or mapping) is a 400 and removes the upload; what it
//! refuses once it has read the files (a missing column, too many rows
//! quarantined) fails the job with the ingest's own message, which names
//! the file and column.

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::jobs::{self, Job, JobInfo};
use axum::Extension;
use axum::extract::{Multipart, State};
use axum::response::Response;
use pipewise_ingest::{IngestOptions, IngestOutcome, Progress};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// The largest upload one ingest takes (all its files), in bytes.
pub const MAX_UPLOAD: usize = 4 << 30;

/// The multipart form of an ingest (documentation only: the handler reads
/// the parts as they stream in).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct IngestForm {
    /// salesforce, hubspot or csv.
    pub connector: String,
    /// The export's files (`.csv`; a `csv` ingest also takes `.parquet`),
    /// one part each, named by the part's file name.
    #[schema(value_type = Vec<String>, format = Binary)]
    pub files: Vec<Vec<u8>>,
    /// A `csv` ingest's mapping (TOML, as `pipewise ingest csv --mapping`).
    #[schema(value_type = Option<String>, format = Binary)]
    pub mapping: Option<Vec<u8>>,
    /// Order of numeric dates (mdy, dmy, ymd); default: detect.
    pub date_order: Option<String>,
    /// The zone of date-times written without one (e.g. Europe/Berlin); default UTC.
    pub timezone: Option<String>,
    /// What a complete export's missing opportunities become: auto, deleted or keep.
    pub missing: Option<String>,
}

/// What the form asked for, checked.
struct Request {
    connector: String,
    inputs: PathBuf,
    files: Vec<String>,
    mapping: Option<pipewise_ingest::mapping::Mapping>,
    options: IngestOptions,
}

/// A part's file name when it is a plain file name of an input: no
/// folders, no hidden files, letters, digits and `_-. ()` only.
fn input_name(raw: &str) -> Result<String, ApiError> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    let lower = base.to_ascii_lowercase();
    let ext_ok = lower.ends_with(".csv") || lower.ends_with(".parquet");
    let chars_ok = base
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-. ()".contains(c));
    if base.is_empty() || base.starts_with('.') || !chars_ok || !ext_ok {
        return Err(ApiError::bad_request(format!(
            "file {raw:?}: an input is a plain file name ending in .csv (or .parquet for a csv ingest): letters, digits, _-.() and spaces; rename it and upload again"
        )));
    }
    Ok(base.to_string())
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::bad_request(format!(
            "the upload is larger than {} GiB; ingest an export this large with `pipewise ingest` on the server",
            MAX_UPLOAD >> 30
        ))
    } else {
        ApiError::bad_request(format!(
            "the upload is not a readable multipart form: {}",
            e.body_text()
        ))
    }
}

/// A fresh folder for this upload: `uploads/<when>-<login>[-n]`.
fn upload_dir(ws: &Path, login: &str) -> ApiResult<PathBuf> {
    let when = pipewise_model::time::format_timestamp(crate::auth::now())
        .replace([':', '-'], "")
        .replace('.', "");
    let who: String = login
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let root = ws.join("uploads");
    for n in 0..1000 {
        let name = if n == 0 {
            format!("{when}-{who}")
        } else {
            format!("{when}-{who}-{n}")
        };
        let dir = root.join(name);
        match std::fs::create_dir_all(&root).and_then(|_| std::fs::create_dir(&dir)) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(ApiError::internal(format!("{}: {e}", dir.display()))),
        }
    }
    Err(ApiError::internal("no free upload folder name"))
}

/// Read the form, writing each file as it streams in.
async fn read_form(mut form: Multipart, dir: &Path) -> ApiResult<Request> {
    let inputs = dir.join("export");
    tokio::fs::create_dir(&inputs)
        .await
        .map_err(|e| ApiError::internal(format!("{}: {e}", inputs.display())))?;
    let mut connector = None;
    let mut date_order = None;
    let mut timezone = None;
    let mut missing = None;
    let mut files: Vec<String> = Vec::new();
    let mut mapping_text = None;
    while let Some(mut part) = form.next_field().await.map_err(multipart_error)? {
        let name = part.name().unwrap_or("").to_string();
        match name.as_str() {
            "connector" | "date_order" | "timezone" | "missing" => {
                let v = part
                    .text()
                    .await
                    .map_err(multipart_error)?
                    .trim()
                    .to_string();
                let v = (!v.is_empty()).then_some(v);
                match name.as_str() {
                    "connector" => connector = v,
                    "date_order" => date_order = v,
                    "timezone" => timezone = v,
                    _ => missing = v,
                }
            }
            "mapping" => {
                let bytes = part.bytes().await.map_err(multipart_error)?;
                let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
                    ApiError::bad_request("mapping: not UTF-8 text; upload the mapping TOML file")
                })?;
                mapping_text = Some(text);
            }
            "files" => {
                let raw = part.file_name().unwrap_or("").to_string();
                let file = input_name(&raw)?;
                if files.contains(&file) {
                    return Err(ApiError::bad_request(format!(
                        "file {file:?} is in the upload twice; upload each file of the export once"
                    )));
                }
                let path = inputs.join(&file);
                let mut out = tokio::fs::File::create(&path)
                    .await
                    .map_err(|e| ApiError::internal(format!("{}: {e}", path.display())))?;
                while let Some(chunk) = part.chunk().await.map_err(multipart_error)? {
                    out.write_all(&chunk)
                        .await
                        .map_err(|e| ApiError::internal(format!("{}: {e}", path.display())))?;
                }
                out.flush()
                    .await
                    .map_err(|e| ApiError::internal(format!("{}: {e}", path.display())))?;
                files.push(file);
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown form field {other:?}: an ingest takes connector, files, mapping, date_order, timezone and missing"
                )));
            }
        }
    }
    let connector = connector.ok_or_else(|| {
        ApiError::bad_request("connector: missing; say salesforce, hubspot or csv (a mapping)")
    })?;
    if !["salesforce", "hubspot", "csv"].contains(&connector.as_str()) {
        return Err(ApiError::bad_request(format!(
            "connector {connector:?}: expected salesforce, hubspot or csv"
        )));
    }
    if connector != "csv"
        && let Some(f) = files
            .iter()
            .find(|f| !f.to_ascii_lowercase().ends_with(".csv"))
    {
        return Err(ApiError::bad_request(format!(
            "file {f:?}: the {connector} connector reads CSV files only"
        )));
    }
    if files.is_empty() {
        return Err(ApiError::bad_request(
            "files: none uploaded; choose the export's CSV files (Opportunity.csv, OpportunityHistory.csv, … or the HubSpot deals export)",
        ));
    }
    let mapping = match (connector.as_str(), mapping_text) {
        ("csv", Some(text)) => {
            let m = pipewise_ingest::mapping::Mapping::from_toml(&text, "mapping")
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            // kept beside the export, as it was used
            let path = dir.join("mapping.toml");
            tokio::fs::write(&path, text)
                .await
                .map_err(|e| ApiError::internal(format!("{}: {e}", path.display())))?;
            Some(m)
        }
        ("csv", None) => {
            return Err(ApiError::bad_request(
                "mapping: a csv ingest needs its mapping TOML (see examples/maven-crm.toml)",
            ));
        }
        (_, Some(_)) => {
            return Err(ApiError::bad_request(format!(
                "mapping: only a csv ingest takes a mapping; the {connector} connector knows its export's columns"
            )));
        }
        (_, None) => None,
    };
    let order = match date_order.as_deref() {
        None | Some("auto") => None,
        Some(v) => Some(pipewise_ingest::DateOrder::parse(v).ok_or_else(|| {
            ApiError::bad_request(format!(
                "date_order {v:?}: expected mdy, dmy or ymd (or leave it empty to detect)"
            ))
        })?),
    };
    let mut options = IngestOptions::new(crate::auth::now(), order);
    options.timezone = timezone
        .as_deref()
        .map(|z| {
            pipewise_ingest::values::parse_zone(z)
                .map_err(|e| ApiError::bad_request(format!("timezone {e}")))
        })
        .transpose()?;
    options.missing = match missing.as_deref() {
        None | Some("auto") => pipewise_ingest::draft::Missing::Auto,
        Some("deleted") => pipewise_ingest::draft::Missing::Deleted,
        Some("keep") => pipewise_ingest::draft::Missing::Keep,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "missing {other:?}: expected auto, deleted or keep"
            )));
        }
    };
    // the server does not wait minutes for a writer at the terminal
    options.lock_wait = std::time::Duration::from_secs(30);
    Ok(Request {
        connector,
        inputs,
        files,
        mapping,
        options,
    })
}

/// What an ingest did, in one sentence.
fn summary(o: &IngestOutcome) -> String {
    let r = &o.report;
    let read: u64 = r.files.iter().map(|f| f.read).sum();
    let quarantined: u64 = r.files.iter().map(|f| f.quarantined).sum();
    let mut s = format!(
        "{}: {} changes landed ({} already in the ledger), {} deals new; {} of {} rows quarantined; ledger version {}",
        r.ingest_id,
        r.events_added,
        r.events_duplicate,
        r.opportunities_added,
        quarantined,
        read,
        o.summary.version
    );
    if !r.warnings.is_empty() {
        s.push_str(&format!(
            "; {} warning(s), see the data quality page",
            r.warnings.len()
        ));
    }
    s
}

fn ingest_job(app: &AppState, job: &Job, mut req: Request) -> Result<String, String> {
    let ws = app.workspace.get().map_err(|e| e.to_string())?;
    // the phases: each file read, then the dates, the changes and the commit
    let total = req.files.len() as u64 + 3;
    let seen = std::sync::Mutex::new(std::collections::BTreeSet::<String>::new());
    let j = job.clone();
    req.options.progress = Some(Progress::new(move |what: &str| {
        let done = seen.lock().map_or(0, |mut s| {
            s.insert(what.to_string());
            s.len() as u64 - 1
        });
        jobs::update(&j, |x| {
            x.total = total;
            x.done = done.min(total - 1);
            x.message = what.to_string();
        });
    }));
    let store = app.workspace.store();
    let out = match req.connector.as_str() {
        "salesforce" => {
            pipewise_ingest::salesforce::ingest(store, &ws.process, &req.inputs, req.options)
        }
        "hubspot" => pipewise_ingest::hubspot::ingest(store, &ws.process, &req.inputs, req.options),
        _ => match &req.mapping {
            Some(m) => {
                pipewise_ingest::mapping::ingest(store, &ws.process, &req.inputs, m, req.options)
            }
            None => return Err("a csv ingest needs its mapping".into()),
        },
    }
    .map_err(|e| e.to_string())?;
    jobs::update(job, |x| x.done = x.total);
    Ok(summary(&out))
}

/// Upload one CRM export's files and ingest them as a job (admins; one
/// ingest at a time): a multipart form with `connector` (salesforce,
/// hubspot, csv), the export's `files`, a csv ingest's `mapping`, and
/// optional `date_order`, `timezone` and `missing`. Needs the
/// `X-CSRF-Token` header with a session. Poll `/api/jobs/{id}`; the data
/// quality page shows the ingest's report when it is done.
#[utoipa::path(post, path = "/api/jobs/ingest", tag = "quality",
    request_body(content = IngestForm, content_type = "multipart/form-data"),
    responses((status = 202, description = "Uploaded and started; poll /api/jobs/{id}", body = JobInfo),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "An ingest is running", body = ErrorBody)))]
pub async fn start_ingest(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    form: Multipart,
) -> ApiResult<Response> {
    if p.user.role != pipewise_state::Role::Admin {
        return Err(ApiError::forbidden(
            "an ingest changes the ledger every page reads: admins only",
        ));
    }
    if jobs::running(&app, "ingest")? {
        return Err(ApiError::conflict(
            "an ingest is running already: GET /api/jobs shows its progress",
        ));
    }
    let dir = upload_dir(app.workspace.dir(), &p.user.login)?;
    let req = match read_form(form, &dir).await {
        Ok(r) => r,
        Err(e) => {
            // nothing of a refused upload is kept
            let _ = tokio::fs::remove_dir_all(&dir).await;
            return Err(e);
        }
    };
    tracing::info!(dir = %dir.display(), files = req.files.len(), connector = %req.connector, "ingest uploaded");
    let first = format!(
        "uploaded {} file(s) to {}",
        req.files.len(),
        dir.strip_prefix(app.workspace.dir())
            .unwrap_or(&dir)
            .display()
    );
    jobs::start(&app, &p, "ingest", &first, move |a, j| {
        ingest_job(a, j, req)
    })
}

#[cfg(test)]
mod tests {
    use super::input_name;

    #[test]
    fn input_names_are_plain_csv_files() {
        assert_eq!(input_name("Opportunity.csv").unwrap(), "Opportunity.csv");
        assert_eq!(
            input_name("C:\\exports\\Opportunity (1).CSV").unwrap(),
            "Opportunity (1).CSV"
        );
        assert_eq!(input_name("a/b/deals.csv").unwrap(), "deals.csv");
        assert_eq!(input_name("deals.parquet").unwrap(), "deals.parquet");
        for bad in [
            "",
            ".hidden.csv",
            "notes.txt",
            "x;rm.csv",
            "../",
            "..",
            "a/.csv",
        ] {
            assert!(input_name(bad).is_err(), "{bad:?} accepted");
        }
    }
}
