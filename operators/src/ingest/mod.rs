//! `ingest`: files of many formats to documents.

pub mod pdf;
