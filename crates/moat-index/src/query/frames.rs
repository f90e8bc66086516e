//! Stack frames and error lines in the languages developers paste: Python, Java and
//! Kotlin, JavaScript and TypeScript, Go, Rust and C#. A frame names a file and a
//! function; a frame in code the project does not own (the standard library, installed
//! packages, the runtime) says less about where the bug is, and is weighed so.

use regex::Regex;
use std::sync::LazyLock;

/// What one frame names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Frame {
    /// The path as written, made relative where a package or module root is known.
    pub path: Option<String>,
    /// The function or method, without its owner.
    pub function: Option<String>,
    /// Its class, type or module, when the frame names one.
    pub owner: Option<String>,
    /// The frame is in the runtime, the standard library or an installed package.
    pub external: bool,
}

static PYTHON: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^\s*File "([^"]+)", line \d+(?:, in ([\w<>.]+))?"#).expect("valid")
});
/// `at pkg.Class.method(File.java:12)` (Java, Kotlin, Scala) and C#'s
/// `at Ns.Class.Method(args) in C:\src\File.cs:line 42`.
static AT_CALL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\s*at (?:[\w.]+/)?([\w$.`<>\[\]]+)\.([\w$<>`]+)\((.*?)\)(?: in (.+?):line \d+)?\s*$",
    )
    .expect("valid")
});
/// JavaScript: `at fn (file.js:10:5)`, `at async Obj.fn (file:10:5)`, `at file.js:10:5`.
static JS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*at (?:(?:async )?(?:new )?([\w$.<>\[\] ]+?) \()?((?:file://)?[^\s()]+?):\d+(?::\d+)?\)?\s*$")
        .expect("valid")
});
/// Go: `\t/home/u/src/pkg/file.go:123 +0x1d`.
static GO_FILE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s+(\S+\.go):\d+(?: \+0x[0-9a-f]+)?\s*$").expect("valid"));
/// Go: `github.com/o/r/pkg.(*Type).Method(0xc000...)`, `main.main()`.
static GO_FUNC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([\w./-]+)\.(?:\(\*?(\w+)\)\.)?(\w+)(?:\.func\d+)*\((?:0x[0-9a-f]+|\.\.\.|, |\{|\})*\)\s*$")
        .expect("valid")
});
/// Rust: `   3: crate::module::Type::method` and `             at ./src/lib.rs:10:5`.
static RUST_SYMBOL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*\d+: (?:0x[0-9a-f]+ - )?([\w<>]+(?:::[\w<>{}#]+)+)(?:::h[0-9a-f]{16})?\s*$")
        .expect("valid")
});
static RUST_AT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*at (\S+\.rs):\d+(?::\d+)?\s*$").expect("valid"));
/// A Rust panic: `thread 'main' panicked at src/main.rs:2:5:` or the older
/// `panicked at 'message', src/main.rs:2:5`.
static RUST_PANIC: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"panicked at (?:'.*', )?([^\s:']+\.rs):\d+:\d+").expect("valid"));

/// The frame one line is, if it is one.
pub(crate) fn frame(line: &str) -> Option<Frame> {
    if let Some(c) = PYTHON.captures(line) {
        let path = c[1].to_string();
        let external = python_external(&path);
        return Some(Frame {
            path: Some(package_relative(&path)),
            function: c
                .get(2)
                .map(|m| m.as_str().to_string())
                .filter(|f| !f.starts_with('<')),
            owner: None,
            external,
        });
    }
    if let Some(c) = RUST_PANIC.captures(line) {
        return Some(rust_path(&c[1]));
    }
    if let Some(c) = RUST_AT.captures(line) {
        return Some(rust_path(&c[1]));
    }
    if let Some(c) = RUST_SYMBOL.captures(line) {
        let path: Vec<&str> = c[1].split("::").collect();
        let external = matches!(
            path[0],
            "std" | "core" | "alloc" | "tokio" | "__rust_begin_short_backtrace"
        ) || path[0].starts_with('<');
        let (function, owner) = match path.as_slice() {
            [.., owner, function] => (function.to_string(), Some(owner.to_string())),
            _ => (c[1].to_string(), None),
        };
        return Some(Frame {
            path: None,
            function: Some(function),
            owner,
            external,
        });
    }
    if let Some(c) = AT_CALL.captures(line) {
        let owner = c[1].to_string();
        let function = c[2].to_string();
        let file = c
            .get(4)
            .map(|m| m.as_str().replace('\\', "/"))
            .or_else(|| java_file(&owner, &c[3]));
        let external = [
            "java.",
            "javax.",
            "jdk.",
            "sun.",
            "kotlin.",
            "kotlinx.",
            "scala.",
            "System.",
            "Microsoft.",
        ]
        .iter()
        .any(|p| owner.starts_with(p));
        return Some(Frame {
            path: file,
            function: Some(function).filter(|f| !f.starts_with('<')),
            owner: owner.rsplit('.').next().map(str::to_string),
            external,
        });
    }
    if let Some(c) = JS.captures(line) {
        let raw = c[2].trim_start_matches("file://");
        let external = raw.starts_with("node:")
            || raw.contains("node_modules/")
            || raw.starts_with("internal/");
        let (owner, function) = match c.get(1).map(|m| m.as_str()) {
            Some(name) => match name.rsplit_once('.') {
                Some((owner, function)) => (Some(owner.to_string()), Some(function.to_string())),
                None => (None, Some(name.to_string())),
            },
            None => (None, None),
        };
        return Some(Frame {
            path: Some(package_relative(raw)),
            function: function.filter(|f| f != "<anonymous>"),
            owner,
            external,
        });
    }
    if let Some(c) = GO_FILE.captures(line) {
        let path = &c[1];
        let external = path.contains("/go/src/runtime/")
            || path.contains("/usr/local/go/")
            || path.contains("/libexec/src/")
            || path.contains("/pkg/mod/");
        return Some(Frame {
            path: Some(package_relative(path)),
            function: None,
            owner: None,
            external,
        });
    }
    // `self.run()` is Python as much as Go: a Go frame shows a package path, a
    // receiver or argument words.
    if let Some(c) = GO_FUNC.captures(line).filter(|c| {
        c[1].contains('/') || c.get(2).is_some() || line.contains("(0x") || line.contains("(...)")
    }) {
        let package = &c[1];
        let external = !package.contains('.')
            && matches!(
                package.split('/').next(),
                Some("runtime" | "net" | "sync" | "testing" | "reflect" | "os" | "syscall")
            );
        return Some(Frame {
            path: None,
            function: Some(c[3].to_string()),
            owner: c
                .get(2)
                .map(|m| m.as_str().to_string())
                .or_else(|| package.rsplit('/').next().map(str::to_string)),
            external,
        });
    }
    None
}

