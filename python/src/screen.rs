//! The worker pool behind `earmark.screen`: Rust threads verify files,
//! bytes and arrays while Python feeds them and collects verdicts.
//!
//! Python submits jobs (keeping only a few more in flight than there are
//! workers, so memory does not grow with the number of inputs) and takes
//! results in the order they finish. Waiting releases the GIL; one bad
//! input is one failed result, never a stopped pool.

use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use earmark::VerifyOptions;
use numpy::PyUntypedArray;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;

use crate::keys::WatermarkKeyArg;
use crate::source::{report, verify_one, verify_options, Input};
use crate::{guarded, Failure};

/// What one job verifies.
enum Item {
    Path(PathBuf),
    Bytes(PyBackedBytes),
    Samples {
        data: Vec<f32>,
        sample_rate: u32,
        channels: u16,
    },
}

struct Job {
    index: u64,
    name: Option<String>,
    item: Item,
}

/// A finished job: its index and `(json, exit_code)` or the failure.
type Done = (u64, Result<(String, i32), Failure>);

/// A pool of verifying threads (`earmark._earmark.Screener`).
#[pyclass(module = "earmark._earmark")]
pub(crate) struct Screener {
    jobs: Mutex<Option<Sender<Job>>>,
    results: Mutex<Receiver<Done>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

fn work(opts: &VerifyOptions, job: Job) -> Result<(String, i32), Failure> {
    let name = job.name.as_deref();
    match job.item {
        Item::Path(p) => verify_one(&Input::Path(p), opts, name).map(|v| report(&v)),
        Item::Bytes(b) => verify_one(&Input::Bytes(&b), opts, name).map(|v| report(&v)),
        Item::Samples {
            data,
            sample_rate,
            channels,
        } => guarded(name, || {
            let mut v = earmark::verify_pcm(sample_rate, channels, opts, |sink| sink(&data))
                .map_err(|e| Failure::engine(&e, name))?;
            v.path = name.map(PathBuf::from);
            Ok(report(&v))
        }),
    }
}

#[pymethods]
impl Screener {
    /// Starts `workers` threads verifying with these options.
    #[new]
    #[pyo3(signature = (workers, trust=Vec::new(), wm_key=None, c2pa_trust=None, search=true))]
    fn new(
        py: Python<'_>,
        workers: usize,
        trust: Vec<String>,
        wm_key: Option<WatermarkKeyArg>,
        c2pa_trust: Option<String>,
        search: bool,
    ) -> PyResult<Screener> {
        if workers == 0 || workers > 1024 {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "workers must be between 1 and 1024, got {workers}"
            )));
        }
        let opts = verify_options(&trust, wm_key.as_ref(), c2pa_trust.as_deref(), search)
            .map_err(|f| f.to_py(py))?;
        let opts = Arc::new(opts);
        let (job_tx, job_rx) = channel::<Job>();
        let (done_tx, done_rx) = channel::<Done>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let mut handles = Vec::with_capacity(workers);
        for i in 0..workers {
            let (jobs, done, opts) = (Arc::clone(&job_rx), done_tx.clone(), Arc::clone(&opts));
            let handle = std::thread::Builder::new()
                .name(format!("earmark-screen-{i}"))
                .stack_size(8 << 20)
                .spawn(move || loop {
                    let job = match jobs.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    let index = job.index;
                    if done.send((index, work(&opts, job))).is_err() {
                        return;
                    }
                })
                .map_err(|e| PyRuntimeError::new_err(format!("cannot start a worker: {e}")))?;
            handles.push(handle);
        }
        Ok(Screener {
            jobs: Mutex::new(Some(job_tx)),
            results: Mutex::new(done_rx),
            workers: Mutex::new(handles),
        })
    }

    /// Queues a file by path.
    #[pyo3(signature = (index, path, name=None))]
    fn submit_path(&self, index: u64, path: PathBuf, name: Option<String>) -> PyResult<()> {
        self.submit(Job {
            index,
            name,
            item: Item::Path(path),
        })
    }

    /// Queues the bytes of a file.
    #[pyo3(signature = (index, data, name=None))]
    fn submit_bytes(&self, index: u64, data: PyBackedBytes, name: Option<String>) -> PyResult<()> {
        self.submit(Job {
            index,
            name,
            item: Item::Bytes(data),
        })
    }

    /// Queues samples (copied: the caller may reuse the array).
    #[pyo3(signature = (index, samples, sample_rate, name=None))]
    fn submit_samples(
        &self,
        py: Python<'_>,
        index: u64,
        samples: &Bound<'_, PyUntypedArray>,
        sample_rate: u32,
        name: Option<String>,
    ) -> PyResult<()> {
        let (data, channels) = crate::arrays::interleaved(py, samples, sample_rate)?;
        self.submit(Job {
            index,
            name,
            item: Item::Samples {
                data,
                sample_rate,
                channels,
            },
        })
    }

    /// The next finished job as `(index, json, exit_code, error_path,
    /// error_reason)`, waiting at most `timeout` seconds (None: until one
    /// finishes); None on timeout.
    #[pyo3(signature = (timeout=None))]
    #[allow(clippy::type_complexity)]
    fn next(
        &self,
        py: Python<'_>,
        timeout: Option<f64>,
    ) -> PyResult<
        Option<(
            u64,
            Option<String>,
            Option<i32>,
            Option<String>,
            Option<String>,
        )>,
    > {
        let got = py.detach(|| {
            let rx = self
                .results
                .lock()
                .map_err(|_| "the result queue is poisoned".to_string())?;
            match timeout {
                None => rx
                    .recv()
                    .map(Some)
                    .map_err(|_| "no job in flight".to_string()),
                Some(t) => match rx.recv_timeout(Duration::from_secs_f64(t.max(0.0))) {
                    Ok(d) => Ok(Some(d)),
                    Err(RecvTimeoutError::Timeout) => Ok(None),
                    Err(RecvTimeoutError::Disconnected) => Err("no job in flight".to_string()),
                },
            }
        });
        match got.map_err(PyRuntimeError::new_err)? {
            None => Ok(None),
            Some((index, Ok((json, code)))) => {
                Ok(Some((index, Some(json), Some(code), None, None)))
            }
            Some((index, Err(f))) => Ok(Some((index, None, None, f.path, Some(f.reason)))),
        }
    }

    /// Stops taking jobs and waits for the workers to finish the queued ones.
    fn close(&self, py: Python<'_>) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        let handles = self
            .workers
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default();
        py.detach(|| {
            for h in handles {
                let _ = h.join();
            }
        });
    }
}

impl Screener {
    fn submit(&self, job: Job) -> PyResult<()> {
        let jobs = self
            .jobs
            .lock()
            .map_err(|_| PyRuntimeError::new_err("the job queue is poisoned"))?;
        match jobs.as_ref() {
            Some(tx) => tx
                .send(job)
                .map_err(|_| PyRuntimeError::new_err("the screening workers have stopped")),
            None => Err(PyRuntimeError::new_err("this screener is closed")),
        }
    }
}

impl Drop for Screener {
    fn drop(&mut self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
    }
}
