//! PostgreSQL's binary `COPY` format, for the track's rows.
//!
//! `COPY … FROM STDIN (FORMAT binary)` stores a batch of track rows in about
//! half of PostgreSQL's time per row of an `INSERT … SELECT` over
//! `json_to_recordset` (no JSON to parse, no per-row speculative insertion;
//! `load-tests/sql/track-copy-cost.sql`, BENCHMARKS.md), and the rows are
//! cheaper to encode here than JSON. The format: a header, then per row a
//! field count and each field as a length and its big-endian bytes (length
//! -1 for NULL), then a trailer.
//! <https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4>

/// The 11-byte signature, the flags field (no OIDs) and an empty header
/// extension.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// A binary `COPY` stream being written, one row after another.
pub(crate) struct BinaryCopy {
    buf: Vec<u8>,
}

impl BinaryCopy {
    /// An empty stream with room for `rows` rows of about `row_bytes` each.
    pub(crate) fn with_capacity(rows: usize, row_bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(HEADER.len() + rows * row_bytes + 2);
        buf.extend_from_slice(HEADER);
        Self { buf }
    }

    /// Starts a row of `fields` fields.
    pub(crate) fn row(&mut self, fields: i16) -> &mut Self {
        self.buf.extend_from_slice(&fields.to_be_bytes());
        self
    }

    /// A `text` field. Its length must fit an `i32`: the track's text
    /// fields are unit ids (a few dozen bytes at most) and kind names.
    pub(crate) fn text(&mut self, value: &str) -> &mut Self {
        let len = i32::try_from(value.len()).unwrap_or(i32::MAX);
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(value.as_bytes());
        self
    }

    /// A `bigint` field.
    pub(crate) fn int8(&mut self, value: i64) -> &mut Self {
        self.buf.extend_from_slice(&8_i32.to_be_bytes());
        self.buf.extend_from_slice(&value.to_be_bytes());
        self
    }

    /// A `double precision` field.
    pub(crate) fn float8(&mut self, value: f64) -> &mut Self {
        self.buf.extend_from_slice(&8_i32.to_be_bytes());
        self.buf.extend_from_slice(&value.to_be_bytes());
        self
    }

    /// A nullable `double precision` field.
    pub(crate) fn float8_or_null(&mut self, value: Option<f64>) -> &mut Self {
        match value {
            Some(v) => self.float8(v),
            None => {
                self.buf.extend_from_slice(&(-1_i32).to_be_bytes());
                self
            }
        }
    }

    /// The whole stream, trailer included.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1_i16).to_be_bytes());
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_its_field_count_then_length_prefixed_big_endian_fields() {
        let mut copy = BinaryCopy::with_capacity(1, 32);
        copy.row(4)
            .text("u1")
            .int8(258)
            .float8(1.5)
            .float8_or_null(None);
        let bytes = copy.finish();
        let mut expected = HEADER.to_vec();
        expected.extend_from_slice(&[0, 4]);
        expected.extend_from_slice(&[0, 0, 0, 2, b'u', b'1']);
        expected.extend_from_slice(&[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 1, 2]);
        expected.extend_from_slice(&[0, 0, 0, 8]);
        expected.extend_from_slice(&1.5_f64.to_be_bytes());
        expected.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        expected.extend_from_slice(&[0xff, 0xff]);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn the_header_is_the_signature_flags_and_an_empty_extension() {
        let bytes = BinaryCopy::with_capacity(0, 0).finish();
        assert_eq!(&bytes[..11], b"PGCOPY\n\xff\r\n\0");
        assert_eq!(bytes.len(), 11 + 4 + 4 + 2);
    }
}
