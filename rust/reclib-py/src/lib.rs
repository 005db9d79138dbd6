//! `reclib._core`: thin PyO3 bindings over `reclib-core`.
//!
//! This crate only converts. Each function borrows its numpy arguments as slices (no copy;
//! arrays must have the exact dtype and be C-contiguous), releases the GIL, calls one
//! `reclib_core` kernel, and hands the resulting `Vec`s to numpy without copying. Every refusal,
//! whether a wrong dtype, a non-contiguous array or a core `CoreError`, is raised as
//! `reclib.exceptions.KernelError` with a message naming the argument. No algorithm lives here.

use numpy::{
    Element, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2,
    PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyType};
use reclib_core::{
    self as core, AdmmParams, AdmmStart, CoreError, Csr, CsrView, Duplicates, HuffmanPaths,
    ItemFilter, Pattern, Sentences, SkipGramPass, TopK,
};

type Triple<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i32>>,
    Bound<'py, PyArray1<f64>>,
);

/// `(nnz, sums, sums_of_squares)` of `column_stats`.
type StatsOut<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
);

/// `(C, rho_final, iterations)` of `admm_slim_fit`.
type AdmmOut<'py> = (Bound<'py, PyArray2<f64>>, f64, usize);

/// `(syn0, syn1)` of `skipgram_hs_pass`.
type SkipGramOut<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray2<f32>>);

/// `(item_count, item_rel, ante, cons, pair_count, pair_rel)` of `rules_count`.
type RulesOut<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<i32>>,
    Bound<'py, PyArray1<i32>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
);

/// Builds a `reclib.exceptions.KernelError(message)`.
fn kernel_error(py: Python<'_>, message: String) -> PyErr {
    let class = py
        .import("reclib.exceptions")
        .and_then(|m| m.getattr("KernelError"))
        .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from));
    match class {
        Ok(class) => PyErr::from_type(class, message),
        // reclib.exceptions ships with this module; if it cannot be imported, still say why.
        Err(e) => {
            PyRuntimeError::new_err(format!("{message} (reclib.exceptions unavailable: {e})"))
        }
    }
}

fn core_err(py: Python<'_>, e: CoreError) -> PyErr {
    kernel_error(py, e.to_string())
}

/// numpy's name of `T`'s dtype, for messages.
fn dtype_name<T: Element>(py: Python<'_>) -> String {
    numpy::dtype::<T>(py).to_string()
}

/// Describes a Python object that is not the expected array.
fn describe(obj: &Bound<'_, PyAny>) -> String {
    match obj.cast::<PyUntypedArray>() {
        Ok(a) => format!("a {}-D array of dtype {}", a.ndim(), a.dtype()),
        Err(_) => match obj.get_type().name() {
            Ok(name) => format!("an object of type {name}"),
            Err(_) => "an object of unknown type".to_string(),
        },
    }
}

/// Borrows a 1-D C-contiguous array of dtype `T`, or raises KernelError naming `name`.
fn arr1<'py, T: Element>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<PyReadonlyArray1<'py, T>> {
    let py = obj.py();
    let Ok(array) = obj.cast::<PyArray1<T>>() else {
        return Err(kernel_error(
            py,
            format!(
                "invalid `{name}`: got {}, expected a 1-D numpy array of dtype {}",
                describe(obj),
                dtype_name::<T>(py)
            ),
        ));
    };
    let ro = array
        .try_readonly()
        .map_err(|e| kernel_error(py, format!("invalid `{name}`: cannot borrow it ({e})")))?;
    if !ro.is_c_contiguous() {
        return Err(not_contiguous(py, name));
    }
    Ok(ro)
}

/// Borrows a 2-D C-contiguous array of dtype `T`, or raises KernelError naming `name`.
fn arr2<'py, T: Element>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<PyReadonlyArray2<'py, T>> {
    let py = obj.py();
    let Ok(array) = obj.cast::<PyArray2<T>>() else {
        return Err(kernel_error(
            py,
            format!(
                "invalid `{name}`: got {}, expected a 2-D numpy array of dtype {}",
                describe(obj),
                dtype_name::<T>(py)
            ),
        ));
    };
    let ro = array
        .try_readonly()
        .map_err(|e| kernel_error(py, format!("invalid `{name}`: cannot borrow it ({e})")))?;
    if !ro.is_c_contiguous() {
        return Err(not_contiguous(py, name));
    }
    Ok(ro)
}

