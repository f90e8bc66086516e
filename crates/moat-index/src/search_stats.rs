//! BM25 statistics from the repositories one search may see, and only those.
//!
//! BM25 weighs a term by how many documents hold it and a field by its average length.
//! tantivy takes both over the whole index, so the words of a repository the caller may
//! not see — or may see only the names of — would move the scores, and so the order,
//! of what the caller does see. Each search therefore ranks a set of repositories shown
//! alike with statistics of those repositories alone ([`ScopedStatistics`]) — also when
//! that set is the whole index: tantivy counts a deleted document until its segment is
//! merged, and field lengths past 40 tokens only approximately, so an index updated in
//! place would rank otherwise than one built fresh at the same commit.
//!
//! Per repository and searcher generation, the documents (one bit set per segment, live
//! documents only) and the tokens of each field (from the field norms) are counted once
//! and cached; a term's document frequency is counted over its postings per search.

use crate::IndexError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tantivy::query::Bm25StatisticsProvider;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocSet, Searcher, TERMINATED, Term};

fn unreadable(error: std::io::Error) -> IndexError {
    IndexError::Search(format!("reading the index failed: {error}"))
}

/// Documents of one segment, one bit each.
#[derive(Clone)]
struct DocBits(Vec<u64>);

impl DocBits {
    fn new(max_doc: u32) -> DocBits {
        DocBits(vec![0; (max_doc as usize).div_ceil(64)])
    }
    fn insert(&mut self, doc: u32) {
        if let Some(word) = self.0.get_mut(doc as usize / 64) {
            *word |= 1 << (doc % 64);
        }
    }
    fn contains(&self, doc: u32) -> bool {
        self.0
            .get(doc as usize / 64)
            .is_some_and(|word| word & (1 << (doc % 64)) != 0)
    }
    fn union_with(&mut self, other: &DocBits) {
        for (word, theirs) in self.0.iter_mut().zip(&other.0) {
            *word |= theirs;
        }
    }
}

/// One repository's live documents and field lengths in one searcher generation.
struct RepoDocs {
    segments: Vec<DocBits>,
    /// Live documents of the repository in each segment.
    per_segment: Vec<u32>,
    docs: u64,
    tokens: HashMap<Field, u64>,
}

#[derive(Default)]
struct Cached {
    generation: u64,
    repos: HashMap<String, Arc<RepoDocs>>,
}

/// Counts cached for the searcher generation they were taken from.
#[derive(Default)]
pub(crate) struct StatisticsCache {
    cached: Mutex<Cached>,
}

impl StatisticsCache {
    fn repo(
        &self,
        searcher: &Searcher,
        repo_field: Field,
        fields: &[Field],
        repo: &str,
    ) -> Result<Arc<RepoDocs>, IndexError> {
        let generation = searcher.generation().generation_id();
        if let Ok(cached) = self.cached.lock()
            && cached.generation == generation
            && let Some(docs) = cached.repos.get(repo)
        {
            return Ok(docs.clone());
        }
        let term = Term::from_field_text(repo_field, repo);
        let mut segments = Vec::with_capacity(searcher.segment_readers().len());
        let mut per_segment = Vec::with_capacity(segments.capacity());
        let mut docs = 0u64;
        let mut tokens: HashMap<Field, u64> = fields.iter().map(|f| (*f, 0)).collect();
        for segment in searcher.segment_readers() {
            let mut bits = DocBits::new(segment.max_doc());
            let mut in_segment = 0u32;
            let norms: Vec<(Field, tantivy::fieldnorm::FieldNormReader)> = fields
                .iter()
                .filter_map(|f| segment.get_fieldnorms_reader(*f).ok().map(|r| (*f, r)))
                .collect();
            let alive = segment.alive_bitset();
            let inverted = segment.inverted_index(repo_field)?;
            if let Some(mut postings) = inverted
                .read_postings(&term, IndexRecordOption::Basic)
                .map_err(unreadable)?
            {
                let mut doc = postings.doc();
                while doc != TERMINATED {
                    if alive.is_none_or(|a| a.is_alive(doc)) {
                        bits.insert(doc);
                        in_segment += 1;
                        for (field, norms) in &norms {
                            *tokens.entry(*field).or_insert(0) += u64::from(norms.fieldnorm(doc));
                        }
                    }
                    doc = postings.advance();
                }
            }
            docs += u64::from(in_segment);
            segments.push(bits);
            per_segment.push(in_segment);
        }
        let counted = Arc::new(RepoDocs {
            segments,
            per_segment,
            docs,
            tokens,
        });
        if let Ok(mut cached) = self.cached.lock()
            && cached.generation == generation
        {
            cached.repos.insert(repo.to_string(), counted.clone());
        }
        Ok(counted)
    }

