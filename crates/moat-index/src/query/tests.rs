use super::*;

fn kinds(u: &Understanding) -> Vec<(PartKind, usize, usize)> {
    u.parts
        .iter()
        .map(|p| (p.kind, p.first_line, p.last_line))
        .collect()
}

#[test]
fn a_python_traceback_names_its_project_files_and_functions_not_the_standard_library() {
    let report = r#"Uploading fails with a KeyError since 2.3.
Traceback (most recent call last):
  File "/home/ci/venv/lib/python3.11/site-packages/uploader/client.py", line 88, in send_chunk
    part = self._parts[index]
  File "/usr/lib/python3.11/threading.py", line 1045, in _bootstrap_inner
    self.run()
KeyError: 'chunk_size'
"#;
    let u = understand(report);
    assert_eq!(u.files, vec!["uploader/client.py"]);
    assert_eq!(
        u.symbols[..2],
        ["send_chunk".to_string(), "KeyError".to_string()]
    );
    assert!(!u.symbols.iter().any(|s| s == "_bootstrap_inner"));
    assert_eq!(
        kinds(&u),
        vec![
            (PartKind::Prose, 1, 1),
            (PartKind::StackTrace, 2, 6),
            (PartKind::Error, 7, 7)
        ]
    );
    // The standard library's frame counts for little, the project's for more.
    let weight = |needle: &str| {
        u.pieces
            .iter()
            .find(|p| p.text.contains(needle))
            .map(|p| p.weight)
            .unwrap()
    };
    assert!(weight("_bootstrap_inner") < weight("send_chunk"));
    assert!(weight("self.run()") < weight("self._parts[index]"));
}

#[test]
fn frames_of_each_language_are_read() {
    let cases: &[(&str, Option<&str>, Option<&str>)] = &[
        (
            "\tat com.acme.billing.InvoiceService.total(InvoiceService.java:42)",
            Some("com/acme/billing/InvoiceService.java"),
            Some("total"),
        ),
        (
            "   at Acme.Billing.Invoice.Total(Decimal rate) in C:\\src\\Billing\\Invoice.cs:line 17",
            Some("C:/src/Billing/Invoice.cs"),
            Some("Total"),
        ),
        (
            "    at Router.handle (/srv/app/src/router.ts:120:11)",
            Some("/srv/app/src/router.ts"),
            Some("handle"),
        ),
        (
            "    at async parseConfig (file:///srv/app/lib/config.mjs:9:3)",
            Some("/srv/app/lib/config.mjs"),
            Some("parseConfig"),
        ),
        (
            "\t/home/u/src/github.com/acme/store/cache/lru.go:77 +0x1d",
            Some("/home/u/src/github.com/acme/store/cache/lru.go"),
            None,
        ),
        (
            "github.com/acme/store/cache.(*LRU).Evict(0xc000010000, 0x3)",
            None,
            Some("Evict"),
        ),
        (
            "   4: moat_index::graph::RepoGraph::rank",
            None,
            Some("rank"),
        ),
        (
            "             at ./src/graph.rs:120:9",
            Some("src/graph.rs"),
            None,
        ),
        (
            "thread 'main' panicked at src/parser/mod.rs:33:14:",
            Some("src/parser/mod.rs"),
            None,
        ),
    ];
    for (line, path, function) in cases {
        let frame = frames::frame(line).unwrap_or_else(|| panic!("{line} is a frame"));
        assert_eq!(frame.path.as_deref(), *path, "{line}");
        assert_eq!(frame.function.as_deref(), *function, "{line}");
        assert!(!frame.external, "{line}");
    }
    for external in [
        "\tat java.base/java.util.HashMap.get(HashMap.java:556)",
        "    at node:internal/process/task_queues:95:5",
        "    at Object.<anonymous> (/srv/app/node_modules/express/lib/router.js:10:3)",
        "  File \"<frozen importlib._bootstrap>\", line 241, in _call_with_frames_removed",
        "   1: std::panicking::begin_panic_handler",
    ] {
        let frame = frames::frame(external).unwrap_or_else(|| panic!("{external} is a frame"));
        assert!(frame.external, "{external}");
    }
    for prose in [
        "at the moment this fails",
        "File a bug if it breaks",
        "we looked at it yesterday (twice)",
    ] {
        assert_eq!(frames::frame(prose), None, "{prose}");
    }
}

