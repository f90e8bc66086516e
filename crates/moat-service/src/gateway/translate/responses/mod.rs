//! The Responses API (Codex CLI's format) served by a model of Anthropic's format
//! (Anthropic, Bedrock, Vertex): the request as a Messages request, the answer and its
//! stream as a response and the Responses API's typed events. A model of OpenAI's
//! format serves the Responses API itself.

mod answer;
mod request;
mod stream;

pub use answer::to_responses;
pub use request::to_anthropic;
pub use stream::ResponsesStream;

use serde_json::{Value, json};

/// Anthropic's tools have no namespaces: a function in one travels as
/// `{namespace}__{name}`, and a call of that name comes back as the function in it.
const SEPARATOR: &str = "__";

/// The namespaces of a Responses API request's tools, to read calls back by.
pub fn namespaces(body: &Value) -> Vec<String> {
    tool_namespaces(&body["tools"])
}

fn tool_namespaces(tools: &Value) -> Vec<String> {
    tools
        .as_array()
        .into_iter()
        .flatten()
        .filter(|tool| tool["type"] == "namespace")
        .filter_map(|tool| tool["name"].as_str().map(String::from))
        .collect()
}

/// A function's name as Anthropic's models are given it.
fn joined(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(namespace) => format!("{namespace}{SEPARATOR}{name}"),
        None => name.to_string(),
    }
}

/// The namespace (the longest that fits) and function a name given to Anthropic's
/// models stands for: [`joined`] read back.
fn split<'a>(name: &'a str, namespaces: &'a [String]) -> (Option<&'a str>, &'a str) {
    let namespace = namespaces
        .iter()
        .filter(|ns| {
            name.strip_prefix(ns.as_str())
                .is_some_and(|rest| rest.starts_with(SEPARATOR) && rest.len() > SEPARATOR.len())
        })
        .max_by_key(|ns| ns.len());
    match namespace {
        Some(namespace) => (
            Some(namespace.as_str()),
            &name[namespace.len() + SEPARATOR.len()..],
        ),
        None => (None, name),
    }
}

/// Sets a function call item's `name` (and `namespace`, when the name a model called
/// is a namespace's function) from the name Anthropic's model used.
fn name_call(item: &mut Value, called: &Value, namespaces: &[String]) {
    match split(called.as_str().unwrap_or_default(), namespaces) {
        (Some(namespace), name) => {
            item["name"] = json!(name);
            item["namespace"] = json!(namespace);
        }
        (None, _) => item["name"] = called.clone(),
    }
}

#[cfg(test)]
mod tests;
