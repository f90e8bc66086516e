//! What lower tiers are shown of a symbol: per language, one fixture with words planted
//! in bodies, values, defaults, ordinary comments and strings (`zqbody`, `zqvalue`,
//! `zqdefault`, `zqcomment`, `zqstring`, `zqinterp`, `zqmacro`) and in what a tier
//! shows (`zqsig`, `zqdoc`). No signature or doc may hold a hidden word; the shown words
//! must still be there. The same fixtures are indexed and searched at every tier in
//! `tests/tiers.rs`. Refresh the outlines with `UPDATE_EXPECT=1 cargo test`.

use super::tests::outline;
use super::*;
use expect_test::{Expect, expect};

const HIDDEN: &[&str] = &[
    "zqbody",
    "zqvalue",
    "zqdefault",
    "zqcomment",
    "zqstring",
    "zqinterp",
    "zqmacro",
];

fn check(language: Language, source: &str, expected: Expect) {
    let file = Extractor::new()
        .extract(language, source, Duration::from_secs(5))
        .expect("parses");
    for symbol in &file.symbols {
        for hidden in HIDDEN {
            assert!(
                !symbol.signature.contains(hidden) && !symbol.doc.contains(hidden),
                "{language:?} {}: `{}` / `{}` shows {hidden}",
                symbol.qualified_name,
                symbol.signature,
                symbol.doc
            );
        }
        assert!(
            !symbol.signature.contains("//") && !symbol.signature.contains("/*"),
            "{language:?}: a comment in `{}`",
            symbol.signature
        );
    }
    for hidden in HIDDEN {
        assert!(
            !file.doc.contains(hidden),
            "{language:?} file doc: {}",
            file.doc
        );
    }
    assert!(
        file.symbols.iter().any(|s| s.doc.contains("zqdoc")) || file.doc.contains("zqdoc"),
        "{language:?}: the doc comment is kept"
    );
    if source.contains("zqsig") {
        assert!(
            file.symbols.iter().any(|s| s.signature.contains("zqsig")),
            "{language:?}: the parameters are kept"
        );
    }
    expected.assert_eq(&outline(language, source));
}

