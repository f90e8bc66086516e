//! SCIM filters (RFC 7644 §3.4.2.2) and attribute paths: parsed once, evaluated over a
//! resource as JSON. Attribute names compare case-insensitively; string values too,
//! unless the schema says the attribute is case-exact.

use super::ScimError;
use super::schema::{Attr, ResourceSchema};
use serde_json::Value;

/// `[urn:]attr[.sub]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    /// The schema URN the attribute is qualified with, if any.
    pub urn: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare(AttrPath, Op, Value),
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr[filter]`: some value of a multi-valued (or complex) attribute matches.
    ValuePath(AttrPath, Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Str(String),
    Word(String),
}

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request("invalidFilter", detail)
}

fn tokenize(text: &str) -> Result<Vec<Token>, ScimError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | '[' | ']' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    '[' => Token::OpenBracket,
                    _ => Token::CloseBracket,
                });
            }
            '"' => {
                // A JSON string: find its closing quote, honouring escapes.
                chars.next();
                let mut end = None;
                let mut escaped = false;
                for (i, c) in chars.by_ref() {
                    match (escaped, c) {
                        (true, _) => escaped = false,
                        (false, '\\') => escaped = true,
                        (false, '"') => {
                            end = Some(i);
                            break;
                        }
                        _ => {}
                    }
                }
                let end = end.ok_or_else(|| invalid("a string in the filter is not closed"))?;
                let literal = &text[start..=end];
                let value: String = serde_json::from_str(literal)
                    .map_err(|e| invalid(format!("bad string {literal} in the filter: {e}")))?;
                tokens.push(Token::Str(value));
            }
            _ => {
                let mut end = start;
                while let Some(&(i, c)) = chars.peek() {
                    if c.is_whitespace() || "()[]\"".contains(c) {
                        break;
                    }
                    end = i + c.len_utf8();
                    chars.next();
                }
                tokens.push(Token::Word(text[start..end].to_string()));
            }
        }
    }
    Ok(tokens)
}

/// Parses `[urn:]attr[.sub]`. A URN's own dots (`...:2.0:User`) stay in the URN: the
/// attribute is what follows its last colon.
pub fn parse_attr_path(word: &str) -> Result<AttrPath, ScimError> {
    let (urn, rest) = if word.len() > 4 && word[..4].eq_ignore_ascii_case("urn:") {
        match word.rfind(':') {
            Some(i) => (Some(word[..i].to_string()), &word[i + 1..]),
            None => (None, word),
        }
    } else {
        (None, word)
    };
    let (attr, sub) = match rest.split_once('.') {
        Some((a, s)) => (a, Some(s.to_string())),
        None => (rest, None),
    };
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
    };
    if !valid(attr) || sub.as_deref().is_some_and(|s| !valid(s)) {
        return Err(invalid(format!("`{word}` is not an attribute path")));
    }
    Ok(AttrPath {
        urn,
        attr: attr.to_string(),
        sub,
    })
}

pub fn parse(text: &str) -> Result<Filter, ScimError> {
    let tokens = tokenize(text)?;
    let mut parser = Parser { tokens, at: 0 };
    let filter = parser.or()?;
    if parser.at != parser.tokens.len() {
        return Err(invalid(format!(
            "unexpected {:?} in the filter",
            parser.tokens[parser.at]
        )));
    }
    Ok(filter)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn expect(&mut self, want: Token) -> Result<(), ScimError> {
        match self.next() {
            Some(got) if got == want => Ok(()),
            got => Err(invalid(format!("expected {want:?}, found {got:?}"))),
        }
    }

    fn or(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, ScimError> {
        if self.peek_word("not") && self.tokens.get(self.at + 1) == Some(&Token::Open) {
            self.at += 2;
            let inner = self.or()?;
            self.expect(Token::Close)?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or()?;
                self.expect(Token::Close)?;
                Ok(inner)
            }
            Some(Token::Word(word)) => self.attr_expr(&word),
            other => Err(invalid(format!("expected an attribute, found {other:?}"))),
        }
    }

    fn attr_expr(&mut self, word: &str) -> Result<Filter, ScimError> {
        let path = parse_attr_path(word)?;
        if self.tokens.get(self.at) == Some(&Token::OpenBracket) {
            self.at += 1;
            let inner = self.or()?;
            self.expect(Token::CloseBracket)?;
            return Ok(Filter::ValuePath(path, Box::new(inner)));
        }
        let op = match self.next() {
            Some(Token::Word(op)) => op.to_ascii_lowercase(),
            other => return Err(invalid(format!("expected an operator, found {other:?}"))),
        };
        let op = match op.as_str() {
            "pr" => return Ok(Filter::Present(path)),
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            other => return Err(invalid(format!("`{other}` is not a filter operator"))),
        };
        let value = match self.next() {
            Some(Token::Str(s)) => Value::String(s),
            Some(Token::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => serde_json::from_str::<serde_json::Number>(&w)
                    .map(Value::Number)
                    .map_err(|_| invalid(format!("`{w}` is not a value; quote strings")))?,
            },
            other => return Err(invalid(format!("expected a value, found {other:?}"))),
        };
        Ok(Filter::Compare(path, op, value))
    }
}

/// The key of `object` that names `name`, case-insensitively.
pub fn get_ci<'v>(object: &'v Value, name: &str) -> Option<&'v Value> {
    let map = object.as_object()?;
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// Where a filter's attribute names are looked up: a resource, or the values of one
/// complex attribute (inside `attr[...]`).
#[derive(Clone, Copy)]
pub enum Scope<'s> {
    Resource(&'s ResourceSchema),
    Within(&'static Attr),
}

impl Filter {
    pub fn matches(&self, value: &Value, scope: Scope<'_>) -> bool {
        match self {
            Filter::And(a, b) => a.matches(value, scope) && b.matches(value, scope),
            Filter::Or(a, b) => a.matches(value, scope) || b.matches(value, scope),
            Filter::Not(a) => !a.matches(value, scope),
            Filter::Present(path) => resolve(value, path, scope)
                .0
                .iter()
                .any(|v| !(v.is_null() || v.as_str() == Some(""))),
            Filter::Compare(path, op, operand) => {
                let (found, case_exact) = resolve(value, path, scope);
                match op {
                    Op::Ne => !found
                        .iter()
                        .any(|v| compare(v, Op::Eq, operand, case_exact)),
                    _ if operand.is_null() => found.is_empty() == (*op == Op::Eq),
                    _ => found.iter().any(|v| compare(v, *op, operand, case_exact)),
                }
            }
            Filter::ValuePath(path, inner) => {
                let Some(attr) = lookup(path, scope) else {
                    return false;
                };
                let container = container(value, path, scope);
                let Some(values) = container.and_then(|c| get_ci(c, &path.attr)) else {
                    return false;
                };
                let elements: Vec<&Value> = match values {
                    Value::Array(items) => items.iter().collect(),
                    other => vec![other],
                };
                elements
                    .into_iter()
                    .any(|e| inner.matches(e, Scope::Within(attr)))
            }
        }
    }
}

fn lookup(path: &AttrPath, scope: Scope<'_>) -> Option<&'static Attr> {
    match scope {
        Scope::Resource(schema) => schema.attr(path.urn.as_deref(), &path.attr),
        Scope::Within(parent) => super::schema::find(parent.subs, &path.attr),
    }
}

/// The object holding `path`'s attribute: the resource, or its extension's object.
fn container<'v>(value: &'v Value, path: &AttrPath, scope: Scope<'_>) -> Option<&'v Value> {
    match (scope, &path.urn) {
        (Scope::Resource(schema), Some(urn)) if !urn.eq_ignore_ascii_case(schema.schema) => {
            get_ci(value, urn)
        }
        _ => Some(value),
    }
}

/// The leaf values `path` names in `value`, and whether they compare case-exactly.
fn resolve<'v>(value: &'v Value, path: &AttrPath, scope: Scope<'_>) -> (Vec<&'v Value>, bool) {
    let Some(attr) = lookup(path, scope) else {
        return (Vec::new(), false);
    };
    let Some(found) = container(value, path, scope).and_then(|c| get_ci(c, &path.attr)) else {
        return (Vec::new(), attr.case_exact);
    };
    let elements: Vec<&Value> = match found {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    // A complex attribute compared as a whole compares its `value`.
    let sub = path
        .sub
        .as_deref()
        .or((attr.kind == super::schema::Kind::Complex).then_some("value"));
    match sub {
        Some(sub) => {
            let case_exact = super::schema::find(attr.subs, sub).is_some_and(|s| s.case_exact);
            let leaves = elements
                .into_iter()
                .filter_map(|e| get_ci(e, sub))
                .flat_map(|v| match v {
                    Value::Array(items) => items.iter().collect(),
                    other => vec![other],
                })
                .collect();
            (leaves, case_exact)
        }
        None => (elements, attr.case_exact),
    }
}

fn compare(found: &Value, op: Op, operand: &Value, case_exact: bool) -> bool {
    match (found, operand) {
        (Value::String(a), Value::String(b)) => {
            let (a, b) = if case_exact {
                (a.clone(), b.clone())
            } else {
                (a.to_lowercase(), b.to_lowercase())
            };
            match op {
                Op::Eq => a == b,
                Op::Ne => a != b,
                Op::Co => a.contains(&b),
                Op::Sw => a.starts_with(&b),
                Op::Ew => a.ends_with(&b),
                Op::Gt => a > b,
                Op::Ge => a >= b,
                Op::Lt => a < b,
                Op::Le => a <= b,
            }
        }
        (Value::Bool(a), Value::Bool(b)) => match op {
            Op::Eq => a == b,
            Op::Ne => a != b,
            _ => false,
        },
        (Value::Number(a), Value::Number(b)) => {
            let (Some(a), Some(b)) = (a.as_f64(), b.as_f64()) else {
                return false;
            };
            match op {
                Op::Eq => a == b,
                Op::Ne => a != b,
                Op::Gt => a > b,
                Op::Ge => a >= b,
                Op::Lt => a < b,
                Op::Le => a <= b,
                _ => false,
            }
        }
        _ => false,
    }
}

/// The value to sort a resource by: the first leaf `path` names (the primary one of a
/// multi-valued attribute, if marked), lowercased unless case-exact.
pub fn sort_key(value: &Value, path: &AttrPath, schema: &ResourceSchema) -> Option<String> {
    let scope = Scope::Resource(schema);
    let attr = lookup(path, scope)?;
    let (leaves, case_exact) = if attr.multi && path.sub.is_none() {
        let primary = container(value, path, scope)
            .and_then(|c| get_ci(c, &path.attr))
            .and_then(Value::as_array)
            .and_then(|items| {
                items
                    .iter()
                    .find(|i| get_ci(i, "primary") == Some(&Value::Bool(true)))
                    .or(items.first())
            })
            .and_then(|i| get_ci(i, "value"));
        (primary.into_iter().collect(), false)
    } else {
        resolve(value, path, scope)
    };
    let leaf = leaves.first()?;
    let text = match leaf {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(if case_exact {
        text
    } else {
        text.to_lowercase()
    })
}

#[cfg(test)]
mod tests;
