//! The tantivy side: one index for every repository, one document per symbol plus one
//! per file. Only what ranking needs is indexed (names, qualified names, signatures,
//! docs, paths, the identifiers a body uses); nothing but the document's address
//! (repository, path, symbol number) is stored, so no source text lives here.
//!
//! Ranking: BM25 with per-field boosts picks candidates, then each candidate's score is
//! blended with its kind prior and its centrality in the repository graph.
//!
//! What may rank a repository is what its caller is shown of it ([`Shown`]): each set of
//! repositories shown alike is searched with a clause that reads only the fields that
//! set may see, restricted to those repositories, and ranked with statistics of those
//! repositories alone (`search_stats.rs`). So a word hidden from the caller — in a body,
//! a comment, a string, a value — can neither find a document nor move any score.

use crate::search_stats::StatisticsCache;
use crate::tokenize::CodeTokenizer;
use crate::{IndexError, Language, SymbolKind};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use tantivy::query::{
    Bm25StatisticsProvider, BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, RegexQuery,
    TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{Language as StemLanguage, LowerCaser, Stemmer, TextAnalyzer};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

pub(crate) const ANALYZER: &str = "moat_code";

#[derive(Clone, Copy)]
pub(crate) struct Fields {
    pub repo: Field,
    pub file: Field,
    pub path_raw: Field,
    pub path: Field,
    pub language: Field,
    pub kind: Field,
    pub symbol: Field,
    pub name: Field,
    pub name_exact: Field,
    pub qualified_name: Field,
    pub signature: Field,
    pub doc: Field,
    pub body: Field,
    /// The signature shown (no values): ranks repositories shown declarations.
    pub declaration: Field,
    /// Doc comments only (no ordinary comment): ranks repositories shown declarations.
    pub doc_comment: Field,
    /// Identifiers used in code, outside comments and strings: ranks repositories
    /// shown masked code.
    pub code: Field,
}

/// How results are ranked: field boosts for BM25 and the blend applied after it.
/// The defaults were chosen on half of `bench/retrieval/questions.jsonl` (see
/// `bench/RESULTS.md`); the benchmark can sweep them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranking {
    pub name: f32,
    pub qualified_name: f32,
    pub signature: f32,
    pub doc: f32,
    pub path: f32,
    pub body: f32,
    /// How much a symbol gains when its file as a whole is about the question.
    pub file_support: f32,
    /// How much centrality (PageRank, 0..1) lifts a symbol.
    pub centrality: f32,
    /// Multiplier for tests, examples and benches.
    pub test_penalty: f32,
    /// Multiplier for documentation, configuration and CI files.
    pub support_penalty: f32,
    /// Multiplier for vendored copies of third-party code.
    pub vendored_penalty: f32,
    /// How much a file the query names (a stack frame, a path, a link) is lifted, in
    /// units of the most a word can give, scaled by the name's rarity.
    pub named_file: f32,
    /// How much a function, method or type the query names is lifted, likewise.
    pub named_symbol: f32,
}

impl Default for Ranking {
    /// Chosen by `MOAT_BENCH_SWEEP=1 bench/index/run` on the even-numbered questions.
    fn default() -> Self {
        Ranking {
            name: 0.25,
            qualified_name: 2.0,
            signature: 1.5,
            doc: 1.0,
            path: 1.2,
            body: 3.0,
            file_support: 0.25,
            centrality: 0.3,
            test_penalty: 0.6,
            support_penalty: 0.6,
            vendored_penalty: 0.5,
            named_file: 1.0,
            named_symbol: 0.5,
        }
    }
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        repo: builder.add_text_field("repo", STRING | STORED),
        file: builder.add_text_field("file", STRING),
        path_raw: builder.add_text_field("path_raw", STRING | STORED),
        path: builder.add_text_field("path", text.clone()),
        language: builder.add_text_field("language", STRING),
        kind: builder.add_text_field("kind", STRING),
        symbol: builder.add_u64_field("symbol", STORED),
        name: builder.add_text_field("name", text.clone()),
        name_exact: builder.add_text_field("name_exact", STRING),
        qualified_name: builder.add_text_field("qualified_name", text.clone()),
        signature: builder.add_text_field("signature", text.clone()),
        doc: builder.add_text_field("doc", text.clone()),
        body: builder.add_text_field("body", text.clone()),
        declaration: builder.add_text_field("declaration", text.clone()),
        doc_comment: builder.add_text_field("doc_comment", text.clone()),
        code: builder.add_text_field("code", text),
    };
    (builder.build(), fields)
}

fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(CodeTokenizer)
        .filter(LowerCaser)
        .filter(Stemmer::new(StemLanguage::English))
        .build()
}

/// Words of a question that say nothing about code.
const QUESTION_WORDS: &[&str] = &[
    "a", "an", "the", "where", "what", "which", "how", "when", "who", "why", "do", "does", "did",
    "done", "we", "our", "us", "i", "you", "is", "are", "was", "be", "been", "to", "of", "in",
    "on", "for", "and", "or", "it", "its", "this", "that", "there", "with", "from", "by", "at",
    "as", "can", "should", "happen", "happens", "code", "gets", "any", "some", "all", "whole",
    "place", "thing", "things", "me", "my", "into", "about",
];

/// Words of a pasted report that say nothing of code: English filler and the headings
/// of issue templates. Dropped from the prose and log lines of reports (several lines,
/// a part that is not prose, or more than 20 distinct words), never from code.
const PROSE_WORDS: &[&str] = &[
    "am",
    "have",
    "has",
    "had",
    "not",
    "no",
    "but",
    "if",
    "then",
    "than",
    "so",
    "just",
    "also",
    "only",
    "very",
    "too",
    "will",
    "would",
    "could",
    "might",
    "must",
    "shall",
    "may",
    "like",
    "seem",
    "seems",
    "think",
    "know",
    "want",
    "actual",
    "actually",
    "behavior",
    "behaviour",
    "reproduce",
    "reproduction",
    "reproducible",
    "describe",
    "description",
    "bug",
    "issue",
    "problem",
    "please",
    "thanks",
    "thank",
    "hi",
    "hello",
    "additional",
    "still",
    "even",
    "again",
    "because",
    "since",
    "after",
    "before",
    "while",
    "same",
    "other",
    "another",
    "such",
    "these",
    "those",
    "them",
    "they",
    "their",
    "there",
    "here",
    "he",
    "she",
    "his",
    "her",
    "instead",
    "both",
    "more",
    "most",
    "much",
    "many",
    "already",
    "yet",
    "eg",
    "ie",
    "etc",
    "don",
    "doesn",
    "isn",
    "didn",
    "wasn",
    "won",
    "ll",
    "ve",
    "re",
    "cannot",
    "able",
    "happen",
    "happening",
    "happened",
    "following",
    "below",
    "above",
    "something",
    "anything",
    "nothing",
    "however",
    "though",
    "although",
    "whether",
    "maybe",
    "probably",
    "said",
    "really",
    "quite",
    "pretty",
    "basically",
    "seemingly",
];

/// File extensions of source: in a path a report names, they match every file of
/// the language.
const SOURCE_EXTENSIONS: &[&str] = &[
    "py", "pyi", "rs", "js", "jsx", "mjs", "cjs", "ts", "tsx", "java", "kt", "kts", "cs", "rb",
    "cc", "cpp", "cxx", "hpp", "php", "scala", "swift",
];

/// The most words one query ranks on; the most informative are kept, so a pasted
/// 20,000-character report costs about what a paragraph costs.
pub const MAX_TERMS: usize = 40;

/// Words weighed before the most informative are chosen (bounds the statistics read).
const MAX_CANDIDATE_TERMS: usize = 2 * MAX_TERMS;

/// A query prepared once for all the searches one request runs.
pub(crate) struct Prepared {
    /// Stemmed words, each with how much its sources count.
    terms: Vec<QueryTerm>,
    /// Lowercased names of the files (base names) and symbols the query names.
    named_files: Vec<String>,
    named_symbols: Vec<String>,
    /// The whole query as one identifier, when it is one.
    exact: Option<String>,
    /// Document frequencies counted so far, per level shown (one set of repositories
    /// each within a request): the candidates and the file scores share them.
    counted: [std::sync::Mutex<HashMap<Term, u64>>; 4],
    /// The index as this request sees it, whichever commit lands meanwhile.
    searcher: tantivy::Searcher,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Class {
    Question,
    Noise,
    Content,
}

#[derive(Debug, Clone, PartialEq)]
struct QueryTerm {
    text: String,
    /// The most any of its occurrences counts.
    weight: f32,
    /// How often it occurs, by weight.
    mass: f32,
}

/// Symbol number stored for a file document.
pub(crate) const FILE_DOCUMENT: u64 = u64::MAX;

/// How much of a repository its caller is shown, and so what may rank it there. The
/// caller maps its own rules (tiers) to these; the index knows nothing of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shown {
    /// Names, qualified names, kinds and paths.
    Names,
    /// Also signatures (without values) and doc comments.
    Declarations,
    /// Also the identifiers of the code, never the words of comments or strings.
    MaskedCode,
    /// Everything indexed, comment and string words included.
    Everything,
}

