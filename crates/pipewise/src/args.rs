//! The command line, as clap sees it. Raw flags only: `settings` resolves them.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "pipewise",
    version,
    about = "Revenue analytics you can reproduce: every change of every opportunity, kept forever",
    long_about = None,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Workspace folder (default: $PIPEWISE_WORKSPACE, else the current folder)
    #[arg(long, global = true, env = "PIPEWISE_WORKSPACE", value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Output format for data
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Log more (repeat for more detail); logs go to stderr
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new workspace: its sales process (pipewise.toml) is the default one, or, with
    /// --from, proposed from a Salesforce or HubSpot export's own stages
    Init(InitArgs),
    /// Generate a deterministic synthetic B2B company
    Synth(SynthArgs),
    /// Ingest CRM data into the ledger
    #[command(subcommand)]
    Ingest(IngestCommand),
    /// What the workspace holds: counts, date range, data quality
    Status,
    /// The pipeline as of a date: count and amount per group
    Asof(AsofArgs),
    /// Every change between two times
    Changes(ChangesArgs),
    /// How the pipeline changed between two times: a waterfall of classified changes
    Flow(FlowArgs),
    /// List the metrics: built-in and the workspace's own (metrics/*.toml)
    Metrics,
    /// Compute a metric, as of any time, broken down by dimensions
    Metric(MetricArgs),
    /// Every metric for a period: overall and broken down by each --by dimension in turn
    Scorecard(ScorecardArgs),
    /// Period-to-date pacing: a metric from the start of the period to the as-of day, next to the
    /// same number of days into each of the previous periods
    Pacing(PacingArgs),
    /// Sales velocity for a period and, with --compare, which factor moved it and by how much
    Velocity(VelocityArgs),
    /// Stage funnel: of the deals entering each stage in the period, how many moved on, and time in stage
    Funnel(FunnelArgs),
    /// The deals (and their ledger events) behind a metric's number
    Explain(ExplainArgs),
    /// Run SQL over the canonical tables (users, accounts, opportunities, opportunity_events,
    /// activities, leads, lead_events, quotas) and pipeline_as_of('DATE')
    Sql(SqlArgs),
    /// Export the canonical tables and a deal_facts function for another SQL engine
    Export(ExportArgs),
    /// Synthesize a mid-size company into a fresh workspace and show what is in it
    Demo(DemoArgs),
    /// Design and read experiments: rows per arm for a two-proportion test, and what a finished
    /// test says (no workspace needed)
    #[command(subcommand)]
    Experiment(ExperimentCommand),
    /// Lead scores from any CSV with a binary outcome: train, validate, score, route, and the SLA
    /// breaches of the routing (models live in the workspace's models/ folder)
    #[command(subcommand)]
    Leads(LeadsCommand),
    /// Deal scores from the ledger: P(won in the period), P(lost), P(slipped) for every open deal
    #[command(subcommand)]
    Deals(DealsCommand),
    /// Forecast a quarter's bookings with every method side by side, each with its math; the
    /// first is the one the backtest ranks best at this week of the quarter
    Forecast(ForecastArgs),
    /// Walk forward over past quarters: at each week, forecast with only what had been recorded
    /// by then, and score every method against what was booked (writes reports/backtest.*)
    Backtest(BacktestArgs),
    /// Submit a forecast call for a quarter (kept forever, never overwritten)
    Submit(SubmitArgs),
    /// List forecast calls, import past ones from a CSV, and read the bias ledger: each
    /// person's signed error by category and week, and their latest calls de-biased
    Submissions(SubmissionsArgs),
    /// The team server's users: add, list, disable, enable, and API tokens for scripts
    #[command(subcommand)]
    Users(UsersCommand),
    /// Serve the workspace to a team: the JSON API (and its OpenAPI document at
    /// /api/openapi.json), every answer scoped by role and audited
    Serve(ServeArgs),
}