fn not_contiguous(py: Python<'_>, name: &str) -> PyErr {
    kernel_error(
        py,
        format!(
            "invalid `{name}`: got a non-contiguous (strided or Fortran-ordered) array, expected \
             a C-contiguous array (use numpy.ascontiguousarray)"
        ),
    )
}

/// The slice behind a borrowed array (C-contiguity was checked when borrowing).
fn slice<'a, T: Element, D: numpy::ndarray::Dimension>(
    py: Python<'_>,
    ro: &'a numpy::PyReadonlyArray<'_, T, D>,
    name: &str,
) -> PyResult<&'a [T]> {
    ro.as_slice().map_err(|_| not_contiguous(py, name))
}

/// Converts a Python int argument that must be non-negative.
fn count(py: Python<'_>, name: &str, value: i64) -> PyResult<usize> {
    core::error::non_negative(name, value).map_err(|e| core_err(py, e))
}

/// Converts a Python int argument that must be at least 1.
fn positive(py: Python<'_>, name: &str, value: i64) -> PyResult<usize> {
    match usize::try_from(value) {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(core_err(
            py,
            CoreError::invalid(name, value, "an integer >= 1"),
        )),
    }
}

fn triple(py: Python<'_>, m: Csr) -> Triple<'_> {
    let (indptr, indices, data) = m.into_parts();
    (
        PyArray1::from_vec(py, indptr),
        PyArray1::from_vec(py, indices),
        PyArray1::from_vec(py, data),
    )
}

fn topk_out(py: Python<'_>, t: TopK) -> Triple<'_> {
    let (rows, items, scores) = t.into_parts();
    (
        PyArray1::from_vec(py, rows),
        PyArray1::from_vec(py, items),
        PyArray1::from_vec(py, scores),
    )
}

/// Borrowed arrays of a CSR triple argument; slices are taken from them inside `with_view`.
struct CsrArgs<'py> {
    indptr: PyReadonlyArray1<'py, i64>,
    indices: PyReadonlyArray1<'py, i32>,
    data: PyReadonlyArray1<'py, f64>,
    prefix: &'static str,
}

impl<'py> CsrArgs<'py> {
    fn new(
        prefix: &'static str,
        indptr: &Bound<'py, PyAny>,
        indices: &Bound<'py, PyAny>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Self> {
        Ok(CsrArgs {
            indptr: arr1(indptr, &format!("{prefix}indptr"))?,
            indices: arr1(indices, &format!("{prefix}indices"))?,
            data: arr1(data, &format!("{prefix}data"))?,
            prefix,
        })
    }

    fn slices(&self, py: Python<'_>) -> PyResult<(&[i64], &[i32], &[f64])> {
        let p = self.prefix;
        Ok((
            slice(py, &self.indptr, &format!("{p}indptr"))?,
            slice(py, &self.indices, &format!("{p}indices"))?,
            slice(py, &self.data, &format!("{p}data"))?,
        ))
    }
}

/// Validates a CSR triple into a view; errors are prefixed with the argument prefix.
fn view<'a>(
    s: (&'a [i64], &'a [i32], &'a [f64]),
    n_cols: usize,
    prefix: &str,
) -> Result<CsrView<'a>, CoreError> {
    CsrView::new(s.0, s.1, s.2, n_cols).map_err(|e| e.with_prefix(prefix))
}

/// Borrowed `exclude=(indptr, indices)` argument.
struct ExcludeArgs<'py> {
    indptr: PyReadonlyArray1<'py, i64>,
    indices: PyReadonlyArray1<'py, i32>,
}

