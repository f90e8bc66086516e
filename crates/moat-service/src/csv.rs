//! CSV as Moat writes it (the audit export, the access matrix), one rule for all.

/// One CSV field: RFC 4180 quoting, and a leading formula character (`=`, `+`, `-`,
/// `@`, tab, carriage return) neutralised with `'` so a spreadsheet shows the text
/// instead of running it (an email such as `=1+2@example.com` is a valid address).
pub fn field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// A row of fields.
pub fn row<S: AsRef<str>>(fields: &[S]) -> String {
    fields
        .iter()
        .map(|f| field(f.as_ref()))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("line\rbreak"), "\"line\rbreak\"");
        for formula in ["=1+2@example.com", "+1", "-1", "@SUM(A1)"] {
            assert_eq!(field(formula), format!("'{formula}"));
        }
        // A leading tab or carriage return hides a formula from a naive check.
        assert_eq!(field("\t=1+2"), "'\t=1+2");
        assert_eq!(field("\r=1+2"), "\"'\r=1+2\"");
        assert_eq!(field("=HYPERLINK(\"x\",1)"), "\"'=HYPERLINK(\"\"x\"\",1)\"");
    }
}