impl Shown {
    /// The widest field a repository shown this much is ranked on, where a word's
    /// informativeness is counted.
    fn broad_field(self, fields: &Fields) -> Field {
        match self {
            Shown::Names => fields.qualified_name,
            Shown::Declarations => fields.declaration,
            Shown::MaskedCode => fields.code,
            Shown::Everything => fields.body,
        }
    }

    /// The fields that may rank a repository shown this much, with their boosts, in
    /// the order the query adds them.
    fn ranked_fields(self, fields: &Fields, ranking: &Ranking) -> Vec<(Field, f32)> {
        let mut ranked = vec![
            (fields.name, ranking.name),
            (fields.qualified_name, ranking.qualified_name),
        ];
        match self {
            Shown::Names => ranked.push((fields.path, ranking.path)),
            Shown::Declarations | Shown::MaskedCode => {
                ranked.push((fields.declaration, ranking.signature));
                ranked.push((fields.doc_comment, ranking.doc));
                ranked.push((fields.path, ranking.path));
                if self == Shown::MaskedCode {
                    ranked.push((fields.code, ranking.body));
                }
            }
            // The source tier's fields, exactly as ranked before tiers shaped ranking.
            Shown::Everything => {
                ranked.push((fields.signature, ranking.signature));
                ranked.push((fields.doc, ranking.doc));
                ranked.push((fields.path, ranking.path));
                ranked.push((fields.body, ranking.body));
            }
        }
        ranked.retain(|(_, boost)| *boost > 0.0);
        ranked
    }
}

/// A repository to search and how much of it the caller is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRepo {
    pub name: String,
    pub shown: Shown,
}

impl SearchRepo {
    pub fn new(name: impl Into<String>, shown: Shown) -> SearchRepo {
        SearchRepo {
            name: name.into(),
            shown,
        }
    }
}

/// What to look for; `repos` is the complete set the caller may see, each with what
/// the caller is shown of it (empty: nothing).
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub text: String,
    pub repos: Vec<SearchRepo>,
    pub language: Option<Language>,
    pub kind: Option<SymbolKind>,
    /// Only paths starting with this.
    pub path_prefix: Option<String>,
    pub limit: usize,
}

/// A candidate from tantivy, before the graph turns it into a hit.
pub(crate) struct Candidate {
    pub repo: String,
    pub path: String,
    pub symbol: Option<u32>,
    pub bm25: f32,
}

pub(crate) struct SearchIndex {
    index: Index,
    reader: IndexReader,
    pub fields: Fields,
    statistics: StatisticsCache,
}

impl SearchIndex {
    pub fn open_or_create(directory: &Path) -> Result<SearchIndex, IndexError> {
        std::fs::create_dir_all(directory).map_err(|e| IndexError::io(directory, e))?;
        let (schema, fields) = schema();
        let mmap = tantivy::directory::MmapDirectory::open(directory)
            .map_err(|e| IndexError::Search(e.to_string()))?;
        let index = Index::open_or_create(mmap, schema)?;
        index.tokenizers().register(ANALYZER, analyzer());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(SearchIndex {
            index,
            reader,
            fields,
            statistics: StatisticsCache::default(),
        })
    }

    /// A writer whose merges also reclaim segments that are a fifth deleted: each
    /// update deletes the documents of the files it changed, and left alone those
    /// pile up in segments every search then reads and counts around.
    pub fn writer(&self) -> Result<IndexWriter, IndexError> {
        let writer = self
            .index
            .writer_with_num_threads(2, 128 << 20)
            .map_err(|e| match e {
                tantivy::TantivyError::LockFailure(..) => IndexError::Busy,
                other => IndexError::from(other),
            })?;
        let mut policy = tantivy::indexer::LogMergePolicy::default();
        policy.set_del_docs_ratio_before_merge(0.2);
        writer.set_merge_policy(Box::new(policy));
        Ok(writer)
    }

    pub fn reload(&self) -> Result<(), IndexError> {
        Ok(self.reader.reload()?)
    }

    pub fn file_term(&self, repo: &str, path: &str) -> Term {
        Term::from_field_text(self.fields.file, &format!("{repo}\u{0}{path}"))
    }

