//! Every rule compiles against its grammar, finds its mistake, and leaves the safe form
//! of the same code alone.

use super::*;

fn found(language: Language, code: &str) -> Vec<&'static str> {
    check(language, code).into_iter().map(|f| f.rule).collect()
}

#[test]
fn every_query_compiles_against_its_grammar() {
    assert!(compiled().len() >= 30, "{}", compiled().len());
    for language in [
        Language::Python,
        Language::JavaScript,
        Language::TypeScript,
        Language::Java,
        Language::Go,
    ] {
        assert!(covers(language), "{language}");
    }
    assert!(!covers(Language::Ruby));
}

/// (language, vulnerable code, the rule that must find it, the safe form)
const CASES: &[(Language, &str, &str, &str)] = &[
    (
        Language::Python,
        "def f(cur, name):\n    cur.execute(\"SELECT * FROM users WHERE name = '\" + name + \"'\")\n",
        "py-sql-concatenation",
        "def f(cur, name):\n    cur.execute(\"SELECT * FROM users WHERE name = %s\", (name,))\n",
    ),
    (
        Language::Python,
        "def f(cur, uid):\n    cur.execute(f\"DELETE FROM sessions WHERE user = {uid}\")\n",
        "py-sql-fstring",
        "def f(cur, uid):\n    cur.execute(\"DELETE FROM sessions WHERE user = ?\", [uid])\n    log(f\"deleted {uid}\")\n",
    ),
    (
        Language::Python,
        "q = \"SELECT id FROM t WHERE a = '{}'\".format(a)\n",
        "py-sql-format",
        "q = \"Hello {}\".format(a)\n",
    ),
    (
        Language::Python,
        "import subprocess\ndef f(host):\n    subprocess.run(\"ping -c 1 \" + host, shell=True)\n",
        "py-shell-subprocess",
        "import subprocess\ndef f(host):\n    subprocess.run([\"ping\", \"-c\", \"1\", host])\n    subprocess.run(\"ls -l\", shell=True)\n",
    ),
    (
        Language::Python,
        "import os\ndef f(path):\n    os.system(f\"rm -rf {path}\")\n",
        "py-shell-os",
        "import os\nos.system(\"clear\")\n",
    ),
    (
        Language::Python,
        "import pickle\ndef f(blob):\n    return pickle.loads(blob)\n",
        "py-deserialize-pickle",
        "import json\ndef f(blob):\n    return json.loads(blob)\n",
    ),
    (
        Language::Python,
        "import yaml\ndef f(text):\n    return yaml.load(text)\n",
        "py-deserialize-yaml",
        "import yaml\ndef f(text):\n    return yaml.load(text, Loader=yaml.SafeLoader)\n",
    ),
    (
        Language::Python,
        "import requests\nr = requests.get(url, verify=False)\n",
        "py-tls-verify-false",
        "import requests\nr = requests.get(url, verify=\"/etc/ssl/ca.pem\")\n",
    ),
    (
        Language::Python,
        "import ssl\nctx = ssl._create_unverified_context()\n",
        "py-tls-unverified-context",
        "import ssl\nctx = ssl.create_default_context()\n",
    ),
    (
        Language::Python,
        "import hashlib\ndef store(user, password):\n    user.hash = hashlib.md5(password.encode()).hexdigest()\n",
        "py-weak-password-hash",
        "import hashlib\ndef etag(body):\n    return hashlib.md5(body).hexdigest()\n",
    ),
    (
        Language::JavaScript,
        "function f(db, id) {\n  return db.query(\"SELECT * FROM orders WHERE id = \" + id);\n}\n",
        "js-sql-concatenation",
        "function f(db, id) {\n  return db.query(\"SELECT * FROM orders WHERE id = $1\", [id]);\n}\n",
    ),
    (
        Language::TypeScript,
        "async function f(db: Db, id: string) {\n  return db.query(`SELECT * FROM orders WHERE id = ${id}`);\n}\n",
        "js-sql-template",
        "async function f(db: Db, id: string) {\n  return db.query(`SELECT * FROM orders WHERE id = $1`, [id]);\n}\n",
    ),
    (
        Language::JavaScript,
        "const { exec } = require('child_process');\nfunction f(file) { exec('convert ' + file + ' out.png'); }\n",
        "js-shell-exec",
        "const { execFile } = require('child_process');\nfunction f(file) { execFile('convert', [file, 'out.png']); const m = re.exec(file); }\n",
    ),
    (
        Language::JavaScript,
        "const serialize = require('node-serialize');\nfunction f(c) { return serialize.unserialize(c); }\n",
        "js-deserialize",
        "function f(c) { return JSON.parse(c); }\n",
    ),
    (
        Language::JavaScript,
        "const agent = new https.Agent({ rejectUnauthorized: false });\n",
        "js-tls-reject-unauthorized",
        "const agent = new https.Agent({ rejectUnauthorized: true, ca });\n",
    ),
    (
        Language::JavaScript,
        "process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';\n",
        "js-tls-env",
        "const level = process.env.LOG_LEVEL;\n",
    ),
    (
        Language::JavaScript,
        "function hash(password) { return crypto.createHash('md5').update(password).digest('hex'); }\n",
        "js-weak-password-hash",
        "function etag(body) { return crypto.createHash('md5').update(body).digest('hex'); }\n",
    ),
    (
        Language::Java,
        "class A { ResultSet f(Statement s, String id) throws Exception { return s.executeQuery(\"SELECT * FROM t WHERE id = \" + id); } }\n",
        "java-sql-concatenation",
        "class A { ResultSet f(Connection c, String id) throws Exception { PreparedStatement p = c.prepareStatement(\"SELECT * FROM t WHERE id = ?\"); p.setString(1, id); return p.executeQuery(); } }\n",
    ),
    (
        Language::Java,
        "class A { void f(String dir) throws Exception { Runtime.getRuntime().exec(\"ls \" + dir); } }\n",
        "java-shell-runtime-exec",
        "class A { void f(String dir) throws Exception { new ProcessBuilder(\"ls\", dir).start(); Runtime.getRuntime().exec(\"uptime\"); } }\n",
    ),
    (
        Language::Java,
        "class A { Object f(InputStream in) throws Exception { return new ObjectInputStream(in).readObject(); } }\n",
        "java-deserialize",
        "class A { void f(OutputStream out, Object o) throws Exception { new ObjectOutputStream(out).writeObject(o); } }\n",
    ),
    (
        Language::Java,
        "class T implements X509TrustManager { public void checkServerTrusted(X509Certificate[] c, String a) {} }\n",
        "java-tls-trust-all",
        "class T implements X509TrustManager { public void checkServerTrusted(X509Certificate[] c, String a) throws CertificateException { delegate.checkServerTrusted(c, a); } }\n",
    ),
    (
        Language::Java,
        "class A { String h(String password) throws Exception { MessageDigest d = MessageDigest.getInstance(\"MD5\"); return hex(d.digest(password.getBytes())); } }\n",
        "java-weak-password-hash",
        "class A { String h(String password) throws Exception { MessageDigest d = MessageDigest.getInstance(\"SHA-256\"); return hex(d.digest(salt)); } }\n",
    ),
    (
        Language::Go,
        "package a\nfunc f(db *sql.DB, id string) { db.Query(\"SELECT * FROM t WHERE id = '\" + id + \"'\") }\n",
        "go-sql-concatenation",
        "package a\nfunc f(db *sql.DB, id string) { db.Query(\"SELECT * FROM t WHERE id = $1\", id) }\n",
    ),
    (
        Language::Go,
        "package a\nfunc f(db *sql.DB, id string) { db.Exec(fmt.Sprintf(\"DELETE FROM t WHERE id = %s\", id)) }\n",
        "go-sql-sprintf",
        "package a\nfunc f(id string) string { return fmt.Sprintf(\"deleted %s\", id) }\n",
    ),
    (
        Language::Go,
        "package a\nfunc f(name string) { exec.Command(\"sh\", \"-c\", \"echo \"+name).Run() }\n",
        "go-shell-exec",
        "package a\nfunc f(name string) { exec.Command(\"echo\", name).Run(); exec.Command(\"sh\", \"-c\", \"uptime\").Run() }\n",
    ),
    (
        Language::Go,
        "package a\nvar c = &tls.Config{InsecureSkipVerify: true}\n",
        "go-tls-insecure-skip-verify",
        "package a\nvar c = &tls.Config{MinVersion: tls.VersionTLS12}\n",
    ),
    (
        Language::Go,
        "package a\nfunc hash(password string) [16]byte { return md5.Sum([]byte(password)) }\n",
        "go-weak-password-hash",
        "package a\nfunc etag(body []byte) [16]byte { return md5.Sum(body) }\n",
    ),
];

