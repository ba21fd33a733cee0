//! `--loaders`: each database's own external bulk loader against the bulkinup command-line
//! tool, both run as processes, side by side in one invocation.
//!
//! - The ceiling reads the workload's rows as CSV files ([`crate::csv`], one per table,
//!   written once before anything is timed): PostgreSQL `psql -X -q -v ON_ERROR_STOP=1 -1 -f
//!   SCRIPT URL` whose script `\copy`s each table; MariaDB/MySQL `mariadb --local-infile=1`
//!   reading a script that runs `LOAD DATA LOCAL INFILE` for each table in one transaction;
//!   SQLite `sqlite3 -bail FILE` reading a script with `.import --csv` per table between
//!   `BEGIN` and `COMMIT`.
//! - bulkinup runs as the binary a user runs (`bulkinup insert|upsert --schema … --root
//!   Author --timeout infinity -q FILE.ndjson`) on the workload written once as NDJSON:
//!   insert into empty tables, upsert into empty tables, upsert of the same file again over
//!   the rows it wrote.
//!
//! Every timed step is the wall time of one process, into fresh tables ([`baseline::fresh`],
//! categories seeded); after it the harness checks the exit status, that the tool printed no
//! error, the rows of every table and the `NULL`s of `inserted_at`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};

use crate::baseline;
use crate::csv::{self, Loader};
use crate::report::{LoaderReport, Step};
use crate::target::{Kind, KindExt, Target};
use crate::workload::{Table, Workload};

/// What `--loaders` runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Rounds of ceiling, insert, upsert into empty tables, upsert over existing rows.
    pub runs: u32,
    /// The bulkinup binary.
    pub bin: PathBuf,
    /// `--max-concurrency` values for the series of upserts into empty tables (servers only).
    pub concurrency: Vec<u32>,
    /// The blog schema file's text (`examples/blog/schema.toml`).
    pub schema: &'static str,
}

/// The bulkinup binary: `explicit`, or `target/release/bulkinup` of this workspace.
///
/// # Errors
/// When the file does not exist (with how to build it).
pub fn bulkinup_bin(explicit: Option<&Path>) -> Result<PathBuf> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/bulkinup"),
    };
    ensure!(
        path.is_file(),
        "no bulkinup binary at {}: build it with `cargo build --release -p bulkinup-cli` or \
         pass --bulkinup-bin PATH",
        path.display()
    );
    std::fs::canonicalize(&path).with_context(|| format!("resolving {}", path.display()))
}

/// The input files, written once per invocation into a temporary directory.
struct Files {
    _dir: tempfile::TempDir,
    /// The ceiling's script.
    script: PathBuf,
    /// The workload as NDJSON.
    ndjson: PathBuf,
    /// The blog schema file.
    schema: PathBuf,
}

/// Writes the CSV files and the loader's script, the NDJSON input and the schema file.
fn write_files(kind: Kind, workload: Workload, tables: &[Table], schema: &str) -> Result<Files> {
    use std::io::Write as _;
    let dir = tempfile::Builder::new()
        .prefix("bulkinup-bench-loaders-")
        .tempdir()
        .context("creating the temporary directory of the input files")?;
    let loader = match kind {
        Kind::Postgres => Loader::Psql,
        Kind::MySql => Loader::LoadData,
        Kind::Sqlite => Loader::SqliteImport,
    };
    let mut csv_files = Vec::new();
    for table in tables {
        let path = dir.path().join(format!("{}.csv", table.def.name));
        std::fs::write(&path, csv::encode_table(loader, table))
            .with_context(|| format!("writing {}", path.display()))?;
        csv_files.push((table, path));
    }
    let script = dir.path().join(match kind {
        Kind::Postgres => "load.psql",
        Kind::MySql => "load.sql",
        Kind::Sqlite => "load.sqlite",
    });
    std::fs::write(&script, loader_script(kind, &csv_files)?)
        .with_context(|| format!("writing {}", script.display()))?;

    let ndjson = dir.path().join("authors.ndjson");
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&ndjson).with_context(|| format!("creating {}", ndjson.display()))?,
    );
    for item in workload.items() {
        writeln!(out, "{item}").with_context(|| format!("writing {}", ndjson.display()))?;
    }
    out.flush()
        .with_context(|| format!("writing {}", ndjson.display()))?;
    drop(out);
    let schema_path = dir.path().join("schema.toml");
    std::fs::write(&schema_path, schema)
        .with_context(|| format!("writing {}", schema_path.display()))?;
    Ok(Files {
        _dir: dir,
        script,
        ndjson,
        schema: schema_path,
    })
}

