//! The one error type of the core, [`CoreError`].
//!
//! Every kernel validates what a caller hands it and returns `Result<_, CoreError>` instead of
//! panicking. Each message follows the rule of `reclib.exceptions`: name the argument, say what
//! was got, say what was expected. The Python bindings turn every `CoreError` into
//! `reclib.exceptions.KernelError` carrying the [`Display`](std::fmt::Display) text.
//!
//! Argument names are the names of the Python-facing arguments (`indptr`, `rows`, `k`, ...).
//! Where one kernel takes several matrices, the bindings add a prefix with
//! [`CoreError::with_prefix`] (`indptr` becomes `h_indptr`, `exclude.indptr`, ...).

/// Result alias used throughout the core.
pub type CoreResult<T> = Result<T, CoreError>;

/// Everything a kernel can refuse, with enough detail to fix the call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoreError {
    /// A scalar argument or an array as a whole is not acceptable.
    #[error("invalid `{name}`: got {got}, expected {expected}")]
    InvalidArgument {
        /// Argument name as seen by the caller.
        name: String,
        /// What was passed, rendered for a human.
        got: String,
        /// What would have been accepted.
        expected: String,
    },
    /// One element of an index array is outside `[0, bound)`.
    #[error("`{name}`[{position}] = {index} is out of range, expected a value in [0, {bound})")]
    IndexOutOfRange {
        /// Argument name of the index array.
        name: String,
        /// Position of the offending element in that array.
        position: usize,
        /// The offending value.
        index: i64,
        /// Exclusive upper bound of the valid range.
        bound: usize,
    },
    /// Two arrays that must have the same length do not.
    #[error("`{name_a}` and `{name_b}` must have the same length, got {len_a} and {len_b}")]
    LengthMismatch {
        /// First array.
        name_a: String,
        /// Its length.
        len_a: usize,
        /// Second array.
        name_b: String,
        /// Its length.
        len_b: usize,
    },
    /// One element of an array holds a value that is not allowed there.
    #[error("`{name}`[{position}] = {got}, expected {expected}")]
    InvalidValue {
        /// Argument name of the array.
        name: String,
        /// Position of the offending element.
        position: usize,
        /// The offending value (or values), rendered for a human.
        got: String,
        /// What would have been accepted.
        expected: String,
    },
    /// `duplicates="error"` and a `(row, col)` pair occurs more than once.
    #[error(
        "duplicate entry (row {row}, col {col}) at position {position} of the input, with \
         duplicates=\"error\"; expected each (row, col) at most once"
    )]
    Duplicate {
        /// Row of the first pair (in input order) seen a second time.
        row: i32,
        /// Its column.
        col: i32,
        /// Input position of that second occurrence.
        position: usize,
    },
    /// The worker thread pool could not be built.
    #[error("could not start the reclib thread pool: {0}")]
    ThreadPool(String),
}

impl CoreError {
    /// Shorthand for [`CoreError::InvalidArgument`].
    pub fn invalid(name: &str, got: impl ToString, expected: impl ToString) -> Self {
        CoreError::InvalidArgument {
            name: name.to_string(),
            got: got.to_string(),
            expected: expected.to_string(),
        }
    }

    /// Shorthand for [`CoreError::InvalidValue`].
    pub fn invalid_value(
        name: &str,
        position: usize,
        got: impl ToString,
        expected: impl ToString,
    ) -> Self {
        CoreError::InvalidValue {
            name: name.to_string(),
            position,
            got: got.to_string(),
            expected: expected.to_string(),
        }
    }

    /// Shorthand for [`CoreError::LengthMismatch`].
    pub fn length_mismatch(name_a: &str, len_a: usize, name_b: &str, len_b: usize) -> Self {
        CoreError::LengthMismatch {
            name_a: name_a.to_string(),
            len_a,
            name_b: name_b.to_string(),
            len_b,
        }
    }

    /// Prefixes every argument name in the error, e.g. `indptr` → `h_indptr` with prefix `"h_"`.
    ///
    /// Used when a kernel takes several matrices that are validated by the same code.
    #[must_use]
    pub fn with_prefix(self, prefix: &str) -> Self {
        let p = |name: String| format!("{prefix}{name}");
        match self {
            CoreError::InvalidArgument {
                name,
                got,
                expected,
            } => CoreError::InvalidArgument {
                name: p(name),
                got,
                expected,
            },
            CoreError::IndexOutOfRange {
                name,
                position,
                index,
                bound,
            } => CoreError::IndexOutOfRange {
                name: p(name),
                position,
                index,
                bound,
            },
            CoreError::LengthMismatch {
                name_a,
                len_a,
                name_b,
                len_b,
            } => CoreError::LengthMismatch {
                name_a: p(name_a),
                len_a,
                name_b: p(name_b),
                len_b,
            },
            CoreError::InvalidValue {
                name,
                position,
                got,
                expected,
            } => CoreError::InvalidValue {
                name: p(name),
                position,
                got,
                expected,
            },
            other @ (CoreError::Duplicate { .. } | CoreError::ThreadPool(_)) => other,
        }
    }
}

/// Converts a caller-supplied signed count (`k`, `n_cols`, ...) to `usize`, refusing negatives.
pub fn non_negative(name: &str, value: i64) -> CoreResult<usize> {
    usize::try_from(value).map_err(|_| CoreError::invalid(name, value, "a non-negative integer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_argument_got_and_expected() {
        let e = CoreError::IndexOutOfRange {
            name: "rows".into(),
            position: 3,
            index: -1,
            bound: 5,
        };
        assert_eq!(
            e.to_string(),
            "`rows`[3] = -1 is out of range, expected a value in [0, 5)"
        );
        let e = CoreError::invalid("k", -2, "a non-negative integer");
        assert_eq!(
            e.to_string(),
            "invalid `k`: got -2, expected a non-negative integer"
        );
    }

    #[test]
    fn prefix_renames_every_name() {
        let e = CoreError::length_mismatch("indices", 3, "data", 4).with_prefix("w_");
        assert_eq!(
            e.to_string(),
            "`w_indices` and `w_data` must have the same length, got 3 and 4"
        );
        let d = CoreError::Duplicate {
            row: 1,
            col: 2,
            position: 7,
        };
        assert_eq!(d.clone().with_prefix("x_"), d);
    }

    #[test]
    fn non_negative_refuses_negatives() {
        assert_eq!(non_negative("k", 3), Ok(3));
        assert!(matches!(
            non_negative("k", -1),
            Err(CoreError::InvalidArgument { .. })
        ));
    }
}
