//! Integration tests: the stand-in served on a loopback port, driven by a real HTTP client.

mod anthropic;
mod binary;
mod common;
mod openai;
mod recording;