#[test]
fn environment_dumps_are_dropped_and_a_version_in_a_sentence_is_not() {
    let report = r#"Since upgrading to httpx 0.27 the proxy is ignored.

```
Package    Version
---------- -------
anyio      4.3.0
certifi    2024.2.2
httpx      0.27.0
```

go env:
GOARCH="amd64"
GOOS="linux"
CGO_ENABLED="1"
{
  "requests": {"version": "2.31.0"},
  "urllib3": {
    "version": "2.2.1"
  }
}
"#;
    let u = understand(report);
    let text: String = u
        .pieces
        .iter()
        .filter(|p| p.weight > 0.0)
        .map(|p| p.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(text.contains("proxy is ignored"));
    for dropped in [
        "anyio",
        "certifi",
        "GOARCH",
        "CGO_ENABLED",
        "urllib3",
        "2.2.1",
    ] {
        assert!(!text.contains(dropped), "{dropped} is used: {text}");
    }
    assert!(
        u.parts
            .iter()
            .any(|p| p.kind == PartKind::Environment && p.first_line == 4 && p.last_line == 8)
    );
    assert!(
        u.parts
            .iter()
            .any(|p| p.kind == PartKind::Environment && p.first_line == 12 && p.last_line == 20),
        "{:?}",
        u.parts
    );
    // The blank line after the first sentence belongs to it.
    assert_eq!(u.parts[0].last_line, 2);
}

#[test]
fn log_lines_keep_their_message_without_timestamp_and_level() {
    let u = understand(
        "2024-03-01T10:22:31.123Z ERROR [worker-3] scheduler: lease expired for job 42\n\
         [INFO] retrying connection\n\
         E0301 10:22:31.123456   12345 reflector.go:138] watch of Pod ended\n",
    );
    assert!(u.parts.iter().all(|p| p.kind == PartKind::Log));
    let messages: Vec<&str> = u.pieces.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(
        messages,
        vec![
            "lease expired for job 42",
            "retrying connection",
            "watch of Pod ended"
        ]
    );
    assert!(u.pieces.iter().all(|p| p.weight < PROSE));
}

#[test]
fn names_in_text_links_and_html_comments() {
    let u = understand(
        "<!-- Please describe the bug. Include your pip freeze! -->\n\
Calling `Session.merge_environment_settings` drops the proxy; see \
https://github.com/acme/http/blob/0a1b2c/src/http/sessions.py#L700 and utils.py.\n\
The `rebuild_proxies()` helper and `Config::load` look related.",
    );
    assert_eq!(u.files, vec!["src/http/sessions.py", "utils.py"]);
    for name in ["merge_environment_settings", "rebuild_proxies", "load"] {
        assert!(
            u.symbols.iter().any(|s| s == name),
            "{name}: {:?}",
            u.symbols
        );
    }
    let text: String = u.pieces.iter().map(|p| p.text.as_str()).collect();
    assert!(
        !text.contains("pip freeze"),
        "the template comment is dropped"
    );
    assert!(!text.contains("github.com"), "links are not words");
    assert_eq!(u.parts[0].first_line, 1, "lines keep their numbers");
    assert_eq!(u.parts.last().unwrap().last_line, 3);
}

#[test]
fn named_files_and_symbols_are_bounded() {
    let mut report = String::new();
    for i in 0..200 {
        report.push_str(&format!("see src/module_{i}.py and handler_{i}()\n"));
    }
    let u = understand(&report);
    assert_eq!(u.files.len(), MAX_NAMED);
    assert_eq!(u.symbols.len(), MAX_NAMED);
    assert_eq!(u.files[0], "src/module_0.py");
}

#[test]
fn an_unclosed_html_comment_drops_only_its_line() {
    let u = understand(
        "Report:\n```html\n<div><!-- x</div>\n```\nTraceback (most recent call last):\n  File \"app/x.py\", line 3, in settle\nValueError: bad",
    );
    assert_eq!(u.files, vec!["app/x.py"]);
    assert!(u.symbols.iter().any(|s| s == "settle"), "{:?}", u.symbols);
    assert_eq!(u.parts.last().unwrap().last_line, 7);
}

#[test]
fn only_the_line_after_a_frame_is_its_source() {
    let u = understand(
        "  File \"x.py\", line 1, in handler\n    quoted_source()\n    not_quoted()\n    also_not()\n",
    );
    let weight = |needle: &str| {
        u.pieces
            .iter()
            .find(|p| p.text.contains(needle))
            .unwrap()
            .weight
    };
    assert_eq!(weight("quoted_source"), PROJECT_FRAME);
    assert_eq!(weight("not_quoted"), CODE);
    assert_eq!(weight("also_not"), CODE);
}

#[test]
fn generic_names_are_not_named_and_parts_are_bounded() {
    let u = understand(
        "Error: connection refused\nsee app.log and styles.css\n    at Object.<anonymous> (/srv/a.js:1:1)\n",
    );
    for generic in ["Error", "log", "css", "Object", "anonymous"] {
        assert!(
            !u.symbols.iter().any(|s| s == generic),
            "{generic}: {:?}",
            u.symbols
        );
    }
    let alternating = "prose line\n    code line\n".repeat(1000);
    let u = understand(&alternating);
    assert_eq!(u.parts.len(), MAX_PARTS);
    assert_eq!(u.parts_omitted, 2000 - MAX_PARTS);
    assert!(
        u.summary()
            .unwrap()
            .contains(&format!("and {} more parts", 2000 - MAX_PARTS))
    );
}
