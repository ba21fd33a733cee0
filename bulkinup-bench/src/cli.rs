//! Flags and the run: each selected method from empty tables on the same database, then
//! the report.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bulkinup::{Db, Options, Registry, Summary};
use clap::{Parser, ValueEnum};

use crate::baseline::{self, Method};
use crate::report::{DryRun, Measurement, Report, group};
use crate::target::{Kind, Target};
use crate::workload::{Table, Workload};

/// The blog schema, as shipped in `examples/blog/schema.toml`.
const BLOG_SCHEMA: &str = include_str!("../../examples/blog/schema.toml");

/// Benchmarks bulkinup on the reference workload (nested blog authors) against COPY, multi-row VALUES
/// and row-by-row baselines, each from empty tables, in one run on one database.
#[derive(Debug, Parser)]
#[command(name = "bulkinup-bench", version)]
pub struct Args {
    /// The database: `postgres://…`, `mysql://…` (also MariaDB) or `sqlite:` (a fresh
    /// temporary file per method, in $TMPDIR). On a server each method gets a fresh schema
    /// (PostgreSQL) or database (MySQL), dropped afterwards.
    #[arg(long, default_value = "sqlite:")]
    pub database_url: String,

    /// Top-level items (authors); each brings a profile, 5 posts, 20 comments and 15 links
    /// to 3 tags per post from a pool of 1,000 (42 rows per author, tags shared).
    #[arg(long, default_value_t = 20_000)]
    pub authors: u64,

    /// bulkinup's `chunk_size` (items per chunk, rows per statement per table).
    #[arg(long, default_value_t = 1_000)]
    pub chunk_size: usize,

    /// The methods to run, comma-separated: a (bulkinup insert), b (bulkinup upsert, empty),
    /// c (bulkinup upsert over the rows of b), d (ceiling: COPY / fastest raw path),
    /// e (1,000-row multi-VALUES upsert), f (row-by-row upsert), dry (cast+validate+plan
    /// without a database).
    #[arg(long, value_delimiter = ',', default_value = "a,b,c,d,e,f,dry")]
    pub methods: Vec<MethodId>,

    /// Authors whose rows method f writes (a prefix of the workload; row-by-row is slow).
    /// Its rows/s come from that prefix.
    #[arg(long, default_value_t = 2_000)]
    pub row_by_row_authors: u64,

    /// Rows per statement of method e.
    #[arg(long, default_value_t = 1_000)]
    pub values_rows: usize,

    /// MySQL/MariaDB: rows per statement of the ceiling's plain multi-row INSERT (method d).
    /// Default: as many as 65,535 bound parameters and half of `max_allowed_packet` allow.
    #[arg(long)]
    pub ceiling_rows: Option<usize>,

    /// MySQL/MariaDB: method d sends each multi-row INSERT as one SQL text with the values
    /// written as literals (the text protocol, `COM_QUERY`) instead of a prepared statement
    /// with bound parameters, at the same rows per statement, for measuring what the
    /// protocol costs.
    #[arg(long)]
    pub ceiling_text: bool,

    /// Runs of the dry run (method dry); the one with the least CPU time is reported, as
    /// the machine is shared and noisy.
    #[arg(long, default_value_t = 3)]
    pub dry_runs: u32,

    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,

    /// PostgreSQL only: time 50 `COPY … FROM STDIN` commands of 1,000 two-column rows each,
    /// in one transaction on a temporary table, and print the milliseconds per COPY (the
    /// per-command latency that made a COPY-per-chunk write path slow; see BENCHMARKS.md).
    #[arg(long)]
    pub copy_latency: bool,

    /// bulkinup's `any_unique_key` (MySQL/MariaDB): no guard against rows colliding through
    /// a unique key other than the conflict target, for measuring what the guard costs.
    #[arg(long)]
    pub any_unique_key: bool,

    /// bulkinup's `on_error` (`rollback` or `reject`), for measuring what setting refused
    /// items aside costs on a clean load.
    #[arg(long, default_value = "rollback")]
    pub on_error: bulkinup::OnError,

