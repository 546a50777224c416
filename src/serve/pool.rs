//! Catalogue connections for the service: opened on demand up to a limit,
//! reused, dropped after a connection failure, and used only on tokio's
//! blocking threads (the catalogue API is synchronous).

use crate::catalogue::{Catalogue, CatalogueError, Location};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// A bounded set of open catalogues.
pub(crate) struct Pool {
    location: Location,
    idle: Mutex<Vec<Catalogue>>,
    /// One permit per connection in use: at most this many at once.
    permits: Semaphore,
}

impl Pool {
    /// Opens the first connection (so a wrong location fails at start,
    /// not on the first request) and keeps it.
    pub(crate) fn new(location: Location, max: usize) -> Result<Arc<Pool>, CatalogueError> {
        let first = Catalogue::open(location.clone())?;
        Ok(Arc::new(Pool {
            location,
            idle: Mutex::new(vec![first]),
            permits: Semaphore::new(max.max(1)),
        }))
    }

    /// Runs `f` with a connection on a blocking thread. After a lost
    /// connection (the server restarted, say) `f` runs once more on a new
    /// one; if the database still does not answer, the error is
    /// [`CatalogueError::Unavailable`].
    pub(crate) async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, CatalogueError>
    where
        T: Send + 'static,
        F: Fn(&mut Catalogue) -> Result<T, CatalogueError> + Send + 'static,
    {
        let Ok(_permit) = self.permits.acquire().await else {
            return Err(CatalogueError::Unavailable(
                "the service is shutting down".into(),
            ));
        };
        let pool = Arc::clone(self);
        let joined = tokio::task::spawn_blocking(move || {
            let mut result = pool.attempt(&f);
            if matches!(&result, Err(e) if e.is_unavailable()) {
                result = pool.attempt(&f);
            }
            result
        })
        .await;
        joined.unwrap_or_else(|e| {
            Err(CatalogueError::Database(format!(
                "internal error in a catalogue call: {e}"
            )))
        })
    }

    fn attempt<T>(
        &self,
        f: &impl Fn(&mut Catalogue) -> Result<T, CatalogueError>,
    ) -> Result<T, CatalogueError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut cat = match idle {
            Some(c) => c,
            None => Catalogue::open(self.location.clone())?,
        };
        let result = crate::error::catch_quietly(|| f(&mut cat)).unwrap_or_else(|p| {
            Err(CatalogueError::Database(format!(
                "internal error in a catalogue call: {}",
                crate::error::panic_text(&*p)
            )))
        });
        // A connection that failed is not reused.
        if !matches!(&result, Err(e) if e.is_unavailable()) {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(cat);
        }
        result
    }
}
