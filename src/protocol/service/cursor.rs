//! A position in a received frame body and the MessagePack primitives read at it, built on
//! `rmp`. Strings are checked as UTF-8; binaries are returned as zero-copy slices of the body.
//! Every failure is a short problem text ("must be a string, not nil") that the field reader
//! turns into a [`ServiceProtocolError`](super::ServiceProtocolError) naming the field.

use bytes::Bytes;
use rmp::Marker;
use rmp::decode::{self, NumValueReadError, RmpReadErr, ValueReadError};

/// How deeply a skipped value (an unknown extension key's) may nest.
const MAX_SKIP_DEPTH: usize = 64;

/// The MessagePack nil byte.
const NIL: u8 = 0xc0;

/// What is wrong with a value, e.g. "must be a string, not nil".
pub(super) type Problem = String;

/// A read position inside one frame body.
pub(super) struct Cursor<'a> {
    body: &'a Bytes,
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(body: &'a Bytes) -> Self {
        Cursor { body, pos: 0 }
    }

    /// Runs an `rmp` reader on the rest of the body and moves past what it consumed.
    fn read<T, E>(&mut self, read: impl FnOnce(&mut &[u8]) -> Result<T, E>) -> Result<T, E> {
        let mut rest = &self.body[self.pos..];
        let before = rest.len();
        let result = read(&mut rest);
        self.pos += before - rest.len();
        result
    }

    /// Consumes a nil if one is next.
    fn nil(&mut self) -> bool {
        let is_nil = self.body.get(self.pos) == Some(&NIL);
        if is_nil {
            self.pos += 1;
        }
        is_nil
    }

    /// The next `len` bytes as a slice of the body.
    fn take(&mut self, len: u32) -> Result<Bytes, Problem> {
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| self.pos.checked_add(len))
            .filter(|end| *end <= self.body.len())
            .ok_or_else(cut_off)?;
        let bytes = self.body.slice(self.pos..end);
        self.pos = end;
        Ok(bytes)
    }

    /// A string, or `None` for nil.
    pub(super) fn opt_str(&mut self) -> Result<Option<String>, Problem> {
        if self.nil() {
            return Ok(None);
        }
        let len = self
            .read(|rest| decode::read_str_len(rest))
            .map_err(|err| value_problem(err, "a string"))?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| "is not valid UTF-8".to_owned())
    }

    /// A non-nil string.
    pub(super) fn str(&mut self) -> Result<String, Problem> {
        self.opt_str()?
            .ok_or_else(|| "must be a string, not nil".to_owned())
    }

    /// An integer in any MessagePack encoding that fits an `i32`.
    pub(super) fn i32(&mut self) -> Result<i32, Problem> {
        self.read(|rest| decode::read_int(rest))
            .map_err(|err| number_problem(err, "Int32"))
    }

    /// An integer in any MessagePack encoding that fits an `i64`.
    pub(super) fn i64(&mut self) -> Result<i64, Problem> {
        self.read(|rest| decode::read_int(rest))
            .map_err(|err| number_problem(err, "Int64"))
    }

    /// An integer in any MessagePack encoding that fits a `u64`.
    pub(super) fn u64(&mut self) -> Result<u64, Problem> {
        self.read(|rest| decode::read_int(rest))
            .map_err(|err| number_problem(err, "UInt64"))
    }

    /// A boolean.
    pub(super) fn bool(&mut self) -> Result<bool, Problem> {
        self.read(|rest| decode::read_bool(rest))
            .map_err(|err| value_problem(err, "a boolean"))
    }

    /// A binary as a slice of the body, or `None` for nil.
    pub(super) fn opt_bin(&mut self) -> Result<Option<Bytes>, Problem> {
        if self.nil() {
            return Ok(None);
        }
        let len = self
            .read(|rest| decode::read_bin_len(rest))
            .map_err(|err| value_problem(err, "binary"))?;
        self.take(len).map(Some)
    }

    /// An array header's element count; nil counts as an empty array.
    pub(super) fn array_len(&mut self) -> Result<u32, Problem> {
        if self.nil() {
            return Ok(0);
        }
        self.read(|rest| decode::read_array_len(rest))
            .map_err(|err| value_problem(err, "an array"))
    }

    /// A map header's entry count; nil counts as an empty map.
    pub(super) fn map_len(&mut self) -> Result<u32, Problem> {
        if self.nil() {
            return Ok(0);
        }
        self.read(|rest| decode::read_map_len(rest))
            .map_err(|err| value_problem(err, "a map"))
    }

    /// Moves past one value of any type.
    pub(super) fn skip(&mut self) -> Result<(), Problem> {
        self.read(|rest| rmpv::decode::read_value_with_max_depth(rest, MAX_SKIP_DEPTH))
            .map(drop)
            .map_err(|err| match err {
                rmpv::decode::Error::DepthLimitExceeded => "is nested too deeply".to_owned(),
                _ => cut_off(),
            })
    }

    /// A capacity for `count` elements that a hostile count cannot inflate: every element takes
    /// at least one byte of what is left.
    pub(super) fn capacity(&self, count: u32) -> usize {
        usize::try_from(count)
            .unwrap_or(usize::MAX)
            .min(self.body.len() - self.pos)
    }
}

fn number_problem<E: RmpReadErr>(err: NumValueReadError<E>, range: &str) -> Problem {
    match err {
        NumValueReadError::TypeMismatch(marker) => {
            format!("must be an integer, not {}", describe(marker))
        }
        NumValueReadError::OutOfRange => format!("is out of range for {range}"),
        NumValueReadError::InvalidMarkerRead(_) | NumValueReadError::InvalidDataRead(_) => {
            cut_off()
        }
    }
}

fn value_problem<E: RmpReadErr>(err: ValueReadError<E>, expected: &str) -> Problem {
    match err {
        ValueReadError::TypeMismatch(marker) => {
            format!("must be {expected}, not {}", describe(marker))
        }
        ValueReadError::InvalidMarkerRead(_) | ValueReadError::InvalidDataRead(_) => cut_off(),
    }
}

fn cut_off() -> Problem {
    "is cut off: the frame ends in the middle of it".to_owned()
}

/// The MessagePack type a marker starts, for error texts.
fn describe(marker: Marker) -> &'static str {
    match marker {
        Marker::Null => "nil",
        Marker::True | Marker::False => "a boolean",
        Marker::FixPos(_)
        | Marker::FixNeg(_)
        | Marker::U8
        | Marker::U16
        | Marker::U32
        | Marker::U64
        | Marker::I8
        | Marker::I16
        | Marker::I32
        | Marker::I64 => "an integer",
        Marker::F32 | Marker::F64 => "a float",
        Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => "a string",
        Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => "binary",
        Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => "an array",
        Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => "a map",
        Marker::Reserved => "the reserved byte 0xc1",
        _ => "an extension value",
    }
}