    pub fn repo_term(&self, repo: &str) -> Term {
        Term::from_field_text(self.fields.repo, repo)
    }

    /// Reads the query once: its parts weighed (`query.rs`), its words stemmed and
    /// pooled, question words dropped (kept if nothing else is left), and for more
    /// than a few words, prose words and bare numbers too.
    pub fn prepare(&self, understanding: &crate::Understanding, text: &str) -> Prepared {
        let question: HashSet<&str> = QUESTION_WORDS.iter().copied().collect();
        let prose: HashSet<&str> = PROSE_WORDS.iter().copied().collect();
        let mut analyzer = analyzer();
        // Each stemmed word, its weight, and whether it is a question word (dropped
        // always) or noise (dropped from long reports only).
        let mut words: Vec<(String, f32, Class)> = Vec::new();
        for piece in &understanding.pieces {
            let weight = &piece.weight;
            if *weight <= 0.0 {
                continue;
            }
            crate::tokenize::for_each_token(&piece.text, |_, _, word| {
                let class = if question.contains(word.as_str()) {
                    Class::Question
                } else if piece.prose && prose.contains(word.as_str())
                    || SOURCE_EXTENSIONS.contains(&word.as_str())
                    || word.len() < 2
                    || word.bytes().all(|b| b.is_ascii_digit())
                    || (word.len() >= 8
                        && word.bytes().any(|b| b.is_ascii_digit())
                        && word.bytes().all(|b| b.is_ascii_hexdigit()))
                {
                    Class::Noise
                } else {
                    Class::Content
                };
                let mut stream = analyzer.token_stream(&word);
                while let Some(token) = stream.next() {
                    words.push((token.text.clone(), *weight, class));
                }
            });
        }
        // A short question keeps its other words ("what does not retry"); a long
        // report only what says something about code.
        // A report (several lines, or a part that is not prose), or a question of
        // more than 20 distinct words.
        let distinct: HashSet<&str> = words
            .iter()
            .filter(|w| w.2 == Class::Content)
            .map(|w| w.0.as_str())
            .collect();
        let long = understanding.report || distinct.len() > 20;
        let kept = |class: Class| match class {
            Class::Content => true,
            Class::Noise => !long,
            Class::Question => false,
        };
        let keep_all = !words.iter().any(|w| kept(w.2));
        let mut pooled: Vec<QueryTerm> = Vec::new();
        let mut at: HashMap<String, usize> = HashMap::new();
        for (word, weight, class) in words {
            if !keep_all && !kept(class) {
                continue;
            }
            match at.get(&word) {
                Some(&i) => {
                    pooled[i].weight = pooled[i].weight.max(weight);
                    pooled[i].mass += weight;
                }
                None => {
                    at.insert(word.clone(), pooled.len());
                    pooled.push(QueryTerm {
                        text: word,
                        weight,
                        mass: weight,
                    });
                }
            }
        }
        // Bound the statistics read for a very long report: its most repeated words.
        if pooled.len() > MAX_CANDIDATE_TERMS {
            pooled.sort_by(|a, b| b.mass.total_cmp(&a.mass).then_with(|| a.text.cmp(&b.text)));
            pooled.truncate(MAX_CANDIDATE_TERMS);
        }
        let trimmed = text.trim();
        let exact = (!trimmed.is_empty() && !trimmed.contains(char::is_whitespace))
            .then(|| trimmed.to_lowercase());
        Prepared {
            terms: pooled,
            named_files: understanding
                .files
                .iter()
                .filter_map(|f| f.rsplit('/').next())
                .map(str::to_lowercase)
                .collect(),
            named_symbols: understanding
                .symbols
                .iter()
                .map(|s| s.to_lowercase())
                .collect(),
            exact,
            counted: Default::default(),
            searcher: self.reader.searcher(),
        }
    }

    /// Whole-file scores for the query, best first: how much each file as a whole is
    /// about it. Used to lift the symbols of the files that answer a question.
    pub fn file_scores(
        &self,
        query: &SearchQuery,
        prepared: &Prepared,
        limit: usize,
        ranking: &Ranking,
    ) -> Result<Vec<Candidate>, IndexError> {
        let files_only = SearchQuery {
            kind: Some(SymbolKind::File),
            ..query.clone()
        };
        self.candidates(&files_only, prepared, limit, ranking)
    }