impl<'py> ExcludeArgs<'py> {
    fn new(obj: Option<&Bound<'py, PyAny>>) -> PyResult<Option<Self>> {
        let Some(obj) = obj.filter(|o| !o.is_none()) else {
            return Ok(None);
        };
        let py = obj.py();
        let bad = || {
            kernel_error(
                py,
                format!(
                    "invalid `exclude`: got {}, expected None or a tuple (indptr int64, indices \
                     int32) of a CSR with one row per score row",
                    describe(obj)
                ),
            )
        };
        let tuple = obj.cast::<PyTuple>().map_err(|_| bad())?;
        // A full CSR triple is accepted too; its data is not needed.
        if !(tuple.len() == 2 || tuple.len() == 3) {
            return Err(bad());
        }
        Ok(Some(ExcludeArgs {
            indptr: arr1(&tuple.get_item(0)?, "exclude.indptr")?,
            indices: arr1(&tuple.get_item(1)?, "exclude.indices")?,
        }))
    }

    fn slices(&self, py: Python<'_>) -> PyResult<(&[i64], &[i32])> {
        Ok((
            slice(py, &self.indptr, "exclude.indptr")?,
            slice(py, &self.indices, "exclude.indices")?,
        ))
    }
}

/// Slices of the optional filter arguments, to be validated into an [`ItemFilter`].
type FilterSlices<'a> = (Option<(&'a [i64], &'a [i32])>, Option<&'a [bool]>);

fn filter<'a>(f: FilterSlices<'a>, n_items: usize) -> Result<ItemFilter<'a>, CoreError> {
    let exclude = match f.0 {
        Some((p, i)) => Some(Pattern::new(p, i, n_items).map_err(|e| e.with_prefix("exclude."))?),
        None => None,
    };
    Ok(ItemFilter {
        exclude,
        candidates: f.1,
    })
}

/// Borrows the optional `exclude` and `candidates` arguments.
fn filter_args<'py>(
    exclude: Option<&Bound<'py, PyAny>>,
    candidates: Option<&Bound<'py, PyAny>>,
) -> PyResult<(
    Option<ExcludeArgs<'py>>,
    Option<PyReadonlyArray1<'py, bool>>,
)> {
    let ex = ExcludeArgs::new(exclude)?;
    let cand = match candidates.filter(|c| !c.is_none()) {
        Some(c) => Some(arr1::<bool>(c, "candidates")?),
        None => None,
    };
    Ok((ex, cand))
}

fn filter_slices<'a>(
    py: Python<'_>,
    ex: &'a Option<ExcludeArgs<'_>>,
    cand: &'a Option<PyReadonlyArray1<'_, bool>>,
) -> PyResult<FilterSlices<'a>> {
    let ex = match ex {
        Some(e) => Some(e.slices(py)?),
        None => None,
    };
    let cand = match cand {
        Some(c) => Some(slice(py, c, "candidates")?),
        None => None,
    };
    Ok((ex, cand))
}

/// Build a canonical CSR from COO triples;
/// `duplicates` in {"sum","max","first","last","count","error"}.
#[pyfunction]
#[pyo3(signature = (rows, cols, values, n_rows, n_cols, duplicates))]
fn build_csr<'py>(
    py: Python<'py>,
    rows: &Bound<'py, PyAny>,
    cols: &Bound<'py, PyAny>,
    values: &Bound<'py, PyAny>,
    n_rows: i64,
    n_cols: i64,
    duplicates: &str,
) -> PyResult<Triple<'py>> {
    let n_rows = count(py, "n_rows", n_rows)?;
    let n_cols = count(py, "n_cols", n_cols)?;
    let policy: Duplicates = duplicates.parse().map_err(|e| core_err(py, e))?;
    let (r, c, v) = (
        arr1::<i32>(rows, "rows")?,
        arr1::<i32>(cols, "cols")?,
        arr1::<f64>(values, "values")?,
    );
    let (r, c, v) = (
        slice(py, &r, "rows")?,
        slice(py, &c, "cols")?,
        slice(py, &v, "values")?,
    );
    let m = py
        .detach(|| Csr::from_coo(r, c, v, n_rows, n_cols, policy))
        .map_err(|e| core_err(py, e))?;
    Ok(triple(py, m))
}

