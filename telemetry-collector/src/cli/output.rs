//! Tables for a terminal (and JSON lines with `--json`).

use std::io::Write as _;

use serde_json::Value;

/// A line on stdout; a closed stdout (`| head`) ends the command quietly, as
/// Unix tools do, instead of panicking like `println!`.
pub fn write_line(line: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").is_err() {
        std::process::exit(0);
    }
}

use super::read::cell;

/// Pads each column to its widest cell (cells are at most 80 characters, and
/// hold no control characters: see [`cell`]).
fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        outln!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.clone());
    }
}

/// Text cut to `max` characters, with an ellipsis.
fn cut(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Events as a table (printed at the end, to size the columns) or JSON lines (at once).
pub struct EventTable {
    json: bool,
    rows: Vec<Vec<String>>,
}

impl EventTable {
    pub fn new(json: bool) -> Self {
        EventTable { json, rows: Vec::new() }
    }

    pub fn row(&mut self, event: &Value) {
        if self.json {
            outln!("{event}");
            return;
        }
        self.rows.push(vec![
            cell(&event["timestamp"]),
            format!("{} v{}", cell(&event["event_type"]), cell(&event["schema_version"])),
            cell(&event["source"]["service"]),
            cell(&event["uid"]),
            cell(&event["sid"]),
            cut(event["event_data"].to_string(), 80),
        ]);
    }

    /// Prints rows so far (what `tail` does after each event).
    pub fn flush(&mut self) {
        if !self.json {
            for row in self.rows.drain(..) {
                outln!("{}", row.join("  "));
            }
        }
        let _ = std::io::stdout().flush();
    }

    pub fn finish(self) {
        if !self.json {
            print_table(
                &["timestamp", "kind", "service", "uid", "sid", "event_data"],
                &self.rows,
            );
        }
    }
}

fn print_counts(title: &str, counts: &Value) {
    let rows: Vec<Vec<String>> = counts
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| vec![cell(&c["key"]), cell(&c["count"])])
        .collect();
    if !rows.is_empty() {
        outln!("");
        print_table(&[title, "count"], &rows);
    }
}

pub fn print_stats(stats: &Value) {
    let stored = &stats["stored"];
    let collector = &stats["collector"];
    outln!(
        "{} events stored over {} sessions; {} rejected kept",
        cell(&stored["events"]),
        cell(&stored["sessions"]),
        cell(&stored["rejected"])
    );
    outln!(
        "this process: {} requests, {} accepted, {} duplicates, {} rejected, {} busy (503)",
        cell(&collector["requests"]),
        cell(&collector["accepted"]),
        cell(&collector["duplicates"]),
        cell(&collector["rejected"]),
        cell(&collector["busy"])
    );
    print_counts("kind", &stored["by_kind"]);
    print_counts("service", &stored["by_service"]);
    print_counts("outcome", &stored["by_outcome"]);
    let rows: Vec<Vec<String>> = stored["durations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            vec![
                format!("{}::{}", cell(&d["module"]), cell(&d["function"])),
                cell(&d["calls"]),
                cell(&d["p50_us"]),
                cell(&d["p95_us"]),
                cell(&d["p99_us"]),
            ]
        })
        .collect();
    if !rows.is_empty() {
        outln!("");
        print_table(&["function", "calls", "p50 us", "p95 us", "p99 us"], &rows);
    }
    print_counts("rejected because", &stored["rejected_by_reason"]);
    if stored["conflicts"].as_u64().unwrap_or(0) > 0 {
        outln!(
            "\n{} schema conflicts: a kind changed without a version bump (`catalog show` lists them)",
            cell(&stored["conflicts"])
        );
    }
}

pub fn print_rejected(rows: &[Value]) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let reasons: Vec<String> = r["reasons"].as_array().into_iter().flatten().map(cell).collect();
            vec![
                cell(&r["received_at"]),
                cell(&r["event_type"]),
                cell(&r["service"]),
                cut(reasons.join("; "), 100),
            ]
        })
        .collect();
    print_table(&["received_at", "kind", "service", "reasons"], &rows);
}

pub fn print_plan(plan: &Value) {
    let rows: Vec<Vec<String>> = plan["kinds"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|k| {
            let fields: Vec<String> = k["entry"]["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| {
                    let redacted = if f["redacted"] == true { " (redacted)" } else { "" };
                    format!("{}: {}{redacted}", cell(&f["name"]), cell(&f["type"]))
                })
                .collect();
            let by: Vec<String> = k["declared_by"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| cell(&d["service"]))
                .collect();
            vec![
                format!("{} v{}", cell(&k["event_type"]), cell(&k["schema_version"])),
                cut(fields.join(", "), 70),
                by.join(", "),
            ]
        })
        .collect();
    print_table(&["kind", "fields", "declared by"], &rows);
    for c in plan["conflicts"].as_array().into_iter().flatten() {
        outln!(
            "\nCONFLICT {} v{}: {} differs from {}:",
            cell(&c["event_type"]),
            cell(&c["schema_version"]),
            cell(&c["declared_by"]),
            cell(&c["differs_from"])
        );
        for change in c["changes"].as_array().into_iter().flatten() {
            outln!("  {}", cell(change));
        }
    }
}
