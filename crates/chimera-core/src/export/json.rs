//! The JSON exporter: a record with its `kind` and `schema_version` first, pretty-printed with a
//! trailing newline ([`Json`]), or on one line for JSON-lines files ([`Json::line`]).

use serde::Serialize;

use super::{ExportError, Exporter};
use crate::records::{Kind, Record};

/// A record as written: `{"kind": …, "schema_version": …, <the record's fields>}`.
#[derive(Serialize)]
struct Doc<'a, R> {
    kind: Kind,
    schema_version: u32,
    #[serde(flatten)]
    record: &'a R,
}

fn doc<R: Record>(record: &R) -> Doc<'_, R> {
    Doc { kind: R::KIND, schema_version: R::SCHEMA_VERSION, record }
}

fn error(e: serde_json::Error) -> ExportError {
    ExportError::Serialize { what: "result as JSON", detail: e.to_string() }
}

/// Pretty JSON (two-space indent, trailing newline) of any [`Record`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl Json {
    /// One line of a JSON-lines file (with its newline).
    pub fn line<R: Record>(record: &R) -> Result<Vec<u8>, ExportError> {
        let mut v = serde_json::to_vec(&doc(record)).map_err(error)?;
        v.push(b'\n');
        Ok(v)
    }
}

impl<R: Record> Exporter<R> for Json {
    fn serialize(&self, record: &R) -> Result<Vec<u8>, ExportError> {
        let mut v = serde_json::to_vec_pretty(&doc(record)).map_err(error)?;
        v.push(b'\n');
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize)]
    struct Tiny {
        a: u32,
    }
    impl Record for Tiny {
        const KIND: Kind = Kind::Compare;
        const SCHEMA_VERSION: u32 = 3;
    }

    #[test]
    fn kind_and_version_come_first() {
        let pretty = String::from_utf8(Json.serialize(&Tiny { a: 1 }).unwrap()).unwrap();
        assert_eq!(pretty, "{\n  \"kind\": \"chimera.compare\",\n  \"schema_version\": 3,\n  \"a\": 1\n}\n");
        let line = String::from_utf8(Json::line(&Tiny { a: 2 }).unwrap()).unwrap();
        assert_eq!(line, "{\"kind\":\"chimera.compare\",\"schema_version\":3,\"a\":2}\n");
    }
}
