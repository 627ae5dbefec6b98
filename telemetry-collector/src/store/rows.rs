//! What both backends read the same way: an event row into the envelope's
//! JSON, page cursors, and the limits of a page.

use serde_json::{Map, Value};

use super::{StoreError, StoredEvent};

/// The columns of a stored event, in the order both backends select them.
pub(crate) const EVENT_COLUMNS: &str = "seq, received_at, event_id, event_type, schema_version, timestamp, uid, sid, \
    gdata_id, trace_id, span_id, parent_span_id, service, service_version, sdk, event_data";

/// A stored event's columns, as read from either backend.
pub(crate) struct EventRow {
    pub seq: i64,
    pub received_at: String,
    pub event_id: String,
    pub event_type: String,
    pub schema_version: i64,
    pub timestamp: String,
    pub uid: Option<String>,
    pub sid: Option<String>,
    pub gdata_id: Option<String>,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub parent_span_id: Option<String>,
    pub service: String,
    pub service_version: Option<String>,
    pub sdk: String,
    pub event_data: String,
}

impl EventRow {
    /// The envelope in wire-format field order, plus where and when it was stored.
    pub fn into_stored(self) -> StoredEvent {
        let text = |v: Option<String>| v.map_or(Value::Null, Value::String);
        let mut envelope = Map::new();
        envelope.insert("event_id".into(), Value::String(self.event_id));
        envelope.insert("event_type".into(), Value::String(self.event_type));
        envelope.insert("schema_version".into(), Value::from(self.schema_version));
        envelope.insert("timestamp".into(), Value::String(self.timestamp));
        envelope.insert("uid".into(), text(self.uid));
        envelope.insert("sid".into(), text(self.sid));
        envelope.insert("gdata_id".into(), text(self.gdata_id));
        envelope.insert("trace_id".into(), text(self.trace_id));
        envelope.insert("span_id".into(), text(self.span_id));
        envelope.insert("parent_span_id".into(), text(self.parent_span_id));
        let mut source = Map::new();
        source.insert("service".into(), Value::String(self.service));
        source.insert("service_version".into(), text(self.service_version));
        source.insert("sdk".into(), Value::String(self.sdk));
        envelope.insert("source".into(), Value::Object(source));
        let data = serde_json::from_str(&self.event_data).unwrap_or(Value::String(self.event_data));
        envelope.insert("event_data".into(), data);
        StoredEvent {
            seq: self.seq,
            received_at: self.received_at,
            envelope,
        }
    }
}

/// A page's size: 100 unless asked, at most 1,000.
pub(crate) fn page_limit(asked: Option<u32>) -> u32 {
    asked.unwrap_or(100).clamp(1, 1000)
}

/// A page cursor: the last row's timestamp and sequence number.
pub(crate) fn encode_cursor(e: &StoredEvent) -> String {
    let ts = e.envelope.get("timestamp").and_then(Value::as_str).unwrap_or_default();
    format!("{ts}_{}", e.seq)
}

/// The timestamp and sequence number a cursor from [`encode_cursor`] holds.
pub(crate) fn decode_cursor(cursor: &str) -> Result<(String, i64), StoreError> {
    let bad = || StoreError::BadQuery(format!("cursor {cursor:?} is not one this collector gave out"));
    let (ts, seq) = cursor.rsplit_once('_').ok_or_else(bad)?;
    Ok((ts.to_string(), seq.parse().map_err(|_| bad())?))
}

/// Cuts a page read with one row more than `limit` and says where the next starts.
/// Tail reads (`after_seq`) have no cursor: they go on from the last `seq`.
pub(crate) fn finish_page(events: &mut Vec<StoredEvent>, limit: u32, tail: bool) -> Option<String> {
    if events.len() > limit as usize {
        events.truncate(limit as usize);
        events.last().filter(|_| !tail).map(encode_cursor)
    } else {
        None
    }
}
