//! Results of a run: one line per method with rows, seconds, rows/s and the ratio to the
//! ceiling (method d), plus the dry-run figure; as a table or as one JSON object.

use std::collections::BTreeMap;

use serde_json::{Value as J, json};

/// The timing of one method.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// The method's letter (`a` … `f`).
    pub id: &'static str,
    /// What it is.
    pub label: String,
    /// Rows written.
    pub rows: u64,
    /// Wall-clock seconds of the timed part.
    pub seconds: f64,
    /// How it was run (prefix, rows per statement, …).
    pub note: Option<String>,
}

impl Measurement {
    /// Rows per second.
    pub fn rows_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.rows as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// The CPU cost of bulkinup's cast + validate + plan without a database.
#[derive(Debug, Clone)]
pub struct DryRun {
    /// Items processed.
    pub items: u64,
    /// Rows those items plan (what a write would send).
    pub rows: u64,
    /// Process CPU seconds of the dry-run call, parsing included.
    pub cpu_seconds: f64,
    /// Wall seconds of the dry-run call, parsing included.
    pub wall_seconds: f64,
    /// Process CPU seconds of only parsing the same text (part of `cpu_seconds`).
    pub parse_cpu_seconds: f64,
    /// What was measured.
    pub note: String,
}

impl DryRun {
    /// CPU seconds of the whole dry run (never zero, for dividing).
    pub fn total_cpu_seconds(&self) -> f64 {
        self.cpu_seconds.max(1e-9)
    }
}

/// Everything a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// The database and its version.
    pub database: String,
    /// The URL, without credentials.
    pub url: String,
    /// Top-level items of the workload.
    pub authors: u64,
    /// Rows the full workload writes.
    pub expected_rows: u64,
    /// bulkinup's chunk_size.
    pub chunk_size: usize,
    /// bulkinup's `any_unique_key` (no MySQL/MariaDB unique-key guard).
    pub any_unique_key: bool,
    /// bulkinup's `on_error`.
    pub on_error: bulkinup::OnError,
    /// Cores the process can use.
    pub cores: usize,
    /// The methods run, in order.
    pub methods: Vec<Measurement>,
    /// The dry-run figure, when run.
    pub dry_run: Option<DryRun>,
}

impl Report {
    fn ceiling(&self) -> Option<f64> {
        self.methods
            .iter()
            .find(|m| m.id == "d")
            .map(Measurement::rows_per_second)
    }

    fn ratio(&self, m: &Measurement) -> Option<f64> {
        self.ceiling()
            .filter(|c| *c > 0.0)
            .map(|c| m.rows_per_second() / c)
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> J {
        let methods: Vec<J> = self
            .methods
            .iter()
            .map(|m| {
                json!({
                    "method": m.id,
                    "label": m.label,
                    "rows": m.rows,
                    "seconds": round(m.seconds, 3),
                    "rows_per_second": m.rows_per_second().round(),
                    "ratio_to_ceiling": self.ratio(m).map(|r| round(r, 3)),
                    "note": m.note,
                })
            })
            .collect();
        let dry = self.dry_run.as_ref().map(|d| {
            let cpu = d.total_cpu_seconds();
            json!({
                "items": d.items,
                "rows": d.rows,
                "cpu_seconds": round(d.cpu_seconds, 3),
                "wall_seconds": round(d.wall_seconds, 3),
                "parse_cpu_seconds": round(d.parse_cpu_seconds, 3),
                "items_per_cpu_second": (d.items as f64 / cpu).round(),
                "rows_per_cpu_second": (d.rows as f64 / cpu).round(),
                "note": d.note,
            })
        });
        json!({
            "database": self.database,
            "url": self.url,
            "authors": self.authors,
            "expected_rows": self.expected_rows,
            "chunk_size": self.chunk_size,
            "any_unique_key": self.any_unique_key,
            "on_error": self.on_error.to_string(),
            "cores": self.cores,
            "methods": methods,
            "dry_run": dry,
        })
    }

    /// The report as a table for a terminal.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "bulkinup-bench — {} at {}\n{} authors ({} rows over 6 tables), chunk_size {}{}, {} cores\n\n",
            self.database,
            self.url,
            group(self.authors),
            group(self.expected_rows),
            self.chunk_size,
            match (self.any_unique_key, self.on_error) {
                (true, bulkinup::OnError::Reject) => ", any_unique_key, on_error reject",
                (true, _) => ", any_unique_key",
                (false, bulkinup::OnError::Reject) => ", on_error reject",
                (false, _) => "",
            },
            self.cores
        );
        out.push_str(&format!(
            "{:<2} {:<46} {:>9} {:>9} {:>10} {:>9}\n",
            "", "method", "rows", "seconds", "rows/s", "× ceiling"
        ));
        for m in &self.methods {
            let ratio = self
                .ratio(m)
                .map_or_else(|| "—".to_string(), |r| format!("{r:.2}"));
            out.push_str(&format!(
                "{:<2} {:<46} {:>9} {:>9.3} {:>10} {:>9}\n",
                m.id,
                m.label,
                group(m.rows),
                m.seconds,
                group(m.rows_per_second().round() as u64),
                ratio
            ));
        }
        let notes: Vec<&Measurement> = self.methods.iter().filter(|m| m.note.is_some()).collect();
        if !notes.is_empty() {
            out.push('\n');
            for m in notes {
                out.push_str(&format!("{}: {}\n", m.id, m.note.as_deref().unwrap_or("")));
            }
        }
        if let Some(d) = &self.dry_run {
            let cpu = d.total_cpu_seconds();
            out.push_str(&format!(
                "\ndry run (no database): {} items, {} rows planned: {:.3} s CPU ({:.3} s wall), \
                 parsing the same text alone takes {:.3} s CPU\n  parse + cast + validate + plan: {} items/s, {} rows/s per CPU second — {}\n",
                group(d.items),
                group(d.rows),
                d.cpu_seconds,
                d.wall_seconds,
                d.parse_cpu_seconds,
                group((d.items as f64 / cpu).round() as u64),
                group((d.rows as f64 / cpu).round() as u64),
                d.note
            ));
        }
        out
    }
}

