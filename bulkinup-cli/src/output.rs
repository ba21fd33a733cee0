//! What the tool prints and writes besides the database: the JSON summary line on standard
//! output, the skipped-items report, per-item details and the progress bar on standard error,
//! the rejects file, and the failure message.
//!
//! ## The summary line (standard output)
//!
//! Exactly one line, one JSON object, printed when the call succeeded:
//!
//! - `upserted` (upsert) or `inserted` (insert): valid top-level items sent to the database,
//!   duplicates included;
//! - `skipped`: top-level items skipped as invalid;
//! - `rejected`: top-level items the database refused and that were set aside
//!   (`--on-error reject`), only when there were some;
//! - `rows`: an object, table name → rows sent to that table (after in-call
//!   de-duplication; join tables included);
//! - `dry_run`: `true`, only with `--dry-run` (nothing was written; the counts are what would
//!   have been).
//!
//! ## The failure line (standard output, `--max-concurrency`)
//!
//! A call with `--max-concurrency` that fails (or is interrupted) prints instead one line,
//! one JSON object, saying what of its input was committed ([`FailureLine`]):
//!
//! - `error`: the error's message (`interrupted` for Ctrl-C);
//! - `committed`: with one input, a list of `[first, last]` pairs — the 1-based lines
//!   (NDJSON) or elements (JSON array) of the input whose items are committed, both included,
//!   merged and ascending (`[]`: nothing was committed); with several inputs, a list of
//!   objects, one per input that has committed items, in input order:
//!   `{"file": "a.ndjson", "lines": [[1, 1000]]}` (`elements` instead of `lines` for a JSON
//!   array), `file` as given on the command line (`-` for standard input).
//!
//! ## The rejects record (`--rejects FILE`)
//!
//! One JSON object per line per skipped item (and, with `--on-error reject`, per item the
//! database refused), in input order of each chunk:
//!
//! - `file`: the input file as given on the command line, `-` for standard input;
//! - `line`: the 1-based line of the item in an NDJSON input, *or* `index`: the 1-based
//!   element of a JSON array input;
//! - `item`: the item as read (the same JSON value; object keys may be reordered);
//! - `errors`: the error tree — `{"field": ["message", …]}`, an association's errors under its
//!   name (an object for a single child, a list with `{}` for each valid child of a list);
//!   for an item the database refused, `{"database": {"table", "code", "constraint",
//!   "message", "detail", "hint"}}` (each key when the database gave it);
//! - `stage`: `"database"` for an item the database refused; absent for a skipped item.
//!
//! The records go to a temporary file beside FILE, moved over it by [`Report::finish`] when
//! the call succeeded, or when it failed after it started reading its input
//! ([`Report::finish_failed`]), so that the invalid items of a failed call are not lost. A
//! call that ends before reading (an error before connecting, a failed connection, a missing
//! prefix) drops the temporary file: an existing FILE stays as it was. Where FILE may point is checked first ([`crate::files`]).
//!
//! ## The progress bar (standard error, on a terminal, not with `--quiet`)
//!
//! When every input is a regular file, a bar of the bytes read of the inputs' total, with
//! the percentage and the estimated time left; otherwise (standard input, a FIFO) a spinner
//! with the bytes read and their rate. Both go on with the items read and the rows:
//! `N rows sent` while the one transaction is open, `N rows committed` once it committed;
//! with `--max-concurrency` the rows are those of the chunks that committed
//! (`N rows committed` all along); `N rows planned` in a dry run. A call that starts again
//! after a deadlock starts the bar over.