/// Transpose a CSR triple with `n_cols` columns.
#[pyfunction]
#[pyo3(signature = (indptr, indices, data, n_cols))]
fn transpose_csr<'py>(
    py: Python<'py>,
    indptr: &Bound<'py, PyAny>,
    indices: &Bound<'py, PyAny>,
    data: &Bound<'py, PyAny>,
    n_cols: i64,
) -> PyResult<Triple<'py>> {
    let n_cols = count(py, "n_cols", n_cols)?;
    let x = CsrArgs::new("", indptr, indices, data)?;
    let xs = x.slices(py)?;
    let m = py
        .detach(|| view(xs, n_cols, "")?.transpose())
        .map_err(|e| core_err(py, e))?;
    Ok(triple(py, m))
}

/// Per-column stored-entry count, sum and sum of squares.
#[pyfunction]
#[pyo3(signature = (indptr, indices, data, n_cols))]
fn column_stats<'py>(
    py: Python<'py>,
    indptr: &Bound<'py, PyAny>,
    indices: &Bound<'py, PyAny>,
    data: &Bound<'py, PyAny>,
    n_cols: i64,
) -> PyResult<StatsOut<'py>> {
    let n_cols = count(py, "n_cols", n_cols)?;
    let x = CsrArgs::new("", indptr, indices, data)?;
    let xs = x.slices(py)?;
    let s = py
        .detach(|| core::column_stats(view(xs, n_cols, "")?))
        .map_err(|e| core_err(py, e))?;
    Ok((
        PyArray1::from_vec(py, s.nnz),
        PyArray1::from_vec(py, s.sums),
        PyArray1::from_vec(py, s.sums_of_squares),
    ))
}

/// Top-`num_neighbours` shrunk-cosine item neighbours of a user x item CSR.
#[pyfunction]
#[pyo3(signature = (indptr, indices, data, n_items, sq_norms, shrink, num_neighbours))]
#[allow(clippy::too_many_arguments)]
fn item_cosine_topn<'py>(
    py: Python<'py>,
    indptr: &Bound<'py, PyAny>,
    indices: &Bound<'py, PyAny>,
    data: &Bound<'py, PyAny>,
    n_items: i64,
    sq_norms: &Bound<'py, PyAny>,
    shrink: f64,
    num_neighbours: i64,
) -> PyResult<Triple<'py>> {
    let n_items = count(py, "n_items", n_items)?;
    let num_neighbours = count(py, "num_neighbours", num_neighbours)?;
    let x = CsrArgs::new("", indptr, indices, data)?;
    let sq = arr1::<f64>(sq_norms, "sq_norms")?;
    let (xs, sq) = (x.slices(py)?, slice(py, &sq, "sq_norms")?);
    let m = py
        .detach(|| core::item_cosine_topn(view(xs, n_items, "")?, sq, shrink, num_neighbours))
        .map_err(|e| core_err(py, e))?;
    Ok(triple(py, m))
}

/// Full item x item co-occurrence dot-product matrix (no diagonal).
#[pyfunction]
#[pyo3(signature = (indptr, indices, data, n_items))]
fn cooccurrence<'py>(
    py: Python<'py>,
    indptr: &Bound<'py, PyAny>,
    indices: &Bound<'py, PyAny>,
    data: &Bound<'py, PyAny>,
    n_items: i64,
) -> PyResult<Triple<'py>> {
    let n_items = count(py, "n_items", n_items)?;
    let x = CsrArgs::new("", indptr, indices, data)?;
    let xs = x.slices(py)?;
    let m = py
        .detach(|| core::cooccurrence(view(xs, n_items, "")?))
        .map_err(|e| core_err(py, e))?;
    Ok(triple(py, m))
}

/// Shrunk-cosine top-n neighbours from a precomputed item x item dot-product CSR.
#[pyfunction]
#[pyo3(signature = (dot_indptr, dot_indices, dot_data, sq_norms, shrink, num_neighbours))]
fn cosine_topn_from_dots<'py>(
    py: Python<'py>,
    dot_indptr: &Bound<'py, PyAny>,
    dot_indices: &Bound<'py, PyAny>,
    dot_data: &Bound<'py, PyAny>,
    sq_norms: &Bound<'py, PyAny>,
    shrink: f64,
    num_neighbours: i64,
) -> PyResult<Triple<'py>> {
    let num_neighbours = count(py, "num_neighbours", num_neighbours)?;
    let d = CsrArgs::new("dot_", dot_indptr, dot_indices, dot_data)?;
    let sq = arr1::<f64>(sq_norms, "sq_norms")?;
    let (ds, sq) = (d.slices(py)?, slice(py, &sq, "sq_norms")?);
    let m = py
        .detach(|| {
            core::cosine_topn_from_dots(view(ds, sq.len(), "dot_")?, sq, shrink, num_neighbours)
        })
        .map_err(|e| core_err(py, e))?;
    Ok(triple(py, m))
}