/// A timed step of `--loaders`, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// The database's own loader on the CSV files.
    Ceiling,
    /// `bulkinup insert` into empty tables.
    Insert,
    /// `bulkinup upsert` into empty tables.
    UpsertEmpty,
    /// `bulkinup upsert` of the same input again, over the rows it wrote.
    UpsertExisting,
}

impl Step {
    /// The step's name in the report.
    pub fn label(self) -> &'static str {
        match self {
            Step::Ceiling => "ceiling (the database's own loader)",
            Step::Insert => "bulkinup insert, empty tables",
            Step::UpsertEmpty => "bulkinup upsert, empty tables",
            Step::UpsertExisting => "bulkinup upsert over the same rows",
        }
    }
}

/// What `--loaders` measured: wall seconds of each process, per step and run.
#[derive(Debug, Clone)]
pub struct LoaderReport {
    /// The database and its version.
    pub database: String,
    /// The URL, without credentials.
    pub url: String,
    /// The versions of the ceiling's tool and of bulkinup, as they print them.
    pub tools: String,
    /// Top-level items of the workload.
    pub authors: u64,
    /// Rows the workload writes.
    pub rows: u64,
    /// Each step's command line as run the first time (scratch names differ per run).
    pub commands: BTreeMap<String, String>,
    /// Seconds per run, per step.
    pub steps: BTreeMap<Step, Vec<f64>>,
    /// Seconds per run of `bulkinup upsert --max-concurrency N` into empty tables.
    pub concurrency: Vec<(u32, Vec<f64>)>,
}