use std::fmt;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bulkinup::input::Progress;
use bulkinup::{
    Committed, Error, InputRange, Item, Numbering, Origin, Rejected, Result, Skipped, Summary,
    Waited,
};
use indicatif::{HumanCount, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use serde_json::Value as J;
use tempfile::NamedTempFile;

use crate::files::{Rejects, Target};

/// A failed run: the error (which gives the exit status) and what it means for the data.
#[derive(Debug)]
pub struct Failure {
    /// The error (boxed: `Error` is large).
    pub error: Box<Error>,
    /// What happened to the database, e.g. that nothing was written.
    pub note: Option<&'static str>,
    /// The database the call used (its URL, password hidden), named under a database error.
    pub database: Option<String>,
    /// What a call with `--max-concurrency` committed before it failed (said instead of the
    /// note).
    pub committed: Option<Vec<InputRange>>,
}

/// The note of an error during the call.
pub const ROLLED_BACK: &str = "nothing was written: the whole call was rolled back";

/// The note of an error during a call with `--max-concurrency`.
pub const PER_CHUNK: &str =
    "the failing chunk was rolled back; chunks committed before it stay written";

impl Failure {
    /// An error with a note on what it means for the database.
    pub fn new(error: Error, note: &'static str) -> Failure {
        Failure {
            error: Box::new(error),
            note: Some(note),
            database: None,
            committed: None,
        }
    }

    /// The error that ended a call with `--max-concurrency`, and the input ranges it had
    /// committed by then.
    pub fn partly(error: Error, committed: Vec<InputRange>) -> Failure {
        Failure {
            error: Box::new(error),
            note: None,
            database: None,
            committed: Some(committed),
        }
    }

    /// The same failure, naming the database at `url` (redacted) under a database error.
    pub fn on(mut self, url: &str) -> Failure {
        self.database = Some(bulkinup::redact(url));
        self
    }

    /// Whether standard output was closed early (`bulkinup … | head`): not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(&*self.error, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// The exit status: the error's (1 database, 2 usage/option/schema, 3 input).
    pub fn exit_code(&self) -> i32 {
        self.error.exit_code()
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure {
            error: Box::new(error),
            note: None,
            database: None,
            committed: None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        if let Some(kind) = self.error.db_kind() {
            let reason = match kind {
                bulkinup::DbErrorKind::UniqueViolation => {
                    Some("a row with that key already exists")
                }
                bulkinup::DbErrorKind::ForeignKeyViolation => Some("a referenced row is missing"),
                bulkinup::DbErrorKind::NotNullViolation => Some("a required column got no value"),
                bulkinup::DbErrorKind::CheckViolation => Some("a check constraint failed"),
                _ => None,
            };
            if let Some(reason) = reason {
                write!(f, " ({reason})")?;
            }
        }
        // A connection error names its URL itself.
        if let Some(url) = &self.database
            && self.error.exit_code() == 1
            && !matches!(*self.error, Error::Connect { .. })
        {
            write!(f, "\ndatabase: {url}")?;
        }
        let unknown = matches!(
            *self.error,
            Error::Timeout {
                waited: Waited::CommitAnswer,
                ..
            }
        );
        match (&self.committed, self.note) {
            (Some(committed), _) => {
                if unknown {
                    write!(
                        f,
                        "\nwhether the failing chunk was committed is unknown: check the tables"
                    )?;
                }
                write!(f, "\n{}", InputRange::describe_committed(committed))?;
            }
            // The commit was sent and not answered: the note would claim too much.
            (None, Some(_)) if unknown => write!(
                f,
                "\nwhether the call was committed is unknown: check the tables"
            )?,
            (None, Some(note)) => write!(f, "\n{note}")?,
            (None, None) => {}
        }
        if let Error::Timeout { option, .. } = *self.error {
            let hint = match option {
                "statement_timeout" => {
                    "allow each statement more time with --statement-timeout SECONDS, or --statement-timeout infinity to leave only --timeout"
                }
                _ => "allow more time with --timeout SECONDS, or --timeout infinity for no limit",
            };
            write!(f, "\n{hint}")?;
        }
        Ok(())
    }
}

/// Writes one line to standard output and flushes it.
///
/// # Errors
/// [`Error::Io`] (a closed pipe is one, which `main` turns into exit status 0).
pub fn print_line(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|source| Error::Io {
            path: Some("standard output".into()),
            source,
        })
}

/// Writes a message to standard error, ignoring a closed standard error.
/// How `error:` is styled: as clap styles its own (bold red).
const ERROR_STYLE: anstyle::Style = anstyle::Style::new()
    .bold()
    .fg_color(Some(anstyle::Color::Ansi(anstyle::AnsiColor::Red)));

/// Prints `bulkinup: error: MESSAGE` on standard error: the one style of every error, the
/// command line's (clap's) included. `error:` is coloured as clap colours it when standard
/// error is a terminal, and plain when it is not or `NO_COLOR` is set (anstream decides, as
/// for clap's own output).
pub fn eprint_error(message: &str) {
    let _ = writeln!(
        anstream::stderr(),
        "bulkinup: {ERROR_STYLE}error:{ERROR_STYLE:#} {message}"
    );
}

/// Prints one line on standard error (ignoring a failure to do so).
pub fn eprint_line(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// The line `schema ddl --apply` prints on standard error: the tables it created (the others
/// existed and were left as they are).
pub fn created_tables(tables: &[String]) -> String {
    match tables {
        [] => "bulkinup: created no table: every table existed".to_string(),
        [one] => format!("bulkinup: created 1 table: {one}"),
        many => format!(
            "bulkinup: created {} tables: {}",
            many.len(),
            many.join(", ")
        ),
    }
}

/// `file:line`, `file element N`, or `-`, for messages.
pub fn origin_text(origin: Option<&Origin>) -> String {
    match origin {
        Some(Origin {
            file,
            line: Some(line),
            ..
        }) => format!("{file}:{line}"),
        Some(Origin {
            file,
            index: Some(index),
            ..
        }) => format!("{file} element {index}"),
        Some(o) => o.file.to_string(),
        None => "-".into(),
    }
}

/// The summary line (see the module docs): the library's summary in its own key order, then
/// `dry_run`.
#[derive(Debug, Serialize)]
pub struct SummaryLine<'a> {
    /// The call's summary.
    #[serde(flatten)]
    pub summary: &'a Summary,
    /// `true` with `--dry-run`; absent otherwise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

impl SummaryLine<'_> {
    /// The line's JSON text.
    ///
    /// # Errors
    /// [`Error::Serialize`] if serialization fails (it does not for these types).
    pub fn to_text(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|source| Error::Serialize {
            what: "the summary line".into(),
            source,
        })
    }
}