/// Per-user top-k of history x item-item weights, minus `exclude`, within `candidates`.
#[pyfunction]
#[pyo3(signature = (
    h_indptr, h_indices, h_data, w_indptr, w_indices, w_data, n_items, k,
    exclude = None, candidates = None
))]
#[allow(clippy::too_many_arguments)]
fn neighbour_topk<'py>(
    py: Python<'py>,
    h_indptr: &Bound<'py, PyAny>,
    h_indices: &Bound<'py, PyAny>,
    h_data: &Bound<'py, PyAny>,
    w_indptr: &Bound<'py, PyAny>,
    w_indices: &Bound<'py, PyAny>,
    w_data: &Bound<'py, PyAny>,
    n_items: i64,
    k: i64,
    exclude: Option<&Bound<'py, PyAny>>,
    candidates: Option<&Bound<'py, PyAny>>,
) -> PyResult<Triple<'py>> {
    let n_items = count(py, "n_items", n_items)?;
    let k = count(py, "k", k)?;
    let h = CsrArgs::new("h_", h_indptr, h_indices, h_data)?;
    let w = CsrArgs::new("w_", w_indptr, w_indices, w_data)?;
    let (ex, cand) = filter_args(exclude, candidates)?;
    let (hs, ws, fs) = (h.slices(py)?, w.slices(py)?, filter_slices(py, &ex, &cand)?);
    let t = py
        .detach(|| {
            let h = view(hs, n_items, "h_")?;
            let w = view(ws, n_items, "w_")?;
            core::neighbour_topk(h, w, k, filter(fs, n_items)?)
        })
        .map_err(|e| core_err(py, e))?;
    Ok(topk_out(py, t))
}

/// Per-row top-k of a dense C-contiguous 2-D score matrix (NaN never selected).
#[pyfunction]
#[pyo3(signature = (scores, k, exclude = None, candidates = None))]
fn topk_dense<'py>(
    py: Python<'py>,
    scores: &Bound<'py, PyAny>,
    k: i64,
    exclude: Option<&Bound<'py, PyAny>>,
    candidates: Option<&Bound<'py, PyAny>>,
) -> PyResult<Triple<'py>> {
    let k = count(py, "k", k)?;
    let s = arr2::<f64>(scores, "scores")?;
    let (n_rows, n_cols) = (s.shape()[0], s.shape()[1]);
    let (ex, cand) = filter_args(exclude, candidates)?;
    let (ss, fs) = (slice(py, &s, "scores")?, filter_slices(py, &ex, &cand)?);
    let t = py
        .detach(|| core::topk_dense(ss, n_rows, n_cols, k, filter(fs, n_cols)?))
        .map_err(|e| core_err(py, e))?;
    Ok(topk_out(py, t))
}

/// Global top-k of one score vector for each of `n_rows` rows, minus each row's `exclude`.
#[pyfunction]
#[pyo3(signature = (scores, n_rows, k, exclude = None, candidates = None))]
fn topk_ranked<'py>(
    py: Python<'py>,
    scores: &Bound<'py, PyAny>,
    n_rows: i64,
    k: i64,
    exclude: Option<&Bound<'py, PyAny>>,
    candidates: Option<&Bound<'py, PyAny>>,
) -> PyResult<Triple<'py>> {
    let n_rows = count(py, "n_rows", n_rows)?;
    let k = count(py, "k", k)?;
    let s = arr1::<f64>(scores, "scores")?;
    let (ex, cand) = filter_args(exclude, candidates)?;
    let (ss, fs) = (slice(py, &s, "scores")?, filter_slices(py, &ex, &cand)?);
    let t = py
        .detach(|| core::topk_ranked(ss, n_rows, k, filter(fs, ss.len())?))
        .map_err(|e| core_err(py, e))?;
    Ok(topk_out(py, t))
}

