//! NumPy arrays: `detect` and `stamp_array` on samples already in memory.
//!
//! Accepted: float32, float64 and int16 (full scale ±1.0 / ±32768), shaped
//! `(n,)` (mono) or `(n, channels)` (interleaved when C-contiguous). A
//! C-contiguous float32 array is read in place; anything else is converted
//! in chunks of [`CHUNK`] samples, so `detect` never copies a whole clip.

use earmark::audio::{quantize, SampleFormat, WriterSpec};
use numpy::ndarray::{ArrayViewD, IxDyn};
use numpy::{
    PyArray1, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::keys::WatermarkKeyArg;
use crate::source::{registered_track_id, report, stamp_options, verify_options, StampArgs};
use crate::{guarded, Failure};

/// Samples converted per step for arrays that cannot be read in place.
const CHUNK: usize = 1 << 16;

/// Most channels accepted (a wider array is almost surely transposed).
const MAX_CHANNELS: usize = 64;

/// Sample rates accepted, Hz.
const RATES: std::ops::RangeInclusive<u32> = 4_000..=768_000;

/// A view of the caller's samples, of one of the accepted dtypes.
enum View<'a> {
    F32(ArrayViewD<'a, f32>),
    F64(ArrayViewD<'a, f64>),
    I16(ArrayViewD<'a, i16>),
}

impl View<'_> {
    /// Calls `f` with the samples in order (frame by frame, channels
    /// interleaved), in chunks; a C-contiguous float32 array in place.
    fn for_each_chunk(&self, mut f: impl FnMut(&[f32])) {
        fn convert<T: Copy>(view: &ArrayViewD<'_, T>, to: fn(T) -> f32, f: &mut dyn FnMut(&[f32])) {
            let mut buf = Vec::with_capacity(CHUNK);
            for &x in view.iter() {
                buf.push(to(x));
                if buf.len() == CHUNK {
                    f(&buf);
                    buf.clear();
                }
            }
            if !buf.is_empty() {
                f(&buf);
            }
        }
        match self {
            View::F32(v) => match v.as_slice() {
                Some(all) => all.chunks(CHUNK).for_each(f),
                None => convert(v, |x| x, &mut f),
            },
            View::F64(v) => convert(v, |x| x as f32, &mut f),
            View::I16(v) => convert(v, |x| f32::from(x) / 32_768.0, &mut f),
        }
    }

    /// The first non-finite sample, as (index in order, frame, channel).
    fn first_non_finite(&self, channels: usize) -> Option<(usize, usize, usize)> {
        let at = match self {
            View::F32(v) => v.iter().position(|x| !x.is_finite()),
            View::F64(v) => v.iter().position(|x| !x.is_finite()),
            View::I16(_) => None,
        }?;
        Some((at, at / channels, at % channels))
    }

    /// All samples as one interleaved `f32` buffer (borrowed when possible).
    fn to_vec(&self) -> Vec<f32> {
        let mut all = Vec::with_capacity(self.len());
        self.for_each_chunk(|c| all.extend_from_slice(c));
        all
    }

    fn len(&self) -> usize {
        match self {
            View::F32(v) => v.len(),
            View::F64(v) => v.len(),
            View::I16(v) => v.len(),
        }
    }
}

/// The shape checks every array function makes: `(frames, channels)`.
fn layout(array: &Bound<'_, PyUntypedArray>, sample_rate: u32) -> PyResult<(usize, usize)> {
    let shape = array.shape();
    let (frames, channels) = match *shape {
        [n] => (n, 1),
        [n, c] => (n, c),
        _ => {
            return Err(PyValueError::new_err(format!(
                "samples must be shaped (n,) for mono or (n, channels), got {} dimensions {:?}",
                shape.len(),
                shape
            )))
        }
    };
    if channels > MAX_CHANNELS {
        let hint = if frames <= MAX_CHANNELS {
            "; this looks like (channels, n), the layout librosa and torchaudio use: pass samples.T"
                .to_string()
        } else {
            String::new()
        };
        return Err(PyValueError::new_err(format!(
            "samples shaped {shape:?} have {channels} channels (at most {MAX_CHANNELS}){hint}"
        )));
    }
    if frames == 0 || channels == 0 {
        return Err(PyValueError::new_err(format!(
            "samples are empty (shape {shape:?})"
        )));
    }
    if !RATES.contains(&sample_rate) {
        return Err(PyValueError::new_err(format!(
            "sample_rate must be between {} and {} Hz, got {sample_rate}",
            RATES.start(),
            RATES.end()
        )));
    }
    Ok((frames, channels))
}

/// Runs `work` on a view of `array`'s samples (dtype-checked), the GIL
/// released.
fn with_view<R: Send>(
    py: Python<'_>,
    array: &Bound<'_, PyUntypedArray>,
    work: impl FnOnce(&View<'_>) -> R + Send,
) -> PyResult<R> {
    let dtype = array.dtype();
    if dtype.is_equiv_to(&numpy::dtype::<f32>(py)) {
        let a = array.cast::<PyArrayDyn<f32>>()?.readonly();
        let view = View::F32(a.as_array());
        Ok(py.detach(|| work(&view)))
    } else if dtype.is_equiv_to(&numpy::dtype::<f64>(py)) {
        let a = array.cast::<PyArrayDyn<f64>>()?.readonly();
        let view = View::F64(a.as_array());
        Ok(py.detach(|| work(&view)))
    } else if dtype.is_equiv_to(&numpy::dtype::<i16>(py)) {
        let a = array.cast::<PyArrayDyn<i16>>()?.readonly();
        let view = View::I16(a.as_array());
        Ok(py.detach(|| work(&view)))
    } else {
        Err(PyTypeError::new_err(format!(
            "samples must be float32, float64 or int16, got {dtype}; convert with samples.astype(numpy.float32) (floats with full scale at ±1.0)"
        )))
    }
}

/// detect(samples, sample_rate, trust=[], wm_key=None) -> (json, exit_code)
///
/// Looks for the marker (with the speed, tempo and pitch search) and reads
/// the seal, as `earmark verify` does for a file with no metadata.
#[pyfunction]
#[pyo3(signature = (samples, sample_rate, trust=Vec::new(), wm_key=None, search=true))]
pub(crate) fn detect(
    py: Python<'_>,
    samples: &Bound<'_, PyUntypedArray>,
    sample_rate: u32,
    trust: Vec<String>,
    wm_key: Option<WatermarkKeyArg>,
    search: bool,
) -> PyResult<(String, i32)> {
    let (_, channels) = layout(samples, sample_rate)?;
    let result = with_view(py, samples, |view| {
        if let Some((i, frame, ch)) = view.first_non_finite(channels) {
            return Err(Failure::new(
                None,
                format!("sample {i} (frame {frame}, channel {ch}) is NaN or infinite"),
            ));
        }
        let opts = verify_options(&trust, wm_key.as_ref(), None, search)?;
        guarded(None, || {
            earmark::verify_pcm(sample_rate, channels as u16, &opts, |sink| {
                view.for_each_chunk(&mut *sink)
            })
            .map(|v| report(&v))
            .map_err(|e| Failure::engine(&e, None))
        })
    })?;
    result.map_err(|f| nan_as_value_error(py, f))
}

/// A bad sample is a `ValueError` like the other argument checks.
fn nan_as_value_error(py: Python<'_>, f: Failure) -> PyErr {
    if f.path.is_none() && f.reason.contains("NaN or infinite") {
        PyValueError::new_err(f.reason)
    } else {
        f.to_py(py)
    }
}

/// stamp_array(samples, sample_rate, key, **options) -> (marked, json)
///
/// The marked samples in the input's dtype and shape (int16 rounded as a
/// 16-bit file stores them, which is what the manifest's hash covers).
#[pyfunction]
#[pyo3(signature = (
    samples, sample_rate, key, *, title=None, artist=None, owner=None, track_id=None,
    strength=None, seal=true, policy=None, terms_url=None, notice=None, created=None,
    wm_key=None
))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn stamp_array<'py>(
    py: Python<'py>,
    samples: &Bound<'py, PyUntypedArray>,
    sample_rate: u32,
    key: String,
    title: Option<String>,
    artist: Option<String>,
    owner: Option<String>,
    track_id: Option<u32>,
    strength: Option<f32>,
    seal: bool,
    policy: Option<String>,
    terms_url: Option<String>,
    notice: Option<String>,
    created: Option<f64>,
    wm_key: Option<WatermarkKeyArg>,
) -> PyResult<(Bound<'py, PyAny>, String)> {
    let (frames, channels) = layout(samples, sample_rate)?;
    let is_int16 = samples.dtype().is_equiv_to(&numpy::dtype::<i16>(py));
    let is_f64 = samples.dtype().is_equiv_to(&numpy::dtype::<f64>(py));
    let args = StampArgs {
        title,
        artist,
        owner,
        track_id,
        strength,
        seal,
        policy,
        terms_url,
        notice,
        created,
        c2pa: false,
        cert: None,
    };
    let format = if is_int16 {
        SampleFormat::I16
    } else {
        SampleFormat::F32
    };
    let result = with_view(py, samples, |view| {
        // stamp_samples refuses NaN and infinite samples itself.
        let mut opts = stamp_options(&key, &args, wm_key.as_ref())?;
        let spec = WriterSpec {
            sample_rate,
            channels: channels as u16,
            sample_format: format,
        };
        let input = view.to_vec();
        let source = earmark::catalogue::registry::samples_source("array", &input);
        opts.track_id = Some(registered_track_id(&opts, &source)?);
        guarded(None, || {
            earmark::stamp_samples(&input, spec, &opts).map_err(|e| Failure::engine(&e, None))
        })
    })?;
    let (marked, stamped) = result.map_err(|f| nan_as_value_error(py, f))?;
    let dims = IxDyn(samples.shape());
    debug_assert_eq!(marked.len(), frames * channels);
    let array: Bound<'py, PyAny> = if is_int16 {
        let q: Vec<i16> = marked
            .iter()
            .map(|&x| quantize(x, SampleFormat::I16) as i16)
            .collect();
        PyArray1::from_vec(py, q).reshape(dims)?.into_any()
    } else if is_f64 {
        let d: Vec<f64> = marked.iter().map(|&x| f64::from(x)).collect();
        PyArray1::from_vec(py, d).reshape(dims)?.into_any()
    } else {
        PyArray1::from_vec(py, marked).reshape(dims)?.into_any()
    };
    Ok((array, stamped.to_json().to_string()))
}

/// The samples of `array` as one interleaved `f32` buffer and the channel
/// count (checked as `detect` checks them), for work that outlives the
/// array.
pub(crate) fn interleaved(
    py: Python<'_>,
    array: &Bound<'_, PyUntypedArray>,
    sample_rate: u32,
) -> PyResult<(Vec<f32>, u16)> {
    let (_, channels) = layout(array, sample_rate)?;
    let data = with_view(py, array, |view| match view.first_non_finite(channels) {
        Some((i, frame, ch)) => Err(format!(
            "sample {i} (frame {frame}, channel {ch}) is NaN or infinite"
        )),
        None => Ok(view.to_vec()),
    })?;
    Ok((data.map_err(PyValueError::new_err)?, channels as u16))
}
