//! Export the canonical tables to PostgreSQL: a schema (tables, the sales
//! process's stages, and a `deal_facts(as_of, known)` function that replays
//! the ledger exactly as [`pipewise_ledger::asof::deal_facts_batch`] does),
//! one CSV file per table, and a `load.sql` that copies them in.
//!
//! Metrics compiled with `Dialect::Postgres` run over what this writes, so
//! a team can reproduce pipewise's numbers in its own warehouse.

use crate::{Engine, EngineError};
use arrow_schema::{DataType, SchemaRef};
use pipewise_model::{SalesProcess, StageOutcome};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The tables exported, in load order.
pub const TABLES: [&str; 8] = [
    "users",
    "accounts",
    "quotas",
    "leads",
    "lead_events",
    "activities",
    "opportunity_keys",
    "opportunity_events",
];

/// What an export wrote.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // what an export wrote
pub struct Export {
    pub dir: PathBuf,
    /// (table, rows written)
    pub tables: Vec<(String, usize)>,
}

fn pg_type(dt: &DataType) -> &'static str {
    match dt {
        DataType::Boolean => "boolean",
        DataType::Int64 | DataType::UInt64 => "bigint",
        DataType::Int32 | DataType::UInt32 => "integer",
        DataType::Float64 | DataType::Float32 => "double precision",
        DataType::Date32 => "date",
        DataType::Timestamp(_, _) => "timestamptz",
        _ => "text",
    }
}

fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn create_table(name: &str, schema: &SchemaRef) -> String {
    let cols: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| {
            format!(
                "  {} {}{}",
                ident(f.name()),
                pg_type(f.data_type()),
                if f.is_nullable() { "" } else { " NOT NULL" }
            )
        })
        .collect();
    format!(
        "DROP TABLE IF EXISTS {name} CASCADE;\nCREATE TABLE {name} (\n{}\n);\n",
        cols.join(",\n")
    )
}

/// Fields whose events carry text to cast, with the SQL type they become.
fn field_columns(custom: &[String]) -> Vec<(String, String, &'static str)> {
    let mut out: Vec<(String, String, &'static str)> = [
        ("account_id", "text"),
        ("owner_id", "text"),
        ("name", "text"),
        ("type", "text"),
        ("segment", "text"),
        ("source", "text"),
        ("currency", "text"),
        ("amount", "double precision"),
        ("stage", "text"),
        ("forecast_category", "text"),
        ("probability", "double precision"),
        ("close_date", "date"),
        ("loss_reason", "text"),
        ("next_step", "text"),
        ("next_step_date", "date"),
        ("has_business_case", "boolean"),
        ("is_deleted", "boolean"),
        ("pipeline", "text"),
    ]
    .iter()
    .map(|(f, t)| (f.to_string(), f.to_string(), *t))
    .collect();
    for c in custom {
        out.push((format!("custom.{c}"), format!("custom_{c}"), "text"));
    }
    out
}

/// A join that gives the row of `stage_codes` (as `alias`) of the stage
/// value `value` of a deal's event at `at`. With one process a stage name
/// has one meaning: a plain join through `stages`. With several, the
/// process in force at the event decides (`pipewise_stage`).
fn stage_join(multi: bool, kind: &str, alias: &str, value: &str, opp: &str, at: &str) -> String {
    if multi {
        format!(
            "{kind} stage_codes {alias}\n           ON {alias}.code = pipewise_stage(pipewise_pipeline_at({opp}, {at}), {value})"
        )
    } else {
        format!(
            "{kind} stages {alias}_key ON {alias}_key.key = lower(trim({value}))\n         \
             {kind} stage_codes {alias} ON {alias}.code = {alias}_key.code"
        )
    }
}

