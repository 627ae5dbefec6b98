//! Which database a collector stores into: a SQLite file (the default) or a
//! PostgreSQL server, told apart by the URL scheme.

use std::path::{Path, PathBuf};

/// Where a collector stores events.
///
/// A string that starts with `postgres://` or `postgresql://` is a PostgreSQL
/// connection URL (libpq's form: `postgres://user:password@host:port/dbname?options`);
/// `sqlite://PATH` or any other string is a SQLite file.
///
/// ```
/// use telemetry_collector::store::Database;
/// assert!(matches!(Database::parse("telemetry.db"), Database::Sqlite(_)));
/// assert!(matches!(Database::parse("sqlite://data/t.db"), Database::Sqlite(p) if p.ends_with("data/t.db")));
/// let pg = Database::parse("postgres://collector:secret@db.internal/telemetry");
/// assert!(matches!(pg, Database::Postgres(_)));
/// // The password never reaches a log line.
/// assert_eq!(pg.to_string(), "postgres://collector:***@db.internal/telemetry");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file, created when missing.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

impl Database {
    /// Reads `--db`: a PostgreSQL URL or a SQLite path (see [`Database`]).
    pub fn parse(s: &str) -> Database {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Database::Postgres(s.to_string())
        } else {
            Database::Sqlite(PathBuf::from(s.strip_prefix("sqlite://").unwrap_or(s)))
        }
    }

    /// The SQLite file, if this is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Database::Sqlite(path) => Some(path),
            Database::Postgres(_) => None,
        }
    }
}

/// The URL with its password replaced by `***`, or the path: safe to log.
impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => f.write_str(&redact_password(url)),
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Database::Postgres(_) => f.debug_tuple("Postgres").field(&self.to_string()).finish(),
        }
    }
}

/// `scheme://user:password@host...` with the password as `***`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

impl From<&Database> for Database {
    fn from(db: &Database) -> Self {
        db.clone()
    }
}

impl From<&str> for Database {
    fn from(s: &str) -> Self {
        Database::parse(s)
    }
}

impl From<String> for Database {
    fn from(s: String) -> Self {
        Database::parse(&s)
    }
}

impl From<PathBuf> for Database {
    fn from(path: PathBuf) -> Self {
        Database::Sqlite(path)
    }
}

impl From<&Path> for Database {
    fn from(path: &Path) -> Self {
        Database::Sqlite(path.to_path_buf())
    }
}

impl From<&PathBuf> for Database {
    fn from(path: &PathBuf) -> Self {
        Database::Sqlite(path.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_without_a_password_and_with_options_read_back_unchanged() {
        for url in [
            "postgres://localhost/telemetry",
            "postgresql://collector@db:5433/telemetry?sslmode=disable",
        ] {
            assert_eq!(Database::parse(url).to_string(), url);
        }
        assert_eq!(
            Database::parse("postgres://u:p@w@h/db?password=x").to_string(),
            "postgres://u:***@h/db?password=x",
            "a password with an @ is cut at the last @; one given as an option is not redacted (use PGPASSWORD or .pgpass)"
        );
    }
}