    /// Run only a bulkinup upsert of the workload (into a fresh SQLite temporary file or
    /// the given server) and print the process's peak resident memory (VmHWM).
    #[arg(long)]
    pub peak_memory: bool,

    /// Run only schema inference from data (`bulkinup schema infer --from-data`): write the
    /// workload's items to an NDJSON temporary file, infer a schema file from it N times,
    /// and print the items per second of each run (no database).
    #[arg(long, value_name = "N")]
    pub infer_runs: Option<u32>,

    /// Write the workload's inputs into DIR and exit (no database): `authors.ndjson` (the
    /// items, one line each, as `bulkinup upsert --root Author` reads them), one
    /// `TABLE.csv` per table of the flattened rows (with a header line; a `NULL` cell is an
    /// empty field) and `categories.csv`, for timing the command-line tool against other
    /// loaders (`sqlite3`'s `.import --csv`); and, in DIR/load-data, the same tables (not
    /// the categories) as `--loaders` feeds MariaDB/MySQL (no header line, `NULL` as the
    /// bare word) with its script `load.sql` (`mariadb --local-infile=1 DB < load.sql`: one
    /// `LOAD DATA LOCAL INFILE` per table in one transaction).
    #[arg(long, value_name = "DIR")]
    pub write_inputs: Option<std::path::PathBuf>,

    /// Run only the comparison with the database's own external bulk loader: `psql \copy`
    /// (PostgreSQL), `mariadb` with `LOAD DATA LOCAL INFILE` (MariaDB/MySQL) or `sqlite3`
    /// with `.import --csv` (SQLite) on the workload as CSV files, against the bulkinup
    /// binary (insert, upsert into empty tables, upsert over the same rows) on it as NDJSON,
    /// each a process into fresh tables, alternating for --runs rounds; prints every run,
    /// the medians and the ratios (the ceiling's time ÷ bulkinup's).
    #[arg(long)]
    pub loaders: bool,

    /// --loaders: rounds of ceiling and bulkinup runs.
    #[arg(long, default_value_t = 3, requires = "loaders")]
    pub runs: u32,

    /// --loaders: the bulkinup binary [default: target/release/bulkinup of this workspace].
    #[arg(long, value_name = "PATH", requires = "loaders")]
    pub bulkinup_bin: Option<std::path::PathBuf>,

    /// --loaders on PostgreSQL and MariaDB/MySQL: also time `bulkinup upsert
    /// --max-concurrency N` into empty tables for each N given (e.g. 1,2,4), --runs times.
    #[arg(long, value_name = "N,N", value_delimiter = ',', requires = "loaders")]
    pub max_concurrency: Vec<u32>,
}

/// A method of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum MethodId {
    /// bulkinup insert into empty tables.
    A,
    /// bulkinup upsert into empty tables.
    B,
    /// bulkinup upsert over the rows b wrote.
    C,
    /// The ceiling: COPY (PostgreSQL), prepared INSERT per row (SQLite), largest
    /// multi-row INSERT (MySQL/MariaDB).
    D,
    /// Multi-row INSERT … ON CONFLICT DO UPDATE, 1,000 rows per statement.
    E,
    /// One INSERT … ON CONFLICT per row.
    F,
    /// Cast + validate + plan without a database.
    Dry,
}

