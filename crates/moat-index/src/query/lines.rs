//! What a pasted line is when it is not a stack frame: part of an environment dump (a
//! package list, a version table, `go env`), a log line, or text.

use regex::Regex;
use std::sync::LazyLock;

/// A line of a package list, version table or environment dump: `requests==2.31.0`,
/// `numpy   1.26.4`, `├── lodash@4.17.21`, `GOARCH="amd64"`, `rustc 1.78.0 (…)`,
/// `"version": "3.0.4"`, `OS: Ubuntu 22.04`.
pub(crate) fn environment_like(line: &str) -> bool {
    static PINNED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^\s*[-*]?\s*[\w.\[\]-]+\s*(?:==|>=|<=|~=|!=|@|\s)\s*v?\d+(?:\.[\w+-]+)+\S*\s*(?:\(.*\))?\s*$")
            .expect("valid")
    });
    static TREE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[\s│├└─`+|\\-]*[@\w./-]+@\^?\d").expect("valid"));
    static GO_ENV: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"^\s*(?:set |export )?(?:GO|CGO_|GCC|CC|CXX|AR|PKG_CONFIG)[A-Z0-9_]*=("[^"]*"|'[^']*'|\S*)\s*$"#)
            .expect("valid")
    });
    static KEYED_VERSION: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"^\s*[-*]?\s*"?[\w .()/-]{1,40}"?\s*[:=]\s*"?[\w .()/+-]*\d+\.\d+[\w .()/+-]*"?,?\s*$"#)
            .expect("valid")
    });
    static JSON_VERSION: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"^\s*"[\w .@/-]+":\s*\{\s*"version":\s*"[^"]*"\s*\},?\s*$"#).expect("valid")
    });
    static RULE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^\s*[-=─|+ ]{3,}\s*$").expect("valid"));
    static HEADER: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^\s*(package|name)\s+(version|installed)(\s+\w+)*\s*$").expect("valid")
    });
    PINNED.is_match(line)
        || TREE.is_match(line)
        || GO_ENV.is_match(line)
        || KEYED_VERSION.is_match(line)
        || JSON_VERSION.is_match(line)
        || RULE.is_match(line)
        || HEADER.is_match(line)
}

/// Lines that only hold structure (`{`, `},`, `]`, `"urllib3": {`): they neither start
/// nor end a dump.
pub(crate) fn only_punctuation(line: &str) -> bool {
    static OPENING: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"^\s*"[\w .@/-]+":\s*[{\[]\s*$"#).expect("valid"));
    line.chars()
        .all(|c| c.is_whitespace() || "{}[](),;:\"'`".contains(c))
        || OPENING.is_match(line)
}

/// A log line's message without its timestamp, level and logger prefix, or `None`
/// when the line is not a log line.
pub(crate) fn log_message(line: &str) -> Option<&str> {
    static LOG: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"^\s*(?:\[?\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?\]?\s*|\[?\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\]?\s*|[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d+\s+\d+ \S+\] ?)+(?:\[?(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRIT|CRITICAL|FATAL)\]?:?\s*)?(?:\[[^\]]{1,60}\]\s*)*(?:[\w.$-]{1,60}:\s)?(.*)$",
        )
        .expect("valid")
    });
    static LEVEL_FIRST: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^\s*\[?(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|CRIT|CRITICAL|FATAL)\]?(?:\s*\[[^\]]{1,60}\])*[:\s]\s*(.*)$")
            .expect("valid")
    });
    LOG.captures(line)
        .or_else(|| LEVEL_FIRST.captures(line))
        .and_then(|c| c.get(1))
        .map(|m| m.as_str())
}

/// Addresses in text: a link names a file when it points into a repository
/// (`…/blob/<ref>/path/to/file.py#L10`); otherwise its words say nothing of code.
pub(crate) fn urls(line: &str) -> Vec<(std::ops::Range<usize>, Option<String>)> {
    static URL: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"https?://[^\s)\]>"'`]+"#).expect("valid"));
    static BLOB: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"/(?:blob|tree|raw)/[^/]+/([^#?]+)").expect("valid"));
    URL.find_iter(line)
        .map(|m| {
            let path = BLOB
                .captures(m.as_str())
                .map(|c| c[1].trim_end_matches('/').to_string());
            (m.range(), path)
        })
        .collect()
}

/// File paths named in text (`src/app/views.py`, `lib.rs`, `pkg/server/handler.go`).
pub(crate) fn paths(text: &str) -> impl Iterator<Item = &str> {
    static PATH: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?:^|[\s`'(\[:=])((?:[\w.@-]+/)*[\w@-][\w.-]*\.(?:py|pyi|rs|go|js|jsx|mjs|cjs|ts|tsx|java|kt|kts|scala|cs|rb|c|h|cc|cpp|hpp|cxx|php|swift|m|vue|svelte|toml|yaml|yml|json|cfg|ini|sh))\b")
            .expect("valid")
    });
    PATH.captures_iter(text)
        .filter_map(|c| c.get(1).map(|m| m.as_str()))
}

/// Code-like names in text: `module.symbol`, `Type::method`, `` `name` ``, `name()`,
/// `snake_case` and `camelCase` words. Gives the last component of each.
pub(crate) fn symbols(text: &str) -> impl Iterator<Item = &str> {
    static QUALIFIED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\b(?:[A-Za-z_]\w*(?:\.|::|#))+([A-Za-z_]\w*)\b|`([A-Za-z_]\w*)(?:\(\))?`|\b([A-Za-z_]\w*)\(\)|\b([a-z]+_[a-z0-9_]+|[a-z]+[A-Z]\w*|[A-Z][a-z0-9]+[A-Z]\w*)\b")
            .expect("valid")
    });
    QUALIFIED.captures_iter(text).filter_map(|c| {
        (1..=4)
            .find_map(|i| c.get(i))
            .map(|m| m.as_str())
            .filter(|name| name.len() >= 3 && !is_file_extension(name))
    })
}

/// Words after a dot that end a file or host name, not a member.
fn is_file_extension(name: &str) -> bool {
    matches!(
        name,
        "py" | "pyi"
            | "rs"
            | "go"
            | "js"
            | "mjs"
            | "cjs"
            | "ts"
            | "tsx"
            | "jsx"
            | "java"
            | "kt"
            | "kts"
            | "cs"
            | "rb"
            | "cpp"
            | "cc"
            | "hpp"
            | "php"
            | "swift"
            | "scala"
            | "vue"
            | "toml"
            | "yaml"
            | "yml"
            | "json"
            | "xml"
            | "html"
            | "css"
            | "scss"
            | "sql"
            | "md"
            | "rst"
            | "txt"
            | "log"
            | "cfg"
            | "ini"
            | "env"
            | "lock"
            | "sh"
            | "com"
            | "org"
            | "io"
            | "net"
            | "dev"
    )
}
