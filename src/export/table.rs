//! One table model for the report's tables: columns with their alignment,
//! rows of cells, rendered as a markdown pipe table in one place.

use std::fmt::Write;

/// How a column's cells line up; markdown says it in the rule under the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table: a header of aligned columns and rows of already formatted cells.
#[derive(Debug, Clone, Default)]
pub struct Table {
    columns: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new() -> Table {
        Table::default()
    }

    /// Adds a left-aligned column (names, labels, verdicts).
    pub fn left(mut self, name: impl Into<String>) -> Table {
        self.columns.push((name.into(), Align::Left));
        self
    }

    /// Adds a right-aligned column (numbers).
    pub fn right(mut self, name: impl Into<String>) -> Table {
        self.columns.push((name.into(), Align::Right));
        self
    }

    /// Adds the columns of `names`, all aligned as `align`.
    pub fn columns<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>, align: Align) -> Table {
        self.columns.extend(names.into_iter().map(|n| (n.into(), align)));
        self
    }

    /// Adds a row; it must have a cell per column.
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.columns.len(), "a row has a cell per column");
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as markdown: `| a | b |`, `|---|---:|`, one line per row.
    /// An unnamed column's header cell is `| |`.
    pub fn markdown(&self) -> String {
        let mut out = String::from("|");
        for (name, _) in &self.columns {
            match name.as_str() {
                "" => out.push_str(" |"),
                name => {
                    let _ = write!(out, " {name} |");
                }
            }
        }
        out.push_str("\n|");
        for (_, align) in &self.columns {
            out.push_str(match align {
                Align::Left => "---|",
                Align::Right => "---:|",
            });
        }
        out.push('\n');
        for row in &self.rows {
            out.push('|');
            for cell in row {
                let _ = write!(out, " {cell} |");
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_header_rule_and_rows() {
        let mut t = Table::new().left("tier").right("p50 (ms)").left("");
        t.row(vec!["edge".into(), "0.412".into(), "✅".into()]);
        t.row(vec!["cloud".into(), String::new(), "❌".into()]);
        assert_eq!(t.markdown(), "| tier | p50 (ms) | |\n|---|---:|---|\n| edge | 0.412 | ✅ |\n| cloud |  | ❌ |\n");
    }

    #[test]
    fn a_table_without_rows_keeps_its_header() {
        let t = Table::new().columns(["a", "b"], Align::Right);
        assert!(t.is_empty());
        assert_eq!(t.markdown(), "| a | b |\n|---:|---:|\n");
    }
}