    /// The best `limit` documents of the query: each set of repositories shown alike
    /// searched on its own (its fields, its repositories, its statistics), the lists
    /// merged by score.
    pub fn candidates(
        &self,
        query: &SearchQuery,
        prepared: &Prepared,
        limit: usize,
        ranking: &Ranking,
    ) -> Result<Vec<Candidate>, IndexError> {
        if query.repos.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        if prepared.terms.is_empty()
            && prepared.named_symbols.is_empty()
            && prepared.named_files.is_empty()
        {
            return Ok(Vec::new());
        }
        // A repository named twice is shown the lesser of the two: fail closed.
        let mut shown: HashMap<&str, Shown> = HashMap::new();
        for repo in &query.repos {
            shown
                .entry(repo.name.as_str())
                .and_modify(|s| *s = (*s).min(repo.shown))
                .or_insert(repo.shown);
        }
        let mut classes: BTreeMap<Shown, Vec<&str>> = BTreeMap::new();
        for (name, level) in shown {
            classes.entry(level).or_default().push(name);
        }
        // The request's one searcher: its candidates and file scores read the same
        // generation, so counts kept between them never meet another's totals.
        let searcher = &prepared.searcher;
        let mut out = Vec::new();
        for (level, mut repos) in classes {
            repos.sort_unstable();
            out.extend(
                self.class_candidates(searcher, level, &repos, prepared, query, limit, ranking)?,
            );
        }
        if out.len() > limit || out.windows(2).any(|w| w[0].bm25 < w[1].bm25) {
            out.sort_by(|a, b| b.bm25.total_cmp(&a.bm25));
            out.truncate(limit);
        }
        Ok(out)
    }