#[test]
fn each_rule_finds_its_mistake_and_not_the_safe_form() {
    for (language, vulnerable, rule, safe) in CASES {
        let hits = found(*language, vulnerable);
        assert!(
            hits.contains(rule),
            "{rule} missed in {vulnerable}: {hits:?}"
        );
        let hits = found(*language, safe);
        assert!(
            hits.is_empty(),
            "{rule}: the safe form raised {hits:?}: {safe}"
        );
    }
}

#[test]
fn hostile_files_neither_overflow_the_stack_nor_go_quadratic() {
    // A join of literals nested far deeper than any code: judged built, not walked.
    let depth = 20_000;
    let code = format!(
        "import os\nos.system({}'x'{})\n",
        "('a' + ".repeat(depth),
        ")".repeat(depth)
    );
    let found = check(Language::Python, &code);
    assert!(found.iter().any(|f| f.rule == "py-shell-os"), "{found:?}");
    // Thousands of top-level matches of a rule with `near`.
    let many = "import hashlib\npassword = 1\n".to_string() + &"hashlib.md5(b'x')\n".repeat(5_000);
    assert_eq!(check(Language::Python, &many).len(), 5_000);
    // A statement joined with a value hundreds of times on one line: one finding per
    // rule, its code cut, not a copy per join. A hundred thousand joins nest deeper than
    // matches start: the file is read in moments, not minutes.
    let chain = |joins: usize| {
        format!(
            "q = \"SELECT * FROM t WHERE a = \"{}\n",
            " + a".repeat(joins)
        )
    };
    let found = check(Language::Python, &chain(500));
    assert_eq!(
        found.len(),
        1,
        "{:?}",
        found.iter().map(|f| f.rule).collect::<Vec<_>>()
    );
    assert!(found[0].text.len() <= 512);
    assert!(check(Language::Python, &chain(100_000)).len() <= 1);
    // Many assignments and many findings in one function.
    let mut java = String::from("class A {\n  void f(Statement s, String a) throws Exception {\n");
    for i in 0..5_000 {
        java.push_str(&format!(
            "    String q{i} = \"SELECT * FROM t WHERE a = \" + a;\n    int n{i} = {i};\n"
        ));
    }
    java.push_str("    s.execute(q4999);\n  }\n}\n");
    let flows = check(Language::Java, &java)
        .into_iter()
        .filter(|f| f.rule == "java-sql-flow")
        .count();
    assert_eq!(flows, 1);
}

