//! A `tracing` layer that remembers every span (name, level, target, parent and
//! recorded fields) and every event (level, target, fields, parent span), for
//! tests that check what subscribers see.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

#[derive(Clone, Debug, Default)]
pub struct SeenSpan {
    pub name: String,
    pub level: String,
    pub target: String,
    pub parent: Option<String>,
    pub fields: BTreeMap<String, String>,
    pub declared: Vec<String>,
}

/// One `tracing` event.
#[derive(Clone, Debug, Default)]
#[allow(dead_code)] // not every test binary reads every field
pub struct SeenEvent {
    pub level: String,
    pub target: String,
    /// The name of the span it happened in (its contextual parent).
    pub parent: Option<String>,
    /// The value of that span's `span_id` field, telling calls of one name apart.
    pub parent_span_id: Option<String>,
    pub fields: BTreeMap<String, String>,
}

#[derive(Clone, Default)]
pub struct SpanLog(pub Arc<Mutex<Vec<SeenSpan>>>, pub Arc<Mutex<Vec<SeenEvent>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);
impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

/// Index of the span in the log, kept in the registry's extensions.
struct Index(usize);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for SpanLog {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let span = ctx.span(id).expect("span exists");
        let mut seen = SeenSpan {
            name: attrs.metadata().name().to_string(),
            level: attrs.metadata().level().to_string(),
            target: attrs.metadata().target().to_string(),
            parent: span.parent().map(|p| p.name().to_string()),
            declared: attrs.metadata().fields().iter().map(|f| f.name().to_string()).collect(),
            ..Default::default()
        };
        attrs.record(&mut Fields(&mut seen.fields));
        let mut log = self.0.lock().unwrap();
        span.extensions_mut().insert(Index(log.len()));
        log.push(seen);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let span = ctx.span(id).expect("span exists");
        let ext = span.extensions();
        let index = ext.get::<Index>().expect("indexed").0;
        values.record(&mut Fields(&mut self.0.lock().unwrap()[index].fields));
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let parent = ctx.event_span(event);
        let mut seen = SeenEvent {
            level: event.metadata().level().to_string(),
            target: event.metadata().target().to_string(),
            parent: parent.as_ref().map(|p| p.name().to_string()),
            parent_span_id: parent.as_ref().and_then(|p| {
                let index = p.extensions().get::<Index>()?.0;
                self.0.lock().unwrap()[index].fields.get("span_id").cloned()
            }),
            ..Default::default()
        };
        event.record(&mut Fields(&mut seen.fields));
        self.1.lock().unwrap().push(seen);
    }
}

impl SpanLog {
    pub fn spans(&self) -> Vec<SeenSpan> {
        self.0.lock().unwrap().clone()
    }

    #[allow(dead_code)] // not every test binary reads events
    pub fn events(&self) -> Vec<SeenEvent> {
        self.1.lock().unwrap().clone()
    }

    /// Runs `f` with a subscriber that logs spans into this log (this thread only).
    pub fn during<R>(&self, f: impl FnOnce() -> R) -> R {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(self.clone());
        tracing::subscriber::with_default(subscriber, f)
    }
}
