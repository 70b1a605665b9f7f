//! Tables for the terminal and for `docs/performance.md`.

use std::fmt::Write as _;

/// A table with a title, printed aligned on the terminal and as Markdown in the report.
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Lines printed under the table.
    pub notes: Vec<String>,
}

impl Table {
    pub fn new(title: &str, headers: &[&str]) -> Table {
        Table {
            title: title.to_string(),
            headers: headers.iter().map(|h| h.to_string()).collect(),
            ..Table::default()
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn note(&mut self, line: impl Into<String>) {
        self.notes.push(line.into());
    }

    /// Aligned plain text.
    pub fn text(&self) -> String {
        let n = self.headers.len();
        let mut w: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate().take(n) {
                let pad = w[i] - c.chars().count();
                if i > 0 {
                    s.push_str("  ");
                }
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            }
            s.trim_end().to_string()
        };
        let mut out = format!("\n## {}\n", self.title);
        out.push_str(&line(&self.headers));
        out.push('\n');
        out.push_str(
            &w.iter()
                .map(|&x| "-".repeat(x))
                .collect::<Vec<_>>()
                .join("  "),
        );
        out.push('\n');
        for r in &self.rows {
            out.push_str(&line(r));
            out.push('\n');
        }
        for note in &self.notes {
            let _ = writeln!(out, "  {note}");
        }
        out
    }

    /// GitHub Markdown.
    pub fn markdown(&self) -> String {
        let mut out = format!("### {}\n\n", self.title);
        let _ = writeln!(out, "| {} |", self.headers.join(" | "));
        let _ = writeln!(
            out,
            "|{}",
            self.headers.iter().map(|_| "---|").collect::<String>()
        );
        for r in &self.rows {
            let _ = writeln!(out, "| {} |", r.join(" | "));
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for note in &self.notes {
                let _ = writeln!(out, "- {note}");
            }
        }
        out.push('\n');
        out
    }
}

/// Nanoseconds for people: `840 ns`, `12.3 µs`, `4.56 ms`, `1.23 s`.
pub fn ns(x: f64) -> String {
    if !x.is_finite() {
        return "—".into();
    }
    if x < 1e3 {
        format!("{x:.0} ns")
    } else if x < 1e4 {
        format!("{:.2} µs", x / 1e3)
    } else if x < 1e5 {
        format!("{:.1} µs", x / 1e3)
    } else if x < 1e6 {
        format!("{:.0} µs", x / 1e3)
    } else if x < 1e9 {
        format!("{:.2} ms", x / 1e6)
    } else {
        format!("{:.2} s", x / 1e9)
    }
}

/// Bytes for people, binary units.
pub fn bytes(x: f64) -> String {
    const U: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = x;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} B")
    } else if v == v.trunc() {
        format!("{v:.0} {}", U[i])
    } else {
        format!("{v:.1} {}", U[i])
    }
}

/// A ratio: `×12.3`, `×0.45`.
pub fn ratio(x: f64) -> String {
    if !x.is_finite() {
        "—".into()
    } else if x >= 100.0 {
        format!("×{x:.0}")
    } else if x >= 10.0 {
        format!("×{x:.1}")
    } else {
        format!("×{x:.2}")
    }
}

/// A count with thousands separators: `100,000`.
pub fn count(x: u64) -> String {
    let s = x.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A per-second rate: `1.23 M/s`, `45.6 k/s`.
pub fn rate(per_s: f64) -> String {
    if per_s >= 1e6 {
        format!("{:.2} M/s", per_s / 1e6)
    } else if per_s >= 1e3 {
        format!("{:.1} k/s", per_s / 1e3)
    } else {
        format!("{per_s:.1} /s")
    }
}

/// `met` / `NOT met` / `n/a`.
pub fn verdict(met: Option<bool>) -> String {
    match met {
        Some(true) => "met".into(),
        Some(false) => "**NOT met**".into(),
        None => "n/a".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(ns(840.0), "840 ns");
        assert_eq!(ns(12_300.0), "12.3 µs");
        assert_eq!(ns(4_560_000.0), "4.56 ms");
        assert_eq!(bytes(1024.0 * 1024.0), "1 MiB");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(count(100_000), "100,000");
        assert_eq!(ratio(2.345), "×2.35");
        let mut t = Table::new("t", &["a", "bb"]);
        t.row(vec!["1".into(), "2".into()]);
        assert!(t.text().contains("a  bb"));
        assert!(t.markdown().contains("| 1 | 2 |"));
    }
}
