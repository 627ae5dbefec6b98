//! The filter: `RUST_LOG` syntax, checked one directive at a time so an error can
//! name the one that is wrong.

use tracing_subscriber::filter::{Directive, EnvFilter, LevelFilter};

use crate::error::LogInitError;

/// The variable the filter is read from when the builder sets none.
pub(crate) const FILTER_ENV: &str = "RUST_LOG";

/// What is logged when neither the builder nor `RUST_LOG` says.
pub(crate) const DEFAULT_FILTER: LevelFilter = LevelFilter::INFO;

/// Parses `spec` (directives separated by commas, as `RUST_LOG`); an empty spec
/// means [`DEFAULT_FILTER`]. `origin` names where it came from, for the error.
pub(crate) fn parse(spec: &str, origin: &'static str) -> Result<EnvFilter, LogInitError> {
    // The same split EnvFilter makes, so every directive it would see is checked.
    for directive in spec.split(',').filter(|d| !d.is_empty()) {
        if let Err(e) = directive.parse::<Directive>() {
            return Err(LogInitError::BadFilter {
                origin,
                directive: directive.to_owned(),
                reason: e.to_string(),
            });
        }
    }
    EnvFilter::builder()
        .with_default_directive(DEFAULT_FILTER.into())
        .parse(spec)
        .map_err(|e| LogInitError::BadFilter {
            origin,
            directive: spec.to_owned(),
            reason: e.to_string(),
        })
}

/// The default filter ([`DEFAULT_FILTER`] for every target).
pub(crate) fn default_filter() -> EnvFilter {
    EnvFilter::default().add_directive(DEFAULT_FILTER.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_specs_parse() {
        for spec in ["", "info", "warn,my_crate=debug", "my_crate::db[query]=trace", "off"] {
            assert!(parse(spec, "test").is_ok(), "{spec:?}");
        }
    }

    #[test]
    fn the_error_names_the_bad_directive_and_its_origin() {
        let err = parse("info,my_crate=loud,other=debug", "RUST_LOG").unwrap_err();
        match &err {
            LogInitError::BadFilter { origin, directive, .. } => {
                assert_eq!((*origin, directive.as_str()), ("RUST_LOG", "my_crate=loud"));
            }
            other => panic!("unexpected {other:?}"),
        }
        let message = err.to_string();
        assert!(message.starts_with("RUST_LOG: "), "{message}");
        assert!(message.contains("\"my_crate=loud\""), "{message}");
    }
}