/// The failure line of a call with `--max-concurrency` (see the module docs).
#[derive(Debug)]
pub struct FailureLine<'a> {
    /// The error's message.
    pub error: String,
    /// What the call committed, merged and in input order.
    pub committed: &'a [InputRange],
    /// Whether the call read several inputs (each range then names its file).
    pub several_inputs: bool,
}

impl FailureLine<'_> {
    /// The line's JSON text.
    ///
    /// # Errors
    /// [`Error::Serialize`] if serialization fails (it does not for these types).
    pub fn to_text(&self) -> Result<String> {
        let pair = |r: &InputRange| [r.first, r.last];
        let committed = match self.several_inputs {
            false => CommittedJson::Pairs(self.committed.iter().map(pair).collect()),
            true => {
                let mut files: Vec<FileRanges<'_>> = Vec::new();
                for r in self.committed {
                    let file = r.file.as_deref().unwrap_or("-");
                    let same = files
                        .last()
                        .is_some_and(|f| f.file == file && f.numbering == r.numbering);
                    if !same {
                        files.push(FileRanges {
                            file,
                            numbering: r.numbering,
                            pairs: Vec::new(),
                        });
                    }
                    if let Some(f) = files.last_mut() {
                        f.pairs.push(pair(r));
                    }
                }
                CommittedJson::Files(files)
            }
        };
        let line = Line {
            error: &self.error,
            committed,
        };
        serde_json::to_string(&line).map_err(|source| Error::Serialize {
            what: "the failure line".into(),
            source,
        })
    }
}

/// The failure line's fields, in this order.
#[derive(Serialize)]
struct Line<'a> {
    error: &'a str,
    committed: CommittedJson<'a>,
}

/// `committed`: pairs for one input, one object per file for several.
#[derive(Serialize)]
#[serde(untagged)]
enum CommittedJson<'a> {
    Pairs(Vec<[u64; 2]>),
    Files(Vec<FileRanges<'a>>),
}

/// The committed ranges of one input: `{"file": …, "lines": [[first, last], …]}` (`elements`
/// for a JSON array, `items` for items without a line or element).
struct FileRanges<'a> {
    file: &'a str,
    numbering: Numbering,
    pairs: Vec<[u64; 2]>,
}

impl Serialize for FileRanges<'_> {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let key = match self.numbering {
            Numbering::Lines => "lines",
            Numbering::Elements => "elements",
            _ => "items",
        };
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("file", self.file)?;
        map.serialize_entry(key, &self.pairs)?;
        map.end()
    }
}

/// The rejects record of a skipped item (see the module docs), fields in that order.
#[derive(Debug, Serialize)]
pub struct RejectRecord<'a> {
    /// The input file, `-` for standard input.
    pub file: &'a str,
    /// The 1-based line (NDJSON input).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The 1-based element (JSON array input), instead of `line`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// The item as read.
    pub item: &'a J,
    /// The error tree (a skipped item), or the database's error (a rejected one).
    pub errors: J,
    /// `database` for an item the database refused (`--on-error reject`); absent for an
    /// item skipped as invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<&'static str>,
}

