//! The audit log's format and mathematics, independent of any database.
//!
//! - [`event`]: the audit event (SPEC.md fields), canonicalised with RFC 8785 (JCS) and
//!   hashed as an RFC 6962 leaf;
//! - [`merkle`]: the RFC 6962 / 9162 tree, appended incrementally, with inclusion and
//!   consistency proofs planned as node lists so a store fetches them in one query;
//! - [`checkpoint`]: C2SP signed notes (`tlog-checkpoint`) with Ed25519 keys;
//! - [`verify`]: the offline verifier that recomputes everything from stored events.
//!
//! This crate knows no database, no HTTP and no configuration file: storage is the
//! caller's, so the same code verifies a live SQLite file, a PostgreSQL export or an
//! auditor's extract.

pub mod checkpoint;
pub mod event;
pub mod merkle;
pub mod verify;