    /// Statistics of `repos` alone, for the fields in `fields`; document frequencies
    /// are kept in `counted` (one per set of repositories) for the next query to reuse.
    pub fn scoped<'s>(
        &self,
        searcher: &'s Searcher,
        repo_field: Field,
        fields: &[Field],
        repos: &[&str],
        counted: &'s Mutex<HashMap<Term, u64>>,
    ) -> Result<ScopedStatistics<'s>, IndexError> {
        let mut segments: Vec<DocBits> = searcher
            .segment_readers()
            .iter()
            .map(|s| DocBits::new(s.max_doc()))
            .collect();
        let mut per_segment = vec![0u32; segments.len()];
        let mut docs = 0;
        let mut tokens: HashMap<Field, u64> = HashMap::new();
        for repo in repos {
            let counted = self.repo(searcher, repo_field, fields, repo)?;
            for (mine, theirs) in segments.iter_mut().zip(&counted.segments) {
                mine.union_with(theirs);
            }
            for (mine, theirs) in per_segment.iter_mut().zip(&counted.per_segment) {
                *mine += theirs;
            }
            docs += counted.docs;
            for (field, n) in &counted.tokens {
                *tokens.entry(*field).or_insert(0) += n;
            }
        }
        // Per segment: none of its documents count, all of them (and none deleted:
        // tantivy's own count is exact), or some (count the postings).
        let coverage = searcher
            .segment_readers()
            .iter()
            .zip(&per_segment)
            .map(|(segment, &n)| match n {
                0 => Coverage::None,
                n if n == segment.max_doc() => Coverage::All,
                _ => Coverage::Some,
            })
            .collect();
        Ok(ScopedStatistics {
            searcher,
            segments,
            coverage,
            docs,
            tokens,
            counted,
        })
    }
}

/// BM25 statistics over some repositories' documents only.
#[derive(Clone, Copy, PartialEq)]
enum Coverage {
    None,
    All,
    Some,
}

pub(crate) struct ScopedStatistics<'s> {
    searcher: &'s Searcher,
    segments: Vec<DocBits>,
    coverage: Vec<Coverage>,
    docs: u64,
    tokens: HashMap<Field, u64>,
    /// Document frequencies already counted: choosing a query's words counts them,
    /// and scoring asks again, for the candidates and for the file scores.
    counted: &'s Mutex<HashMap<Term, u64>>,
}

impl Bm25StatisticsProvider for ScopedStatistics<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        Ok(self.tokens.get(&field).copied().unwrap_or(0))
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        // Never zero: BM25 divides by it.
        Ok(self.docs.max(1))
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        if let Some(count) = self.counted.lock().ok().and_then(|c| c.get(term).copied()) {
            return Ok(count);
        }
        let count = self.count_doc_freq(term)?;
        if let Ok(mut counted) = self.counted.lock() {
            counted.insert(term.clone(), count);
        }
        Ok(count)
    }
}

impl ScopedStatistics<'_> {
    fn count_doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        let mut count = 0u64;
        for ((segment, bits), coverage) in self
            .searcher
            .segment_readers()
            .iter()
            .zip(&self.segments)
            .zip(&self.coverage)
        {
            if *coverage == Coverage::None {
                continue;
            }
            let inverted = segment.inverted_index(term.field())?;
            if *coverage == Coverage::All {
                count += u64::from(inverted.doc_freq(term)?);
                continue;
            }
            let Some(mut postings) = inverted.read_postings(term, IndexRecordOption::Basic)? else {
                continue;
            };
            let mut doc = postings.doc();
            while doc != TERMINATED {
                if bits.contains(doc) {
                    count += 1;
                }
                doc = postings.advance();
            }
        }
        Ok(count)
    }
}