/// Per-row top-k of a sparse score matrix (stored entries only; NaN never selected).
#[pyfunction]
#[pyo3(signature = (indptr, indices, data, n_cols, k, exclude = None, candidates = None))]
#[allow(clippy::too_many_arguments)]
fn topk_csr<'py>(
    py: Python<'py>,
    indptr: &Bound<'py, PyAny>,
    indices: &Bound<'py, PyAny>,
    data: &Bound<'py, PyAny>,
    n_cols: i64,
    k: i64,
    exclude: Option<&Bound<'py, PyAny>>,
    candidates: Option<&Bound<'py, PyAny>>,
) -> PyResult<Triple<'py>> {
    let n_cols = count(py, "n_cols", n_cols)?;
    let k = count(py, "k", k)?;
    let x = CsrArgs::new("", indptr, indices, data)?;
    let (ex, cand) = filter_args(exclude, candidates)?;
    let (xs, fs) = (x.slices(py)?, filter_slices(py, &ex, &cand)?);
    let t = py
        .detach(|| core::topk_csr(view(xs, n_cols, "")?, k, filter(fs, n_cols)?))
        .map_err(|e| core_err(py, e))?;
    Ok(topk_out(py, t))
}

/// Wilson score interval lower bound of positives out of totals at normal quantile `z`.
#[pyfunction]
#[pyo3(signature = (positives, totals, z))]
fn wilson_lower_bound<'py>(
    py: Python<'py>,
    positives: &Bound<'py, PyAny>,
    totals: &Bound<'py, PyAny>,
    z: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let p = arr1::<f64>(positives, "positives")?;
    let n = arr1::<f64>(totals, "totals")?;
    let (ps, ns) = (slice(py, &p, "positives")?, slice(py, &n, "totals")?);
    let out = py
        .detach(|| core::wilson_lower_bound(ps, ns, z))
        .map_err(|e| core_err(py, e))?;
    Ok(PyArray1::from_vec(py, out))
}

/// SLIM weights W (row = history item, column = target) of a user x item CSR.
#[pyfunction]
#[pyo3(signature = (indptr, indices, data, n_items, beta, lambda_, max_iter, tol))]
#[allow(clippy::too_many_arguments)]
fn slim_fit<'py>(
    py: Python<'py>,
    indptr: &Bound<'py, PyAny>,
    indices: &Bound<'py, PyAny>,
    data: &Bound<'py, PyAny>,
    n_items: i64,
    beta: f64,
    lambda_: f64,
    max_iter: i64,
    tol: f64,
) -> PyResult<Triple<'py>> {
    let n_items = count(py, "n_items", n_items)?;
    let max_iter = positive(py, "max_iter", max_iter)?;
    let x = CsrArgs::new("", indptr, indices, data)?;
    let xs = x.slices(py)?;
    let m = py
        .detach(|| core::slim_fit(view(xs, n_items, "")?, beta, lambda_, max_iter, tol))
        .map_err(|e| core_err(py, e))?;
    Ok(triple(py, m))
}

/// Checks that `array` is `n × n`, naming it and `gram` in the message.
fn square(py: Python<'_>, array: &PyReadonlyArray2<'_, f64>, name: &str, n: usize) -> PyResult<()> {
    let shape = array.shape();
    if shape == [n, n] {
        return Ok(());
    }
    let expected = if name == "gram" {
        "a square 2-D array".to_string()
    } else {
        format!("({n}, {n}), the shape of `gram`")
    };
    Err(core_err(
        py,
        CoreError::invalid(
            name,
            format!("shape ({}, {})", shape[0], shape[1]),
            expected,
        ),
    ))
}

