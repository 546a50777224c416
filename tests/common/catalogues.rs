//! Catalogues for tests, on both backends (SQLite and a real PostgreSQL).

/// A catalogue for one test: a SQLite file in a temporary folder, or a fresh
/// database on the PostgreSQL server named by `EARMARK_TEST_POSTGRES` (a
/// base URL without a database, as `.ci/postgres` prints it), dropped again
/// at the end.
pub struct TestCatalogue {
    /// What `--catalogue` takes: a path or a `postgres://` URL.
    pub location: String,
    admin: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestCatalogue {
    /// A new SQLite catalogue path.
    pub fn sqlite() -> TestCatalogue {
        let dir = tempfile::tempdir().unwrap();
        TestCatalogue {
            location: dir.path().join("catalogue.db").display().to_string(),
            admin: None,
            _dir: Some(dir),
        }
    }

    /// A new, empty PostgreSQL database; `None` (with a note) when no server
    /// is configured outside CI. Under CI a missing server fails the test.
    pub fn postgres() -> Option<TestCatalogue> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let Ok(base) = std::env::var("EARMARK_TEST_POSTGRES") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "EARMARK_TEST_POSTGRES is not set: .ci/run starts a PostgreSQL server (.ci/postgres)"
            );
            eprintln!(
                "skipping the PostgreSQL half: EARMARK_TEST_POSTGRES not set (see .ci/postgres)"
            );
            return None;
        };
        let base = base.trim_end_matches('/').to_string();
        let name = format!(
            "earmark_t{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let mut admin = postgres::Client::connect(&format!("{base}/postgres"), postgres::NoTls)
            .unwrap_or_else(|e| panic!("{base}: cannot reach the test server: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        Some(TestCatalogue {
            location: format!("{base}/{name}"),
            admin: Some((base, name)),
            _dir: None,
        })
    }

    /// SQLite, and PostgreSQL when a server is configured: the same test
    /// runs on both backends.
    pub fn both() -> Vec<TestCatalogue> {
        std::iter::once(TestCatalogue::sqlite())
            .chain(TestCatalogue::postgres())
            .collect()
    }

    /// The backend's name, for messages.
    pub fn backend(&self) -> &'static str {
        if self.admin.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    }

    /// Opens it for writing.
    pub fn open(&self) -> earmark::catalogue::Catalogue {
        earmark::catalogue::Catalogue::open(earmark::catalogue::Location::parse(&self.location))
            .unwrap_or_else(|e| panic!("{}: {e}", self.location))
    }
}

impl Drop for TestCatalogue {
    fn drop(&mut self) {
        if let Some((base, name)) = &self.admin {
            if let Ok(mut admin) =
                postgres::Client::connect(&format!("{base}/postgres"), postgres::NoTls)
            {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}
