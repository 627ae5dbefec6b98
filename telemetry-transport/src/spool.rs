//! The disk spool: with `spool_dir` set, every event goes through append-only
//! segment files before it is sent, so a collector outage costs disk, not memory,
//! and a crash loses at most what had not reached the OS yet.
//!
//! A segment `seg-<id>.log` is a run of records `[len: u32 LE][crc32: u32 LE][json]`.
//! The writer appends to the newest segment (rolling over at 1 MiB); the reader
//! sends from a cursor, and a segment is deleted once the cursor has committed
//! past it (the collector acknowledged everything in it). On start, segments left
//! by an earlier process are read from their beginning: delivery is at least once
//! (the collector deduplicates on `event_id`). A torn or corrupt record ends its
//! segment with a warning; it never stops the start.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const SEGMENT_BYTES: u64 = 1024 * 1024;
const HEADER: u64 = 8;
/// Larger than any valid event (64 KiB): a length beyond it marks corruption.
const MAX_RECORD: u32 = 1024 * 1024;

/// When the spool asks the OS to put its writes on the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpoolSync {
    /// Never `fsync`: writes reach the OS after each batch, so a process crash
    /// loses nothing written; an OS crash or power loss may lose recent events.
    Never,
    /// `fsync` after each batch of appends.
    Batch,
    /// `fsync` after every event (slowest, safest).
    Always,
}

/// Where the reader is: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Cursor {
    segment: u64,
    offset: u64,
}

pub(crate) struct Spool {
    /// Held for the spool's life: one process per spool directory.
    _lock: File,
    dir: PathBuf,
    cap: u64,
    sync: SpoolSync,
    writer: BufWriter<File>,
    writer_id: u64,
    /// Bytes of every segment on disk, by id (the writer's included).
    segments: BTreeMap<u64, u64>,
    reader: Cursor,
    /// Records appended and not yet read.
    unread: u64,
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("seg-{id:016}.log"))
}

