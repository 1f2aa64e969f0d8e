//! Writing rows as a table, JSON, JSON lines or CSV.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for reading.
    Table,
    /// One JSON array.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// RFC 4180 CSV with a header.
    Csv,
}

/// A row that can be printed in every format.
pub trait Row: Serialize {
    /// Column names, in order (also the CSV header).
    fn columns() -> &'static [&'static str];
    /// Cells for CSV (full values).
    fn cells(&self) -> Vec<String>;
    /// Cells for the table (may be shortened); defaults to `cells`.
    fn table_cells(&self) -> Vec<String> {
        self.cells()
    }
    /// Which columns the table shows (indexes into `columns`); default all.
    fn table_columns() -> &'static [usize] {
        &[]
    }
}

pub fn write_rows<R: Row>(out: &mut dyn Write, format: Format, rows: &[R]) -> Result<()> {
    match format {
        Format::Jsonl => {
            for r in rows {
                serde_json::to_writer(&mut *out, r)?;
                out.write_all(b"\n")?;
            }
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, rows)?;
            out.write_all(b"\n")?;
        }
        Format::Csv => {
            writeln!(out, "{}", R::columns().join(","))?;
            for r in rows {
                let cells: Vec<String> = r.cells().iter().map(|c| csv_cell(c)).collect();
                writeln!(out, "{}", cells.join(","))?;
            }
        }
        Format::Table => write_table(out, rows)?,
    }
    out.flush()?;
    Ok(())
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Longest cell shown in a table column.
const MAX_CELL: usize = 60;

fn write_table<R: Row>(out: &mut dyn Write, rows: &[R]) -> Result<()> {
    let all = R::columns();
    let picked: Vec<usize> = if R::table_columns().is_empty() {
        (0..all.len()).collect()
    } else {
        R::table_columns().to_vec()
    };
    let header: Vec<String> = picked.iter().map(|&i| all[i].to_string()).collect();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let cells = r.table_cells();
            picked
                .iter()
                .map(|&i| shorten(cells.get(i).map(String::as_str).unwrap_or("")))
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &body {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(w - c.chars().count() + 2));
            }
        }
        s
    };
    writeln!(out, "{}", line(&header))?;
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    writeln!(out, "{}", line(&rule))?;
    for row in &body {
        writeln!(out, "{}", line(row))?;
    }
    Ok(())
}

fn shorten(s: &str) -> String {
    let s = s.replace(['\n', '\r', '\t'], " ");
    if s.chars().count() <= MAX_CELL {
        return s;
    }
    let mut t: String = s.chars().take(MAX_CELL - 1).collect();
    t.push('…');
    t
}

/// Opens `--output FILE` or stdout.
pub fn open_output(path: Option<&std::path::Path>) -> Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    })
}

impl Row for sv_sigma::hunt::HuntRow {
    fn columns() -> &'static [&'static str] {
        &[
            "rule_id",
            "rule_title",
            "rule_path",
            "rule_level",
            "evtx_file",
            "event_record_id",
            "channel",
            "event_id",
            "computer",
            "timestamp",
        ]
    }
    fn cells(&self) -> Vec<String> {
        vec![
            self.rule_id.clone(),
            self.rule_title.clone(),
            self.rule_path.clone(),
            self.rule_level.clone(),
            self.evtx_file.clone(),
            self.event_record_id.to_string(),
            self.channel.clone(),
            self.event_id.map(|e| e.to_string()).unwrap_or_default(),
            self.computer.clone(),
            self.timestamp.clone(),
        ]
    }
    fn table_columns() -> &'static [usize] {
        // timestamp, level, title, event id, computer, file, record
        &[9, 3, 1, 7, 8, 4, 5]
    }
}

impl Row for sv_sigma::hunt::diff::DiffRow {
    fn columns() -> &'static [&'static str] {
        &[
            "rule_id",
            "rule_title",
            "rule_path",
            "rule_level",
            "evtx_file",
            "event_record_id",
            "channel",
            "event_id",
            "computer",
            "timestamp",
            "only_in",
            "reason",
            "detail",
        ]
    }
    fn cells(&self) -> Vec<String> {
        let mut c = self.row.cells();
        c.push(self.only_in.to_string());
        c.push(self.reason.as_str().to_string());
        c.push(self.detail.clone().unwrap_or_default());
        c
    }
    fn table_columns() -> &'static [usize] {
        // title, only in, reason, file, record, event id
        &[1, 10, 11, 4, 5, 7]
    }
}
