//! Small SVG helpers shared by the pictures: escaping, the palette, the common style.

use std::fmt::Write as _;

/// Colours of shared extents, in order of first appearance (distinguishable, print-safe).
pub const PALETTE: &[&str] = &[
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7",
    "#9c755f", "#2f4b7c", "#a05195", "#665191",
];

/// The style every picture carries, so that a standalone `.svg` looks like the inline one.
pub const STYLE: &str = "text{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;fill:#222}\
.title{font-weight:bold;font-size:13px}.note{font-size:11px;fill:#444}.label{font-size:12px}\
.refs{font-size:10px;fill:#fff;font-weight:bold}\
.hole{fill:#fff;stroke:#bbb;stroke-dasharray:3 2}.unshared{fill:#b8b8b8;stroke:#fff;stroke-width:0.5}\
.shared{stroke:#fff;stroke-width:0.5}.unwritten{fill:#eee;stroke:#999}\
.hold1{fill:#4e79a7;stroke:#fff;stroke-width:0.6}.hold2{fill:#e15759}.wait{stroke:#e15759;stroke-width:1.5;stroke-dasharray:2 2}\
.axis{stroke:#888;stroke-width:1}.lane{fill:#f4f4f4}";

/// Escapes text for SVG/HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Opens an `<svg>` of `w`×`h` with the common style and an accessible title. A
/// `standalone` picture (a `.svg` file) needs the SVG namespace; inline in HTML it is
/// implied, and leaving it out keeps the page free of any URL.
pub fn open(w: f64, h: f64, standalone: bool, title: &str) -> String {
    let mut s = String::new();
    if standalone {
        s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    }
    let ns = if standalone {
        r#" xmlns="http://www.w3.org/2000/svg""#
    } else {
        ""
    };
    let _ = writeln!(
        s,
        r#"<svg{ns} width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" role="img"><title>{}</title><style>{STYLE}</style>"#,
        esc(title)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
        assert!(open(10.0, 10.0, true, "x").contains("xmlns"));
        assert!(!open(10.0, 10.0, false, "x").contains("http"));
    }
}