impl Spool {
    /// Opens (or creates) the spool in `dir`; returns it and how many records it
    /// found from an earlier process (to be sent again).
    pub fn open(dir: &Path, cap: u64, sync: SpoolSync) -> io::Result<(Spool, u64)> {
        std::fs::create_dir_all(dir)?;
        // Two processes on one spool would delete each other's live segments.
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(".lock"))?;
        if lock.try_lock().is_err() {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "another process is using this spool directory; give each process its own",
            ));
        }
        let mut segments = BTreeMap::new();
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(id) = name
                .strip_prefix("seg-")
                .and_then(|n| n.strip_suffix(".log"))
                .and_then(|n| n.parse().ok())
            {
                segments.insert(id, std::fs::metadata(segment_path(dir, id))?.len());
            }
        }
        // Where the last process had committed to: what is before it was delivered.
        let committed = read_cursor(dir);
        let start = match committed {
            Some(c) if segments.contains_key(&c.segment) => c,
            _ => Cursor {
                segment: segments.keys().next().copied().unwrap_or(0),
                offset: 0,
            },
        };
        for id in segments.range(..start.segment).map(|(&id, _)| id).collect::<Vec<_>>() {
            std::fs::remove_file(segment_path(dir, id))?;
            segments.remove(&id);
        }
        let mut found = 0;
        for &id in segments.keys() {
            let from = if id == start.segment { start.offset } else { 0 };
            found += parse_records(&read_from(&segment_path(dir, id), from)?).0.len() as u64;
        }
        let writer_id = segments.keys().next_back().map_or(0, |id| id + 1);
        let writer = BufWriter::new(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(segment_path(dir, writer_id))?,
        );
        segments.insert(writer_id, 0);
        let first = if segments.contains_key(&start.segment) {
            start
        } else {
            Cursor {
                segment: writer_id,
                offset: 0,
            }
        };
        let spool = Spool {
            _lock: lock,
            dir: dir.to_path_buf(),
            cap,
            sync,
            writer,
            writer_id,
            segments,
            reader: first,
            unread: found,
        };
        Ok((spool, found))
    }

    pub fn unread(&self) -> u64 {
        self.unread
    }

    fn total_bytes(&self) -> u64 {
        self.segments.values().sum()
    }

    /// Appends one event; `Ok(false)` when the spool is at its size cap (the
    /// caller drops and counts the event: the newest goes).
    pub fn append(&mut self, json: &[u8]) -> io::Result<bool> {
        let size = HEADER + json.len() as u64;
        if self.total_bytes() + size > self.cap {
            return Ok(false);
        }
        let written = self.segments.get(&self.writer_id).copied().unwrap_or(0);
        if written > 0 && written + size > SEGMENT_BYTES {
            self.roll()?;
        }
        // One buffer, one write: a failure cannot leave half a header counted.
        let mut record = Vec::with_capacity(size as usize);
        record.extend_from_slice(&(json.len() as u32).to_le_bytes());
        record.extend_from_slice(&crc32fast::hash(json).to_le_bytes());
        record.extend_from_slice(json);
        if let Err(e) = self.writer.write_all(&record) {
            // Whatever reached the file past the recorded length is never read;
            // carry on in a fresh segment.
            let _ = self.roll();
            return Err(e);
        }
        if let Some(len) = self.segments.get_mut(&self.writer_id) {
            *len += size;
        }
        self.unread += 1;
        if self.sync == SpoolSync::Always {
            if let Err(e) = self.flush() {
                // The record is written (and will be sent); only its durability is in doubt.
                tracing::warn!(target: "telemetry::transport", error = %e, "spool fsync failed");
            }
        }
        Ok(true)
    }

    fn roll(&mut self) -> io::Result<()> {
        self.flush()?;
        let next = self.writer_id + 1;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(segment_path(&self.dir, next))?;
        self.writer = BufWriter::new(file);
        self.writer_id = next;
        self.segments.insert(next, 0);
        Ok(())
    }

    /// Hands what was appended to the OS (and the disk, per the sync policy).
    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()?;
        if self.sync != SpoolSync::Never {
            self.writer.get_ref().sync_data()?;
        }
        Ok(())
    }

    /// Reads up to `max_events` / `max_bytes` of unread records from the cursor,
    /// and the cursor just after them (to [`Spool::commit`] once they are settled).
    pub fn read_batch(&mut self, max_events: usize, max_bytes: usize) -> io::Result<(Vec<Vec<u8>>, Cursor)> {
        self.flush()?;
        let mut out = Vec::new();
        let mut bytes_read = 0usize;
        let mut at = self.reader;
        while out.len() < max_events {
            let Some(&segment_len) = self.segments.get(&at.segment) else {
                break;
            };
            if at.offset >= segment_len {
                // Past this segment's end: on to the next one, if any.
                match self.segments.range(at.segment + 1..).next() {
                    Some((&next, _)) => {
                        at = Cursor {
                            segment: next,
                            offset: 0,
                        };
                        continue;
                    }
                    None => break,
                }
            }
            let bytes = read_from(&segment_path(&self.dir, at.segment), at.offset)?;
            let bytes = &bytes[..bytes.len().min((segment_len - at.offset) as usize)];
            let (records, corrupt) = parse_records(bytes);
            let mut full = false;
            for json in records {
                if out.len() >= max_events || (!out.is_empty() && bytes_read + json.len() > max_bytes) {
                    full = true;
                    break;
                }
                at.offset += HEADER + json.len() as u64;
                bytes_read += json.len();
                out.push(json.to_vec());
            }
            if full {
                break;
            }
            if corrupt {
                tracing::warn!(target: "telemetry::transport", segment = at.segment, offset = at.offset,
                    "spool: torn or corrupt record; skipping the rest of this segment");
                if at.segment == self.writer_id {
                    // Our own segment went bad: keep its good part, write on in a new one.
                    self.roll()?;
                }
                if let Some(len) = self.segments.get_mut(&at.segment) {
                    *len = at.offset;
                }
            } else {
                // Everything this segment holds so far is read.
                at.offset = segment_len;
            }
        }
        self.reader = at;
        self.unread = self.unread.saturating_sub(out.len() as u64);
        Ok((out, at))
    }

    /// Everything before `cursor` is settled: deletes the segments wholly before it.
    pub fn commit(&mut self, cursor: Cursor) -> io::Result<()> {
        write_cursor(&self.dir, cursor)?;
        let done: Vec<u64> = self
            .segments
            .range(..cursor.segment)
            .map(|(&id, _)| id)
            .filter(|&id| id != self.writer_id)
            .collect();
        for id in done {
            std::fs::remove_file(segment_path(&self.dir, id))?;
            self.segments.remove(&id);
        }
        Ok(())
    }

    /// Reading goes back to `cursor` (a batch that was not settled is read again).
    pub fn rewind(&mut self, cursor: Cursor, events: u64) {
        self.reader = cursor;
        self.unread += events;
    }

    pub fn cursor(&self) -> Cursor {
        self.reader
    }
}

/// The bytes of a segment file from `offset` to its end (a segment is at most
/// about 1 MiB: one read, then parsing in memory).
fn read_from(path: &Path, offset: u64) -> io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The records at the start of `bytes`, and whether a torn (cut short) or corrupt
/// (impossible length, checksum mismatch) record follows them.
fn parse_records(bytes: &[u8]) -> (Vec<&[u8]>, bool) {
    let mut records = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let Some(header) = bytes.get(at..at + HEADER as usize) else {
            return (records, true);
        };
        let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
        let body_at = at + HEADER as usize;
        let Some(json) = (len <= MAX_RECORD)
            .then(|| bytes.get(body_at..body_at + len as usize))
            .flatten()
        else {
            return (records, true);
        };
        if crc32fast::hash(json) != crc {
            return (records, true);
        }
        records.push(json);
        at = body_at + len as usize;
    }
    (records, false)
}

const CURSOR_FILE: &str = "cursor";

