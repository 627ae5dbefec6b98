use telemetry::instrumented;

#[instrumented(skip_all)]
fn missing_event() {}

#[instrumented]
fn no_arguments_at_all() {}

#[instrumented(event = "oe interact")]
fn bad_name() {}

#[instrumented(event = 7)]
fn not_a_string() {}

#[instrumented(event)]
fn no_value() {}

fn main() {}
