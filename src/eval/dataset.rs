//! Dataset files whose rows become eval cases: CSV (a header row, then one case per line),
//! JSONL (one JSON object per line) and YAML (a list of mappings). Every row remembers its line,
//! so a malformed row and a failing case can both be pointed at as `file:line`.
//!
//! CSV cells are strings; the runner converts them to a prompt's declared variable types.

use std::path::Path;

use crate::yaml::{self, Location, Positions, YamlError};

/// One row: its 1-based line in the file and its values by column.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Where the row starts in the file.
    pub line: usize,
    /// Column values.
    pub values: serde_json::Map<String, serde_json::Value>,
}

/// A dataset read from disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Every column name seen, in first-seen order.
    pub columns: Vec<String>,
    /// The rows, in file order.
    pub rows: Vec<Row>,
}

/// The file formats a dataset can have, chosen by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetFormat {
    /// `.csv`
    Csv,
    /// `.jsonl` or `.ndjson`
    Jsonl,
    /// `.yaml`, `.yml` or `.json` (a list of objects)
    Yaml,
}

impl DatasetFormat {
    /// The format of `path`, from its extension.
    pub fn of(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(Self::Csv),
            "jsonl" | "ndjson" => Some(Self::Jsonl),
            "yaml" | "yml" | "json" => Some(Self::Yaml),
            _ => None,
        }
    }
}

/// Reads the dataset at `path`; messages name it as `shown`.
pub fn read(path: &Path, shown: &Path) -> Result<Dataset, YamlError> {
    let Some(format) = DatasetFormat::of(path) else {
        return Err(YamlError::at(shown, None, "unknown dataset format")
            .with_hint("datasets are `.csv`, `.jsonl` or `.yaml` files"));
    };
    let text = std::fs::read_to_string(path).map_err(|err| {
        let error = YamlError::at(shown, None, format!("cannot read the dataset: {err}"));
        if err.kind() == std::io::ErrorKind::NotFound { with_siblings(error, path) } else { error }
    })?;
    let dataset = match format {
        DatasetFormat::Csv => csv_rows(&text, shown)?,
        DatasetFormat::Jsonl => jsonl_rows(&text, shown)?,
        DatasetFormat::Yaml => yaml_rows(&text, shown)?,
    };
    Ok(dataset)
}

/// Adds a "did you mean" hint naming close files in the same directory.
fn with_siblings(error: YamlError, path: &Path) -> YamlError {
    let wanted = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = path.parent().unwrap_or(Path::new("."));
    let names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    match crate::error::did_you_mean(&wanted, names.iter().map(String::as_str)) {
        Some(hint) => error.with_hint(hint),
        None => error.with_hint("dataset paths are relative to the suite file"),
    }
}

fn csv_rows(text: &str, shown: &Path) -> Result<Dataset, YamlError> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(text.as_bytes());
    let bad = |err: &csv::Error| {
        let line = err.position().map(|p| p.line() as usize);
        let message = match err.kind() {
            csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                format!("malformed CSV row: {len} field(s) where the header has {expected_len}")
            }
            _ => format!("malformed CSV: {err}"),
        };
        YamlError::at(shown, line.map(|line| Location { line, column: 1 }), message)
            .with_hint("quote fields that contain commas, quotes or line breaks with \"…\"")
    };
    let headers: Vec<String> = reader.headers().map_err(|e| bad(&e))?.iter().map(|h| h.trim().to_owned()).collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| bad(&e))?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let values = headers
            .iter()
            .zip(record.iter())
            .map(|(h, v)| (h.clone(), serde_json::Value::String(v.to_owned())))
            .collect();
        rows.push(Row { line, values });
    }
    Ok(Dataset { columns: headers, rows })
}

fn jsonl_rows(text: &str, shown: &Path) -> Result<Dataset, YamlError> {
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |column| Some(Location { line: index + 1, column });
        let value: serde_json::Value = serde_json::from_str(line).map_err(|err| {
            YamlError::at(shown, at(err.column()), format!("malformed JSON line: {err}"))
                .with_hint("every line of a JSONL file is one JSON object, such as {\"ticket\": \"…\"}")
        })?;
        let serde_json::Value::Object(values) = value else {
            return Err(YamlError::at(shown, at(1), "a JSONL line must be an object of variables"));
        };
        rows.push(Row { line: index + 1, values });
    }
    Ok(with_columns(rows))
}

fn yaml_rows(text: &str, shown: &Path) -> Result<Dataset, YamlError> {
    let value = yaml::value_from_str(shown, text)?;
    let serde_json::Value::Array(items) = value else {
        return Err(YamlError::at(shown, None, "a YAML dataset must be a list of mappings")
            .with_hint("e.g. `- { ticket: \"…\", expected: billing }`"));
    };
    let positions = Positions::new(text);
    let mut rows = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let line = positions.locate(&[&index.to_string()]).map_or(0, |l| l.line);
        let serde_json::Value::Object(values) = item else {
            return Err(YamlError::at(shown, Some(Location { line, column: 1 }), "a dataset row must be a mapping"));
        };
        rows.push(Row { line, values });
    }
    Ok(with_columns(rows))
}

fn with_columns(rows: Vec<Row>) -> Dataset {
    let mut columns: Vec<String> = Vec::new();
    for row in &rows {
        for key in row.values.keys() {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
    }
    Dataset { columns, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    #[test]
    fn csv_rows_keep_their_lines() {
        let (_dir, path) = write("t.csv", "ticket,expected\n\"a, b\",billing\nc,other\n");
        let data = read(&path, Path::new("t.csv")).expect("reads");
        assert_eq!(data.columns, vec!["ticket", "expected"]);
        assert_eq!(data.rows[0].values["ticket"], "a, b");
        assert_eq!((data.rows[0].line, data.rows[1].line), (2, 3));
    }

    #[test]
    fn malformed_csv_names_the_line() {
        let (_dir, path) = write("t.csv", "a,b\n1,2\n3,4,5\n");
        let err = read(&path, Path::new("data/t.csv")).expect_err("malformed");
        assert_eq!(err.to_string(), "data/t.csv:3:1: malformed CSV row: 3 field(s) where the header has 2");
    }

    #[test]
    fn malformed_jsonl_names_the_line() {
        let (_dir, path) = write("t.jsonl", "{\"a\": 1}\n\n{\"a\": oops}\n");
        let err = read(&path, Path::new("t.jsonl")).expect_err("malformed");
        assert!(err.to_string().starts_with("t.jsonl:3:"), "{err}");
    }

    #[test]
    fn yaml_rows_are_mappings_with_lines() {
        let (_dir, path) = write("t.yaml", "- a: 1\n- a: 2\n  b: x\n");
        let data = read(&path, Path::new("t.yaml")).expect("reads");
        assert_eq!(data.columns, vec!["a", "b"]);
        assert_eq!(data.rows[1].line, 2);
    }

    #[test]
    fn missing_file_suggests_a_sibling() {
        let (dir, _path) = write("tickets.csv", "a\n1\n");
        let err = read(&dir.path().join("ticket.csv"), Path::new("ticket.csv")).expect_err("missing");
        assert_eq!(err.hints, vec!["did you mean `tickets.csv`?".to_owned()]);
    }
}