/// Runs the benchmark and prints its report.
///
/// # Errors
/// Invalid flags, an unreachable database, a failed write, or a method whose rows in the
/// database differ from the expected counts.
pub async fn run(args: Args) -> Result<()> {
    ensure!(args.authors >= 1, "--authors must be at least 1");
    ensure!(args.chunk_size >= 1, "--chunk-size must be at least 1");
    ensure!(args.values_rows >= 1, "--values-rows must be at least 1");
    ensure!(
        args.ceiling_rows != Some(0),
        "--ceiling-rows must be at least 1"
    );
    ensure!(
        args.row_by_row_authors >= 1,
        "--row-by-row-authors must be at least 1"
    );
    let kind = Kind::from_url(&args.database_url)?;
    ensure!(
        !args.ceiling_text || kind == Kind::MySql,
        "--ceiling-text needs a MySQL/MariaDB --database-url"
    );
    let registry = Registry::from_toml_str(BLOG_SCHEMA, "examples/blog/schema.toml")?.registry;
    let workload = Workload {
        authors: args.authors,
    };
    if args.peak_memory {
        return peak_memory(&args, &registry, workload).await;
    }
    if args.loaders {
        let settings = crate::loaders::Settings {
            runs: args.runs,
            bin: crate::loaders::bulkinup_bin(args.bulkinup_bin.as_deref())?,
            concurrency: args.max_concurrency.clone(),
            schema: BLOG_SCHEMA,
        };
        ensure!(
            settings.concurrency.iter().all(|&n| n >= 1),
            "--max-concurrency values must be at least 1"
        );
        return crate::loaders::run(&args.database_url, workload, &settings).await;
    }
    if let Some(runs) = args.infer_runs {
        return infer_from_data(runs, workload);
    }
    if let Some(dir) = &args.write_inputs {
        return write_inputs(dir, workload);
    }
    if args.copy_latency {
        ensure!(
            kind == Kind::Postgres,
            "--copy-latency needs a PostgreSQL --database-url"
        );
        let ms = crate::baseline::copy_latency_ms(&args.database_url, 50, 1_000).await?;
        println!(
            "{ms:.1} ms per 1,000-row COPY FROM STDIN (50 commands, one transaction) at {}",
            args.database_url
        );
        return Ok(());
    }

    let mut methods = args.methods.clone();
    methods.sort();
    methods.dedup();
    let has = |m: MethodId| methods.contains(&m);
    let expected = workload.expected_rows();
    let expected_total: u64 = expected.values().sum();

    // The baselines' input: flattened before any timer starts.
    let tables = (has(MethodId::D) || has(MethodId::E)).then(|| workload.flatten());
    let prefix = Workload {
        authors: args.row_by_row_authors.min(args.authors),
    };
    let prefix_tables = has(MethodId::F).then(|| prefix.flatten());

    let probe = baseline::fresh(&args.database_url, "probe").await?;
    let database = probe.version().await?;
    probe.drop_all().await;

    let mut report = Report {
        database,
        url: bulkinup::redact(&args.database_url),
        authors: args.authors,
        expected_rows: expected_total,
        chunk_size: args.chunk_size,
        any_unique_key: args.any_unique_key,
        on_error: args.on_error,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        methods: Vec::new(),
        dry_run: None,
    };
    let options = bulkinup_options(&args);
    let url = args.database_url.as_str();
    let say = |what: &str| {
        if !args.json {
            eprintln!("running {what} …");
        }
    };

    if has(MethodId::A) {
        say("a: bulkinup insert");
        let t = baseline::fresh(url, "a").await?;
        let m = bulkinup_method(&t, &registry, workload, Verb::Insert, &options).await;
        let m = finish(t, m, "a", &expected).await?;
        report.methods.push(Measurement {
            id: "a",
            label: "bulkinup insert, empty tables".into(),
            rows: m.0,
            seconds: m.1.as_secs_f64(),
            note: None,
        });
    }
    if has(MethodId::B) || has(MethodId::C) {
        let t = baseline::fresh(url, "bc").await?;
        let result = async {
            if has(MethodId::B) {
                say("b: bulkinup upsert into empty tables");
            }
            let b = bulkinup_method(&t, &registry, workload, Verb::Upsert, &options).await?;
            t.verify("b", &expected).await?;
            let c = if has(MethodId::C) {
                say("c: bulkinup upsert over the loaded rows");
                let c = bulkinup_method(&t, &registry, workload, Verb::Upsert, &options).await?;
                t.verify("c", &expected).await?;
                Some(c)
            } else {
                None
            };
            Ok::<_, anyhow::Error>((b, c))
        }
        .await;
        t.drop_all().await;
        let (b, c) = result?;
        if has(MethodId::B) {
            report.methods.push(Measurement {
                id: "b",
                label: "bulkinup upsert, empty tables".into(),
                rows: b.0,
                seconds: b.1.as_secs_f64(),
                note: None,
            });
        }
        if let Some(c) = c {
            report.methods.push(Measurement {
                id: "c",
                label: "bulkinup upsert over the same rows".into(),
                rows: c.0,
                seconds: c.1.as_secs_f64(),
                note: (!has(MethodId::B))
                    .then(|| "the rows were loaded first by an untimed bulkinup upsert".into()),
            });
        }
    }
    if let (true, Some(tables)) = (has(MethodId::D), &tables) {
        say("d: the ceiling");
        let method = match kind {
            Kind::Postgres => Method::Copy,
            Kind::Sqlite => Method::PreparedPerRow,
            Kind::MySql if args.ceiling_text => Method::InsertText {
                rows_per_statement: args.ceiling_rows.unwrap_or(usize::MAX),
            },
            Kind::MySql => Method::Insert {
                rows_per_statement: args.ceiling_rows.unwrap_or(usize::MAX),
            },
        };
        let (rows, seconds, per) = baseline_method(url, "d", tables, method, &expected).await?;
        let (label, note) = match kind {
            Kind::Postgres => (
                "ceiling: COPY FROM STDIN (text), one tx".to_string(),
                "PostgreSQL COPY … FROM STDIN, text format, one COPY per table, one transaction"
                    .to_string(),
            ),
            Kind::Sqlite => (
                "ceiling: prepared INSERT per row, one tx".to_string(),
                "one prepared INSERT per table reused for every row, one transaction, through \
                 rusqlite on its own connection (sqlx adds a worker-thread hop per statement)"
                    .to_string(),
            ),
            Kind::MySql if args.ceiling_text => (
                "ceiling: multi-row INSERT as SQL text, one tx".to_string(),
                format!(
                    "multi-row INSERT with literal values through the text protocol \
                     (COM_QUERY), rows per statement as the prepared ceiling's ({per}), one \
                     transaction"
                ),
            ),
            Kind::MySql => (
                "ceiling: multi-row INSERT, one tx".to_string(),
                format!(
                    "multi-row INSERT (no LOAD DATA LOCAL INFILE: sqlx 0.9 cannot send it), \
                     rows per statement up to what 65,535 bound parameters and half of \
                     max_allowed_packet allow ({per}), one transaction"
                ),
            ),
        };
        report.methods.push(Measurement {
            id: "d",
            label,
            rows,
            seconds,
            note: Some(note),
        });
    }
    if let (true, Some(tables)) = (has(MethodId::E), &tables) {
        say("e: multi-row VALUES upsert");
        let method = Method::Upsert {
            rows_per_statement: args.values_rows,
        };
        let (rows, seconds, per) = baseline_method(url, "e", tables, method, &expected).await?;
        report.methods.push(Measurement {
            id: "e",
            label: format!(
                "multi-VALUES upsert, {} rows/stmt, one tx",
                group(args.values_rows as u64)
            ),
            rows,
            seconds,
            note: Some(format!(
                "rows per statement: {} (capped by the bind limit), empty tables",
                per
            )),
        });
    }
    if let (true, Some(tables)) = (has(MethodId::F), &prefix_tables) {
        say("f: row-by-row upsert");
        let method = Method::Upsert {
            rows_per_statement: 1,
        };
        let (rows, seconds, _) =
            baseline_method(url, "f", tables, method, &prefix.expected_rows()).await?;
        report.methods.push(Measurement {
            id: "f",
            label: "row-by-row INSERT … ON CONFLICT, one tx".into(),
            rows,
            seconds,
            note: Some(format!(
                "run on a prefix of {} authors ({} rows), empty tables; rows/s from that prefix",
                group(prefix.authors),
                group(rows)
            )),
        });
    }
    if has(MethodId::Dry) {
        say("dry: parse + cast + validate + plan without a database");
        let mut best: Option<DryRun> = None;
        for _ in 0..args.dry_runs.max(1) {
            let run = dry_run(&registry, workload, &options).await?;
            if best
                .as_ref()
                .is_none_or(|b| run.cpu_seconds < b.cpu_seconds)
            {
                best = Some(run);
            }
        }
        report.dry_run = best;
    }

    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}

