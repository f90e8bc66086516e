//! Printing results: aligned tables for people, JSON for scripts.

use anyhow::Result;
use serde::Serialize;

/// `println!` that stops quietly when the reader has gone (`moat ... --json | head`)
/// instead of panicking on the broken pipe.
macro_rules! outln {
    () => {
        crate::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        crate::output::line(format_args!($($arg)*))
    };
}

/// One line on stdout. A closed pipe ends the command with success: whoever read the
/// output has what they wanted. Any other write error ends it with 1.
pub fn line(args: std::fmt::Arguments<'_>) {
    write_or_stop(format_args!("{args}\n"));
}

fn write_or_stop(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let written = stdout.write_fmt(args).and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("error: cannot write to standard output: {e}");
            std::process::exit(1);
        }
    }
}

pub fn json<T: Serialize>(value: &T) -> Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints rows under headers, columns padded to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        outln!("{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    if rows.is_empty() {
        outln!("(none)");
    }
}

/// Writes text to stdout; a closed pipe ends the command quietly, as for [`line`]
/// (`moat audit tail -f | head` stops instead of following forever).
pub fn say(text: &str) {
    write_or_stop(format_args!("{text}"));
}

/// Writes text to stdout, ignoring a closed pipe: a server must not stop because
/// whoever started it stopped reading.
pub fn announce(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Writes a file only the owner can read: it holds secrets.
pub fn write_private(path: &std::path::Path, contents: &[u8]) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    std::io::Write::write_all(&mut file, contents)?;
    Ok(())
}

/// A progress bar on stderr for long work, shown only to a person at a terminal (not
/// with `--json`, not into a pipe); `template` is indicatif's.
pub fn progress(json: bool, template: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    (!json && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    })
}

/// Moves `bar`, if any, to `done` of `total`.
pub fn advance(bar: &Option<indicatif::ProgressBar>, done: u64, total: u64) {
    if let Some(bar) = bar {
        bar.set_length(total);
        bar.set_position(done);
    }
}
