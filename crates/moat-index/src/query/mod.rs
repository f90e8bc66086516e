//! What a pasted query is made of, before it is searched. Developers paste bug reports
//! whole: a sentence, a traceback, a code block, log lines, a `pip list` or `go env`
//! dump. Each part says something different about where the code is: a stack frame
//! names files and functions, an error line names the failure, prose and code give
//! words, logs give words under noise, and an environment dump names packages that
//! match lock and CI files instead of the code. [`understand`] splits the text into
//! those parts and weighs each; the search ranks on the weighted words (the most
//! informative of them, see `search.rs`) and lifts the files and symbols named.
//!
//! The parts are reported back with the results, so an agent can see what was used
//! and refine its question.

mod frames;
mod lines;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

/// Named files and symbols kept from one query; the first named count most.
pub const MAX_NAMED: usize = 16;

/// How much the words of each kind of part count.
const PROSE: f32 = 1.0;
const CODE: f32 = 1.0;
const ERROR: f32 = 1.5;
const PROJECT_FRAME: f32 = 1.5;
const EXTERNAL_FRAME: f32 = 0.25;
const LOG: f32 = 0.5;
/// An environment dump names packages, not the code that failed.
const ENVIRONMENT: f32 = 0.0;

/// Parts listed in an answer; a query alternating kinds line by line lists no more.
pub const MAX_PARTS: usize = 64;

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Text of one line to rank on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Piece {
    pub text: String,
    pub weight: f32,
    /// Sentences or log messages, whose English filler words say nothing; never set
    /// for code, frames or error lines, whose every word is an identifier.
    pub prose: bool,
}

/// One run of lines of the same kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartKind {
    /// Sentences.
    Prose,
    /// A fenced code block or indented code.
    Code,
    /// Stack frames: the files and functions they name are lifted.
    StackTrace,
    /// An exception or error line: its name and message.
    Error,
    /// Log lines: their messages, without timestamps and levels, count half.
    Log,
    /// A package list, version table or environment dump: not used.
    Environment,
}

/// A run of the query's lines and how much its words counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub kind: PartKind,
    /// First and last line of the query it covers, from 1.
    pub first_line: usize,
    pub last_line: usize,
    /// 0 when its words were not used.
    pub weight: f32,
}

/// A query split into what it is made of.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Understanding {
    pub parts: Vec<Part>,
    /// Files the query names (stack frames first, then links and text), relative
    /// where an install prefix was recognised.
    pub files: Vec<String>,
    /// Functions, methods and types the query names, frames first.
    pub symbols: Vec<String>,
    /// Text to rank on and how much it counts.
    #[serde(skip)]
    pub(crate) pieces: Vec<Piece>,
    /// Parts past [`MAX_PARTS`], not listed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub parts_omitted: usize,
    /// More than a short question: several lines, or a part that is not prose.
    #[serde(skip)]
    pub(crate) report: bool,
}

impl PartKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PartKind::Prose => "prose",
            PartKind::Code => "code",
            PartKind::StackTrace => "stack_trace",
            PartKind::Error => "error",
            PartKind::Log => "log",
            PartKind::Environment => "environment",
        }
    }
}

impl Understanding {
    /// One line saying how the query was read (`prose 1, stack_trace 2-5; not used:
    /// environment 6-9; names files a.py; names symbols f`), or `None` for a plain
    /// question, where it would say nothing.
    pub fn summary(&self) -> Option<String> {
        let plain = self.parts.iter().all(|p| p.kind == PartKind::Prose)
            && self.files.is_empty()
            && self.symbols.is_empty();
        if self.parts.is_empty() || plain {
            return None;
        }
        let lines = |p: &Part| {
            if p.first_line == p.last_line {
                format!("{} {}", p.kind.as_str(), p.first_line)
            } else {
                format!("{} {}-{}", p.kind.as_str(), p.first_line, p.last_line)
            }
        };
        let used: Vec<String> = self
            .parts
            .iter()
            .filter(|p| p.weight > 0.0)
            .map(lines)
            .collect();
        // A code fence's own line is not worth reporting as unused.
        let unused: Vec<String> = self
            .parts
            .iter()
            .filter(|p| p.weight <= 0.0 && p.kind != PartKind::Code)
            .map(lines)
            .collect();
        let mut said = format!("query read as: {}", used.join(", "));
        if self.parts_omitted > 0 {
            said.push_str(&format!(" and {} more parts", self.parts_omitted));
        }
        if !unused.is_empty() {
            said.push_str(&format!("; not used: {}", unused.join(", ")));
        }
        if !self.files.is_empty() {
            said.push_str(&format!("; names files {}", self.files.join(", ")));
        }
        if !self.symbols.is_empty() {
            said.push_str(&format!("; names symbols {}", self.symbols.join(", ")));
        }
        Some(said)
    }
}

