//! The rules' queries, per language. `@finding` is what is reported, `@dynamic` what
//! must not be a constant (see the module's conventions). Regexes are the `regex`
//! crate's, written inside tree-sitter query strings (so `\\s` for `\s`).

use super::{Class, Rule};
use crate::Language;

/// A string that starts an SQL statement (after a Python prefix and the quote).
macro_rules! sql_start {
    () => {
        r#""(?i)^[rbuf]*[\"'`]+\\s*(select|insert|update|delete|drop|create|alter|merge|replace|truncate)\\s""#
    };
}

/// A password-ish word in the enclosing function.
const PASSWORD: &str = r"(?i)(pass(word|wd|phrase)?|pwd|\bpw\b)";

const PYTHON: &[(&str, Class, &str, Option<&str>)] = &[
    (
        "py-sql-concatenation",
        Class::SqlConcatenation,
        concat!(
            r#"
(binary_operator
  left: [(string) (concatenated_string)
         (binary_operator left: [(string) (concatenated_string)])] @s
  right: (_) @dynamic) @finding
(#match? @s "#,
            sql_start!(),
            r#")
"#
        ),
        None,
    ),
    (
        "py-sql-fstring",
        Class::SqlConcatenation,
        concat!(
            r#"
((string (interpolation)) @finding
 (#match? @finding "#,
            sql_start!(),
            r#"))
"#
        ),
        None,
    ),
    (
        "py-sql-format",
        Class::SqlConcatenation,
        concat!(
            r#"
(call function: (attribute object: (string) @s attribute: (identifier) @f)) @finding
(#eq? @f "format")
(#match? @s "#,
            sql_start!(),
            r#")
"#
        ),
        None,
    ),
    (
        "py-shell-subprocess",
        Class::ShellInjection,
        r#"
(call
  function: (attribute object: (identifier) @m attribute: (identifier) @f)
  arguments: (argument_list . (_) @dynamic
    (keyword_argument name: (identifier) @k value: (true)))) @finding
(#eq? @m "subprocess")
(#any-of? @f "run" "call" "check_call" "check_output" "Popen" "getoutput" "getstatusoutput")
(#eq? @k "shell")
"#,
        None,
    ),
    (
        "py-shell-os",
        Class::ShellInjection,
        r#"
(call
  function: (attribute object: (identifier) @m attribute: (identifier) @f)
  arguments: (argument_list . (_) @dynamic)) @finding
(#any-of? @m "os" "commands")
(#any-of? @f "system" "popen" "getoutput" "getstatusoutput")
"#,
        None,
    ),
    (
        "py-deserialize-pickle",
        Class::UnsafeDeserialization,
        r#"
(call function: (attribute object: (identifier) @m attribute: (identifier) @f)) @finding
(#any-of? @m "pickle" "cPickle" "_pickle" "dill" "marshal" "shelve" "jsonpickle")
(#any-of? @f "load" "loads" "decode" "open" "Unpickler")
"#,
        None,
    ),
    (
        "py-deserialize-yaml",
        Class::UnsafeDeserialization,
        r#"
(call function: (attribute object: (identifier) @m attribute: (identifier) @f)
      arguments: (argument_list) @args) @finding
(#eq? @m "yaml")
(#any-of? @f "load" "load_all")
(#not-match? @args "Safe(Loader)?|BaseLoader")
"#,
        None,
    ),
    (
        "py-deserialize-yaml-unsafe",
        Class::UnsafeDeserialization,
        r#"
(call function: (attribute object: (identifier) @m attribute: (identifier) @f)) @finding
(#eq? @m "yaml")
(#any-of? @f "unsafe_load" "unsafe_load_all" "full_load")
"#,
        None,
    ),
    (
        "py-tls-verify-false",
        Class::TlsVerificationDisabled,
        r#"
(call arguments: (argument_list (keyword_argument name: (identifier) @k value: (false)))) @finding
(#eq? @k "verify")
"#,
        None,
    ),
    (
        "py-tls-unverified-context",
        Class::TlsVerificationDisabled,
        r#"
[(attribute object: (identifier) @m attribute: (identifier) @f)
 (call function: (attribute object: (identifier) @m attribute: (identifier) @f))] @finding
(#eq? @m "ssl")
(#any-of? @f "_create_unverified_context" "CERT_NONE")
"#,
        None,
    ),
    (
        "py-tls-check-hostname",
        Class::TlsVerificationDisabled,
        r#"
(assignment left: (attribute attribute: (identifier) @a) right: (false)) @finding
(#eq? @a "check_hostname")
"#,
        None,
    ),
    (
        "py-weak-password-hash",
        Class::WeakPasswordHash,
        r#"
(call function: (attribute object: (identifier) @m attribute: (identifier) @f)) @finding
(#eq? @m "hashlib")
(#any-of? @f "md5" "sha1")
"#,
        Some(PASSWORD),
    ),
    (
        "py-weak-password-hash-new",
        Class::WeakPasswordHash,
        r#"
(call function: (attribute object: (identifier) @m attribute: (identifier) @f)
      arguments: (argument_list . (string) @alg)) @finding
(#eq? @m "hashlib")
(#eq? @f "new")
(#match? @alg "(?i)^[\"'](md5|sha1)[\"']$")
"#,
        Some(PASSWORD),
    ),
    (
        "py-sql-flow",
        Class::SqlConcatenation,
        r#"
(call function: (attribute attribute: (identifier) @m)
      arguments: (argument_list (identifier) @arg)) @finding
(#any-of? @m "execute" "executemany" "executescript" "raw" "mogrify" "read_sql" "read_sql_query")
"#,
        None,
    ),
];

/// JavaScript's rules, run on TypeScript and TSX too (their grammars extend it).
const JAVASCRIPT: &[(&str, Class, &str, Option<&str>)] = &[
    (
        "js-sql-concatenation",
        Class::SqlConcatenation,
        concat!(
            r#"
(binary_expression
  left: [(string) (binary_expression left: (string))] @s
  right: (_) @dynamic) @finding
(#match? @s "#,
            sql_start!(),
            r#")
"#
        ),
        None,
    ),
    (
        "js-sql-template",
        Class::SqlConcatenation,
        concat!(
            r#"
((template_string (template_substitution)) @finding
 (#match? @finding "#,
            sql_start!(),
            r#"))
"#
        ),
        None,
    ),
    (
        "js-shell-exec",
        Class::ShellInjection,
        r#"
(call_expression
  function: [(identifier) @f
             (member_expression object: (identifier) @m property: (property_identifier) @f)]
  arguments: (arguments . (_) @dynamic)) @finding
(#any-of? @f "exec" "execSync")
(#any-of? @m "child_process" "childProcess" "cp" "child")
"#,
        None,
    ),
    (
        "js-shell-spawn-shell",
        Class::ShellInjection,
        r#"
(call_expression
  function: [(identifier) @f (member_expression property: (property_identifier) @f)]
  arguments: (arguments . (_) @dynamic
    (object (pair key: (property_identifier) @k value: (true))))) @finding
(#any-of? @f "spawn" "spawnSync" "execFile" "execFileSync")
(#eq? @k "shell")
"#,
        None,
    ),
    (
        "js-deserialize",
        Class::UnsafeDeserialization,
        r#"
(call_expression
  function: [(identifier) @f (member_expression property: (property_identifier) @f)]) @finding
(#eq? @f "unserialize")
"#,
        None,
    ),
    (
        "js-deserialize-v8",
        Class::UnsafeDeserialization,
        r#"
(call_expression
  function: (member_expression object: (identifier) @o property: (property_identifier) @f)) @finding
(#eq? @o "v8")
(#eq? @f "deserialize")
"#,
        None,
    ),
    (
        "js-tls-reject-unauthorized",
        Class::TlsVerificationDisabled,
        r#"
(pair key: [(property_identifier) (string)] @k value: (false)) @finding
(#match? @k "^[\"']?rejectUnauthorized[\"']?$")
"#,
        None,
    ),
    (
        "js-tls-env",
        Class::TlsVerificationDisabled,
        r#"
(assignment_expression
  left: (member_expression property: (property_identifier) @p)) @finding
(#eq? @p "NODE_TLS_REJECT_UNAUTHORIZED")
"#,
        None,
    ),
    (
        "js-weak-password-hash",
        Class::WeakPasswordHash,
        r#"
(call_expression
  function: [(identifier) @f (member_expression property: (property_identifier) @f)]
  arguments: (arguments . (string) @alg)) @finding
(#eq? @f "createHash")
(#match? @alg "(?i)^[\"'`](md5|sha1|sha-1)[\"'`]$")
"#,
        Some(PASSWORD),
    ),
    (
        "js-sql-flow",
        Class::SqlConcatenation,
        r#"
(call_expression
  function: (member_expression property: (property_identifier) @m)
  arguments: (arguments (identifier) @arg)) @finding
(#any-of? @m "query" "execute" "raw" "exec" "prepare" "all" "run" "get" "each" "none" "one" "many" "any" "oneOrNone" "manyOrNone" "$queryRawUnsafe" "$executeRawUnsafe" "literal")
"#,
        None,
    ),
    (
        "js-sql-concat-call",
        Class::SqlConcatenation,
        concat!(
            r#"
(call_expression
  function: (member_expression object: (string) @s property: (property_identifier) @f)
  arguments: (arguments . (_) @dynamic)) @finding
(#eq? @f "concat")
(#match? @s "#,
            sql_start!(),
            r#")
"#
        ),
        None,
    ),
];

const JAVA: &[(&str, Class, &str, Option<&str>)] = &[
    (
        "java-sql-concatenation",
        Class::SqlConcatenation,
        concat!(
            r#"
(binary_expression
  left: [(string_literal) (binary_expression left: (string_literal))] @s
  right: (_) @dynamic) @finding
(#match? @s "#,
            sql_start!(),
            r#")
"#
        ),
        None,
    ),
    (
        "java-sql-format",
        Class::SqlConcatenation,
        concat!(
            r#"
(method_invocation
  object: (identifier) @o name: (identifier) @f
  arguments: (argument_list . (string_literal) @s)) @finding
(#eq? @o "String")
(#eq? @f "format")
(#match? @s "#,
            sql_start!(),
            r#")
"#
        ),
        None,
    ),
    (
        "java-shell-runtime-exec",
        Class::ShellInjection,
        r#"
(method_invocation
  object: (method_invocation name: (identifier) @g)
  name: (identifier) @e
  arguments: (argument_list . (_) @dynamic)) @finding
(#eq? @g "getRuntime")
(#eq? @e "exec")
"#,
        None,
    ),
    (
        "java-shell-process-builder",
        Class::ShellInjection,
        r#"
(object_creation_expression
  type: (type_identifier) @t
  arguments: (argument_list (string_literal) @c . (_) @dynamic)) @finding
(#eq? @t "ProcessBuilder")
(#match? @c "^\"(-c|/c)\"$")
"#,
        None,
    ),
    (
        "java-deserialize",
        Class::UnsafeDeserialization,
        r#"
(object_creation_expression type: (type_identifier) @t) @finding
(#any-of? @t "ObjectInputStream" "XMLDecoder" "XStream")
"#,
        None,
    ),
    (
        "java-tls-trust-all",
        Class::TlsVerificationDisabled,
        r#"
(method_declaration name: (identifier) @n body: (block) @b) @finding
(#any-of? @n "checkServerTrusted" "checkClientTrusted")
(#not-match? @b "throw|super\\.|delegate|\\.check")
"#,
        None,
    ),
    (
        "java-tls-hostname-verifier",
        Class::TlsVerificationDisabled,
        r#"
[(object_creation_expression type: (type_identifier) @t)
 (field_access field: (identifier) @t)
 (method_invocation name: (identifier) @h
   arguments: (argument_list (lambda_expression body: (true) @t)))] @finding
(#any-of? @t "NoopHostnameVerifier" "ALLOW_ALL_HOSTNAME_VERIFIER" "true")
(#any-of? @h "setHostnameVerifier" "setDefaultHostnameVerifier")
"#,
        None,
    ),
    (
        "java-tls-verify-true",
        Class::TlsVerificationDisabled,
        r#"
(method_declaration name: (identifier) @n
  body: (block . (return_statement (true)) .)) @finding
(#eq? @n "verify")
"#,
        None,
    ),
    (
        "java-weak-password-hash",
        Class::WeakPasswordHash,
        r#"
(method_invocation
  object: (identifier) @o name: (identifier) @g
  arguments: (argument_list . (string_literal) @alg)) @finding
(#eq? @o "MessageDigest")
(#eq? @g "getInstance")
(#match? @alg "(?i)^\"(md5|sha-?1)\"$")
"#,
        Some(PASSWORD),
    ),
    (
        "java-sql-flow",
        Class::SqlConcatenation,
        r#"
(method_invocation name: (identifier) @m arguments: (argument_list (identifier) @arg)) @finding
(#any-of? @m "execute" "executeQuery" "executeUpdate" "executeLargeUpdate" "addBatch" "prepareStatement" "prepareCall" "createQuery" "createNativeQuery" "createSQLQuery" "queryForObject" "queryForList" "queryForMap" "queryForRowSet" "query" "update" "batchUpdate" "nativeSQL")
"#,
        None,
    ),
    (
        "java-shell-args",
        Class::ShellInjection,
        r#"
(method_invocation
  name: (identifier) @e
  arguments: (argument_list . (string_literal) @sh . (string_literal) @c . (_) @dynamic)) @finding
(#any-of? @e "exec" "command")
(#match? @sh "^\"((/usr)?/bin/)?(ba|z|da|k)?sh\"$|^\"cmd(\\.exe)?\"$")
(#match? @c "^\"(-c|/c)\"$")
"#,
        None,
    ),
    (
        "java-sql-concat-call",
        Class::SqlConcatenation,
        concat!(
            r#"
(method_invocation
  object: (string_literal) @s name: (identifier) @f
  arguments: (argument_list . (_) @dynamic)) @finding
(#eq? @f "concat")
(#match? @s "#,
            sql_start!(),
            r#")
"#
        ),
        None,
    ),
];

const GO: &[(&str, Class, &str, Option<&str>)] = &[
    (
        "go-sql-concatenation",
        Class::SqlConcatenation,
        concat!(
            r#"
(binary_expression
  left: [(interpreted_string_literal) (raw_string_literal)
         (binary_expression left: [(interpreted_string_literal) (raw_string_literal)])] @s
  right: (_) @dynamic) @finding
(#match? @s "#,
            sql_start!(),
            r#")
"#
        ),
        None,
    ),
    (
        "go-sql-sprintf",
        Class::SqlConcatenation,
        concat!(
            r#"
(call_expression
  function: (selector_expression operand: (identifier) @p field: (field_identifier) @f)
  arguments: (argument_list . [(interpreted_string_literal) (raw_string_literal)] @s)) @finding
(#eq? @p "fmt")
(#eq? @f "Sprintf")
(#match? @s "#,
            sql_start!(),
            r#")
"#
        ),
        None,
    ),
    (
        "go-shell-exec",
        Class::ShellInjection,
        r#"
(call_expression
  function: (selector_expression operand: (identifier) @p field: (field_identifier) @f)
  arguments: (argument_list
    (interpreted_string_literal) @sh . (interpreted_string_literal) @c . (_) @dynamic)) @finding
(#eq? @p "exec")
(#any-of? @f "Command" "CommandContext")
(#match? @sh "^\"(/bin/|/usr/bin/)?(ba|z|da)?sh\"$")
(#eq? @c "\"-c\"")
"#,
        None,
    ),
    (
        "go-deserialize-gob",
        Class::UnsafeDeserialization,
        r#"
(call_expression
  function: (selector_expression operand: (identifier) @p field: (field_identifier) @f)) @finding
(#eq? @p "gob")
(#eq? @f "NewDecoder")
"#,
        None,
    ),
    (
        "go-tls-insecure-skip-verify",
        Class::TlsVerificationDisabled,
        r#"
[(keyed_element . (_) @k . (_) @v .)
 (assignment_statement
   left: (expression_list (selector_expression field: (field_identifier) @k))
   right: (expression_list (true) @v))] @finding
(#match? @k "^InsecureSkipVerify$")
(#eq? @v "true")
"#,
        None,
    ),
    (
        "go-weak-password-hash",
        Class::WeakPasswordHash,
        r#"
(call_expression
  function: (selector_expression operand: (identifier) @p field: (field_identifier) @f)) @finding
(#any-of? @p "md5" "sha1")
(#any-of? @f "Sum" "New")
"#,
        Some(PASSWORD),
    ),
    (
        "go-sql-flow",
        Class::SqlConcatenation,
        r#"
(call_expression
  function: (selector_expression field: (field_identifier) @m)
  arguments: (argument_list (identifier) @arg)) @finding
(#any-of? @m "Query" "QueryRow" "QueryContext" "QueryRowContext" "Exec" "ExecContext" "Prepare" "PrepareContext" "Raw" "Select" "Get" "MustExec" "Queryx" "QueryRowx")
"#,
        None,
    ),
];

/// Every rule with its grammar.
pub fn all() -> Vec<Rule> {
    let mut rules = Vec::new();
    let mut add = |table: &[(&'static str, Class, &'static str, Option<&'static str>)],
                   languages: &[Language]| {
        for language in languages {
            for (id, class, query, near) in table {
                rules.push(Rule {
                    id,
                    class: *class,
                    language: *language,
                    query,
                    near: *near,
                });
            }
        }
    };
    add(PYTHON, &[Language::Python]);
    add(
        JAVASCRIPT,
        &[Language::JavaScript, Language::TypeScript, Language::Tsx],
    );
    add(JAVA, &[Language::Java]);
    add(GO, &[Language::Go]);
    rules
}