/// bulkinup's options for the timed calls: the given `chunk_size`, `any_unique_key` and
/// `on_error`, and
/// no `timeout` (the default 15 s would cut a large run short; the baselines have none
/// either).
fn bulkinup_options(args: &Args) -> Options {
    Options::default()
        .chunk_size(args.chunk_size)
        .any_unique_key(args.any_unique_key)
        .on_error(args.on_error)
        .timeout(None)
}

/// The verbs, local so that the call sites read as the methods' names.
#[derive(Debug, Clone, Copy)]
enum Verb {
    Insert,
    Upsert,
}

/// Times one bulkinup call over the lazy item iterator and checks its summary.
async fn bulkinup_method(
    target: &Target,
    registry: &Registry,
    workload: Workload,
    verb: Verb,
    options: &Options,
) -> Result<(u64, Duration)> {
    target.checkpoint().await?;
    // `Item::from` hands each value over; a bare `serde_json::Value` would be serialized
    // (copied) as any `Serialize` item is.
    let items = workload.items().map(bulkinup::Item::from);
    let start = Instant::now();
    let summary = match verb {
        Verb::Insert => bulkinup::insert(&target.db, registry, "Author", items, options).await,
        Verb::Upsert => bulkinup::upsert(&target.db, registry, "Author", items, options).await,
    }
    .context("bulkinup")?;
    let elapsed = start.elapsed();
    check_summary(&summary, workload)?;
    Ok((summary.rows.values().sum(), elapsed))
}