/// Splits `text` into parts and weighs them.
pub fn understand(text: &str) -> Understanding {
    let mut out = Understanding::default();
    // What frames and error lines name comes before what the text mentions.
    let mut named = Named::default();
    let mut mentioned = Named::default();
    let text = without_markup(text);
    let lines: Vec<&str> = text.lines().collect();
    let kinds = classify(&lines);
    for (number, (line, (kind, weight))) in lines.iter().zip(&kinds).enumerate() {
        let line = strip_urls(line, &mut mentioned);
        match kind {
            PartKind::StackTrace => match frames::frame(&line) {
                Some(frame) => {
                    let words: Vec<&str> = [&frame.owner, &frame.function, &frame.path]
                        .into_iter()
                        .flatten()
                        .map(String::as_str)
                        .collect();
                    out.pieces.push(Piece {
                        text: words.join(" "),
                        weight: *weight,
                        prose: false,
                    });
                    if !frame.external {
                        named.file(frame.path.as_deref());
                        named.symbol(frame.function.as_deref());
                        named.symbol(frame.owner.as_deref());
                    }
                }
                None if *weight > 0.0 => out.pieces.push(Piece {
                    text: line.into_owned(),
                    weight: *weight,
                    prose: false,
                }),
                None => {}
            },
            PartKind::Error => {
                if let Some((name, message)) = frames::error_line(&line) {
                    named.symbol(name.as_deref());
                    out.pieces.push(Piece {
                        text: format!("{} {message}", name.unwrap_or_default()),
                        weight: *weight,
                        prose: false,
                    });
                    mentions(&message, &mut mentioned);
                }
            }
            PartKind::Log => {
                let message = lines::log_message(&line).unwrap_or(&line);
                mentions(message, &mut mentioned);
                out.pieces.push(Piece {
                    text: message.to_string(),
                    weight: *weight,
                    prose: true,
                });
            }
            PartKind::Environment => {}
            PartKind::Prose | PartKind::Code => {
                mentions(&line, &mut mentioned);
                out.pieces.push(Piece {
                    text: line.into_owned(),
                    weight: *weight,
                    prose: *kind == PartKind::Prose,
                });
            }
        }
        push_part(&mut out.parts, *kind, *weight, number + 1);
    }
    let lines_written = lines.iter().filter(|l| !l.trim().is_empty()).count();
    out.report = lines_written > 3 || out.parts.iter().any(|p| p.kind != PartKind::Prose);
    if out.parts.len() > MAX_PARTS {
        out.parts_omitted = out.parts.len() - MAX_PARTS;
        out.parts.truncate(MAX_PARTS);
    }
    for file in mentioned.files {
        named.file(Some(&file));
    }
    for symbol in mentioned.symbols {
        named.symbol(Some(&symbol));
    }
    out.files = named.files;
    out.symbols = named.symbols;
    out
}

/// Each line's kind and weight. Environment-like lines count as an environment dump
/// only in runs of two or more (one `requests 2.31` in a sentence is prose).
fn classify(lines: &[&str]) -> Vec<(PartKind, f32)> {
    let mut kinds = Vec::with_capacity(lines.len());
    let mut fenced = false;
    let mut after_frame = false;
    for line in lines {
        let trimmed = line.trim_start();
        if is_fence(line) {
            fenced = !fenced;
            kinds.push((PartKind::Code, 0.0));
            continue;
        }
        // Only the line right after a frame can be the source it quotes.
        let previous = kinds.last().copied().filter(|_| after_frame);
        let indented = line.starts_with("    ") || line.starts_with('\t');
        let frame = frames::frame(line);
        let is_frame = frame.is_some();
        let kind = if let Some(frame) = frame {
            let weight = if frame.external {
                EXTERNAL_FRAME
            } else {
                PROJECT_FRAME
            };
            (PartKind::StackTrace, weight)
        } else if trimmed.starts_with("Traceback (most recent call last)")
            || trimmed.starts_with("Stack backtrace:")
            || trimmed.starts_with("stack backtrace:")
            || (trimmed.starts_with("... ") && trimmed.ends_with(" more"))
        {
            (PartKind::StackTrace, 0.0)
        } else if let Some((PartKind::StackTrace, weight)) = previous.filter(|_| indented) {
            // The source line a Python frame quotes: as telling as its frame.
            (PartKind::StackTrace, weight)
        } else if frames::error_line(line).is_some() {
            (PartKind::Error, ERROR)
        } else if lines::log_message(line).is_some() {
            (PartKind::Log, LOG)
        } else if lines::environment_like(line) {
            (PartKind::Environment, ENVIRONMENT)
        } else if fenced || indented {
            (PartKind::Code, CODE)
        } else {
            (PartKind::Prose, PROSE)
        };
        kinds.push(kind);
        after_frame = is_frame;
    }
    // A lone environment-like line is text; a run (blank and bracket-only lines
    // between its lines allowed) is a dump.
    let mut i = 0;
    while i < kinds.len() {
        if kinds[i].0 != PartKind::Environment {
            i += 1;
            continue;
        }
        let mut end = i;
        let mut members = 0;
        let mut j = i;
        while j < kinds.len() {
            match kinds[j].0 {
                PartKind::Environment => {
                    members += 1;
                    end = j;
                }
                _ if lines::only_punctuation(lines[j]) => {}
                _ => break,
            }
            j += 1;
        }
        if members < 2 {
            kinds[i] = (PartKind::Prose, PROSE);
        } else {
            for kind in &mut kinds[i..=end] {
                *kind = (PartKind::Environment, ENVIRONMENT);
            }
        }
        i = end + 1;
    }
    // Blank and bracket-only lines belong to the part they sit in.
    for i in 1..kinds.len() {
        if lines::only_punctuation(lines[i]) && !is_fence(lines[i]) && !is_fence(lines[i - 1]) {
            kinds[i] = kinds[i - 1];
        }
    }
    kinds
}

