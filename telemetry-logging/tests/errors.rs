//! What `build` (and so `try_init`) refuses, and how it says so.

use telemetry_logging::{LogFormat, LogInitError};

fn build_error(builder: telemetry_logging::LogBuilder) -> LogInitError {
    match builder.writer(std::io::sink()).build() {
        Ok(_) => panic!("built"),
        Err(e) => e,
    }
}

#[test]
fn a_bad_builder_directive_is_named() {
    let err = build_error(telemetry_logging::builder().filter("info,my_crate=loud"));
    let LogInitError::BadFilter { origin, directive, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!((*origin, directive.as_str()), ("LogBuilder::filter", "my_crate=loud"));
    let message = err.to_string();
    assert!(message.contains("\"my_crate=loud\""), "{message}");
}

#[test]
fn a_bad_rust_log_is_named_as_such() {
    let builder = telemetry_logging::builder().env_from(|name| (name == "RUST_LOG").then(|| "debug,[{".to_owned()));
    let err = build_error(builder);
    let message = err.to_string();
    assert!(message.starts_with("RUST_LOG: filter directive \"[{\""), "{message}");
}

#[test]
fn a_bad_format_variable_names_it_and_the_allowed_values() {
    let builder =
        telemetry_logging::builder().env_from(|name| (name == "TELEMETRY_LOG_FORMAT").then(|| "xml".to_owned()));
    let err = build_error(builder);
    assert!(
        matches!(&err, LogInitError::BadFormat(e) if e.value() == "xml"),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.starts_with("TELEMETRY_LOG_FORMAT: \"xml\""), "{message}");
    for name in LogFormat::NAMES {
        assert!(message.contains(name), "{message}");
    }
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn a_zero_line_buffer_is_refused() {
    let err = build_error(telemetry_logging::builder().env_from(|_| None).buffered_lines(0));
    assert!(matches!(err, LogInitError::ZeroBufferedLines), "{err:?}");
}