/// The median of `xs` (the mean of the middle two for an even count); `None` when empty.
pub fn median(xs: &[f64]) -> Option<f64> {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// The ceiling's time ÷ bulkinup's time, as `0.81`: above 1 means bulkinup is faster; `—`
/// without both times.
pub fn ratio_text(ceiling_seconds: Option<f64>, bulkinup_seconds: Option<f64>) -> String {
    match (ceiling_seconds, bulkinup_seconds) {
        (Some(c), Some(b)) if b > 0.0 => format!("{:.2}", c / b),
        _ => "—".to_string(),
    }
}

/// `rows` over `seconds` as grouped rows/s; `—` for no time.
fn rate_text(rows: u64, seconds: Option<f64>) -> String {
    match seconds {
        Some(s) if s > 0.0 => group((rows as f64 / s).round() as u64),
        _ => "—".to_string(),
    }
}

impl LoaderReport {
    fn median_of(&self, step: Step) -> Option<f64> {
        self.steps.get(&step).and_then(|xs| median(xs))
    }

    /// The report as Markdown tables for a terminal (and for BENCHMARKS.md).
    pub fn to_text(&self) -> String {
        let runs = self.steps.values().map(Vec::len).max().unwrap_or(0);
        let mut out = format!(
            "bulkinup-bench --loaders — {} at {}\n{}\n{} authors ({} rows over 6 tables), {runs} run(s); \
             each step is one process into fresh tables, wall time\n\ncommands (as run the first \
             time; scratch names differ per run; `upsert` is run twice on the same tables):\n",
            self.database,
            self.url,
            self.tools,
            group(self.authors),
            group(self.rows),
        );
        for (step, cmd) in &self.commands {
            out.push_str(&format!("  {step}: {cmd}\n"));
        }
        let runs_header: String = (1..=runs).map(|r| format!(" run {r} s |")).collect();
        let runs_rule: String = (1..=runs).map(|_| "---:|").collect();
        out.push_str(&format!(
            "\n| step |{runs_header} median s | rows/s (median) |\n|---|{runs_rule}---:|---:|\n"
        ));
        for (step, xs) in &self.steps {
            let cells: String = xs.iter().map(|x| format!(" {x:.3} |")).collect();
            let m = median(xs);
            out.push_str(&format!(
                "| {} |{cells} {} | {} |\n",
                step.label(),
                m.map_or_else(|| "—".to_string(), |m| format!("{m:.3}")),
                rate_text(self.rows, m)
            ));
        }
        let ceiling = self.median_of(Step::Ceiling);
        out.push_str(
            "\nratio = the ceiling's time ÷ bulkinup's time (medians; above 1: bulkinup is faster)\n\n\
             | database | ceiling | insert | upsert empty | upsert existing |\n|---|---:|---:|---:|---:|\n",
        );
        out.push_str(&format!(
            "| {} | {} rows/s | {} | {} | {} |\n",
            self.database,
            rate_text(self.rows, ceiling),
            ratio_text(ceiling, self.median_of(Step::Insert)),
            ratio_text(ceiling, self.median_of(Step::UpsertEmpty)),
            ratio_text(ceiling, self.median_of(Step::UpsertExisting)),
        ));
        out
    }

    /// The `--max-concurrency` series as a table (empty without one).
    pub fn concurrency_text(&self) -> String {
        let mut out = String::new();
        if self.concurrency.is_empty() {
            return out;
        }
        let runs = self
            .concurrency
            .iter()
            .map(|(_, xs)| xs.len())
            .max()
            .unwrap_or(0);
        let runs_header: String = (1..=runs).map(|r| format!(" run {r} s |")).collect();
        let runs_rule: String = (1..=runs).map(|_| "---:|").collect();
        let ceiling = self.median_of(Step::Ceiling);
        out.push_str(&format!(
            "\nbulkinup upsert into empty tables with --max-concurrency N\n\n| N |{runs_header} median s | rows/s (median) | × ceiling |\n|---:|{runs_rule}---:|---:|---:|\n"
        ));
        for (n, xs) in &self.concurrency {
            let cells: String = xs.iter().map(|x| format!(" {x:.3} |")).collect();
            let m = median(xs);
            out.push_str(&format!(
                "| {n} |{cells} {} | {} | {} |\n",
                m.map_or_else(|| "—".to_string(), |m| format!("{m:.3}")),
                rate_text(self.rows, m),
                ratio_text(ceiling, m)
            ));
        }
        out
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// `1234567` → `1,234,567`.
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(841_000), "841,000");
        assert_eq!(group(1_234_567), "1,234,567");
    }

    #[test]
    fn medians_of_odd_even_and_no_runs() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn loader_ratio_is_the_ceilings_time_over_bulkinups() {
        assert_eq!(ratio_text(Some(5.0), Some(4.0)), "1.25");
        assert_eq!(ratio_text(Some(3.0), Some(4.0)), "0.75");
        assert_eq!(ratio_text(None, Some(4.0)), "—");
        assert_eq!(ratio_text(Some(3.0), Some(0.0)), "—");
    }

    #[test]
    fn loader_report_prints_every_run_medians_and_ratios() {
        let r = LoaderReport {
            database: "PostgreSQL 15".into(),
            url: "postgres://h/db".into(),
            tools: "psql 15".into(),
            authors: 2,
            rows: 100,
            commands: BTreeMap::from([("ceiling".to_string(), "psql -1".to_string())]),
            steps: BTreeMap::from([
                (Step::Ceiling, vec![1.0, 2.0, 3.0]),
                (Step::Insert, vec![4.0, 2.5, 4.0]),
                (Step::UpsertEmpty, vec![2.0, 2.0, 2.0]),
                (Step::UpsertExisting, vec![1.0, 1.0, 1.0]),
            ]),
            concurrency: vec![(2, vec![1.0, 1.0, 1.0])],
        };
        let text = r.to_text() + &r.concurrency_text();
        assert!(
            text.contains(
                "| ceiling (the database's own loader) | 1.000 | 2.000 | 3.000 | 2.000 | 50 |"
            ),
            "{text}"
        );
        assert!(
            text.contains("| PostgreSQL 15 | 50 rows/s | 0.50 | 1.00 | 2.00 |"),
            "{text}"
        );
        assert!(
            text.contains("| 2 | 1.000 | 1.000 | 1.000 | 1.000 | 100 | 2.00 |"),
            "{text}"
        );
        assert!(text.contains("  ceiling: psql -1"), "{text}");
    }

    #[test]
    fn ratio_is_to_method_d() {
        let m = |id, rows, seconds| Measurement {
            id,
            label: String::new(),
            rows,
            seconds,
            note: None,
        };
        let r = Report {
            database: String::new(),
            url: String::new(),
            authors: 1,
            expected_rows: 1,
            chunk_size: 1,
            any_unique_key: false,
            on_error: bulkinup::OnError::Rollback,
            cores: 1,
            methods: vec![m("a", 100, 2.0), m("d", 100, 1.0)],
            dry_run: None,
        };
        assert_eq!(r.to_json()["methods"][0]["ratio_to_ceiling"], json!(0.5));
        assert_eq!(r.to_json()["methods"][1]["ratio_to_ceiling"], json!(1.0));
    }
}