/// The committed cursor, written atomically (a temporary file, then a rename).
fn write_cursor(dir: &Path, cursor: Cursor) -> io::Result<()> {
    let tmp = dir.join("cursor.tmp");
    std::fs::write(&tmp, format!("{} {}", cursor.segment, cursor.offset))?;
    std::fs::rename(tmp, dir.join(CURSOR_FILE))
}

fn read_cursor(dir: &Path) -> Option<Cursor> {
    let text = std::fs::read_to_string(dir.join(CURSOR_FILE)).ok()?;
    let mut parts = text.split_whitespace();
    Some(Cursor {
        segment: parts.next()?.parse().ok()?,
        offset: parts.next()?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("telemetry-spool-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn appends_read_back_in_order_across_segments_and_commit_deletes() {
        let dir = tempdir("order");
        let (mut spool, found) = Spool::open(&dir, u64::MAX, SpoolSync::Never).unwrap();
        assert_eq!(found, 0);
        let event = vec![b'x'; 40_000];
        for _ in 0..60 {
            assert!(spool.append(&event).unwrap()); // 60 x 40 KB: three segments
        }
        let (batch, cursor) = spool.read_batch(1000, usize::MAX).unwrap();
        assert_eq!(batch.len(), 60);
        let segments = |dir: &Path| {
            std::fs::read_dir(dir)
                .unwrap()
                .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("seg-"))
                .count()
        };
        assert!(segments(&dir) >= 3);
        spool.commit(cursor).unwrap();
        assert_eq!(segments(&dir), 1, "only the writer's segment is left");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_restart_finds_unsent_records_and_skips_a_torn_tail() {
        let dir = tempdir("torn");
        {
            let (mut spool, _) = Spool::open(&dir, u64::MAX, SpoolSync::Batch).unwrap();
            for i in 0..10 {
                spool.append(format!("{{\"n\":{i}}}").as_bytes()).unwrap();
            }
            spool.flush().unwrap();
        }
        // A crash mid-write: half a record at the end.
        let path = segment_path(&dir, 0);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[200, 0, 0, 0, 1, 2]).unwrap();
        // And a flipped byte would fail its checksum (checked below in a copy).
        let (mut spool, found) = Spool::open(&dir, u64::MAX, SpoolSync::Never).unwrap();
        assert_eq!(found, 10);
        let (batch, _) = spool.read_batch(100, usize::MAX).unwrap();
        assert_eq!(batch.len(), 10);
        assert_eq!(batch[3], b"{\"n\":3}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_corrupt_record_ends_its_segment_with_the_records_before_it_kept() {
        let dir = tempdir("crc");
        {
            let (mut spool, _) = Spool::open(&dir, u64::MAX, SpoolSync::Never).unwrap();
            for i in 0..5 {
                spool.append(format!("{{\"n\":{i}}}").as_bytes()).unwrap();
            }
            spool.flush().unwrap();
        }
        let path = segment_path(&dir, 0);
        let mut bytes = std::fs::read(&path).unwrap();
        let third = 2 * (HEADER as usize + 7) + HEADER as usize;
        bytes[third] ^= 0xff; // inside the third record's json
        std::fs::write(&path, bytes).unwrap();
        let (mut spool, found) = Spool::open(&dir, u64::MAX, SpoolSync::Never).unwrap();
        assert_eq!(found, 2);
        let (batch, _) = spool.read_batch(100, usize::MAX).unwrap();
        assert_eq!(batch.len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_restart_resumes_after_what_was_committed() {
        let dir = tempdir("cursor");
        {
            let (mut spool, _) = Spool::open(&dir, u64::MAX, SpoolSync::Never).unwrap();
            for i in 0..10 {
                spool.append(format!("{{\"n\":{i}}}").as_bytes()).unwrap();
            }
            let (batch, cursor) = spool.read_batch(6, usize::MAX).unwrap();
            assert_eq!(batch.len(), 6);
            spool.commit(cursor).unwrap();
        }
        let (mut spool, found) = Spool::open(&dir, u64::MAX, SpoolSync::Never).unwrap();
        assert_eq!(found, 4, "the 6 committed are not sent again");
        let (batch, _) = spool.read_batch(100, usize::MAX).unwrap();
        assert_eq!(batch[0], b"{\"n\":6}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn one_process_per_spool_directory() {
        let dir = tempdir("lock");
        let (_first, _) = Spool::open(&dir, u64::MAX, SpoolSync::Never).unwrap();
        let second = Spool::open(&dir, u64::MAX, SpoolSync::Never);
        assert!(second.is_err_and(|e| e.to_string().contains("another process")));
        drop(_first);
        assert!(
            Spool::open(&dir, u64::MAX, SpoolSync::Never).is_ok(),
            "free again once closed"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_size_cap_refuses_the_newest() {
        let dir = tempdir("cap");
        let (mut spool, _) = Spool::open(&dir, 100, SpoolSync::Never).unwrap();
        assert!(spool.append(&[b'a'; 40]).unwrap());
        assert!(spool.append(&[b'b'; 40]).unwrap());
        assert!(!spool.append(&[b'c'; 40]).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
