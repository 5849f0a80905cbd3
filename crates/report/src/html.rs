//! The HTML page: inline CSS and SVG, no scripts, nothing loaded from elsewhere.

/// Escape text for HTML.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A number for people: thousands separated, no decimals from 100 on.
pub(crate) fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    if v.abs() < 100.0 {
        return format!("{v:.2}");
    }
    let s = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if v < 0.0 { format!("-{out}") } else { out }
}

const STYLE: &str = "body{font-family:sans-serif;margin:24px auto;max-width:1000px;color:#222;}\
h1{font-size:24px;border-bottom:2px solid #1f77b4;padding-bottom:6px;}\
h2{font-size:19px;margin-top:34px;color:#1f77b4;}\
p{line-height:1.45;}\
table{border-collapse:collapse;margin:10px 0;font-size:13px;}\
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right;}\
th{background:#f0f4f8;}\
td:first-child,th:first-child{text-align:left;}\
.wide{overflow-x:auto;}\
.grid{display:flex;flex-wrap:wrap;gap:8px;}\
figure{margin:6px 0;}";

/// An HTML page being written.
pub(crate) struct Page {
    body: String,
    title: String,
}

impl Page {
    pub(crate) fn new(title: &str) -> Self {
        Page {
            body: format!("<h1>{}</h1>\n", esc(title)),
            title: title.to_string(),
        }
    }

    pub(crate) fn section(&mut self, title: &str) {
        self.body.push_str(&format!("<h2>{}</h2>\n", esc(title)));
    }

    pub(crate) fn paragraph(&mut self, text: &str) {
        self.body.push_str(&format!("<p>{}</p>\n", esc(text)));
    }

    /// A table, scrolled sideways inside the page where it is wider (the class table has a
    /// column group per policy).
    pub(crate) fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        self.body.push_str("<div class=\"wide\"><table><tr>");
        for h in header {
            self.body.push_str(&format!("<th>{}</th>", esc(h)));
        }
        self.body.push_str("</tr>\n");
        for r in rows {
            self.body.push_str("<tr>");
            for c in r {
                self.body.push_str(&format!("<td>{}</td>", esc(c)));
            }
            self.body.push_str("</tr>\n");
        }
        self.body.push_str("</table></div>\n");
    }

    /// An inline SVG chart.
    pub(crate) fn figure(&mut self, svg: &str) {
        // Drop the XML declaration, if any: it is not allowed inside HTML.
        let svg = match svg.find("<svg") {
            Some(i) => &svg[i..],
            None => svg,
        };
        self.body.push_str("<figure>");
        self.body.push_str(svg);
        self.body.push_str("</figure>\n");
    }

    pub(crate) fn open_grid(&mut self) {
        self.body.push_str("<div class=\"grid\">\n");
    }

    pub(crate) fn close_grid(&mut self) {
        self.body.push_str("</div>\n");
    }

    pub(crate) fn finish(self) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
             <style>{}</style></head><body>\n{}</body></html>\n",
            esc(&self.title),
            STYLE,
            self.body
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_escaping() {
        assert_eq!(fmt_num(1234567.4), "1,234,567");
        assert_eq!(fmt_num(-1234.0), "-1,234");
        assert_eq!(fmt_num(12.345), "12.35");
        assert_eq!(fmt_num(f64::NAN), "–");
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
        let mut p = Page::new("t<1>");
        p.figure("<?xml version=\"1.0\"?><svg></svg>");
        let html = p.finish();
        assert!(html.contains("<title>t&lt;1&gt;</title>"));
        assert!(html.contains("<figure><svg></svg></figure>"));
    }
}
