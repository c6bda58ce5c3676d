//! Rows and columns rendered as an aligned table, a Markdown table or CSV.

use tabled::builder::Builder;
use tabled::settings::Style;

use super::format::Format;

/// A table of strings with headers.
#[derive(Debug, Clone, Default)]
pub struct Grid {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Grid {
    /// A grid with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Self { headers: headers.iter().map(|h| (*h).to_owned()).collect(), rows: Vec::new() }
    }

    /// Adds a row (as many cells as headers).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Renders as `format` (table, markdown or csv).
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Csv => self.csv(),
            Format::Markdown => self.tabled(Style::markdown()),
            _ => self.tabled(Style::blank()),
        }
    }

    fn tabled<S>(&self, style: S) -> String
    where
        S: tabled::settings::TableOption<
                tabled::grid::records::vec_records::VecRecords<tabled::grid::records::vec_records::Text<String>>,
                tabled::grid::config::ColoredConfig,
                tabled::grid::dimension::CompleteDimension,
            >,
    {
        let mut builder = Builder::default();
        builder.push_record(self.headers.clone());
        for row in &self.rows {
            builder.push_record(row.clone());
        }
        let mut table = builder.build();
        table.with(style);
        let mut text = table.to_string();
        // Blank style pads every line to the widest; trailing spaces only get in the way.
        text = text.lines().map(str::trim_end).collect::<Vec<_>>().join("\n");
        text.push('\n');
        text
    }

    fn csv(&self) -> String {
        let escape = |cell: &str| {
            if cell.contains([',', '"', '\n']) { format!("\"{}\"", cell.replace('"', "\"\"")) } else { cell.to_owned() }
        };
        let line = |cells: &[String]| cells.iter().map(|c| escape(c)).collect::<Vec<_>>().join(",");
        let mut out = line(&self.headers);
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let mut grid = Grid::new(&["a", "b"]);
        grid.row(vec!["x,y".into(), "say \"hi\"".into()]);
        assert_eq!(grid.render(Format::Csv), "a,b\n\"x,y\",\"say \"\"hi\"\"\"\n");
    }

    #[test]
    fn markdown_has_a_header_separator() {
        let mut grid = Grid::new(&["name"]);
        grid.row(vec!["a".into()]);
        assert!(grid.render(Format::Markdown).lines().nth(1).is_some_and(|l| l.contains("---")));
    }
}
