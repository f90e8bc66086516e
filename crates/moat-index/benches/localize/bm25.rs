//! The baseline: plain BM25 over whole file text, one tantivy document per text file of
//! the commit. Text is tokenised as Moat tokenises code (identifiers split, lowercased,
//! stemmed), so the comparison is about what Moat adds — symbols, structure, ranking —
//! not about tokenisation.
//!
//! The tree is read with the git command line, independently of Moat's reader, and files
//! are kept by Moat's own rules: at most 1 MiB, no NUL in the first 8 KiB, valid UTF-8.
//! One in-RAM index per repository is brought from parent to parent by blob id, so only
//! changed files are read and re-added, as Moat's incremental indexing does. (Deleted
//! documents still count in tantivy's term statistics until segments merge; the effect
//! on rankings is small and the same kind Moat's own index has.)

use std::collections::HashMap;
use std::error::Error;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use tantivy::collector::TopDocs;
use tantivy::query::BooleanQuery;
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{Language, LowerCaser, Stemmer, TextAnalyzer};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

pub type Result<T> = std::result::Result<T, Box<dyn Error>>;

const ANALYZER: &str = "code";
/// Moat's default `max_file_bytes`: larger files are in neither index.
const MAX_FILE_BYTES: u64 = 1 << 20;
/// A long bug report still makes a query tantivy answers in milliseconds.
const MAX_QUERY_TERMS: usize = 1024;
const WRITER_HEAP_BYTES: usize = 256 << 20;

pub struct Bm25 {
    writer: IndexWriter,
    reader: IndexReader,
    text: Field,
    path: Field,
    /// The blob of every path already read (indexed or not), to see what changed.
    blobs: HashMap<String, String>,
}

/// What bringing the index to a commit did.
pub struct Update {
    /// The index was empty before: a full build.
    pub first: bool,
    /// Files read at this commit (new or changed).
    pub read: usize,
}

impl Bm25 {
    pub fn new() -> Result<Bm25> {
        let mut schema = Schema::builder();
        let indexing = TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqs);
        let text = schema.add_text_field(
            "text",
            TextOptions::default().set_indexing_options(indexing),
        );
        let path = schema.add_text_field("path", STRING | STORED);
        let index = Index::create_in_ram(schema.build());
        index.tokenizers().register(ANALYZER, analyzer());
        let writer = index.writer(WRITER_HEAP_BYTES)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Bm25 {
            writer,
            reader,
            text,
            path,
            blobs: HashMap::new(),
        })
    }

    /// Brings the index to `commit` of the repository at `git_dir`.
    pub fn update(&mut self, git_dir: &Path, commit: &str) -> Result<Update> {
        let first = self.blobs.is_empty();
        let wanted = list_tree(git_dir, commit)?;
        let (writer, path_field) = (&mut self.writer, self.path);
        self.blobs.retain(|path, blob| {
            let unchanged = wanted.get(path) == Some(blob);
            if !unchanged {
                writer.delete_term(Term::from_field_text(path_field, path));
            }
            unchanged
        });
        let changed: Vec<(String, String)> = wanted
            .into_iter()
            .filter(|(path, _)| !self.blobs.contains_key(path))
            .collect();
        let contents = read_blobs(git_dir, changed.iter().map(|(_, blob)| blob.as_str()))?;
        for ((path, blob), bytes) in changed.iter().zip(contents) {
            if let Some(text) = as_text(&bytes) {
                self.writer
                    .add_document(tantivy::doc!(self.text => text, self.path => path.as_str()))?;
            }
            self.blobs.insert(path.clone(), blob.clone());
        }
        self.writer.commit()?;
        self.reader.reload()?;
        Ok(Update {
            first,
            read: changed.len(),
        })
    }

    /// The paths of the best `limit` files for `question`: every distinct term of it, as
    /// the analyser makes them, one optional clause each.
    pub fn search(&self, question: &str, limit: usize) -> Result<Vec<String>> {
        let query = BooleanQuery::new_multiterms_query(self.terms(question));
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(limit).order_by_score())?;
        top.into_iter()
            .map(|(_, address)| {
                let document: TantivyDocument = searcher.doc(address)?;
                let path = document.get_first(self.path).and_then(|v| v.as_str());
                Ok(path.unwrap_or_default().to_string())
            })
            .collect()
    }

    fn terms(&self, question: &str) -> Vec<Term> {
        let mut analyzer = analyzer();
        let mut stream = analyzer.token_stream(question);
        let mut seen = std::collections::HashSet::new();
        let mut terms = Vec::new();
        while terms.len() < MAX_QUERY_TERMS && stream.advance() {
            let word = &stream.token().text;
            if seen.insert(word.clone()) {
                terms.push(Term::from_field_text(self.text, word));
            }
        }
        terms
    }
}

/// Moat's analyser (`search.rs`), rebuilt from the parts the crate exports.
fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(moat_index::CodeTokenizer)
        .filter(LowerCaser)
        .filter(Stemmer::new(Language::English))
        .build()
}

/// Text a file's bytes hold, by the rules Moat's indexer applies.
fn as_text(bytes: &[u8]) -> Option<&str> {
    if bytes.iter().take(8192).any(|&b| b == 0) {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

/// Path → blob of the regular files of the commit no larger than `MAX_FILE_BYTES`
/// (symlinks and submodules are not file text).
fn list_tree(git_dir: &Path, commit: &str) -> Result<HashMap<String, String>> {
    let output = Command::new("git")
        .arg("-C")
        .arg(git_dir)
        .args(["ls-tree", "-r", "-l", "-z", commit])
        .output()?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("git ls-tree {commit}: {}", stderr.trim()).into());
    }
    let mut files = HashMap::new();
    for record in output.stdout.split(|&b| b == 0) {
        let record = String::from_utf8_lossy(record);
        // `<mode> <type> <object> <size padded with spaces>\t<path>`
        let Some((meta, path)) = record.split_once('\t') else {
            continue;
        };
        let fields: Vec<&str> = meta.split_whitespace().collect();
        let [mode, "blob", object, size] = fields[..] else {
            continue;
        };
        if mode != "120000" && size.parse::<u64>().is_ok_and(|s| s <= MAX_FILE_BYTES) {
            files.insert(path.to_string(), object.to_string());
        }
    }
    Ok(files)
}

/// The bytes of each blob, in order, through one `git cat-file --batch`.
fn read_blobs<'a>(git_dir: &Path, blobs: impl Iterator<Item = &'a str>) -> Result<Vec<Vec<u8>>> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(git_dir)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let request: String = blobs.map(|blob| format!("{blob}\n")).collect();
    let count = request.lines().count();
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    // Written from another thread: git answers while it reads, and a full pipe each way
    // would otherwise deadlock.
    let writer = std::thread::spawn(move || stdin.write_all(request.as_bytes()));
    let mut stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
    let mut contents = Vec::with_capacity(count);
    let mut header = String::new();
    for _ in 0..count {
        header.clear();
        stdout.read_line(&mut header)?;
        // `<object> blob <size>`, or `<object> missing`.
        let size: usize = match header.split_whitespace().collect::<Vec<_>>()[..] {
            [_, _, size] => size.parse()?,
            _ => return Err(format!("git cat-file: {}", header.trim()).into()),
        };
        let mut bytes = vec![0; size + 1];
        stdout.read_exact(&mut bytes)?;
        bytes.pop(); // the newline after each object
        contents.push(bytes);
    }
    writer.join().map_err(|_| "writer thread panicked")??;
    child.wait()?;
    Ok(contents)
}