fn rust_path(path: &str) -> Frame {
    let external = path.starts_with("/rustc/")
        || path.contains("/.cargo/registry/")
        || path.contains("/library/std/")
        || path.contains("/library/core/");
    Frame {
        path: Some(package_relative(path)),
        function: None,
        owner: None,
        external,
    }
}

fn python_external(path: &str) -> bool {
    path.starts_with('<')
        || path.contains("/lib/python")
            && !path.contains("site-packages")
            && !path.contains("dist-packages")
        || path.contains("\\Lib\\")
}

/// Java frames name the file without its directory; the package gives it.
fn java_file(owner: &str, location: &str) -> Option<String> {
    let file = location.split(':').next()?;
    if !file.contains('.') || file.contains(' ') {
        return None;
    }
    let package: Vec<&str> = owner.split('.').collect();
    // Drop the class (and nested classes); keep the package's directories.
    let directories: Vec<&str> = package
        .iter()
        .take_while(|p| p.chars().next().is_some_and(char::is_lowercase))
        .copied()
        .collect();
    Some(if directories.is_empty() {
        file.to_string()
    } else {
        format!("{}/{file}", directories.join("/"))
    })
}

/// The part of an installed or absolute path that can match a repository's path: after
/// `site-packages/`, `node_modules/`, `/pkg/mod/…@version/` or `./`.
pub(crate) fn package_relative(path: &str) -> String {
    let path = path.replace('\\', "/");
    for marker in ["site-packages/", "dist-packages/", "node_modules/"] {
        if let Some((_, rest)) = path.rsplit_once(marker) {
            return rest.to_string();
        }
    }
    if let Some((_, rest)) = path.split_once("/pkg/mod/")
        && let Some((_, inner)) = rest.split_once('@')
        && let Some((_, relative)) = inner.split_once('/')
    {
        return relative.to_string();
    }
    path.trim_start_matches("./").to_string()
}

/// An error or exception line: `ValueError: bad input`, `Caused by: …`,
/// `Exception in thread "main" java.lang.IllegalStateException: …`, `panic: …`,
/// `TypeError: x is not a function`, `error[E0502]: …`. Gives the exception's name,
/// if any, and its message.
pub(crate) fn error_line(line: &str) -> Option<(Option<String>, String)> {
    static ERROR: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"^\s*(?:Caused by: |Exception in thread .*? |Unhandled exception\. |Uncaught |\w+ \[E\d+\]: )?((?:[\w$]+\.)*[\w$]*(?:Error|Exception|Panic|Fault|Warning|Interrupt|Exit))(?:\[\w+\])?:\s*(.*)$",
        )
        .expect("valid")
    });
    static PANIC: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^\s*(?:panic|fatal error|error(?:\[E\d+\])?):\s*(.+)$").expect("valid")
    });
    if let Some(c) = ERROR.captures(line) {
        let name = c[1].rsplit('.').next().unwrap_or(&c[1]).to_string();
        return Some((Some(name), c[2].to_string()));
    }
    PANIC.captures(line).map(|c| (None, c[1].to_string()))
}