/// Where the team server keeps its app state.
#[derive(Debug, Args, Clone)]
pub struct StateArgs {
    /// The app state database: sqlite:PATH or postgres://… (default: sqlite: in the workspace's
    /// state.sqlite)
    #[arg(long, value_name = "URL", env = "PIPEWISE_STATE")]
    pub state: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a user; the password is read from standard input (--password-stdin)
    Add(UsersAddArgs),
    /// Every user
    List(StateArgs),
    /// Disable a user: they can no longer log in; their sessions and tokens end
    Disable(UsersLoginArgs),
    /// Enable a disabled user again (their old sessions and tokens stay ended)
    Enable(UsersLoginArgs),
    /// A new API token for a user (printed once; only its hash is kept)
    Token(UsersTokenArgs),
}

#[derive(Debug, Args)]
pub struct UsersAddArgs {
    /// The login
    pub login: String,
    /// What they may see and do: rep (their own deals), manager (their subtree), exec
    /// (everything), admin (everything, and the users and audit log)
    #[arg(long)]
    pub role: String,
    /// The CRM user they are (an id in the users table): their scope follows the manager
    /// hierarchy from there
    #[arg(long, value_name = "CRM_USER_ID")]
    pub owner: Option<String>,
    /// Read the password from standard input (its first line)
    #[arg(long, required = true)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
pub struct UsersLoginArgs {
    /// The login
    pub login: String,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
pub struct UsersTokenArgs {
    /// The login
    pub login: String,
    /// What the token is for
    #[arg(long, default_value = "script")]
    pub name: String,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// How long a login session lasts, in hours
    #[arg(long, default_value_t = 12)]
    pub session_hours: i64,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The quarter (2026-Q2, FY2027-Q1)
    #[arg(long, value_name = "PERIOD")]
    pub period: String,
    /// Who submits (user id or name)
    #[arg(long, value_name = "USER")]
    pub who: String,
    /// Commit
    #[arg(long)]
    pub commit: f64,
    /// Best case
    #[arg(long)]
    pub best_case: f64,
    /// Most likely
    #[arg(long)]
    pub most_likely: f64,
    /// A manager's adjusted call for their whole subtree (default: the submitter's own deals)
    #[arg(long)]
    pub team: bool,
    /// Why
    #[arg(long)]
    pub note: Option<String>,
    /// When the call was made (default: now)
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
}

#[derive(Debug, Args)]
pub struct SubmissionsArgs {
    /// Only calls for this quarter
    #[arg(long, value_name = "PERIOD")]
    pub period: Option<String>,
    /// Only this person's calls (user id or name)
    #[arg(long, value_name = "USER")]
    pub who: Option<String>,
    /// Import past calls from a CSV (period, submitter, commit, best_case, most_likely,
    /// submitted_at; optionally level and note)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["bias", "debiased"])]
    pub import: Option<std::path::PathBuf>,
    /// The bias ledger: each person's signed error, by category and week of the quarter, over
    /// quarters that have ended
    #[arg(long, conflicts_with = "debiased")]
    pub bias: bool,
    /// With --period: each person's latest call by --as-of, de-biased, and the roll-ups
    #[arg(long, requires = "period")]
    pub debiased: bool,
    /// The time the latest calls are read at (default: now)
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ByChoice {
    Company,
    Owner,
    Team,
    Manager,
    Segment,
}

#[derive(Debug, Args)]
pub struct ForecastArgs {
    /// The quarter (2026-Q4, FY2027-Q1; default: the quarter of --as-of)
    #[arg(long, value_name = "PERIOD")]
    pub period: Option<String>,
    /// Forecast as of this time (default: now)
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// With --as-of: read the ledger as recorded by then (what a forecaster saw that day)
    #[arg(long, requires = "as_of")]
    pub known: bool,
    /// Only these methods (repeatable; default: all): stage_weighted, stage_weighted_crm,
    /// historical_coverage, category, in_blood, projection, probabilistic, blend, run_rate,
    /// last_period, seasonal_naive
    #[arg(long, value_name = "METHOD", value_delimiter = ',')]
    pub method: Vec<String>,
    /// One row per owner, team, manager or segment, after the total
    #[arg(long, value_enum, default_value_t = ByChoice::Company)]
    pub by: ByChoice,
    /// Only the deals of this manager's subtree (user id or name)
    #[arg(long, value_name = "MANAGER")]
    pub under: Option<String>,
    /// List the deals behind METHOD's number and their contributions
    #[arg(long, value_name = "METHOD")]
    pub explain: Option<String>,
    /// Use this trained deal model's probabilities (models/NAME/) for in_blood and probabilistic
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// Monte Carlo draws
    #[arg(long, default_value_t = 2000)]
    pub draws: usize,
    /// The simulation's seed
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Past quarters the rates learn from
    #[arg(long, default_value_t = 4)]
    pub lookback: usize,
}

#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// How many of the latest complete quarters to forecast
    #[arg(long, default_value_t = 4)]
    pub periods: usize,
    /// The weeks of each quarter (comma-separated; default: 1 to 13)
    #[arg(long, value_name = "WEEKS", value_delimiter = ',')]
    pub weeks: Vec<u32>,
    /// Only these methods (comma-separated; default: all)
    #[arg(long, value_name = "METHODS", value_delimiter = ',')]
    pub methods: Vec<String>,
    /// Monte Carlo draws per forecast
    #[arg(long, default_value_t = 1000)]
    pub draws: usize,
    /// The simulation's seed
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Past quarters the rates learn from
    #[arg(long, default_value_t = 4)]
    pub lookback: usize,
    /// Per-deal probabilities from the deal model of `deals train`, retrained for each quarter on
    /// what was recorded by its first day (default: the pooled cells of past quarters; slower:
    /// one training per quarter)
    #[arg(long)]
    pub retrain: bool,
}

#[derive(Debug, Subcommand)]
pub enum DealsCommand {
    /// Learn from weekly cuts of the ledger (each read as recorded by then): the pooled
    /// stage × segment × time-in-stage model, and a learned one that takes over when validation
    /// on the latest periods says it is better; writes models/NAME/
    Train(DealsTrainArgs),
    /// Score every deal open at a time: P(won in the period), P(lost), P(slipped), and the
    /// factors for and against
    Score(DealsScoreArgs),
    /// The training rows: every deal open at each weekly cut, its features as recorded by then
    /// and its outcome (for your own models, and the benchmarks)
    Rows(DealsRowsArgs),
}

#[derive(Debug, Args)]
pub struct DealsRowsArgs {
    /// Only what had been recorded by this time (default: everything)
    #[arg(long, value_name = "TIME")]
    pub known: Option<String>,
    /// Most rows; past it a fixed share of deals is kept at every cut
    #[arg(long, default_value_t = 200_000)]
    pub max_rows: usize,
}

#[derive(Debug, Args)]
pub struct DealsTrainArgs {
    /// Learn only from what had been recorded by this time (a backtest's model); default:
    /// everything
    #[arg(long, value_name = "TIME")]
    pub known: Option<String>,
    /// The model's name (models/NAME/)
    #[arg(long, default_value = "deals")]
    pub name: String,
    /// Most training rows; past it a fixed share of deals is kept at every cut
    #[arg(long, default_value_t = 200_000)]
    pub max_rows: usize,
    /// Which estimators the learned model tries
    #[arg(long, value_enum, default_value_t = EstimatorChoice::Auto)]
    pub estimator: EstimatorChoice,
    /// Keep a custom field the leakage audit flags (`custom.<name>`, repeatable); the card warns
    #[arg(long, value_name = "FIELD")]
    pub allow_feature: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DealsScoreArgs {
    /// Score the deals open at this time (default: now)
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// With --as-of: read the deals as recorded by then, and refuse a model trained on later
    /// records (an honest backtest)
    #[arg(long, requires = "as_of")]
    pub known: bool,
    /// The period P(won) is for (default: the fiscal quarter of --as-of)
    #[arg(long, value_name = "PERIOD")]
    pub period: Option<String>,
    /// The trained model (models/NAME/)
    #[arg(long, default_value = "deals")]
    pub model: String,
    /// Factors shown per deal (0: none, the fastest)
    #[arg(long, default_value_t = 3)]
    pub factors: usize,
    /// How boosted trees' factors are worked out: exact Shapley values, path attributions
    /// (Saabas, XGBoost's approx_contribs: an approximation, many times faster), or auto
    /// (Shapley up to 5,000 open deals, path above)
    #[arg(long, value_enum, default_value_t = AttributionChoice::Auto)]
    pub attribution: AttributionChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AttributionChoice {
    Auto,
    Shapley,
    Path,
}

#[derive(Debug, Subcommand)]
pub enum LeadsCommand {
    /// Audit the file for leaks, split it, fit logistic regression and boosted trees, keep the
    /// better calibrated one and write models/NAME/ (model.json, card.md, card.json)
    Train(TrainArgs),
    /// Train as `train` does and report the validation without writing a model; or, with
    /// --model, judge a trained model on another file with known outcomes
    Validate(ValidateArgs),
    /// Score every row of a file with a trained model, with the factors for and against each
    Score(ScoreArgs),
    /// Assign each lead a band, an action and an SLA from its score (a model's probability × 100,
    /// a points model's total, or a column of the file)
    Route(RouteArgs),
    /// Time to first touch per lead against its band's SLA, and breaches per owner or per band
    Breaches(BreachesArgs),
    /// The workspace's leads as a file to train on: each lead's fields as they were when it
    /// arrived, and whether it converted (or was won) within N days
    Rows(LeadRowsArgs),
}

#[derive(Debug, Args)]
pub struct LeadRowsArgs {
    /// The window after a lead arrives for its outcome, in days
    #[arg(long, default_value_t = 90)]
    pub within: i64,
    /// What counts: becoming an opportunity, or a won one
    #[arg(long, value_enum, default_value_t = LeadOutcomeChoice::Converted)]
    pub outcome: LeadOutcomeChoice,
    /// Only what had been recorded by this time (default: everything)
    #[arg(long, value_name = "TIME")]
    pub known: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LeadOutcomeChoice {
    Converted,
    Won,
}

#[derive(Debug, Args)]
pub struct DataArgs {
    /// The CSV file (with a header row)
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// The outcome column (two values)
    #[arg(long, value_name = "COLUMN")]
    pub target: Option<String>,
    /// The outcome value that counts as positive (default: 1, true, yes or y)
    #[arg(long, value_name = "VALUE")]
    pub positive: Option<String>,
    /// A column that names each row (never a feature)
    #[arg(long, value_name = "COLUMN")]
    pub id: Option<String>,
    /// A value that means missing, besides the empty cell (repeatable), e.g. --missing Select
    #[arg(long, value_name = "VALUE")]
    pub missing: Vec<String>,
}

#[derive(Debug, Args)]
pub struct FitArgs {
    /// Split by this date column (default: the file's one date column if it has exactly one,
    /// else a stratified random holdout)
    #[arg(long, value_name = "COLUMN", conflicts_with = "random_split")]
    pub split_by: Option<String>,
    /// A stratified random holdout even when the file has a date column
    #[arg(long)]
    pub random_split: bool,
    /// Judge on this file's rows (same columns, known outcomes) instead of a split: every row of
    /// --data trains
    #[arg(long, value_name = "FILE", conflicts_with_all = ["split_by", "random_split"])]
    pub test_data: Option<PathBuf>,
    /// Share of rows held out for the test (seed 001's plan: 30%)
    #[arg(long, default_value = "30%")]
    pub test_share: String,
    /// Seed of the holdout and the folds
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Keep a column the leakage audit flags (repeatable); the model card warns
    #[arg(long, value_name = "NAME")]
    pub allow_feature: Vec<String>,
    /// Which estimators to try
    #[arg(long, value_enum, default_value_t = EstimatorChoice::Auto)]
    pub estimator: EstimatorChoice,
    /// How scores become probabilities, fitted on out-of-fold scores
    #[arg(long, value_enum, default_value_t = CalibrationChoice::Platt)]
    pub calibration: CalibrationChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EstimatorChoice {
    /// Both; the lower out-of-fold log loss wins
    Auto,
    Logistic,
    Boosted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CalibrationChoice {
    Platt,
    Isotonic,
    None,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub fit: FitArgs,
    /// The model's name: it is written to models/NAME/ in the workspace
    #[arg(long, default_value = "leads")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub fit: FitArgs,
    /// Judge this trained model on --data instead of training one
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// The CSV file to score (columns as the model was trained on)
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// The trained model (models/NAME/)
    #[arg(long, value_name = "NAME", default_value = "leads")]
    pub model: String,
    /// Factors shown per row
    #[arg(long, default_value_t = 3)]
    pub factors: usize,
}

#[derive(Debug, Args)]
pub struct RouteArgs {
    /// The CSV file of leads
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// Score with this trained model (score = probability × 100)
    #[arg(long, value_name = "NAME", conflicts_with_all = ["points", "score_column"])]
    pub model: Option<String>,
    /// Score with this points model (TOML; `seed-001` for the shipped one)
    #[arg(long, value_name = "FILE", conflicts_with = "score_column")]
    pub points: Option<String>,
    /// Read each lead's score from this column
    #[arg(long, value_name = "COLUMN")]
    pub score_column: Option<String>,
    /// The routing bands (TOML with [[bands]]; default: the points model's own, else seed 001's:
    /// above 80 → AE in 1 h, 50–80 → SDR in 4 h, else nurture)
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// The column naming each lead (default: the model's id column, else the line number)
    #[arg(long, value_name = "COLUMN")]
    pub id: Option<String>,
}

#[derive(Debug, Args)]
pub struct BreachesArgs {
    #[command(flatten)]
    pub route: RouteArgs,
    /// The column holding when each lead arrived (ISO timestamp)
    #[arg(long, value_name = "COLUMN")]
    pub created: String,
    /// The column holding each lead's owner
    #[arg(long, value_name = "COLUMN")]
    pub owner: Option<String>,
    /// The activities: a CSV with a lead column and a time column
    #[arg(long, value_name = "FILE")]
    pub touches: PathBuf,
    /// The activities' column naming the lead
    #[arg(long, value_name = "COLUMN", default_value = "lead_id")]
    pub touch_lead: String,
    /// The activities' column holding when the touch happened (ISO timestamp)
    #[arg(long, value_name = "COLUMN", default_value = "time")]
    pub touch_time: String,
    /// Per lead (default), or breaches summed per owner or per band
    #[arg(long, value_enum, default_value_t = BreachView::Lead)]
    pub by: BreachView,
    /// The time the report is made: a lead untouched by then is late if its SLA has passed
    /// (default: now)
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BreachView {
    Lead,
    Owner,
    Band,
}

#[derive(Debug, Subcommand)]
pub enum ExperimentCommand {
    /// Rows per arm a two-sided two-proportion test needs to detect a lift (and, with --per-arm,
    /// the power of that size and the lowest baseline it is enough for)
    Plan(PlanArgs),
    /// What a finished test says: two proportions (--a 230/1000 --b 190/1000, a z-test) or two
    /// groups of values (--a-values, --b-values: Welch's t-test)
    Analyze(AnalyzeArgs),
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The control arm's rate: 0.2 or 20%
    #[arg(long)]
    pub baseline: String,
    /// The lift to detect: relative (20% = the rate × 1.2) unless --absolute (rate points)
    #[arg(long)]
    pub lift: String,
    /// Read --lift as rate points: 5% = the rate + 0.05
    #[arg(long)]
    pub absolute: bool,
    /// Significance level (two-sided)
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Power wanted
    #[arg(long, default_value_t = 0.8)]
    pub power: f64,
    /// Rows per arm you have: report the power of that size and the lowest baseline it detects the
    /// lift at
    #[arg(long)]
    pub per_arm: Option<f64>,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The treated arm as CONVERTED/ROWS, e.g. 230/1000
    #[arg(long, requires = "b", conflicts_with_all = ["a_values", "b_values"])]
    pub a: Option<String>,
    /// The control arm as CONVERTED/ROWS
    #[arg(long, requires = "a")]
    pub b: Option<String>,
    /// The treated group's values, comma-separated (e.g. each coached rep's win rate)
    #[arg(long, requires = "b_values", value_delimiter = ',')]
    pub a_values: Vec<f64>,
    /// The control group's values, comma-separated
    #[arg(long, requires = "a_values", value_delimiter = ',')]
    pub b_values: Vec<f64>,
    /// Significance level of the interval (two-sided)
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
}

#[derive(Debug, Args)]
pub struct MetricArgs {
    /// The metric's name (see `pipewise metrics`)
    pub name: String,
    /// Break down by: owner, manager, team, region, segment, source, type, product, industry,
    /// account_region, stage, pipeline, forecast_category, cohort_month, cohort_quarter,
    /// loss_reason, business_case (repeatable)
    #[arg(long)]
    pub by: Vec<String>,
    /// Only what is owned by this user or anyone under them in the manager hierarchy (a user id)
    #[arg(long, value_name = "USER")]
    pub under: Option<String>,
    /// Period: 2026-Q3, FY2027-Q1, 2026-07, 2026, or 2026-07-01..2026-09-30 (default: all history)
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub period: Option<String>,
    /// Period start (a date), with --to
    #[arg(long, requires = "to")]
    pub from: Option<String>,
    /// Period end (a date), with --from
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// Evaluate as the world looked at this time (default: everything known)
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// With --as-of: only what had been recorded by then
    #[arg(long, requires = "as_of")]
    pub known: bool,
    /// One row set per week, month, quarter or fiscal_year of the period (or of --from..--to)
    #[arg(long, value_name = "GRAIN")]
    pub every: Option<String>,
    /// Also show the value for the previous period of the same length (`previous`) or the same
    /// period a year earlier (`year`), and the change
    #[arg(long, value_name = "WHAT")]
    pub compare: Option<String>,
    /// Print the SQL the metric compiles to instead of running it
    #[arg(long)]
    pub emit_sql: bool,
    /// SQL dialect for --emit-sql: datafusion (pipewise's engine) or postgres (over the tables
    /// `pipewise export --dialect postgres` writes)
    #[arg(long, default_value = "datafusion", requires = "emit_sql")]
    pub dialect: String,
    /// Show amounts in this currency (ISO code) instead of the corporate one, at its static rate
    #[arg(long, value_name = "CODE")]
    pub currency: Option<String>,
}

#[derive(Debug, Args)]
pub struct ScorecardArgs {
    /// Period: 2026-Q3, FY2027-Q1, FY2027, 2026-07, 2026 or a range (default: all history)
    #[arg(long)]
    pub period: Option<String>,
    /// Evaluate as the world looked at this time (default: everything known)
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// With --as-of: only what had been recorded by then
    #[arg(long, requires = "as_of")]
    pub known: bool,
    /// A dimension to break every metric down by, each on its own (repeatable)
    #[arg(long)]
    pub by: Vec<String>,
    /// Only what is owned by this user or anyone under them
    #[arg(long, value_name = "USER")]
    pub under: Option<String>,
    /// Only these metrics (repeatable; default: all)
    #[arg(long, value_name = "NAME")]
    pub metric: Vec<String>,
    /// Show amounts in this currency (ISO code) instead of the corporate one, at its static rate
    #[arg(long, value_name = "CODE")]
    pub currency: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Folder to write schema.sql, load.sql and data/*.csv into
    pub dir: PathBuf,
    /// Target: postgres (load with `psql -f schema.sql -f load.sql`)
    #[arg(long, default_value = "postgres")]
    pub dialect: String,
}

#[derive(Debug, Args)]
pub struct PacingArgs {
    /// The metric's name (see `pipewise metrics`)
    pub name: String,
    /// The period being paced: 2026-Q3, FY2027-Q1, 2026-07, 2026 or a range
    #[arg(long)]
    pub period: String,
    /// How far into the period (default: now, or the period's end if it is over)
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// How many earlier periods to compare with
    #[arg(long, default_value_t = 4)]
    pub previous: u32,
    /// Break down by a dimension (repeatable; see `pipewise metric --help`)
    #[arg(long)]
    pub by: Vec<String>,
    /// Only what is owned by this user or anyone under them
    #[arg(long, value_name = "USER")]
    pub under: Option<String>,
}

#[derive(Debug, Args)]
pub struct VelocityArgs {
    /// The period: 2026-Q3, FY2027-Q1, 2026-07, 2026, or 2026-07-01..2026-09-30
    #[arg(long)]
    pub period: String,
    /// An earlier period to compare with: the change is split across the four factors
    #[arg(long)]
    pub compare: Option<String>,
    /// Evaluate as the world looked at this time (default: everything known)
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
}

#[derive(Debug, Args)]
pub struct FunnelArgs {
    /// Instead: aging of the open pipeline at --as-of — deals in their stage longer than 1.5 × its median
    /// (seed 001) and longer than its 75th percentile (seed 003)
    #[arg(long, conflicts_with = "period")]
    pub aging: bool,
    /// Deals entering each stage in this period: 2026-Q3, FY2027-Q1, 2026-07, 2026 or a range (default: all history)
    #[arg(long)]
    pub period: Option<String>,
    /// Evaluate as the world looked at this time (default: everything known)
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// Only the stages of this sales process (a pipeline name in pipewise.toml)
    #[arg(long, value_name = "NAME")]
    pub pipeline: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub metric: MetricArgs,
    /// List the ledger events of those deals (in the period, if one is given) instead of the deals
    #[arg(long)]
    pub events: bool,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// One SQL statement, e.g. "SELECT stage, count(*) FROM pipeline_as_of('2026-03-31') GROUP BY stage"
    pub query: String,
}

#[derive(Debug, Args)]
pub struct FlowArgs {
    /// Start: a date (end of that day) or an ISO instant
    pub from: String,
    /// End
    pub to: String,
    /// Only deals closing in this period: 2026-Q3, FY2027-Q1, 2026-07, 2026, or 2026-07-01..2026-09-30
    #[arg(long)]
    pub period: Option<String>,
    /// List every deal with its bucket and contribution
    #[arg(long)]
    pub deals: bool,
    /// Show amounts in this currency (ISO code) instead of the corporate one, at its static rate
    #[arg(long, value_name = "CODE")]
    pub currency: Option<String>,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// small (≈50 reps, 2 years, 4,000 opportunities), medium (20,000), large (1,000,000) or a number of opportunities
    #[arg(long, default_value = "small")]
    pub size: String,
    /// Random seed: the same seed and size give the same company, byte for byte
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Last day of the history (ISO date)
    #[arg(long, default_value = "2026-06-30", value_name = "DATE")]
    pub end: String,
    /// Years of history up to --end (a backtest over 12 quarters wants 4)
    #[arg(long, default_value_t = 2)]
    pub years: u32,
    /// Write a Salesforce export folder here instead of filling the workspace
    #[arg(long, value_name = "DIR")]
    pub salesforce_export: Option<PathBuf>,
    /// Also write the generator's truth (state at every quarter end) to this folder
    #[arg(long, value_name = "DIR")]
    pub truth: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum IngestCommand {
    /// A Salesforce Data Loader / Data Export folder (Opportunity.csv, OpportunityHistory.csv, …)
    Salesforce(IngestArgs),
    /// A HubSpot deals export, including "Date entered <stage>" columns
    Hubspot(IngestArgs),
    /// Any CSV/Parquet files described by a mapping (see examples/maven-crm.toml)
    Csv(CsvIngestArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// An export folder to propose the sales process from: stage order, probabilities,
    /// forecast categories and outcomes as the export gives them
    #[arg(long, value_name = "EXPORT_DIR")]
    pub from: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The export folder
    pub dir: PathBuf,
    /// Snapshot time: current values without history are stamped with it (default: now)
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// Order of numeric dates like 03/04/2025: mdy or dmy (default: detect, and stop if undecidable)
    #[arg(long, value_name = "ORDER")]
    pub date_order: Option<String>,
    /// Time zone of date-times the export writes without one, as an IANA name (Europe/Berlin);
    /// HubSpot exports use the account's zone (default: UTC, as Salesforce Data Loader writes)
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<String>,
    /// Opportunities of the ledger that a complete export (Salesforce Opportunity.csv, a HubSpot
    /// deals file) lacks: deleted (as of --as-of), keep (a partial export), or auto (deleted,
    /// unless more than half are missing)
    #[arg(long, value_name = "WHAT", default_value = "auto")]
    pub missing: String,
    /// Refuse to land anything when more than this percent of a file's rows is quarantined
    #[arg(long, value_name = "PERCENT", default_value_t = pipewise_ingest::IngestOptions::DEFAULT_MAX_QUARANTINE_PCT)]
    pub max_quarantine: f64,
    /// When the workspace folder has no workspace yet, create one whose sales process is
    /// proposed from this export (as `pipewise init --from DIR` does)
    #[arg(long)]
    pub init: bool,
}

#[derive(Debug, Args)]
pub struct CsvIngestArgs {
    #[command(flatten)]
    pub common: IngestArgs,
    /// The mapping file (TOML)
    #[arg(long, value_name = "FILE")]
    pub mapping: PathBuf,
}

#[derive(Debug, Args)]
pub struct AsofArgs {
    /// A date (end of that day) or an ISO instant
    pub date: String,
    /// Group by stage, pipeline (the sales process), forecast_category, owner, segment, or another text field
    #[arg(long, default_value = "stage")]
    pub by: String,
    /// Only the deals of this sales process (a pipeline name in pipewise.toml)
    #[arg(long, value_name = "NAME")]
    pub pipeline: Option<String>,
    /// Only open deals (the pipeline)
    #[arg(long)]
    pub open: bool,
    /// Only what pipewise had recorded by then (the view a backtest may use)
    #[arg(long)]
    pub known: bool,
    /// N weekly snapshots ending at DATE (DATE, DATE − 7 days, …), computed in one pass
    #[arg(long, value_name = "N", conflicts_with = "deals")]
    pub weeks: Option<u32>,
    /// List the opportunities themselves (one row each) instead of totals per group
    #[arg(long)]
    pub deals: bool,
    /// Show amounts in this currency (ISO code) instead of the corporate one, at its static rate
    #[arg(long, value_name = "CODE")]
    pub currency: Option<String>,
}

#[derive(Debug, Args)]
pub struct ChangesArgs {
    /// Start (exclusive): a date (end of that day) or an ISO instant
    pub from: String,
    /// End (inclusive)
    pub to: String,
    /// Only this opportunity
    #[arg(long, value_name = "ID")]
    pub opportunity: Option<String>,
    /// Only this field (stage, amount, close_date, …)
    #[arg(long)]
    pub field: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Random seed
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Company size (as for `synth`)
    #[arg(long, default_value = "medium")]
    pub size: String,
    /// Only the tour: do not start the team server afterwards
    #[arg(long)]
    pub no_serve: bool,
    /// Where the team server listens
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
}