#[test]
fn regexes_and_queries_named_exec_are_not_shell_commands() {
    let code =
        "const m = emailRe.exec(input);\nUser.find({}).exec(cb);\nconst x = fake.deserialize(s);\n";
    assert!(found(Language::JavaScript, code).is_empty());
}

#[test]
fn a_finding_names_its_line_and_class() {
    let code = "import os\n\n\ndef f(p):\n    os.system('rm ' + p)\n";
    let findings = check(Language::Python, code);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(
        (findings[0].line, findings[0].class),
        (5, Class::ShellInjection)
    );
    assert_eq!(findings[0].text, "os.system('rm ' + p)");
}

/// (language, code, the sink's line) where a query is built in one statement and run in
/// another: the sink is reported, as well as where it was built.
const FLOWS: &[(Language, &str, usize)] = &[
    (
        Language::Java,
        "class A {\n  void f(Connection c, String id) throws Exception {\n    String sql = \"SELECT * \"\n      + \"FROM accounts WHERE id = '\"\n      + id + \"'\";\n    ResultSet rs = c.createStatement().executeQuery(sql);\n  }\n}\n",
        6,
    ),
    (
        Language::Java,
        "class A {\n  void f(Statement s, String field) throws Exception {\n    String sql = \"SELECT \";\n    sql += field;\n    sql += \" FROM accounts\";\n    s.execute(sql);\n  }\n}\n",
        6,
    ),
    (
        Language::Java,
        "class A {\n  void f(JdbcTemplate jdbc, String name) {\n    String q = String.format(\"select count(*) from Users where name = '%s'\", name);\n    jdbc.queryForObject(q, Integer.class);\n  }\n}\n",
        4,
    ),
    (
        Language::Python,
        "def f(cur, uid):\n    query = \"DELETE FROM sessions WHERE user = \" + uid\n    cur.execute(query)\n",
        3,
    ),
    (
        Language::JavaScript,
        "function f(pool, id) {\n  const query = `SELECT * FROM users WHERE id = ${id}`;\n  return pool.query(query);\n}\n",
        3,
    ),
    (
        Language::TypeScript,
        "async function f(db: Db, name: string) {\n  let sql = 'SELECT * FROM t WHERE name = ';\n  sql += name;\n  return db.all(sql);\n}\n",
        4,
    ),
    (
        Language::JavaScript,
        "async function f(client, age) {\n  let query = 'SELECT name FROM users WHERE age='.concat(age);\n  return client.query(query);\n}\n",
        3,
    ),
    (
        Language::Go,
        "package p\nfunc f(db *sql.DB, ctx context.Context, email string) {\n\tquery := fmt.Sprintf(\"SELECT * FROM users WHERE email = '%s'\", email)\n\tdb.QueryContext(ctx, query)\n}\n",
        4,
    ),
];

