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

#[cfg(test)]
mod tests;