impl<'a> RejectRecord<'a> {
    /// The record of a skipped item.
    pub fn new(skipped: &'a Skipped) -> RejectRecord<'a> {
        Self::of(&skipped.item, skipped.changeset.errors_json(), None)
    }

    /// The record of an item the database refused.
    pub fn rejected(rejected: &'a Rejected) -> RejectRecord<'a> {
        Self::of(&rejected.item, rejected.errors_json(), Some("database"))
    }

    fn of(item: &'a Item, errors: J, stage: Option<&'static str>) -> RejectRecord<'a> {
        let origin = item.origin.as_ref();
        RejectRecord {
            file: origin.map_or("-", |o| &o.file),
            line: origin.and_then(|o| o.line),
            index: origin.and_then(|o| o.index),
            item: &item.attrs,
            errors,
            stage,
        }
    }
}

/// Collects what the call reports while it runs: the skipped items (first primary keys,
/// per-item details, the rejects file) and the progress. Shared with the library's
/// `on_skipped` and `on_progress` handlers.
#[derive(Debug)]
pub struct Report {
    state: Mutex<State>,
    /// Whether the call has started reading its input.
    read: AtomicBool,
    verbose: bool,
    /// Whether notices (a retry) are printed: not with `--quiet`.
    notices: bool,
    /// Whether the call is a dry run (its rows are planned, not sent).
    dry_run: bool,
    progress: Option<ProgressBar>,
    /// How far the input reader has got (the bar's position).
    input: Mutex<Option<Progress>>,
}

#[derive(Debug)]
struct State {
    rejects: Option<(String, Sink)>,
    /// The first failure to write the rejects file.
    failure: Option<Error>,
    /// What the call has committed so far (`--max-concurrency`).
    committed: Vec<InputRange>,
}

impl Report {
    /// A report; creates the rejects file's temporary file beside it (or opens a device or
    /// FIFO as it is). With `progress` (not `--quiet`) notices are printed, and the progress
    /// bar is shown when standard error is a terminal. With `dry_run` the bar counts rows
    /// planned.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] (`--rejects`) when the file cannot be created.
    pub fn new(
        rejects: Option<&Rejects>,
        verbose: bool,
        progress: bool,
        dry_run: bool,
    ) -> Result<Report> {
        let rejects = match rejects {
            Some(r) => {
                let sink = Sink::create(&r.target).map_err(|e| {
                    Error::option(
                        "--rejects",
                        format!("cannot create `{}`: {e}", r.given),
                        None,
                    )
                })?;
                Some((r.given.clone(), sink))
            }
            None => None,
        };
        let notices = progress;
        let progress = (progress && std::io::stderr().is_terminal())
            .then(|| progress_bar(ProgressDrawTarget::stderr(), dry_run));
        Ok(Report {
            state: Mutex::new(State {
                rejects,
                failure: None,
                committed: Vec::new(),
            }),
            read: AtomicBool::new(false),
            verbose,
            notices,
            dry_run,
            progress,
            input: Mutex::new(None),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The `on_skipped` handler: prints details with `-v`, writes rejects.
    pub fn on_skipped(&self, skipped: &[Skipped]) {
        let mut state = self.state();
        for s in skipped {
            if self.verbose {
                self.eprint(&format!(
                    "skipped {} ({} {}): {}",
                    origin_text(s.item.origin.as_ref()),
                    s.changeset.schema_name(),
                    s.changeset.primary_key_json(),
                    s.changeset.errors_json()
                ));
            }
            Self::write_record(&mut state, &RejectRecord::new(s));
        }
    }

    /// The `on_rejected` handler (`--on-error reject`): prints each refused item's error
    /// with `-v`, writes rejects.
    pub fn on_rejected(&self, rejected: &[Rejected]) {
        let mut state = self.state();
        for r in rejected {
            if self.verbose {
                self.eprint(&format!("rejected: {}", r.error));
            }
            Self::write_record(&mut state, &RejectRecord::rejected(r));
        }
    }

    /// A line on standard error, above the progress bar if there is one.
    fn eprint(&self, line: &str) {
        match &self.progress {
            Some(bar) => bar.suspend(|| eprint_line(line)),
            None => eprint_line(line),
        }
    }

    /// Writes one record to the rejects file, if there is one and no write to it failed.
    fn write_record(state: &mut State, record: &RejectRecord<'_>) {
        if state.failure.is_some() {
            return;
        }
        if let Some((name, sink)) = &mut state.rejects {
            let out = sink.writer();
            let written = serde_json::to_writer(&mut *out, record)
                .map_err(std::io::Error::from)
                .and_then(|()| out.write_all(b"\n"));
            if let Err(source) = written {
                let path = Some(name.clone());
                state.failure = Some(Error::Io { path, source });
            }
        }
    }

    /// Whether what the report has written can be taken back when the call starts again
    /// ([`Report::restart`]): no rejects file, or one written to a temporary file (a device or
    /// FIFO cannot be rewound).
    pub fn restartable(&self) -> bool {
        !matches!(self.state().rejects, Some((_, Sink::Direct(_))))
    }

    /// Forgets everything reported so far, for a call that starts again from its first item
    /// after a deadlock rolled it back: the rejects file is emptied (its records are written
    /// again by the new attempt), the progress bar starts over, and (unless `--quiet`) a
    /// line on standard error says so: per-item details printed above with `-v` belong to
    /// the rolled-back attempt.
    ///
    /// # Errors
    /// [`Error::Io`] naming the rejects file when it cannot be emptied.
    pub fn restart(&self, attempt: u32) -> Result<()> {
        let mut state = self.state();
        if let Some((name, sink)) = state.rejects.take() {
            let sink = sink.rewind().map_err(|source| Error::Io {
                path: Some(name.clone()),
                source,
            })?;
            state.rejects = Some((name, sink));
        }
        drop(state);
        if self.notices {
            let line = format!(
                "bulkinup: another writer held the same rows at the same time (deadlock): the call was rolled back; reading the input again (attempt {attempt} of {})",
                bulkinup::CALL_ATTEMPTS
            );
            match &self.progress {
                Some(bar) => bar.suspend(|| eprint_line(&line)),
                None => eprint_line(&line),
            }
        }
        if let Some(bar) = &self.progress {
            bar.reset();
            bar.set_message(progress_message(0, 0, false, self.dry_run));
        }
        Ok(())
    }

    fn input(&self) -> MutexGuard<'_, Option<Progress>> {
        self.input.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Follows the reading of the inputs: the bar's position is the bytes `progress` counts,
    /// of their total when it is known (every input a regular file: a bar with the
    /// percentage and the time left), or with no total (a spinner).
    pub fn reading(&self, progress: &Progress) {
        if let Some(bar) = &self.progress {
            let style = match progress.total_bytes() {
                Some(total) => {
                    bar.set_length(total);
                    BAR
                }
                None => {
                    bar.unset_length();
                    SPINNER
                }
            };
            if let Ok(style) = ProgressStyle::with_template(style) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_position(progress.bytes_read());
        }
        *self.input() = Some(progress.clone());
    }

    /// The `on_progress` handler: updates the progress bar (bytes read, items, rows).
    pub fn on_progress(&self, summary: &Summary) {
        if let Some(bar) = &self.progress {
            if let Some(input) = &*self.input() {
                bar.set_position(input.bytes_read());
            }
            let rows: u64 = summary.rows.values().sum();
            bar.set_message(progress_message(
                summary.read(),
                rows,
                summary.committed,
                self.dry_run,
            ));
        }
    }

    /// The `on_committed` handler (`--max-concurrency`): keeps what has committed so far.
    pub fn on_committed(&self, committed: &Committed) {
        self.state().committed.clone_from(&committed.so_far);
    }

    /// What the call has committed so far, as last reported by the library (`--max-concurrency`).
    pub fn committed(&self) -> Vec<InputRange> {
        self.state().committed.clone()
    }

    /// Takes the error of a failed write to the rejects file, if any (the run stops on it so
    /// that no invalid item is lost).
    pub fn take_failure(&self) -> Option<Error> {
        self.state().failure.take()
    }

    /// Removes the progress bar.
    pub fn clear_progress(&self) {
        if let Some(bar) = &self.progress {
            bar.finish_and_clear();
        }
    }

    /// Notes that the call has taken an item (or the error that ends the input) from the input.
    pub fn mark_read(&self) {
        self.read.store(true, Ordering::Relaxed);
    }

    /// Ends the rejects file after a failed call: as [`Report::finish`] if the call had
    /// started reading its input ([`Report::mark_read`]); otherwise the temporary file is
    /// dropped and an existing rejects file stays as it was.
    ///
    /// # Errors
    /// As [`Report::finish`].
    pub fn finish_failed(&self) -> Result<()> {
        match self.read.load(Ordering::Relaxed) {
            true => self.finish(),
            false => {
                self.state().rejects = None;
                Ok(())
            }
        }
    }

    /// Ends the rejects file: flushes it and moves it into place (the old file, if any, is
    /// replaced).
    ///
    /// # Errors
    /// The error of a failed write to the rejects file, or [`Error::Io`] naming it.
    pub fn finish(&self) -> Result<()> {
        let mut state = self.state();
        let failure = state.failure.take();
        let finished = match state.rejects.take() {
            Some((name, sink)) => sink.finish().map_err(|source| Error::Io {
                path: Some(name),
                source,
            }),
            None => Ok(()),
        };
        match failure {
            Some(e) => Err(e),
            None => finished,
        }
    }
}

/// Where the rejects records are written.
#[derive(Debug)]
enum Sink {
    /// A temporary file beside the target, moved over it at the end.
    Temp(BufWriter<NamedTempFile>, PathBuf),
    /// A device, terminal or FIFO, written as it is.
    Direct(BufWriter<File>),
}

impl Sink {
    fn create(target: &Target) -> std::io::Result<Sink> {
        match target {
            Target::Direct(path) => {
                let file = std::fs::OpenOptions::new().append(true).open(path)?;
                Ok(Sink::Direct(BufWriter::new(file)))
            }
            #[cfg(unix)]
            Target::Stderr => {
                use std::os::fd::AsFd;
                let fd = std::io::stderr().as_fd().try_clone_to_owned()?;
                Ok(Sink::Direct(BufWriter::new(File::from(fd))))
            }
            #[cfg(not(unix))]
            Target::Stderr => Err(std::io::Error::other(
                "standard error cannot be named on this system",
            )),
            Target::Replace(path) => {
                let dir = path.parent().unwrap_or(Path::new("."));
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
                let prefix = format!(".{}.", name.as_deref().unwrap_or("rejects"));
                let mut builder = tempfile::Builder::new();
                builder.prefix(&prefix).suffix(".tmp");
                #[cfg(unix)]
                {
                    // Like `File::create`: 0666 less the umask, not the temporary file's 0600.
                    use std::os::unix::fs::PermissionsExt;
                    builder.permissions(std::fs::Permissions::from_mode(0o666));
                }
                let temp = builder.tempfile_in(dir)?;
                // A file that is replaced keeps its permissions (best effort).
                if let Ok(meta) = std::fs::metadata(path) {
                    let _ = temp.as_file().set_permissions(meta.permissions());
                }
                Ok(Sink::Temp(BufWriter::new(temp), path.clone()))
            }
        }
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Temp(out, _) => out,
            Sink::Direct(out) => out,
        }
    }

    /// Empties a temporary file, dropping what is still buffered (a device or FIFO cannot be
    /// rewound: an error).
    fn rewind(self) -> std::io::Result<Sink> {
        match self {
            Sink::Temp(out, path) => {
                let (mut temp, _unwritten) = out.into_parts();
                temp.as_file().set_len(0)?;
                temp.seek(SeekFrom::Start(0))?;
                Ok(Sink::Temp(BufWriter::new(temp), path))
            }
            Sink::Direct(_) => Err(std::io::Error::other(
                "a device or FIFO cannot be rewound for a retry",
            )),
        }
    }

    /// Flushes, and moves a temporary file into place.
    fn finish(self) -> std::io::Result<()> {
        match self {
            Sink::Direct(mut out) => out.flush(),
            Sink::Temp(out, path) => {
                let temp = out.into_inner().map_err(|e| e.into_error())?;
                temp.as_file().sync_all()?;
                temp.persist(&path).map(drop).map_err(|e| e.error)
            }
        }
    }
}

/// The progress line when the inputs' total size is not known (standard input, a FIFO):
/// bytes read, their rate, then the message ([`progress_message`]).
const SPINNER: &str = "{spinner} {bytes} read ({bytes_per_sec}), {msg} [{elapsed}]";

/// The progress line when every input is a regular file: a bar of the bytes read of the
/// total (as wide as the terminal leaves room for), the percentage and the time left, then
/// the message ([`progress_message`]).
const BAR: &str = "{spinner} {percent:>3}% [{wide_bar}] {bytes}/{total_bytes}, ETA {eta}, {msg}";

/// The progress line's message: `N items, M rows sent` — the items read (written, skipped
/// and rejected), the rows `committed` once they are, `planned` in a dry run.
fn progress_message(items: u64, rows: u64, committed: bool, dry_run: bool) -> String {
    let state = match (dry_run, committed) {
        (true, _) => "planned",
        (false, true) => "committed",
        (false, false) => "sent",
    };
    format!(
        "{} items, {} rows {state}",
        HumanCount(items),
        HumanCount(rows)
    )
}

/// The progress line drawn to `target`: a spinner until the inputs are known
/// ([`Report::reading`]).
fn progress_bar(target: ProgressDrawTarget, dry_run: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, target);
    if let Ok(style) = ProgressStyle::with_template(SPINNER) {
        bar.set_style(style);
    }
    bar.set_message(progress_message(0, 0, false, dry_run));
    bar.enable_steady_tick(Duration::from_millis(150));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulkinup::{Changeset, Item, Registry};
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn the_created_tables_line_names_them_or_says_none() {
        assert_eq!(
            created_tables(&["authors".into(), "posts".into()]),
            "bulkinup: created 2 tables: authors, posts"
        );
        assert_eq!(
            created_tables(&["tags".into()]),
            "bulkinup: created 1 table: tags"
        );
        assert_eq!(
            created_tables(&[]),
            "bulkinup: created no table: every table existed"
        );
    }

    /// A skipped Tag (no name) with id `id`.
    fn skipped(registry: &Registry, id: i64) -> Skipped {
        let attrs = json!({ "id": id });
        Skipped {
            changeset: Changeset::cast(registry, "Tag", "changeset", &attrs).expect("cast"),
            item: Item::from(attrs),
        }
    }

    fn registry() -> Registry {
        Registry::from_toml_str(
            r#"
            [schemas.Tag]
            source = "tags"
            fields = { id = "integer", name = "string" }
            changesets.changeset = { cast = ["id", "name"], required = ["id", "name"] }
            "#,
            "inline",
        )
        .expect("schema")
        .registry
    }

    #[test]
    fn a_restarted_report_writes_each_reject_once() {
        let registry = registry();
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("rejects.ndjson");
        let rejects = Rejects {
            given: "rejects.ndjson".into(),
            target: Target::Replace(path.clone()),
        };
        let report = Report::new(Some(&rejects), false, false, false).expect("report");
        assert!(report.restartable());
        // The first attempt reports two items, then is rolled back; the second reports them
        // again and one more.
        report.on_skipped(&[skipped(&registry, 1), skipped(&registry, 2)]);
        report.restart(2).expect("restart");
        report.on_skipped(&[skipped(&registry, 1)]);
        report.on_skipped(&[skipped(&registry, 2), skipped(&registry, 3)]);
        report.finish().expect("finish");
        let text = std::fs::read_to_string(&path).expect("rejects file");
        let ids: Vec<J> = text
            .lines()
            .map(|l| serde_json::from_str::<J>(l).expect("a JSON line")["item"]["id"].clone())
            .collect();
        assert_eq!(ids, [json!(1), json!(2), json!(3)]);
    }

    fn lines(file: &str, first: u64, last: u64) -> InputRange {
        InputRange {
            file: Some(file.into()),
            numbering: Numbering::Lines,
            first,
            last,
        }
    }

    #[test]
    fn the_failure_line_of_one_input_is_pairs_of_lines() {
        let committed = [
            lines("feed.ndjson", 1, 1000),
            lines("feed.ndjson", 3001, 4000),
        ];
        let line = FailureLine {
            error: "boom".into(),
            committed: &committed,
            several_inputs: false,
        };
        assert_eq!(
            line.to_text().expect("JSON"),
            r#"{"error":"boom","committed":[[1,1000],[3001,4000]]}"#
        );
    }

    #[test]
    fn the_failure_line_of_several_inputs_names_each_file() {
        let committed = [
            lines("a.ndjson", 1, 3),
            lines("a.ndjson", 7, 9),
            InputRange {
                file: Some("b.json".into()),
                numbering: Numbering::Elements,
                first: 1,
                last: 1,
            },
        ];
        let line = FailureLine {
            error: "boom".into(),
            committed: &committed,
            several_inputs: true,
        };
        assert_eq!(
            line.to_text().expect("JSON"),
            r#"{"error":"boom","committed":[{"file":"a.ndjson","lines":[[1,3],[7,9]]},{"file":"b.json","elements":[[1,1]]}]}"#
        );
        let none = FailureLine {
            error: "boom".into(),
            committed: &[],
            several_inputs: true,
        };
        assert_eq!(
            none.to_text().expect("JSON"),
            r#"{"error":"boom","committed":[]}"#
        );
    }

    #[test]
    fn a_partial_failure_says_what_committed_instead_of_the_note() {
        let error = Error::GeneratedKeyMissing {
            table: "posts".into(),
        };
        let failure = Failure::partly(error, vec![lines("-", 1, 2)]).on("sqlite://x.db");
        assert_eq!(
            failure.to_string(),
            "table `posts`: a key generated by the database could not be matched to its row (a returned row matched no row written, or a row's key did not come back); the transaction was rolled back\n\
             database: sqlite://x.db\n\
             committed: lines 1-2 of standard input; the rest was rolled back or not read"
        );
        let failure = Failure::partly(
            Error::GeneratedKeyMissing {
                table: "posts".into(),
            },
            Vec::new(),
        );
        assert!(failure.to_string().ends_with("\nnothing was committed"));
    }

    #[test]
    fn a_report_into_a_device_cannot_restart() {
        let rejects = Rejects {
            given: "/dev/null".into(),
            target: Target::Direct(PathBuf::from("/dev/null")),
        };
        let report = Report::new(Some(&rejects), false, false, false).expect("report");
        assert!(!report.restartable());
        assert!(
            Report::new(None, false, false, false)
                .expect("report")
                .restartable()
        );
    }

    /// A terminal that keeps what is drawn on it.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<Vec<String>>>);

    impl Screen {
        /// The last line drawn, without the blank space that pads it.
        fn last(&self) -> String {
            let drawn = self.0.lock().expect("screen");
            drawn
                .iter()
                .rev()
                .map(|l| l.trim_end())
                .find(|l| !l.is_empty())
                .unwrap_or_default()
                .to_string()
        }
    }

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            120
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().expect("screen").push(s.to_string());
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A report whose progress bar draws on the returned screen.
    fn on_screen(dry_run: bool) -> (Report, Screen) {
        let screen = Screen::default();
        let mut report = Report::new(None, false, true, dry_run).expect("report");
        let target = ProgressDrawTarget::term_like(Box::new(screen.clone()));
        report.progress = Some(progress_bar(target, dry_run));
        (report, screen)
    }

    /// The progress of a 43-byte file read to its end.
    fn file_read() -> Progress {
        use futures::StreamExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("in.ndjson");
        std::fs::write(
            &path,
            "{\"id\": 1, \"name\": \"a\"}\n{\"id\": 2}\n{\"id\": 3}\n",
        )
        .expect("write");
        let sources = vec![bulkinup::input::Source::File(path)];
        let (items, progress) =
            bulkinup::input::stream_with_progress(sources, 1024).expect("stream");
        let items: Vec<_> = futures::executor::block_on(items.collect());
        assert_eq!(items.len(), 3);
        progress
    }

    /// A summary of `items` items and `rows` author rows.
    fn summary(items: u64, rows: u64, committed: bool) -> Summary {
        let mut s = Summary::new(bulkinup::Verb::Upsert);
        s.written = items;
        s.rows.insert("authors".into(), rows);
        s.committed = committed;
        s
    }

    /// Draws the bar now and returns its line.
    fn drawn(report: &Report, screen: &Screen) -> String {
        report.progress.as_ref().expect("a bar").force_draw();
        screen.last()
    }

    #[test]
    fn a_regular_file_input_draws_the_bytes_of_the_total_the_percentage_and_rows_sent() {
        let (report, screen) = on_screen(false);
        let progress = file_read();
        assert_eq!(progress.total_bytes(), Some(43));
        report.reading(&progress);
        report.on_progress(&summary(3, 5, false));
        let line = drawn(&report, &screen);
        assert!(line.contains("100% ["), "{line:?}");
        assert!(line.contains("] 43 B/43 B, ETA "), "{line:?}");
        assert!(line.ends_with(", 3 items, 5 rows sent"), "{line:?}");
    }

    #[test]
    fn rows_committed_are_said_committed() {
        let (report, screen) = on_screen(false);
        report.reading(&file_read());
        report.on_progress(&summary(3, 1_500, true));
        let line = drawn(&report, &screen);
        assert!(
            line.ends_with(", 3 items, 1,500 rows committed"),
            "{line:?}"
        );
    }

    #[test]
    fn an_input_of_unknown_size_draws_a_spinner_with_the_bytes_read() {
        let (report, screen) = on_screen(false);
        report.reading(&Progress::new(None));
        report.on_progress(&summary(2, 2, false));
        let line = drawn(&report, &screen);
        assert!(line.contains(" 0 B read ("), "{line:?}");
        assert!(line.contains("), 2 items, 2 rows sent ["), "{line:?}");
        assert!(!line.contains('%'), "{line:?}");
    }

    #[test]
    fn a_dry_run_draws_rows_planned() {
        let (report, screen) = on_screen(true);
        report.reading(&file_read());
        report.on_progress(&summary(3, 3, false));
        let line = drawn(&report, &screen);
        assert!(line.ends_with(", 3 items, 3 rows planned"), "{line:?}");
    }

    #[test]
    fn a_restart_starts_the_bar_over() {
        let (report, screen) = on_screen(false);
        report.reading(&file_read());
        report.on_progress(&summary(3, 3, false));
        report.restart(2).expect("restart");
        report.reading(&Progress::new(Some(43)));
        let line = drawn(&report, &screen);
        assert!(line.contains("  0% ["), "{line:?}");
        assert!(line.contains("] 0 B/43 B, ETA "), "{line:?}");
        assert!(line.ends_with(", 0 items, 0 rows sent"), "{line:?}");
    }
}
