//! `earmark._earmark`: the native half of the Python package.
//!
//! A thin layer over the earmark engine: arguments in, the engine's own
//! results out as JSON text (the same objects `earmark … --json` prints),
//! which `earmark/__init__.py` turns into dicts and small classes. The GIL
//! is released while the engine works; a panic anywhere in the engine
//! becomes an `EarmarkError` naming the input, never a crash.
//!
//! Modules: [`source`] (what the caller handed over: a path, bytes or an
//! array), [`keys`] (PEM text or files), [`screen`] (the worker pool).

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

mod arrays;
mod keys;
mod screen;
mod source;

create_exception!(
    _earmark,
    EarmarkError,
    PyException,
    "An input earmark cannot use, or a job that failed: `path` names the file (None for bytes and arrays), `reason` says what is wrong."
);

/// A failure about one input, before it becomes a Python exception (it
/// crosses threads in `screen`).
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub path: Option<String>,
    pub reason: String,
}

impl Failure {
    pub(crate) fn new(path: Option<String>, reason: impl Into<String>) -> Failure {
        Failure {
            path,
            reason: reason.into(),
        }
    }

    /// An engine error (its path, else `name`).
    pub(crate) fn engine(e: &earmark::Error, name: Option<&str>) -> Failure {
        let path = e
            .path()
            .map(|p| p.display().to_string())
            .or_else(|| name.map(str::to_string));
        Failure::new(path, e.kind().to_string())
    }

    /// The Python exception: `EarmarkError("path: reason")` with both as
    /// attributes.
    pub(crate) fn to_py(&self, py: Python<'_>) -> PyErr {
        let message = match &self.path {
            Some(p) => format!("{p}: {}", self.reason),
            None => self.reason.clone(),
        };
        let err = EarmarkError::new_err(message);
        let value = err.value(py);
        let _ = value.setattr("path", self.path.clone());
        let _ = value.setattr("reason", self.reason.clone());
        err
    }
}

/// Runs engine work, turning a panic into a [`Failure`] about `name` (the
/// engine's own per-file guard, so its panic hook logic applies).
pub(crate) fn guarded<T>(
    name: Option<&str>,
    work: impl FnOnce() -> Result<T, Failure>,
) -> Result<T, Failure> {
    match earmark::error::catch_quietly(work) {
        Ok(result) => result,
        Err(panic) => Err(Failure::new(
            name.map(str::to_string),
            format!(
                "internal error in earmark (please report it): {}",
                earmark::error::panic_text(&*panic)
            ),
        )),
    }
}

#[pymodule]
fn _earmark(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // This extension's own copy of std: a panic the engine catches (and
    // turns into an EarmarkError) prints nothing; any other still does.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !earmark::error::panic_is_caught() {
            default_hook(info);
        }
    }));
    m.add("EarmarkError", m.py().get_type::<EarmarkError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(source::verify, m)?)?;
    m.add_function(wrap_pyfunction!(source::stamp, m)?)?;
    m.add_function(wrap_pyfunction!(arrays::detect, m)?)?;
    m.add_function(wrap_pyfunction!(arrays::stamp_array, m)?)?;
    m.add_function(wrap_pyfunction!(keys::keygen, m)?)?;
    m.add_class::<screen::Screener>()?;
    Ok(())
}