    /// One set of repositories shown alike: only the fields `level` may rank on, only
    /// these repositories, with their own statistics.
    #[allow(clippy::too_many_arguments)]
    fn class_candidates(
        &self,
        searcher: &tantivy::Searcher,
        level: Shown,
        repos: &[&str],
        prepared: &Prepared,
        query: &SearchQuery,
        limit: usize,
        ranking: &Ranking,
    ) -> Result<Vec<Candidate>, IndexError> {
        let fields = self.fields;
        let ranked = level.ranked_fields(&fields, ranking);
        // Always these repositories' own statistics, counted from live documents only,
        // so an index updated in place ranks exactly as one built fresh.
        let statistics = self.statistics.scoped(
            searcher,
            fields.repo,
            &self.norm_fields(),
            repos,
            &prepared.counted[level as usize],
        )?;
        let broad = level.broad_field(&fields);
        let terms = informative_terms(&prepared.terms, broad, &ranked, &statistics)?;
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (term, weight) in &terms {
            for (field, boost) in &ranked {
                let term_query = TermQuery::new(
                    Term::from_field_text(*field, term),
                    IndexRecordOption::WithFreqs,
                );
                should.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(term_query), boost * weight)),
                ));
            }
        }
        // What the query names: files by base name, symbols by name, each lifted by a
        // share of what a word can give, scaled by how rare the name is here (a named
        // `Error` or `__init__.py` lifts little, `send_chunk` much).
        let named = prepared
            .named_files
            .iter()
            .map(|name| (name, ranking.named_file))
            .chain(
                prepared
                    .named_symbols
                    .iter()
                    .map(|name| (name, ranking.named_symbol)),
            );
        for (name, share) in named {
            if share <= 0.0 {
                continue;
            }
            should.push((
                Occur::Should,
                Box::new(BoostQuery::new(
                    Box::new(TermQuery::new(
                        Term::from_field_text(fields.name_exact, name),
                        IndexRecordOption::Basic,
                    )),
                    share * BM25_TERM_CEILING,
                )),
            ));
        }
        // The whole query as one identifier: an exact name match.
        if let Some(exact) = &prepared.exact {
            should.push((
                Occur::Should,
                Box::new(BoostQuery::new(
                    Box::new(TermQuery::new(
                        Term::from_field_text(fields.name_exact, exact),
                        IndexRecordOption::Basic,
                    )),
                    8.0,
                )),
            ));
        }
        if should.is_empty() {
            return Ok(Vec::new());
        }
        let mut must: Vec<(Occur, Box<dyn Query>)> = vec![(
            Occur::Must,
            Box::new(BooleanQuery::new(should)) as Box<dyn Query>,
        )];
        // Filters restrict what is ranked at all; they add nothing to the score.
        let repo_clauses: Vec<(Occur, Box<dyn Query>)> = repos
            .iter()
            .map(|repo| {
                (
                    Occur::Should,
                    Box::new(TermQuery::new(
                        self.repo_term(repo),
                        IndexRecordOption::Basic,
                    )) as Box<dyn Query>,
                )
            })
            .collect();
        must.push((Occur::Must, filter(BooleanQuery::new(repo_clauses))));
        if let Some(language) = query.language {
            must.push((
                Occur::Must,
                filter(TermQuery::new(
                    Term::from_field_text(fields.language, language.as_str()),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        if let Some(kind) = query.kind {
            must.push((
                Occur::Must,
                filter(TermQuery::new(
                    Term::from_field_text(fields.kind, kind.as_str()),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        if let Some(prefix) = &query.path_prefix {
            let pattern = format!("{}.*", regex_escape(prefix));
            let regex = RegexQuery::from_pattern(&pattern, fields.path_raw)?;
            must.push((Occur::Must, filter(regex)));
        }
        let query = BooleanQuery::new(must);
        let collector = tantivy::collector::TopDocs::with_limit(limit).order_by_score();
        let top = searcher.search_with_statistics_provider(&query, &collector, &statistics)?;
        let mut out = Vec::with_capacity(top.len());
        for (score, address) in top {
            let document: TantivyDocument = searcher.doc(address)?;
            let text = |field: Field| {
                document
                    .get_first(field)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            let symbol = document
                .get_first(fields.symbol)
                .and_then(|v| v.as_u64())
                .unwrap_or(FILE_DOCUMENT);
            out.push(Candidate {
                repo: text(fields.repo),
                path: text(fields.path_raw),
                symbol: (symbol != FILE_DOCUMENT).then_some(symbol as u32),
                bm25: score,
            });
        }
        Ok(out)
    }

    /// Every field a query may rank on, whose lengths the statistics count.
    fn norm_fields(&self) -> [Field; 10] {
        let f = self.fields;
        [
            f.name,
            f.name_exact,
            f.qualified_name,
            f.signature,
            f.doc,
            f.path,
            f.body,
            f.declaration,
            f.doc_comment,
            f.code,
        ]
    }

    /// Number of documents, for reports and tests.
    pub fn documents(&self) -> u64 {
        self.reader.searcher().num_docs()
    }
}

/// The most one word scores in one field under BM25 (k1 = 1.2), per unit of IDF: a
/// name matched exactly scores about its IDF, so this makes a lift of 1 a word's best.
const BM25_TERM_CEILING: f32 = 2.2;

/// The query's words worth ranking on in these fields, each with its weight. Words no document of these repositories holds are dropped;
/// past [`MAX_TERMS`], the words whose weight times IDF is highest are kept. Counted with
/// the statistics of the repositories searched, so what the caller cannot see chooses
/// nothing.
fn informative_terms(
    terms: &[QueryTerm],
    broad: Field,
    fields: &[(Field, f32)],
    statistics: &dyn Bm25StatisticsProvider,
) -> Result<Vec<(String, f32)>, IndexError> {
    let documents = statistics.total_num_docs()?.max(1) as f32;
    let mut scored = Vec::with_capacity(terms.len());
    for term in terms {
        // Counted in the broadest field the caller is shown; another field only for a
        // word that one lacks (a directory's name, say).
        let mut frequency = statistics.doc_freq(&Term::from_field_text(broad, &term.text))?;
        for (field, _) in fields {
            if frequency > 0 {
                break;
            }
            if *field != broad {
                frequency = statistics.doc_freq(&Term::from_field_text(*field, &term.text))?;
            }
        }
        if frequency == 0 {
            continue;
        }
        let df = frequency as f32;
        let idf = (1.0 + (documents - df + 0.5) / (df + 0.5)).ln();
        // A word repeated counts more, with diminishing returns.
        let weight = term.weight * (1.0 + 0.25 * (term.mass / term.weight).ln());
        scored.push((term.text.clone(), weight, idf));
    }
    if scored.len() > MAX_TERMS {
        scored.sort_by(|a, b| {
            (b.1 * b.2)
                .total_cmp(&(a.1 * a.2))
                .then_with(|| a.0.cmp(&b.0))
        });
        scored.truncate(MAX_TERMS);
    }
    Ok(scored.into_iter().map(|(t, w, _)| (t, w)).collect())
}

fn filter(query: impl Query) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(Box::new(query), 0.0))
}

/// Escapes a literal for tantivy's regex syntax.
fn regex_escape(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len() * 2);
    for c in literal.chars() {
        if "\\.+*?()|[]{}^$#&-~\"@<>".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