fn is_fence(line: &str) -> bool {
    let trimmed = line.trim_start();
    trimmed.starts_with("```") || trimmed.starts_with("~~~")
}

fn push_part(parts: &mut Vec<Part>, kind: PartKind, weight: f32, line: usize) {
    if let Some(last) = parts.last_mut()
        && last.kind == kind
        && last.last_line + 1 == line
    {
        last.last_line = line;
        last.weight = last.weight.max(weight);
        return;
    }
    parts.push(Part {
        kind,
        first_line: line,
        last_line: line,
        weight,
    });
}

/// HTML comments (issue templates' instructions) and images say nothing of the bug.
fn without_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        match rest[start..].find("-->") {
            Some(end) => {
                // Keep the line count, so parts name the lines the caller sent.
                let comment = &rest[start..start + end + 3];
                out.extend(std::iter::repeat_n('\n', comment.matches('\n').count()));
                rest = &rest[start + end + 3..];
            }
            None => {
                // Unclosed (an HTML snippet, say): only the rest of its line goes.
                let line_end = rest[start..].find('\n').map_or(rest.len(), |n| start + n);
                rest = &rest[line_end..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The line without its links; a link into a repository names its file.
fn strip_urls<'a>(line: &'a str, named: &mut Named) -> std::borrow::Cow<'a, str> {
    let found = lines::urls(line);
    if found.is_empty() {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut at = 0;
    for (range, path) in found {
        out.push_str(&line[at..range.start]);
        out.push(' ');
        named.file(path.as_deref());
        at = range.end;
    }
    out.push_str(&line[at..]);
    std::borrow::Cow::Owned(out)
}

fn mentions(text: &str, named: &mut Named) {
    for path in lines::paths(text) {
        named.file(Some(&frames::package_relative(path)));
    }
    for symbol in lines::symbols(text) {
        named.symbol(Some(symbol));
    }
}

/// Names a report carries that point nowhere in particular: base exceptions, runtime
/// objects, closures.
const GENERIC_NAMES: &[&str] = &[
    "self",
    "this",
    "main",
    "new",
    "None",
    "null",
    "nil",
    "true",
    "false",
    "Error",
    "Exception",
    "Warning",
    "Object",
    "Function",
    "Promise",
    "closure",
    "anonymous",
    "module",
    "RuntimeError",
    "RuntimeException",
    "TypeError",
    "ValueError",
    "panic",
    "unwrap",
    "expect",
    "init",
    "__init__",
    "call",
    "__call__",
    "apply",
    "run",
    "invoke",
    "invoke0",
    "lambda",
];

/// Named files and symbols in first-seen order, without repeats, at most
/// [`MAX_NAMED`] of each.
#[derive(Default)]
struct Named {
    files: Vec<String>,
    symbols: Vec<String>,
}

impl Named {
    fn file(&mut self, path: Option<&str>) {
        let Some(path) = path.map(|p| p.trim_start_matches("./")) else {
            return;
        };
        if path.is_empty() || self.files.len() >= MAX_NAMED || self.files.iter().any(|f| f == path)
        {
            return;
        }
        self.files.push(path.to_string());
    }

    fn symbol(&mut self, name: Option<&str>) {
        let Some(name) = name else {
            return;
        };
        let name = name.trim_matches(|c: char| !(c.is_alphanumeric() || c == '_'));
        if name.len() < 3
            || self.symbols.len() >= MAX_NAMED
            || self.symbols.iter().any(|s| s == name)
            || GENERIC_NAMES.contains(&name)
        {
            return;
        }
        self.symbols.push(name.to_string());
    }
}