/// The schema: tables, stages, indexes and the `deal_facts` function.
pub fn schema_sql(engine: &Engine, process: &SalesProcess) -> Result<String, EngineError> {
    let ctx = engine.context();
    let multi = process.is_multi();
    let mut sql = String::from(
        "-- pipewise canonical tables for PostgreSQL (written by `pipewise export --dialect postgres`).\n\
         -- Timestamps are UTC; run metric SQL with the session time zone set to UTC.\n\
         SET client_min_messages = warning;\n\n",
    );
    for t in TABLES {
        let schema = engine
            .rt
            .block_on(async { ctx.table(t).await.map(|df| df.schema().inner().clone()) })?;
        sql.push_str(&create_table(t, &schema));
    }
    sql.push_str(
        "CREATE INDEX ON opportunity_events (opportunity_id, field, effective_at, seq);\n\
         CREATE INDEX ON opportunity_keys (id);\n\
         CREATE INDEX ON activities (opportunity_id);\n\
         CREATE INDEX ON activities (lead_id);\n\n",
    );
    // The sales processes: every pipeline name and alias; every stage (by
    // code, with its outcome, category, probability and whether it counts as
    // qualified); every stage name and alias per process.
    sql.push_str(
        "DROP TABLE IF EXISTS pipelines CASCADE;\n\
         CREATE TABLE pipelines (key text PRIMARY KEY, code integer NOT NULL, name text NOT NULL);\n\
         DROP TABLE IF EXISTS stage_codes CASCADE;\n\
         CREATE TABLE stage_codes (code integer PRIMARY KEY, pipeline integer NOT NULL, \
         pipeline_name text NOT NULL, name text NOT NULL, outcome text NOT NULL, \
         forecast_category text NOT NULL, probability double precision, qualifies boolean NOT NULL);\n\
         DROP TABLE IF EXISTS stages CASCADE;\n\
         CREATE TABLE stages (pipeline integer NOT NULL, key text NOT NULL, code integer NOT NULL, \
         PRIMARY KEY (pipeline, key));\n",
    );
    for (pi, p) in process.pipelines().iter().enumerate() {
        let mut keys: Vec<String> = std::iter::once(&p.name)
            .chain(p.aliases.iter())
            .map(|n| n.trim().to_lowercase())
            .collect();
        keys.sort();
        for key in keys {
            let _ = writeln!(
                sql,
                "INSERT INTO pipelines VALUES ({}, {pi}, {});",
                literal(&key),
                literal(&p.name)
            );
        }
    }
    for (code, st) in process.stages().iter().enumerate() {
        let outcome = match st.outcome {
            StageOutcome::Open => "open",
            StageOutcome::Won => "won",
            StageOutcome::Lost => "lost",
        };
        let pi = process.pipeline_of(code);
        let _ = writeln!(
            sql,
            "INSERT INTO stage_codes VALUES ({code}, {pi}, {}, {}, '{outcome}', '{}', {}, {});",
            literal(&process.pipelines()[pi].name),
            literal(&st.name),
            st.forecast_category.as_str(),
            st.probability.map_or("NULL".to_string(), |p| p.to_string()),
            process.reaches_qualified(code)
        );
    }
    let mut names: Vec<(&str, usize)> = process.stage_names().collect();
    names.sort_by_key(|&(k, c)| (process.pipeline_of(c), k));
    for (key, code) in names {
        let _ = writeln!(
            sql,
            "INSERT INTO stages VALUES ({}, {}, {code});",
            process.pipeline_of(code),
            literal(key)
        );
    }
    // A stage value is read in the process the deal followed when it
    // changed (SalesProcess::resolve_stage): that process's stage of the
    // name, else the first process's that has it.
    let _ = write!(
        sql,
        "\nCREATE OR REPLACE FUNCTION pipewise_stage(pipe text, stage text) RETURNS integer\n\
         LANGUAGE sql STABLE AS $fn$\n\
         SELECT s.code FROM stages s WHERE s.key = lower(trim(stage))\n\
         ORDER BY (s.pipeline IS NOT DISTINCT FROM (SELECT code FROM pipelines WHERE key = lower(trim(pipe)))) DESC, s.pipeline\n\
         LIMIT 1\n\
         $fn$;\n\
         -- The pipeline value in force for a deal at a time, whenever recorded.\n\
         CREATE OR REPLACE FUNCTION pipewise_pipeline_at(opp text, at timestamptz) RETURNS text\n\
         LANGUAGE sql STABLE AS $fn$\n\
         SELECT e.new_value FROM opportunity_events e\n\
         WHERE e.opportunity_id = opp AND e.field = 'pipeline' AND e.effective_at <= at\n\
         ORDER BY e.effective_at DESC, e.seq DESC LIMIT 1\n\
         $fn$;\n",
    );
    // Custom fields become custom_<name> columns, as in DataFusion's deal_facts.
    let batches = engine.sql(
        "SELECT DISTINCT field FROM opportunity_events WHERE field LIKE 'custom.%' ORDER BY field",
    )?;
    let (_, rows) = crate::rows(&batches)?;
    let custom: Vec<String> = rows
        .into_iter()
        .filter_map(|r| match r.into_iter().next() {
            Some(crate::CellValue::Text(s)) => s.strip_prefix("custom.").map(str::to_string),
            _ => None,
        })
        .collect();
    let fields = field_columns(&custom);
    let mut returns = vec!["id text".to_string()];
    let mut select = vec!["k.id".to_string()];
    let base_after_close = [
        "created_at timestamptz",
        "is_closed boolean",
        "is_won boolean",
    ];
    // The column order of DataFusion's deal_facts: opportunities, then facts.
    for (_, col, ty) in &fields[..12] {
        returns.push(format!("{} {ty}", ident(col)));
        select.push(match col.as_str() {
            "forecast_category" => "coalesce(p.forecast_category, st.forecast_category)".into(),
            c if *ty == "text" => format!("p.{}", ident(c)),
            c => format!("CAST(p.{} AS {ty})", ident(c)),
        });
    }
    returns.extend(base_after_close.iter().map(|s| s.to_string()));
    select.extend([
        "k.created_at".to_string(),
        "coalesce(st.outcome <> 'open', false)".into(),
        "coalesce(st.outcome = 'won', false)".into(),
    ]);
    for (_, col, ty) in &fields[12..16] {
        returns.push(format!("{} {ty}", ident(col)));
        select.push(if *ty == "text" {
            format!("p.{}", ident(col))
        } else {
            format!("CAST(p.{} AS {ty})", ident(col))
        });
    }
    returns.extend(
        [
            "is_deleted boolean",
            "qualified boolean",
            "qualified_at timestamptz",
            "closed_at timestamptz",
            "stage_probability double precision",
            "pipeline text",
        ]
        .map(String::from),
    );
    select.extend([
        "false".to_string(),
        "q.qualified_at IS NOT NULL".into(),
        "q.qualified_at".into(),
        "CASE WHEN st.outcome <> 'open' THEN p.stage_at END".into(),
        "st.probability".into(),
        format!(
            "CASE WHEN p.pipeline IS NULL THEN coalesce(st.pipeline_name, {default}) \
             ELSE coalesce((SELECT pl.name FROM pipelines pl WHERE pl.key = lower(trim(p.pipeline))), p.pipeline) END",
            default = literal(&process.pipelines()[0].name)
        ),
    ]);
    for (_, col, _) in &fields[18..] {
        returns.push(format!("{} text", ident(col)));
        select.push(format!("p.{}", ident(col)));
    }
    // Name every output column as RETURNS TABLE does (PostgreSQL goes by
    // position; other engines running this body, DuckDB as a macro, by name).
    let select: Vec<String> = select
        .iter()
        .zip(&returns)
        .map(|(e, r)| {
            // "<name> <type>"; names have no spaces (custom ones are quoted [A-Za-z0-9_-])
            let name = r.split_once(' ').map_or(r.as_str(), |(n, _)| n);
            format!("{e} AS {name}")
        })
        .collect();
    let pivot: Vec<String> = fields
        .iter()
        .map(|(field, col, _)| {
            format!(
                "max(new_value) FILTER (WHERE field = {}) AS {}",
                literal(field),
                ident(col)
            )
        })
        .collect();
    let _ = write!(
        sql,
        "\n-- deal_facts(as_of, known): every opportunity that exists at as_of, each field's value in force\n\
         -- (the last event by effective time, then landing order), and the lifecycle facts metrics read.\n\
         -- With known => true only events recorded by as_of count (what a backtest may see).\n\
         CREATE OR REPLACE FUNCTION deal_facts(as_of timestamptz, known boolean DEFAULT false)\n\
         RETURNS TABLE ({returns}) LANGUAGE sql STABLE AS $fn$\n\
         WITH ev AS (\n\
           SELECT e.opportunity_id, e.field, e.new_value, e.effective_at, e.seq FROM opportunity_events e\n\
           WHERE e.effective_at <= as_of AND (NOT known OR e.recorded_at <= as_of)\n\
         ), cur AS (\n\
           SELECT DISTINCT ON (opportunity_id, field) opportunity_id, field, new_value, effective_at\n\
           FROM ev ORDER BY opportunity_id, field, effective_at DESC, seq DESC\n\
         ), p AS (\n\
           SELECT opportunity_id, {pivot},\n\
             max(effective_at) FILTER (WHERE field = 'stage') AS stage_at\n\
           FROM cur GROUP BY opportunity_id\n\
         ), q AS (\n\
           SELECT ev.opportunity_id, min(ev.effective_at) AS qualified_at\n\
           FROM ev {join_ev}\n\
           WHERE ev.field = 'stage' AND s.qualifies\n\
           GROUP BY ev.opportunity_id\n\
         )\n\
         SELECT {select}\n\
         FROM opportunity_keys k\n\
         LEFT JOIN p ON p.opportunity_id = k.id\n\
         {join_stage}\n\
         LEFT JOIN q ON q.opportunity_id = k.id\n\
         WHERE k.created_at <= as_of AND (NOT known OR k.first_recorded_at <= as_of)\n\
           AND p.is_deleted IS DISTINCT FROM 'true'\n\
         $fn$;\n",
        returns = returns.join(", "),
        pivot = pivot.join(",\n             "),
        select = select.join(",\n  "),
        join_ev = stage_join(
            multi,
            "JOIN",
            "s",
            "ev.new_value",
            "ev.opportunity_id",
            "ev.effective_at"
        ),
        join_stage = stage_join(multi, "LEFT JOIN", "st", "p.stage", "k.id", "p.stage_at"),
    );
    Ok(sql)
}