/// Fails unless every item was written and the rows per table are the expected ones.
fn check_summary(summary: &Summary, workload: Workload) -> Result<()> {
    ensure!(
        summary.written == workload.authors && summary.skipped == 0,
        "bulkinup wrote {} and skipped {} of {} items",
        summary.written,
        summary.skipped,
        workload.authors
    );
    let expected = workload.expected_rows();
    let got: BTreeMap<&str, u64> = summary.rows.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    ensure!(
        got == expected,
        "bulkinup reports rows {got:?}, expected {expected:?}"
    );
    Ok(())
}

/// Verifies the target of a bulkinup method and drops it, whatever the outcome.
async fn finish(
    target: Target,
    measured: Result<(u64, Duration)>,
    method: &str,
    expected: &BTreeMap<&'static str, u64>,
) -> Result<(u64, Duration)> {
    let verified = match &measured {
        Ok(_) => target.verify(method, expected).await,
        Err(_) => Ok(()),
    };
    target.drop_all().await;
    verified?;
    measured
}

/// Times one baseline on a fresh target and verifies what it wrote.
async fn baseline_method(
    url: &str,
    id: &str,
    tables: &[Table],
    method: Method,
    expected: &BTreeMap<&'static str, u64>,
) -> Result<(u64, f64, String)> {
    let target = baseline::fresh(url, id).await?;
    let result = async {
        target.checkpoint().await?;
        let start = Instant::now();
        let written = baseline::write(&target, tables, method).await?;
        let seconds = start.elapsed().as_secs_f64();
        target.verify(id, expected).await?;
        let total: u64 = expected.values().sum();
        ensure!(
            written.rows == total,
            "method {id} wrote {} rows, expected {total}",
            written.rows
        );
        let per = written
            .rows_per_statement
            .iter()
            .map(|(t, n)| format!("{t} {}", group(*n as u64)))
            .collect::<Vec<_>>()
            .join(", ");
        Ok((written.rows, seconds, per))
    }
    .await;
    target.drop_all().await;
    result
}

