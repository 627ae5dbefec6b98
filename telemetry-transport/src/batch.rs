//! A batch of encoded events, held the way it goes on the wire: one buffer of
//! comma-separated envelopes (the inside of the request's `events` array), plus
//! where each one ends, so a 413 can split it and a spool can read it back.
//!
//! The worker encodes each event straight into the batch buffer
//! ([`Batch::push_with`]), so an event costs no allocation of its own.

/// Encoded events, back to back.
#[derive(Debug, Default, Clone)]
pub(crate) struct Batch {
    /// `e1,e2,...,en`: exactly the text between `[` and `]` in the request.
    json: Vec<u8>,
    /// Where each event's text ends in `json` (exclusive).
    ends: Vec<usize>,
}

impl Batch {
    /// A batch of already-encoded events (read back from the spool).
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut batch = Batch::default();
        for event in events {
            batch.push(event);
        }
        batch
    }

    /// Adds an encoded event.
    pub fn push(&mut self, event: &[u8]) {
        let _ = self.push_with(|out| {
            out.extend_from_slice(event);
            Ok::<(), ()>(())
        });
    }

    /// Adds an event that `encode` appends to the buffer. On error the batch is
    /// left as it was (`encode` must leave the buffer as it found it, as
    /// `EventRecord::encode_into` does).
    pub fn push_with<E>(&mut self, encode: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Result<(), E> {
        let before = self.json.len();
        if !self.ends.is_empty() {
            self.json.push(b',');
        }
        match encode(&mut self.json) {
            Ok(()) => {
                self.ends.push(self.json.len());
                Ok(())
            }
            Err(e) => {
                self.json.truncate(before);
                Err(e)
            }
        }
    }

    /// How many events.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The size of the events' text, commas included.
    pub fn bytes(&self) -> usize {
        self.json.len()
    }

    /// The events' text, comma-separated.
    pub fn json(&self) -> &[u8] {
        &self.json
    }

    /// Each event's text, in order.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub fn events(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let event = &self.json[start..end];
            start = end + 1;
            event
        })
    }

    /// Event `i`'s text.
    #[cfg(test)]
    pub fn event(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] + 1 };
        &self.json[start..self.ends[i]]
    }

    /// Keeps the first `at` events and returns the rest as a new batch.
    pub fn split_off(&mut self, at: usize) -> Batch {
        if at >= self.len() {
            return Batch::default();
        }
        if at == 0 {
            return std::mem::take(self);
        }
        let cut = self.ends[at - 1];
        // The rest starts after the comma that follows event `at - 1`.
        let json = self.json[cut + 1..].to_vec();
        let ends = self.ends[at..].iter().map(|end| end - cut - 1).collect();
        self.json.truncate(cut);
        self.ends.truncate(at);
        Batch { json, ends }
    }

    /// How many of the first events fit in `max_bytes` (at least one, so a
    /// single large event still goes out).
    pub fn fitting(&self, max_bytes: usize) -> usize {
        self.ends.iter().take_while(|&&end| end <= max_bytes).count().max(1)
    }

    /// Makes room for about `bytes` of text in `events` events, so a batch that
    /// fills up like the last one does not grow step by step.
    pub fn reserve(&mut self, bytes: usize, events: usize) {
        self.json.reserve(bytes.saturating_sub(self.json.len()));
        self.ends.reserve(events.saturating_sub(self.ends.len()));
    }

    /// Empties the batch, keeping its memory for the next one.
    pub fn clear(&mut self) {
        self.json.clear();
        self.ends.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(batch: &Batch) -> Vec<String> {
        (0..batch.len())
            .map(|i| String::from_utf8(batch.event(i).to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn events_are_comma_separated_and_split_anywhere() {
        let events = ["{\"a\":1}", "{\"b\":22}", "{\"c\":333}", "{}"];
        for at in 0..=events.len() + 1 {
            let mut batch = Batch::from_events(events.iter().map(|e| e.as_bytes()));
            assert_eq!(batch.json(), events.join(",").as_bytes());
            let rest = batch.split_off(at);
            let cut = at.min(events.len());
            assert_eq!(texts(&batch), events[..cut]);
            assert_eq!(texts(&rest), events[cut..]);
            assert_eq!(batch.json(), events[..cut].join(",").as_bytes());
            assert_eq!(rest.json(), events[cut..].join(",").as_bytes());
        }
    }

    #[test]
    fn a_failed_encode_leaves_no_trace() {
        let mut batch = Batch::from_events([b"{}".as_slice()]);
        let failed: Result<(), &str> = batch.push_with(|out| {
            out.extend_from_slice(b"{\"half");
            out.truncate(out.len() - 6);
            Err("refused")
        });
        assert!(failed.is_err());
        batch.push(b"[1]");
        assert_eq!(batch.json(), b"{},[1]");
        assert_eq!(texts(&batch), ["{}", "[1]"]);
    }

    #[test]
    fn fitting_counts_whole_events_within_the_limit_and_never_zero() {
        let batch = Batch::from_events([b"12345".as_slice(), b"123", b"1"]);
        // "12345,123,1": ends at 5, 9, 11.
        assert_eq!(batch.fitting(4), 1);
        assert_eq!(batch.fitting(9), 2);
        assert_eq!(batch.fitting(10), 2);
        assert_eq!(batch.fitting(11), 3);
    }
}
