//! Results of a run: one line per method with rows, seconds, rows/s and the ratio to the
//! ceiling (method d), plus the dry-run figure; as a table or as one JSON object.

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