/// Measures bulkinup's dry run in process CPU time: parse + cast + validate + plan of the
/// workload as NDJSON text, rendered before the timer starts; and parsing the same text alone,
/// for the breakdown.
async fn dry_run(registry: &Registry, workload: Workload, options: &Options) -> Result<DryRun> {
    // A dry run uses no connection; the handle is only there to pick a dialect.
    let db = Db::connect("sqlite::memory:").await?;
    let lines: Vec<String> = workload.items().map(|item| item.to_string()).collect();
    let parse = |line: &String| -> serde_json::Value {
        // The text was rendered from a `serde_json::Value`: it parses.
        serde_json::from_str(line).unwrap_or(serde_json::Value::Null)
    };

    let cpu0 = process_cpu_seconds()?;
    let mut fields = 0usize;
    for line in &lines {
        fields += std::hint::black_box(parse(line))
            .as_object()
            .map_or(0, |o| o.len());
    }
    let parse_cpu_seconds = process_cpu_seconds()? - cpu0;
    ensure!(fields > 0, "the workload parsed to no fields");

    let options = options.clone().dry_run(true);
    let cpu1 = process_cpu_seconds()?;
    let start = Instant::now();
    let items: Vec<&String> = lines.iter().collect();
    let summary = bulkinup::upsert(
        &db,
        registry,
        "Author",
        items
            .into_iter()
            .map(|line| bulkinup::Item::from(parse(line))),
        &options,
    )
    .await?;
    let wall_seconds = start.elapsed().as_secs_f64();
    let cpu_seconds = process_cpu_seconds()? - cpu1;
    check_summary(&summary, workload)?;
    db.close().await;
    Ok(DryRun {
        items: summary.written,
        rows: summary.rows.values().sum(),
        cpu_seconds,
        wall_seconds,
        parse_cpu_seconds,
        note: "serde_json::from_str of each NDJSON line + bulkinup::upsert with \
               Options::dry_run(true) (cast + validate + plan); the text is rendered before \
               the timer starts"
            .into(),
    })
}

/// User + system CPU seconds of the whole process so far (`/proc/self/stat`, in clock ticks
/// of 1/100 s, Linux's fixed `USER_HZ`).
fn process_cpu_seconds() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    // Fields after the parenthesized command name; utime and stime are fields 14 and 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("parsing /proc/self/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64> {
        let v: u64 = fields
            .get(i)
            .context("parsing /proc/self/stat")?
            .parse()
            .context("parsing /proc/self/stat")?;
        Ok(v as f64)
    };
    // `rest` starts at field 3 (state): utime is field 14 → index 11.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// The process's peak resident set size in KiB (`VmHWM` of `/proc/self/status`).
fn peak_rss_kib() -> Result<u64> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    for line in status.lines() {
        if let Some(v) = line.strip_prefix("VmHWM:") {
            return v
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .context("parsing VmHWM");
        }
    }
    bail!("no VmHWM in /proc/self/status")
}

/// `--peak-memory`: one bulkinup upsert of the lazy workload, then the peak RSS.
async fn peak_memory(args: &Args, registry: &Registry, workload: Workload) -> Result<()> {
    let options = bulkinup_options(args);
    let target = baseline::fresh(&args.database_url, "peak").await?;
    let database = target.version().await?;
    let before = peak_rss_kib()?;
    let measured = bulkinup_method(&target, registry, workload, Verb::Upsert, &options).await;
    let after = peak_rss_kib()?;
    let (rows, elapsed) =
        finish(target, measured, "peak-memory", &workload.expected_rows()).await?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "database": database,
                "authors": workload.authors,
                "chunk_size": args.chunk_size,
                "rows": rows,
                "seconds": (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
                "peak_rss_kib_before": before,
                "peak_rss_kib": after,
            })
        );
    } else {
        println!(
            "bulkinup upsert of {} authors ({} rows) on {database}, chunk_size {}: {:.3} s; \
             peak RSS (VmHWM) {} KiB (before the call: {} KiB)",
            group(workload.authors),
            group(rows),
            args.chunk_size,
            elapsed.as_secs_f64(),
            group(after),
            group(before)
        );
    }
    Ok(())
}

