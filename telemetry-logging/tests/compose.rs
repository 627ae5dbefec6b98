//! The logs with layers of the user's: added to the subscriber built here
//! (`with_layer`), or the logging layer added to the user's registry (`into_layer`).

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use support::Buffer;
use telemetry_core::Context;
use telemetry_logging::LogInitError;
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt as _};
use tracing_subscriber::Layer;

/// Counts the events it sees.
#[derive(Clone, Default)]
struct Counting(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> Layer<S> for Counting {
    fn on_event(&self, _: &tracing::Event<'_>, _: LayerContext<'_, S>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl Counting {
    fn seen(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

#[test]
fn a_users_layer_sees_what_the_filter_lets_through_beside_the_lines() {
    let (counting, buffer) = (Counting::default(), Buffer::default());
    let (subscriber, guard) = telemetry_logging::builder()
        .writer(buffer.clone())
        .env_from(|_| None)
        .with_layer(counting.clone())
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("one");
        tracing::warn!("two");
        tracing::debug!("filtered out for both");
    });
    drop(guard);
    assert_eq!(counting.seen(), 2);
    assert_eq!(buffer.json().len(), 2);
}

#[test]
fn the_logging_layer_in_a_users_registry_filters_only_its_own_lines() {
    let (counting, buffer) = (Counting::default(), Buffer::default());
    let (layer, guard) = telemetry_logging::builder()
        .writer(buffer.clone())
        .env_from(|_| None)
        .filter("warn")
        .into_layer()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(counting.clone()).with(layer);
    let ctx = Context::new().with_uid("u9");
    tracing::subscriber::with_default(subscriber, || {
        let _entered = ctx.enter();
        tracing::info!("for the other layer only");
        tracing::error!("for both");
    });
    drop(guard);
    assert_eq!(
        counting.seen(),
        2,
        "the per-layer filter does not hide events from other layers"
    );
    let lines = buffer.json();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["message"], "for both");
    assert_eq!(lines[0]["uid"], "u9");
}

#[test]
fn into_layer_refuses_layers_it_cannot_hold() {
    let result = telemetry_logging::builder()
        .writer(std::io::sink())
        .with_layer(Counting::default())
        .into_layer::<tracing_subscriber::Registry>();
    let Err(err) = result else {
        panic!("into_layer took a with_layer layer")
    };
    assert!(
        matches!(err, LogInitError::LayersWithoutSubscriber { layers: 1 }),
        "{err:?}"
    );
    assert!(err.to_string().contains("add them to your own registry"), "{err}");
}