/// Write `schema.sql`, `load.sql` and `data/<table>.csv` into `dir`.
pub fn export(engine: &Engine, process: &SalesProcess, dir: &Path) -> Result<Export, EngineError> {
    let io = |e: std::io::Error| EngineError::Io(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir.join("data")).map_err(io)?;
    std::fs::write(dir.join("schema.sql"), schema_sql(engine, process)?).map_err(io)?;
    let abs = dir.canonicalize().map_err(io)?;
    let mut load = String::from("-- Load the exported tables: psql -f schema.sql -f load.sql\n");
    let mut tables = Vec::new();
    for t in TABLES {
        let batches = engine.sql(&format!("SELECT * FROM {t}"))?;
        let path = abs.join("data").join(format!("{t}.csv"));
        let file = std::fs::File::create(&path).map_err(io)?;
        let mut w = arrow_csv::WriterBuilder::new()
            .with_header(true)
            .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%S%.6fZ".to_string())
            .with_date_format("%Y-%m-%d".to_string())
            .build(file);
        let mut n = 0;
        for b in &batches {
            n += b.num_rows();
            w.write(b)
                .map_err(|e| EngineError::Io(format!("{}: {e}", path.display())))?;
        }
        let _ = writeln!(
            load,
            "\\copy {t} FROM {} WITH (FORMAT csv, HEADER true)",
            literal(&path.to_string_lossy())
        );
        tables.push((t.to_string(), n));
    }
    load.push_str("ANALYZE;\n");
    std::fs::write(dir.join("load.sql"), load).map_err(io)?;
    Ok(Export { dir: abs, tables })
}