/// `--infer-runs N`: the workload as an NDJSON file, then `runs` timed schema inferences
/// from it (reading included), each with its items per second.
fn infer_from_data(runs: u32, workload: Workload) -> Result<()> {
    use std::io::Write;
    ensure!(runs >= 1, "--infer-runs must be at least 1");
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("authors.ndjson");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    for item in workload.items() {
        writeln!(file, "{item}")?;
    }
    file.flush()?;
    drop(file);
    let bytes = std::fs::metadata(&path)?.len();
    let sources = [bulkinup::input::Source::File(path)];
    let options = bulkinup::InferOptions::default();
    println!(
        "schema inference from {} authors ({} bytes of NDJSON), {runs} run(s):",
        group(workload.authors),
        group(bytes)
    );
    let mut rates = Vec::new();
    let mut reads = Vec::new();
    for run in 1..=runs {
        let start = Instant::now();
        let text = bulkinup::catalog::infer_from_data(&sources, &options)?;
        let elapsed = start.elapsed().as_secs_f64();
        ensure!(
            text.contains("[schemas.Author]"),
            "no Author schema inferred"
        );
        // The reader alone, for what inference adds to parsing.
        let start = Instant::now();
        let mut items = 0u64;
        bulkinup::input::read_each(&sources, options.max_item_bytes, &mut |item| {
            items += u64::from(item.is_ok());
            true
        });
        let read = start.elapsed().as_secs_f64();
        ensure!(items == workload.authors, "read {items} items");
        let rate = workload.authors as f64 / elapsed;
        rates.push(rate);
        reads.push(workload.authors as f64 / read);
        println!(
            "  run {run}: {elapsed:.3} s, {} items/s (reading alone: {read:.3} s)",
            group(rate.round() as u64)
        );
    }
    rates.sort_by(f64::total_cmp);
    reads.sort_by(f64::total_cmp);
    println!(
        "  median {} items/s, best {} items/s; reading alone: median {} items/s",
        group(rates[rates.len() / 2].round() as u64),
        group(rates[rates.len() - 1].round() as u64),
        group(reads[reads.len() / 2].round() as u64)
    );
    Ok(())
}

/// `--write-inputs DIR`: the workload as NDJSON and as one CSV file per table.
fn write_inputs(dir: &std::path::Path, workload: Workload) -> Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let create = |name: &str| -> Result<std::io::BufWriter<std::fs::File>> {
        let path = dir.join(name);
        let file =
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(std::io::BufWriter::new(file))
    };
    let mut ndjson = create("authors.ndjson")?;
    for item in workload.items() {
        writeln!(ndjson, "{item}")?;
    }
    ndjson.flush()?;
    let tables = workload.flatten();
    let categories = Workload::categories();
    for table in tables.iter().chain([&categories]) {
        let mut csv = create(&format!("{}.csv", table.def.name))?;
        writeln!(csv, "{}", table.def.columns.join(","))?;
        for row in &table.rows {
            let cells: Vec<String> = row.iter().map(crate::workload::Cell::to_csv).collect();
            writeln!(csv, "{}", cells.join(","))?;
        }
        csv.flush()?;
    }
    crate::loaders::write_load_data_inputs(&dir.join("load-data"), &tables)?;
    println!(
        "wrote the inputs of {} authors into {}",
        group(workload.authors),
        dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc() {
        assert!(peak_rss_kib().unwrap_or(0) > 0);
        assert!(process_cpu_seconds().is_ok());
    }

    #[test]
    fn the_blog_schema_loads_and_casts_the_workload() {
        let registry = Registry::from_toml_str(BLOG_SCHEMA, "blog").map(|f| f.registry);
        let Ok(registry) = registry else {
            panic!("the blog schema does not load")
        };
        for item in (Workload { authors: 3 }).items() {
            let cs = bulkinup::Changeset::cast(&registry, "Author", "changeset", &item);
            assert!(cs.is_ok_and(|c| c.is_valid()), "{item}");
        }
    }
}