#[test]
fn a_query_built_in_one_statement_and_run_in_another_is_found_where_it_runs() {
    for (language, code, line) in FLOWS {
        let findings = check(*language, code);
        assert!(
            findings
                .iter()
                .any(|f| f.line == *line && f.rule.ends_with("-sql-flow")),
            "{language:?}: no flow finding on line {line}: {findings:?}\n{code}"
        );
    }
}

#[test]
fn a_variable_not_built_here_or_built_from_constants_is_not_followed() {
    for (language, code) in [
        // Built from constants only.
        (
            Language::Java,
            "class A {\n  void f(Statement s) throws Exception {\n    String sql = \"SELECT * FROM t \" + \"WHERE a = 1\";\n    s.execute(sql);\n  }\n}\n",
        ),
        // Built in another function: not followed.
        (
            Language::Python,
            "def build(uid):\n    query = \"DELETE FROM t WHERE u = \" + uid\n    return 1\n\ndef run(cur, query):\n    cur.execute(query)\n",
        ),
        // Used before it is built.
        (
            Language::JavaScript,
            "function f(pool, id, query) {\n  pool.query(query);\n  query = 'SELECT * FROM t WHERE id = ' + id;\n}\n",
        ),
        // A statement appended with constants only; parameters passed apart.
        (
            Language::Go,
            "package p\nfunc f(db *sql.DB, id string) {\n\tq := \"SELECT * FROM t\"\n\tq += \" WHERE id = $1\"\n\tdb.Query(q, id)\n}\n",
        ),
        // A statement joined with a constant by `concat`.
        (
            Language::JavaScript,
            "function f(client) {\n  const q = 'SELECT * FROM t'.concat(' WHERE a = 1');\n  client.query(q);\n}\n",
        ),
        // Built, then given a constant statement before it runs.
        (
            Language::Python,
            "def f(cur, uid):\n    sql = \"DELETE FROM t WHERE u = \" + uid\n    sql = \"SELECT 1\"\n    cur.execute(sql)\n",
        ),
        // A message, not a statement, appended with a value.
        (
            Language::TypeScript,
            "function f(db: Db, name: string) {\n  let text = 'hello ';\n  text += name;\n  db.run(text);\n}\n",
        ),
    ] {
        let flows: Vec<_> = check(language, code)
            .into_iter()
            .filter(|f| f.rule.ends_with("-sql-flow"))
            .collect();
        assert!(flows.is_empty(), "{language:?}: {flows:?}\n{code}");
    }
}

#[test]
fn a_shell_given_its_command_as_separate_arguments_is_found() {
    let code = "class A {\n  void f(Runtime r, ProcessBuilder b, String input) throws Exception {\n    r.exec(\"bash\", \"-c\", input);\n    b.command(\"cmd\", \"/c\", input);\n    b.command(\"bash\", \"-c\", \"ls -l\");\n    b.command(\"ls\", \"-l\", input);\n  }\n}\n";
    let lines: Vec<usize> = check(Language::Java, code)
        .into_iter()
        .filter(|f| f.rule == "java-shell-args")
        .map(|f| f.line)
        .collect();
    assert_eq!(
        lines,
        [3, 4],
        "a constant command and a program that is no shell are not"
    );
}