/// ADMM-SLIM loop on a dense Gram matrix from given starting B, C, Gamma; returns (C, rho, its).
#[pyfunction]
#[pyo3(signature = (gram, b0, c0, gamma0, lambda_1, lambda_2, rho, max_iter))]
#[allow(clippy::too_many_arguments)]
fn admm_slim_fit<'py>(
    py: Python<'py>,
    gram: &Bound<'py, PyAny>,
    b0: &Bound<'py, PyAny>,
    c0: &Bound<'py, PyAny>,
    gamma0: &Bound<'py, PyAny>,
    lambda_1: f64,
    lambda_2: f64,
    rho: f64,
    max_iter: i64,
) -> PyResult<AdmmOut<'py>> {
    let max_iter = count(py, "max_iter", max_iter)?;
    let g = arr2::<f64>(gram, "gram")?;
    let n = g.shape()[0];
    square(py, &g, "gram", n)?;
    let (b, c, gm) = (
        arr2::<f64>(b0, "b0")?,
        arr2::<f64>(c0, "c0")?,
        arr2::<f64>(gamma0, "gamma0")?,
    );
    square(py, &b, "b0", n)?;
    square(py, &c, "c0", n)?;
    square(py, &gm, "gamma0", n)?;
    let start = AdmmStart {
        b: slice(py, &b, "b0")?,
        c: slice(py, &c, "c0")?,
        gamma: slice(py, &gm, "gamma0")?,
    };
    let gs = slice(py, &g, "gram")?;
    let params = AdmmParams {
        lambda_1,
        lambda_2,
        rho,
        max_iter,
    };
    let fit = py
        .detach(|| core::admm_slim_fit(gs, n, start, params))
        .map_err(|e| core_err(py, e))?;
    let c = PyArray1::from_vec(py, fit.c).reshape([n, n])?;
    Ok((c, fit.rho, fit.iterations))
}

/// Item and item-pair session counts and weights of a session x item CSR (association rules).
#[pyfunction]
#[pyo3(signature = (indptr, indices, data, n_items, min_item_count, min_pair_count))]
fn rules_count<'py>(
    py: Python<'py>,
    indptr: &Bound<'py, PyAny>,
    indices: &Bound<'py, PyAny>,
    data: &Bound<'py, PyAny>,
    n_items: i64,
    min_item_count: i64,
    min_pair_count: i64,
) -> PyResult<RulesOut<'py>> {
    let n_items = count(py, "n_items", n_items)?;
    let min_item_count = count(py, "min_item_count", min_item_count)?;
    let min_pair_count = count(py, "min_pair_count", min_pair_count)?;
    let x = CsrArgs::new("", indptr, indices, data)?;
    let xs = x.slices(py)?;
    let r = py
        .detach(|| core::rules_count(view(xs, n_items, "")?, min_item_count, min_pair_count))
        .map_err(|e| core_err(py, e))?;
    Ok((
        PyArray1::from_vec(py, r.item_count),
        PyArray1::from_vec(py, r.item_rel),
        PyArray1::from_vec(py, r.ante),
        PyArray1::from_vec(py, r.cons),
        PyArray1::from_vec(py, r.pair_count),
        PyArray1::from_vec(py, r.pair_rel),
    ))
}