#[test]
fn rust() {
    check(
        Language::Rust,
        include_str!("../../tests/fixtures/tiers/tiers.rs"),
        expect![[r#"
            file doc: Ledger settlement.
            function settle_ledger [pub] 4-9 `pub fn settle_ledger(zqsig_batch: u32) -> u32` doc: Settles the ledger zqdoc.
            constant LEDGER_LIMIT [pub] 12-12 `pub const LEDGER_LIMIT: u32`
            constant LEDGER_NAME [pub] 14-14 `pub static LEDGER_NAME: &str`
            macro ledger_macro [-] 16-18 `macro_rules! ledger_macro`
            enum LedgerState [pub] 20-23 `pub enum LedgerState`
              variant LedgerState::Open [-] 21-21 `Open`
              variant LedgerState::Closed [-] 22-22 `Closed`
        "#]],
    );
}

#[test]
fn typescript() {
    check(
        Language::TypeScript,
        include_str!("../../tests/fixtures/tiers/tiers.ts"),
        expect![[r#"
            file doc: Settles the ledger zqdoc.
            function settleLedger [-] 2-7 `export function settleLedger(zqsigBatch: number, retries: number = …): number` doc: Settles the ledger zqdoc.
            class LedgerClient [-] 10-15 `export class LedgerClient`
              property LedgerClient.limit [private] 11-11 `private limit: number`
              property LedgerClient.onSettle [-] 12-12 `onSettle = (event: string) =>` calls: zqbodyHandler
              method LedgerClient.post [-] 14-14 `post(entry: string, mode = …): void` doc: Posts an entry zqdoc. calls: zqbodyPost
            function settleAll [-] 17-17 `export const settleAll = () =>` calls: zqbodyAll
        "#]],
    );
}

#[test]
fn javascript() {
    check(
        Language::JavaScript,
        include_str!("../../tests/fixtures/tiers/tiers.js"),
        expect![[r#"
            file doc: Settles the ledger zqdoc.
            function settleLedger [-] 2-6 `export function settleLedger(zqsigBatch, retries = …)` doc: Settles the ledger zqdoc. calls: zqbodyTotal
            function parseLedger [-] 9-9 `const parseLedger = (value) =>` calls: split
            class LedgerClient [-] 11-14 `export class LedgerClient`
              property LedgerClient.#limit [private] 12-12 `#limit`
              property LedgerClient.onSettle [-] 13-13 `onSettle = (event) =>` calls: zqbodyHandler
        "#]],
    );
}

#[test]
fn csharp() {
    check(
        Language::CSharp,
        include_str!("../../tests/fixtures/tiers/tiers.cs"),
        expect![[r#"
            import using System;
            namespace Ledger [-] 3-26 `namespace Ledger`
              class Ledger.LedgerService [public] 6-23 `public class LedgerService` doc: Settles the ledger zqdoc.
                field Ledger.LedgerService.limit [private] 8-8 `private readonly int limit`
                property Ledger.LedgerService.Retries [public] 11-11 `public int Retries { get; private set; }`
                property Ledger.LedgerService.Name [public] 13-13 `public string Name { get; set; }`
                property Ledger.LedgerService.Total [public] 15-15 `public int Total` calls: zqbodyTotal
                method Ledger.LedgerService.Settle [public] 18-22 `public int Settle(int zqsigBatch, int retries = …)` doc: Settles one batch zqdoc. calls: zqbodySettle
              enum Ledger.LedgerState [public] 25-25 `public enum LedgerState`
                variant Ledger.LedgerState.Open [-] 25-25 `Open`
                variant Ledger.LedgerState.Closed [-] 25-25 `Closed`
        "#]],
    );
}

#[test]
fn c() {
    check(
        Language::C,
        include_str!("../../tests/fixtures/tiers/tiers.c"),
        expect![[r#"
            import #include <stdio.h>
            macro LEDGER_LIMIT [-] 3-4 `#define LEDGER_LIMIT`
            macro LEDGER_SCALE [-] 4-5 `#define LEDGER_SCALE(x)`
            function settle_plain [-] 7-7 `int settle_plain(int batch);`
            function settle_ledger [-] 10-15 `int settle_ledger(int zqsig_batch)` doc: Settles the ledger zqdoc. calls: zqbody_total
            enum ledger_state [-] 17-17 `enum ledger_state`
              variant ledger_state.LEDGER_OPEN [-] 17-17 `LEDGER_OPEN`
              variant ledger_state.LEDGER_CLOSED [-] 17-17 `LEDGER_CLOSED`
        "#]],
    );
}

#[test]
fn cpp() {
    check(
        Language::Cpp,
        include_str!("../../tests/fixtures/tiers/tiers.cpp"),
        expect![[r#"
            import #include <vector>
            namespace ledger [-] 3-14 `namespace ledger`
              class ledger::Ledger [-] 6-12 `class Ledger` doc: Settles the ledger zqdoc.
                field ledger::Ledger::limit [-] 8-8 `int limit`
                method ledger::Ledger::total [-] 9-9 `virtual int total() const = 0;`
                method ledger::Ledger::settle [-] 11-11 `int settle(int zqsig_batch, int retries = …);`
                method ledger::Ledger::settle [-] 16-20 `int ledger::Ledger::settle(int zqsig_batch, int retries)` calls: zqbody_total
        "#]],
    );
}

#[test]
fn java() {
    check(
        Language::Java,
        include_str!("../../tests/fixtures/tiers/Tiers.java"),
        expect![[r#"
            class Tiers [public] 4-16 `public class Tiers` doc: Settles the ledger zqdoc.
              field Tiers.LEDGER_LIMIT [public] 5-5 `public static final int LEDGER_LIMIT`
              field Tiers.onSettle [private] 6-6 `private final Runnable onSettle = () ->` calls: zqbodyHandler
              method Tiers.settle [public] 9-13 `public int settle(int zqsigBatch)` calls: zqbodyTotal
              enum Tiers.State [-] 15-15 `enum State`
                variant Tiers.State.OPEN [-] 15-15 `OPEN`
                variant Tiers.State.CLOSED [-] 15-15 `CLOSED`
        "#]],
    );
}

#[test]
fn go() {
    check(
        Language::Go,
        include_str!("../../tests/fixtures/tiers/tiers.go"),
        expect![[r#"
            file doc: Package ledger settles ledgers zqdoc.
            function SettleLedger [exported] 7-11 `func SettleLedger(zqsigBatch int) int` doc: SettleLedger settles the ledger zqdoc. calls: zqbodyTotal
            constant LedgerLimit [exported] 13-13 `const LedgerLimit`
            constant LedgerOpen [exported] 15-16 `const LedgerOpen`
            constant LedgerClosed [exported] 15-17 `const LedgerClosed`
        "#]],
    );
}

#[test]
fn python() {
    check(
        Language::Python,
        include_str!("../../tests/fixtures/tiers/tiers.py"),
        expect![[r#"
            file doc: Ledger settlement zqdoc.
            function settle_ledger [public] 7-11 `def settle_ledger(zqsig_batch, retries=…)` doc: Settles the ledger zqdoc. calls: zqbody_total
            class LedgerClient [public] 14-16 `class LedgerClient`
              method LedgerClient.post [public] 15-16 `def post(self, entry, *, mode: str = …)` calls: zqbody_post
        "#]],
    );
}

#[test]
fn ruby() {
    check(
        Language::Ruby,
        include_str!("../../tests/fixtures/tiers/tiers.rb"),
        expect![[r#"
            file doc: Ledger settlement.
            module Ledger [public] 4-16 `module Ledger` doc: Ledger settlement.
              method Ledger::settle [public] 8-15 `def self.settle(zqsig_batch, retries = …, mode: …)` doc: Settles the ledger zqdoc. calls: zqbody_total
        "#]],
    );
}

#[test]
fn redacted_source_masks_every_kind_of_literal() {
    let cases: &[(Language, &str)] = &[
        (
            Language::CSharp,
            "class A {\n    string S = $\"wire {zqinterp} zqstring\";\n    char C = 'K';\n}\n",
        ),
        (
            Language::Ruby,
            "def f\n  sql = <<~SQL\n    select zqstring from #{zqinterp}\n  SQL\n  r = /zqstring/\n  w = %w[zqstring]\n  c = ?K\nend\n",
        ),
        (
            Language::JavaScript,
            "const r = /zqstring/g;\nconst t = `x ${zqinterp}`;\n",
        ),
        (Language::Rust, "fn f() -> char {\n    'K'\n}\n"),
        (Language::Go, "package p\n\nvar r = 'K'\n"),
        (Language::Java, "class A {\n    char c = 'K';\n}\n"),
        (Language::C, "char c = 'K';\n"),
        (Language::Cpp, "char c = 'K';\n"),
    ];
    for (language, source) in cases {
        let masked =
            mask_literals_and_comments(*language, source, Duration::from_secs(1)).expect("masks");
        assert!(
            !masked.contains("zqstring") && !masked.contains("zqinterp") && !masked.contains('K'),
            "{language:?}:\n{masked}"
        );
        assert_eq!(masked.lines().count(), source.lines().count(), "{masked}");
    }
}

#[test]
fn identifiers_inside_hidden_literals_rank_only_where_literals_are_shown() {
    let file = Extractor::new()
        .extract(
            Language::CSharp,
            "class A {\n    string S() { return $\"{zqinterp} {visible}\" + visible; }\n}\n",
            Duration::from_secs(1),
        )
        .unwrap();
    let method = &file.symbols[1];
    // Relations keep everything the code names; masked code ranks on what it shows.
    assert!(method.references.contains("zqinterp") && method.references.contains("visible"));
    assert_eq!(method.code_references.as_deref(), Some("visible"));
}

/// Declarations built to smuggle a value, body or comment into a signature or doc.
#[test]
fn adversarial_declarations_show_no_value_body_or_comment() {
    let cases: &[(Language, &str)] = &[
        (
            Language::CSharp,
            "class A {\n    public int P { get => zqbodyA; set => zqbodyB = value; }\n    public const int C = zqvalueC;\n    public int Q { get; init; } = zqvalueQ;\n    // zqcomment\n    public event System.EventHandler E = zqvalueE;\n}\n",
        ),
        (
            Language::Rust,
            "pub const X: u32 = /* zqcomment */ zqvalue;\npub static mut Y: [u8; 2] = [zqvalue, 1];\npub fn f(/* zqcomment */ a: u32, // zqcomment\n b: u32) {}\n// zqcomment\n//// zqcomment\n/*** zqcomment */\nfn g() {}\n",
        ),
        (
            Language::TypeScript,
            "export const handler = async (req = zqdefault) => { zqbody(); };\nclass A { static readonly M = new Map([[zqvalue, 1]]); }\nfunction g({ a = zqdefault }: Opts, [b = zqdefault]: number[]) {}\n/* zqcomment */\nfunction h() {}\n",
        ),
        (
            Language::JavaScript,
            "export default function (a = zqdefault) { zqbody(); }\nclass B { static x = zqvalue; y = function () { zqbody(); }; }\n",
        ),
        (
            Language::Java,
            "interface I { int X = zqvalue; }\nenum E { A(zqvalue) { void f() { zqbody(); } } }\nclass K {\n    /* zqcomment */\n    static int B = zqvalue;\n    java.util.function.Supplier<Integer> s = () -> zqbody();\n}\n",
        ),
        (
            Language::Go,
            "package p\n\n// zqbody(x)\n// x := zqbody()\n// TODO zqcomment\nconst X, Y = zqvalue, zqvalue2\n\n//go:generate zqcomment\n//nolint:zqcomment\nfunc F() {}\n",
        ),
        (
            Language::C,
            "#define F(x) do { zqbody(x); } while (0)\nstruct s { int a : 3; };\n// zqcomment\nint g(int a /* zqcomment */);\n",
        ),
        (
            Language::Cpp,
            "template <int N = zqdefault> struct S { static constexpr int K = zqvalue; };\nvoid f(std::function<void()> cb = [] { zqbody(); });\n",
        ),
        (
            Language::Python,
            "def f(a=lambda: zqbody(), *args, b=(zqdefault, 1), **kw):\n    pass\n\n# zqcomment\nclass A:\n    # zqcomment\n    def g(self):\n        pass\n",
        ),
        (
            Language::Ruby,
            "# frozen_string_literal: true\n# x = zqbody\n# puts zqbody\n# TODO: zqcomment\ndef f(a = zqdefault, *rest, b: zqdefault, &blk)\nend\n",
        ),
    ];
    for (language, source) in cases {
        let file = Extractor::new()
            .extract(*language, source, Duration::from_secs(5))
            .expect("parses");
        assert!(!file.symbols.is_empty(), "{language:?}");
        for symbol in &file.symbols {
            for hidden in HIDDEN {
                assert!(
                    !symbol.signature.contains(hidden) && !symbol.doc.contains(hidden),
                    "{language:?} {}: `{}` / `{}` shows {hidden}",
                    symbol.qualified_name,
                    symbol.signature,
                    symbol.doc
                );
            }
        }
        for hidden in HIDDEN {
            assert!(
                !file.doc.contains(hidden),
                "{language:?}: file doc {}",
                file.doc
            );
        }
    }
}