/// Writes `tables` into `dir` as `--loaders` does for MariaDB/MySQL: one `TABLE.csv` per
/// table in `LOAD DATA`'s conventions and the script `load.sql` that loads them in one
/// transaction (absolute paths, so it runs from any directory).
///
/// # Errors
/// When the directory or a file cannot be written, or its path is not UTF-8.
pub fn write_load_data_inputs(dir: &Path, tables: &[Table]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = std::fs::canonicalize(dir).with_context(|| format!("resolving {}", dir.display()))?;
    let mut files = Vec::new();
    for table in tables {
        let path = dir.join(format!("{}.csv", table.def.name));
        std::fs::write(&path, csv::encode_table(Loader::LoadData, table))
            .with_context(|| format!("writing {}", path.display()))?;
        files.push((table, path));
    }
    let script = dir.join("load.sql");
    std::fs::write(&script, loader_script(Kind::MySql, &files)?)
        .with_context(|| format!("writing {}", script.display()))
}

/// A path as a string for a script; only UTF-8 paths can be written into one.
fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

/// The loader's script for the CSV files, tables in order (parents first).
fn loader_script(kind: Kind, files: &[(&Table, PathBuf)]) -> Result<String> {
    let mut s = String::new();
    let columns = |t: &Table| {
        t.def
            .columns
            .iter()
            .map(|c| kind.quote(c))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match kind {
        Kind::Postgres => {
            for (table, path) in files {
                // psql's \copy takes a quoted file name with '' for a quote.
                let _ = writeln!(
                    s,
                    "\\copy {} ({}) FROM '{}' WITH (FORMAT csv)",
                    kind.quote(table.def.name),
                    columns(table),
                    path_str(path)?.replace('\'', "''")
                );
            }
        }
        Kind::MySql => {
            s.push_str("START TRANSACTION;\n");
            for (table, path) in files {
                let literal = path_str(path)?.replace('\\', "\\\\").replace('\'', "\\'");
                let _ = writeln!(
                    s,
                    "LOAD DATA LOCAL INFILE '{literal}' INTO TABLE {} CHARACTER SET utf8mb4 \
                     FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' \
                     LINES TERMINATED BY '\\n' ({});\nSELECT @@warning_count;",
                    kind.quote(table.def.name),
                    columns(table)
                );
            }
            s.push_str("COMMIT;\n");
        }
        Kind::Sqlite => {
            s.push_str("PRAGMA foreign_keys = ON;\nBEGIN;\n");
            for (table, path) in files {
                let _ = writeln!(
                    s,
                    ".import --csv \"{}\" {}",
                    path_str(path)?.replace('\\', "\\\\").replace('"', "\\\""),
                    table.def.name
                );
            }
            // .import has no NULL: the empty fields of NULL cells are set back (module docs
            // of `csv`).
            for (table, _) in files {
                for column in csv::null_columns(table) {
                    let c = kind.quote(column);
                    let _ = writeln!(
                        s,
                        "UPDATE {} SET {c} = NULL WHERE {c} = '';",
                        kind.quote(table.def.name)
                    );
                }
            }
            s.push_str("COMMIT;\n");
        }
    }
    Ok(s)
}

/// One external command: program, arguments, environment and standard input.
#[derive(Debug, Clone)]
struct Cmd {
    program: PathBuf,
    args: Vec<String>,
    /// Values not shown by [`Cmd::display`] (passwords) are listed in `secret_env`.
    env: Vec<(&'static str, String)>,
    secret_env: Vec<(&'static str, String)>,
    stdin: Option<PathBuf>,
}

impl Cmd {
    fn new(program: impl Into<PathBuf>) -> Cmd {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            secret_env: Vec::new(),
            stdin: None,
        }
    }

    fn arg(mut self, a: impl Into<String>) -> Cmd {
        self.args.push(a.into());
        self
    }

    /// The command as a shell line, URLs redacted, secrets left out.
    fn display(&self) -> String {
        let mut parts: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", shell_word(&bulkinup::redact(v))))
            .collect();
        parts.push(shell_word(&self.program.display().to_string()));
        parts.extend(self.args.iter().map(|a| shell_word(&bulkinup::redact(a))));
        if let Some(stdin) = &self.stdin {
            parts.push(format!("< {}", shell_word(&stdin.display().to_string())));
        }
        parts.join(" ")
    }

    /// Runs the command to its end; the wall seconds, and its standard output. Fails on a
    /// non-zero exit status, and (when `quiet_stderr`) on anything printed on standard
    /// error, quoting it.
    fn run_timed(&self, quiet_stderr: bool) -> Result<(f64, String)> {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .envs(self.secret_env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match &self.stdin {
            Some(path) => cmd.stdin(
                std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
            ),
            None => cmd.stdin(Stdio::null()),
        };
        let start = Instant::now();
        let out = tokio::task::block_in_place(|| cmd.output())
            .with_context(|| format!("running {}", self.program.display()))?;
        let seconds = start.elapsed().as_secs_f64();
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure!(
            out.status.success() && (!quiet_stderr || stderr.trim().is_empty()),
            "`{}` ended with {}: {}",
            self.display(),
            out.status,
            stderr.trim()
        );
        Ok((seconds, String::from_utf8_lossy(&out.stdout).into_owned()))
    }
}

/// A word for a shell line: as is when plain, else in single quotes.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,%@+".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The ceiling's command for the fresh tables at `target`.
async fn ceiling_cmd(target: &Target, files: &Files) -> Result<Cmd> {
    Ok(match target.kind {
        Kind::Postgres => {
            let (url, password) = without_password(&target.url)?;
            let mut cmd = Cmd::new("psql")
                .arg("-X")
                .arg("-q")
                .arg("-v")
                .arg("ON_ERROR_STOP=1")
                .arg("-1")
                .arg("-f")
                .arg(path_str(&files.script)?)
                .arg(url);
            if let Some(p) = password {
                cmd.secret_env.push(("PGPASSWORD", p));
            }
            cmd
        }
        Kind::MySql => {
            let url = url::Url::parse(&target.url).context("reading the MariaDB/MySQL URL")?;
            let database = url.path().trim_start_matches('/').to_string();
            let mut cmd = Cmd::new("mariadb")
                .arg("--local-infile=1")
                .arg("--batch")
                .arg("--skip-column-names")
                .arg("-h")
                .arg(url.host_str().unwrap_or("localhost"))
                .arg("-P")
                .arg(url.port().unwrap_or(3306).to_string());
            if !url.username().is_empty() {
                cmd = cmd.arg("-u").arg(url.username());
            }
            if let Some(p) = url.password() {
                cmd.secret_env.push(("MYSQL_PWD", p.to_string()));
            }
            cmd = cmd.arg(database);
            cmd.stdin = Some(files.script.clone());
            cmd
        }
        Kind::Sqlite => {
            let path = target
                .sqlite_path
                .as_deref()
                .context("the SQLite target has no file")?;
            let synchronous: i64 = match &target.db {
                bulkinup::Db::Sqlite(p) => {
                    sqlx::query_scalar("PRAGMA synchronous")
                        .fetch_one(p)
                        .await?
                }
                _ => bail!("not an SQLite target"),
            };
            // The pool's durability, set before the script.
            let mut cmd = Cmd::new("sqlite3")
                .arg("-bail")
                .arg("-cmd")
                .arg(format!("PRAGMA synchronous = {synchronous}"))
                .arg(path_str(path)?);
            cmd.stdin = Some(files.script.clone());
            cmd
        }
    })
}

/// The URL without its password, and the password.
fn without_password(raw: &str) -> Result<(String, Option<String>)> {
    let mut url = url::Url::parse(raw).context("reading the database URL")?;
    let password = url.password().map(str::to_string);
    if password.is_some() {
        let _ = url.set_password(None);
    }
    Ok((url.to_string(), password))
}

/// bulkinup's command for one step (the URL through `DATABASE_URL`, shown redacted).
fn bulkinup_cmd(
    bin: &Path,
    files: &Files,
    target: &Target,
    verb: &str,
    concurrency: Option<u32>,
) -> Result<Cmd> {
    let mut cmd = Cmd::new(bin)
        .arg(verb)
        .arg("--schema")
        .arg(path_str(&files.schema)?)
        .arg("--root")
        .arg("Author")
        .arg("--timeout")
        .arg("infinity")
        .arg("-q");
    if let Some(n) = concurrency {
        cmd = cmd.arg("--max-concurrency").arg(n.to_string());
    }
    cmd = cmd.arg(path_str(&files.ndjson)?);
    cmd.env.push(("DATABASE_URL", target.url.clone()));
    Ok(cmd)
}

/// Fails unless bulkinup's summary line says every item was written and none skipped, and,
/// when `rows` is given, the rows per table. (With `--max-concurrency` each chunk
/// de-duplicates on its own, so the summary counts a tag once per chunk that names it; the
/// rows in the database are checked either way.)
fn check_summary(
    stdout: &str,
    verb: &str,
    workload: Workload,
    rows: Option<&BTreeMap<&'static str, u64>>,
) -> Result<()> {
    let key = if verb == "insert" {
        "inserted"
    } else {
        "upserted"
    };
    let line: serde_json::Value = serde_json::from_str(stdout.trim())
        .with_context(|| format!("bulkinup's summary is not one JSON line: {stdout}"))?;
    ensure!(
        line[key].as_u64() == Some(workload.authors) && line["skipped"].as_u64() == Some(0),
        "bulkinup's summary: {stdout}"
    );
    for (table, want) in rows.into_iter().flatten() {
        ensure!(
            line["rows"][*table].as_u64() == Some(*want),
            "bulkinup's summary has {} rows for {table}, expected {want}",
            line["rows"][*table]
        );
    }
    Ok(())
}

/// Fails unless every table holds the expected rows and every `inserted_at` is `NULL` (the
/// CSV files' `NULL` convention reached the database).
async fn verify(target: &Target, step: &str, workload: Workload) -> Result<()> {
    target.verify(step, &workload.expected_rows()).await?;
    for (table, want) in [
        ("authors", workload.authors),
        ("posts", workload.expected_rows()["posts"]),
    ] {
        let nulls = target
            .count_where(
                table,
                &format!("{} IS NULL", target.kind.quote("inserted_at")),
            )
            .await?;
        ensure!(
            nulls == want,
            "{step}: {nulls} rows of {table} have a NULL inserted_at, expected {want}"
        );
    }
    Ok(())
}

/// Runs one timed step on a fresh target, verifies it, drops the target unless `keep`.
async fn step(
    url: &str,
    label: &str,
    workload: Workload,
    make: impl AsyncFnOnce(&Target) -> Result<(Cmd, bool)>,
    commands: &mut BTreeMap<String, String>,
) -> Result<(f64, Target, String)> {
    let target = baseline::fresh(url, label).await?;
    let result = async {
        let (cmd, quiet) = make(&target).await?;
        commands
            .entry(label.to_string())
            .or_insert_with(|| cmd.display());
        target.checkpoint().await?;
        let (seconds, stdout) = cmd.run_timed(quiet)?;
        verify(&target, label, workload).await?;
        Ok::<_, anyhow::Error>((seconds, stdout))
    }
    .await;
    match result {
        Ok((seconds, stdout)) => Ok((seconds, target, stdout)),
        Err(e) => {
            target.drop_all().await;
            Err(e)
        }
    }
}

/// Fails when the MariaDB script reported a warning for some table (a value truncated or
/// converted: `SELECT @@warning_count` after each `LOAD DATA`).
fn check_load_data_warnings(stdout: &str) -> Result<()> {
    let warnings: Vec<&str> = stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    ensure!(
        warnings.iter().all(|w| *w == "0"),
        "LOAD DATA reported warnings (per table: {})",
        warnings.join(", ")
    );
    Ok(())
}

/// `--loaders`: the runs, then the report on standard output.
///
/// # Errors
/// A tool missing or failing, or a step whose rows in the database differ from the
/// workload's.
pub async fn run(url: &str, workload: Workload, settings: &Settings) -> Result<()> {
    ensure!(settings.runs >= 1, "--runs must be at least 1");
    let kind = Kind::from_url(url)?;
    let expected = workload.expected_rows();
    eprintln!("writing the CSV files and the NDJSON input …");
    let tables = workload.flatten();
    let files = write_files(kind, workload, &tables, settings.schema)?;
    drop(tables);

    let probe = baseline::fresh(url, "probe").await?;
    let database = probe.version().await?;
    probe.drop_all().await;

    let tool = match kind {
        Kind::Postgres => "psql",
        Kind::MySql => "mariadb",
        Kind::Sqlite => "sqlite3",
    };
    let tool_version = Cmd::new(tool).arg("--version").run_timed(true)?.1;
    let bulkinup_version = Cmd::new(&settings.bin).arg("--version").run_timed(true)?.1;
    let mut report = LoaderReport {
        database,
        tools: format!("{}; {}", tool_version.trim(), bulkinup_version.trim()),
        url: bulkinup::redact(url),
        authors: workload.authors,
        rows: expected.values().sum(),
        commands: BTreeMap::new(),
        steps: BTreeMap::new(),
        concurrency: Vec::new(),
    };
    let bin = settings.bin.as_path();
    for run in 1..=settings.runs {
        eprintln!("run {run} of {}: the ceiling …", settings.runs);
        let (s, t, stdout) = step(
            url,
            "ceiling",
            workload,
            async |t: &Target| Ok((ceiling_cmd(t, &files).await?, true)),
            &mut report.commands,
        )
        .await?;
        t.drop_all().await;
        if kind == Kind::MySql {
            check_load_data_warnings(&stdout)?;
        }
        report.steps.entry(Step::Ceiling).or_default().push(s);

        eprintln!("run {run}: bulkinup insert …");
        let (s, t, stdout) = step(
            url,
            "insert",
            workload,
            async |t: &Target| Ok((bulkinup_cmd(bin, &files, t, "insert", None)?, false)),
            &mut report.commands,
        )
        .await?;
        t.drop_all().await;
        check_summary(&stdout, "insert", workload, Some(&expected))?;
        report.steps.entry(Step::Insert).or_default().push(s);

        eprintln!("run {run}: bulkinup upsert into empty tables, then again …");
        let (s, t, stdout) = step(
            url,
            "upsert",
            workload,
            async |t: &Target| Ok((bulkinup_cmd(bin, &files, t, "upsert", None)?, false)),
            &mut report.commands,
        )
        .await?;
        let again = async {
            check_summary(&stdout, "upsert", workload, Some(&expected))?;
            let cmd = bulkinup_cmd(bin, &files, &t, "upsert", None)?;
            t.checkpoint().await?;
            let (again, stdout) = cmd.run_timed(false)?;
            verify(&t, "upsert again", workload).await?;
            check_summary(&stdout, "upsert", workload, Some(&expected))?;
            Ok::<_, anyhow::Error>(again)
        }
        .await;
        t.drop_all().await;
        report.steps.entry(Step::UpsertEmpty).or_default().push(s);
        report
            .steps
            .entry(Step::UpsertExisting)
            .or_default()
            .push(again?);
    }

    // The rounds' figures first, so that a failure in the series does not lose them.
    print!("{}", report.to_text());
    if kind != Kind::Sqlite {
        for &n in &settings.concurrency {
            let mut seconds = Vec::new();
            for run in 1..=settings.runs {
                eprintln!("run {run}: bulkinup upsert --max-concurrency {n} …");
                let label = format!("upsert --max-concurrency {n}");
                let (s, t, stdout) = step(
                    url,
                    &label,
                    workload,
                    async |t: &Target| {
                        Ok((bulkinup_cmd(bin, &files, t, "upsert", Some(n))?, false))
                    },
                    &mut report.commands,
                )
                .await?;
                t.drop_all().await;
                check_summary(&stdout, "upsert", workload, None)?;
                seconds.push(s);
            }
            report.concurrency.push((n, seconds));
        }
    } else if !settings.concurrency.is_empty() {
        eprintln!("--max-concurrency: not run on SQLite (one writer at a time)");
    }
    if !report.concurrency.is_empty() {
        print!("{}", report.concurrency_text());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("--timeout"), "--timeout");
        assert_eq!(shell_word("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn load_data_warnings_fail_the_step() {
        assert!(check_load_data_warnings("0\n0\n").is_ok());
        assert!(check_load_data_warnings("0\n3\n").is_err());
    }

    #[test]
    fn the_password_leaves_the_url() {
        let Ok((url, password)) = without_password("postgres://u:secret@h:5432/db?sslmode=disable")
        else {
            panic!("not a URL")
        };
        assert_eq!(url, "postgres://u@h:5432/db?sslmode=disable");
        assert_eq!(password.as_deref(), Some("secret"));
    }

    #[test]
    fn the_sqlite_script_imports_in_one_transaction_and_resets_nulls() {
        let tables = Workload { authors: 1 }.flatten();
        let files: Vec<(&Table, PathBuf)> = tables
            .iter()
            .map(|t| (t, PathBuf::from(format!("/tmp/{}.csv", t.def.name))))
            .collect();
        let Ok(script) = loader_script(Kind::Sqlite, &files) else {
            panic!("no script")
        };
        assert!(script.starts_with(
            "PRAGMA foreign_keys = ON;\nBEGIN;\n.import --csv \"/tmp/authors.csv\" authors\n"
        ));
        assert!(script.contains(
            "UPDATE \"posts\" SET \"inserted_at\" = NULL WHERE \"inserted_at\" = '';\nCOMMIT;\n"
        ));
    }
}