/// One pass of skip-gram word2vec with hierarchical softmax (Spark MLlib's sequential loop);
/// returns new `(syn0, syn1)`, the inputs are not modified.
#[pyfunction]
#[pyo3(signature = (
    sentence_indptr, sentence_indices, path_indptr, path_indices, path_codes, shrinks,
    syn0, syn1, window, step_size, iteration, max_iter
))]
#[allow(clippy::too_many_arguments)]
fn skipgram_hs_pass<'py>(
    py: Python<'py>,
    sentence_indptr: &Bound<'py, PyAny>,
    sentence_indices: &Bound<'py, PyAny>,
    path_indptr: &Bound<'py, PyAny>,
    path_indices: &Bound<'py, PyAny>,
    path_codes: &Bound<'py, PyAny>,
    shrinks: &Bound<'py, PyAny>,
    syn0: &Bound<'py, PyAny>,
    syn1: &Bound<'py, PyAny>,
    window: i64,
    step_size: f64,
    iteration: i64,
    max_iter: i64,
) -> PyResult<SkipGramOut<'py>> {
    let window = positive(py, "window", window)?;
    let iteration = count(py, "iteration", iteration)?;
    let max_iter = positive(py, "max_iter", max_iter)?;
    let (s_indptr, s_indices) = (
        arr1::<i64>(sentence_indptr, "sentence_indptr")?,
        arr1::<i32>(sentence_indices, "sentence_indices")?,
    );
    let (p_indptr, p_indices, p_codes) = (
        arr1::<i64>(path_indptr, "path_indptr")?,
        arr1::<i32>(path_indices, "path_indices")?,
        arr1::<bool>(path_codes, "path_codes")?,
    );
    let b = arr1::<i32>(shrinks, "shrinks")?;
    let (v0, v1) = (arr2::<f32>(syn0, "syn0")?, arr2::<f32>(syn1, "syn1")?);
    let (n_words, rank) = (v0.shape()[0], v0.shape()[1]);
    let inner = [n_words.saturating_sub(1), rank];
    if v1.shape() != inner {
        return Err(core_err(
            py,
            CoreError::invalid(
                "syn1",
                format!("shape ({}, {})", v1.shape()[0], v1.shape()[1]),
                format!(
                    "({}, {rank}): one row per inner node, as wide as `syn0`",
                    inner[0]
                ),
            ),
        ));
    }
    let sentences = Sentences {
        indptr: slice(py, &s_indptr, "sentence_indptr")?,
        words: slice(py, &s_indices, "sentence_indices")?,
    };
    let paths = HuffmanPaths {
        indptr: slice(py, &p_indptr, "path_indptr")?,
        nodes: slice(py, &p_indices, "path_indices")?,
        codes: slice(py, &p_codes, "path_codes")?,
    };
    let bs = slice(py, &b, "shrinks")?;
    let (s0, s1) = (slice(py, &v0, "syn0")?, slice(py, &v1, "syn1")?);
    let params = SkipGramPass {
        rank,
        window,
        step_size,
        iteration,
        max_iter,
    };
    let (out0, out1) = py
        .detach(|| {
            let (mut out0, mut out1) = (s0.to_vec(), s1.to_vec());
            core::skipgram_hs_pass(sentences, paths, bs, params, &mut out0, &mut out1)
                .map(|()| (out0, out1))
        })
        .map_err(|e| core_err(py, e))?;
    Ok((
        PyArray1::from_vec(py, out0).reshape([n_words, rank])?,
        PyArray1::from_vec(py, out1).reshape(inner)?,
    ))
}

/// Size the thread pool used by all kernels (0 = number of CPUs).
#[pyfunction]
#[pyo3(signature = (n))]
fn set_num_threads(py: Python<'_>, n: i64) -> PyResult<()> {
    let n = count(py, "n", n)?;
    py.detach(|| core::parallel::set_num_threads(n))
        .map_err(|e| core_err(py, e))
}

/// Number of threads of the kernel thread pool.
#[pyfunction]
fn get_num_threads(py: Python<'_>) -> PyResult<usize> {
    py.detach(core::parallel::get_num_threads)
        .map_err(|e| core_err(py, e))
}

/// The `reclib._core` extension module.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(build_csr, m)?)?;
    m.add_function(wrap_pyfunction!(transpose_csr, m)?)?;
    m.add_function(wrap_pyfunction!(column_stats, m)?)?;
    m.add_function(wrap_pyfunction!(item_cosine_topn, m)?)?;
    m.add_function(wrap_pyfunction!(cooccurrence, m)?)?;
    m.add_function(wrap_pyfunction!(cosine_topn_from_dots, m)?)?;
    m.add_function(wrap_pyfunction!(neighbour_topk, m)?)?;
    m.add_function(wrap_pyfunction!(topk_dense, m)?)?;
    m.add_function(wrap_pyfunction!(topk_ranked, m)?)?;
    m.add_function(wrap_pyfunction!(topk_csr, m)?)?;
    m.add_function(wrap_pyfunction!(wilson_lower_bound, m)?)?;
    m.add_function(wrap_pyfunction!(slim_fit, m)?)?;
    m.add_function(wrap_pyfunction!(admm_slim_fit, m)?)?;
    m.add_function(wrap_pyfunction!(rules_count, m)?)?;
    m.add_function(wrap_pyfunction!(skipgram_hs_pass, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    Ok(())
}
