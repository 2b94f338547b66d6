//! What can go wrong with the tuning database, told so that a user knows what to do.

use super::BUSY_TIMEOUT;
use rusqlite::ErrorCode;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why the database could not be used.
#[derive(Debug, Error)]
pub enum DbError {
    /// Another process holds a lock for longer than the busy timeout.
    #[error("tuning database {} is locked by another process (waited {waited_s} s); wait for it or use --db to pick another file", path.display())]
    Locked {
        /// The file.
        path: PathBuf,
        /// Seconds waited.
        waited_s: u64,
    },
    /// The file is not a SQLite database, or is damaged.
    #[error("tuning database {} is corrupt or not a database ({message}); move it away to start a new one", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// SQLite's message.
        message: String,
    },
    /// Its directory could not be created.
    #[error("cannot create the directory of tuning database {}: {source}", path.display())]
    Io {
        /// The database file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Anything else SQLite reports.
    #[error("tuning database {}: {source}", path.display())]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: rusqlite::Error,
    },
}

/// Classifies a SQLite error of the database at `path`.
pub(super) fn classify(path: &Path, e: rusqlite::Error) -> DbError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            DbError::Locked { path: path.to_path_buf(), waited_s: BUSY_TIMEOUT.as_secs() }
        }
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            DbError::Corrupt { path: path.to_path_buf(), message: e.to_string() }
        }
        _ => DbError::Sqlite { path: path.to_path_buf(), source: e },
    }
}
