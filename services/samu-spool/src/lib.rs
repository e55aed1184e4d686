//! A bounded, durable, ordered spool of records on local disk.
//!
//! While the store is away, the writer keeps here what it would have
//! written, and only then acknowledges it: [`Spool::append`] returns once
//! the record is on disk (`fdatasync`). Records come back out in the order
//! they went in ([`Spool::front`], [`Spool::pop_front`]) when the store
//! returns, including after a crash or a restart.
//!
//! Layout: a directory of segment files `NNNNNNNNNNNNNNNNNNNN.seg`, each a
//! run of frames `len: u32 LE | crc32(payload): u32 LE | payload` where the
//! payload is the record as JSON. Records are appended to the newest
//! segment; a segment is deleted once every record in it was popped. A
//! crash can leave a torn frame at the end of the newest segment: opening
//! the spool cuts it off (that record was never acknowledged).
//!
//! Delivery is at least once: popped records of a segment that was not
//! finished when the process died come out again at the next start, so
//! what consumes them must ignore what it already has (the store's writes
//! are keyed by natural keys).
//!
//! One process at a time: the directory is locked while a spool is open.

use std::{
    collections::VecDeque,
    fs::{self, File, OpenOptions},
    io::{self, Write},
    marker::PhantomData,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
};

use serde::{de::DeserializeOwned, Serialize};

/// Bytes of a frame's header: length and checksum.
const HEADER: u64 = 8;

/// How big a spool may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolLimits {
    /// Bytes on disk at most, all segments together.
    pub max_bytes: u64,
    /// A segment is closed and a new one started past this size.
    pub segment_bytes: u64,
}

impl Default for SpoolLimits {
    fn default() -> Self {
        Self {
            max_bytes: 1 << 30,
            segment_bytes: 64 << 20,
        }
    }
}

/// What went wrong with the spool.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// Reading or writing a file failed.
    #[error("spool {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// Another process has this spool open.
    #[error("spool {0} is in use by another process")]
    Locked(PathBuf),
    /// The record does not fit under [`SpoolLimits::max_bytes`] now.
    #[error("spool full: {used} of {max} bytes used, the record needs {needed}")]
    Full {
        /// Bytes on disk.
        used: u64,
        /// The limit.
        max: u64,
        /// The record's frame.
        needed: u64,
    },
    /// The record could not be encoded.
    #[error("cannot encode a spool record: {0}")]
    Encode(#[source] serde_json::Error),
}

impl SpoolError {
    fn io(path: &Path, source: io::Error) -> Self {
        SpoolError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

#[derive(Debug)]
struct Segment {
    id: u64,
    /// Bytes of whole frames in the file.
    bytes: u64,
    /// Frames in the file.
    records: u64,
}

/// A bounded, durable, ordered spool of `T`s in one directory.
#[derive(Debug)]
pub struct Spool<T> {
    dir: PathBuf,
    limits: SpoolLimits,
    /// Oldest first; records are appended to the last one.
    segments: VecDeque<Segment>,
    /// Open for appending: the last segment.
    appender: Option<(u64, File)>,
    /// Open for reading: the first segment, and where its next frame starts.
    reader: Option<(u64, File)>,
    read_offset: u64,
    /// Records of the first segment already popped.
    popped_in_first: u64,
    /// The first record not popped yet, once read.
    front: Option<(T, u64)>,
    _lock: File,
    _records: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> Spool<T> {
    /// Opens (creating it if needed) the spool in `dir`: finds its
    /// segments, checks every frame and cuts off a torn end.
    ///
    /// # Errors
    /// The directory cannot be used, or another process holds it.
    pub fn open(dir: impl AsRef<Path>, limits: SpoolLimits) -> Result<Self, SpoolError> {
        let dir = dir.as_ref().to_owned();
        fs::create_dir_all(&dir).map_err(|e| SpoolError::io(&dir, e))?;
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| SpoolError::io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(SpoolError::Locked(dir)),
            Err(fs::TryLockError::Error(e)) => return Err(SpoolError::io(&lock_path, e)),
        }
        let mut ids = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| SpoolError::io(&dir, e))? {
            let entry = entry.map_err(|e| SpoolError::io(&dir, e))?;
            let name = entry.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".seg"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            ids.push(id);
        }
        ids.sort_unstable();
        let mut segments = VecDeque::with_capacity(ids.len());
        for id in ids {
            let path = segment_path(&dir, id);
            let (bytes, records) = check_segment(&path)?;
            if records == 0 {
                fs::remove_file(&path).map_err(|e| SpoolError::io(&path, e))?;
                continue;
            }
            segments.push_back(Segment { id, bytes, records });
        }
        Ok(Self {
            dir,
            limits,
            segments,
            appender: None,
            reader: None,
            read_offset: 0,
            popped_in_first: 0,
            front: None,
            _lock: lock,
            _records: PhantomData,
        })
    }

    /// Records not popped yet.
    pub fn len(&self) -> u64 {
        self.segments.iter().map(|s| s.records).sum::<u64>() - self.popped_in_first
    }

    /// Whether every record was popped.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes on disk, popped records of an unfinished segment included.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Adds `record` at the end, on disk when this returns.
    ///
    /// # Errors
    /// [`SpoolError::Full`] when it does not fit (nothing is written), or a
    /// write failed (the record is not in the spool then).
    pub fn append(&mut self, record: &T) -> Result<(), SpoolError> {
        let payload = serde_json::to_vec(record).map_err(SpoolError::Encode)?;
        let len = u32::try_from(payload.len()).map_err(|_| SpoolError::Full {
            used: self.bytes(),
            max: self.limits.max_bytes,
            needed: payload.len() as u64 + HEADER,
        })?;
        let needed = u64::from(len) + HEADER;
        if self.bytes() + needed > self.limits.max_bytes {
            return Err(SpoolError::Full {
                used: self.bytes(),
                max: self.limits.max_bytes,
                needed,
            });
        }
        let start_new = match self.segments.back() {
            None => true,
            Some(last) => last.bytes > 0 && last.bytes + needed > self.limits.segment_bytes,
        };
        if start_new {
            let id = self.segments.back().map_or(1, |s| s.id + 1);
            self.segments.push_back(Segment {
                id,
                bytes: 0,
                records: 0,
            });
        }
        let last = self
            .segments
            .back_mut()
            .expect("a segment was just ensured");
        let path = segment_path(&self.dir, last.id);
        if self.appender.as_ref().is_none_or(|(id, _)| *id != last.id) {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| SpoolError::io(&path, e))?;
            self.appender = Some((last.id, file));
        }
        let (_, file) = self.appender.as_mut().expect("opened above");
        let mut frame = Vec::with_capacity(payload.len() + HEADER as usize);
        frame.extend_from_slice(&len.to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        frame.extend_from_slice(&payload);
        let written = file.write_all(&frame).and_then(|()| file.sync_data());
        if let Err(e) = written {
            // The frame may be half on disk: cut the file back to its last
            // whole frame so the next append starts clean.
            let _ = file.set_len(last.bytes);
            self.appender = None;
            if last.records == 0 {
                let id = last.id;
                self.segments.pop_back();
                let _ = fs::remove_file(segment_path(&self.dir, id));
            }
            return Err(SpoolError::io(&path, e));
        }
        last.bytes += needed;
        last.records += 1;
        Ok(())
    }

    /// The oldest record not popped yet, read from disk.
    ///
    /// A frame whose checksum holds but whose payload is not a `T` (a record
    /// from another version of the program) is moved to `rejected/` and
    /// skipped, with an error in the log.
    ///
    /// # Errors
    /// Reading failed.
    pub fn front(&mut self) -> Result<Option<&T>, SpoolError> {
        loop {
            if self.front.is_some() {
                return Ok(self.front.as_ref().map(|(record, _)| record));
            }
            let Some(first) = self.segments.front() else {
                return Ok(None);
            };
            if self.read_offset >= first.bytes {
                if self.segments.len() == 1 {
                    return Ok(None);
                }
                self.finish_first_segment()?;
                continue;
            }
            let id = first.id;
            let path = segment_path(&self.dir, id);
            if self.reader.as_ref().is_none_or(|(open, _)| *open != id) {
                let file = File::open(&path).map_err(|e| SpoolError::io(&path, e))?;
                self.reader = Some((id, file));
            }
            let (_, file) = self.reader.as_ref().expect("opened above");
            let (payload, frame_len) =
                read_frame(file, self.read_offset).map_err(|e| SpoolError::io(&path, e))?;
            match serde_json::from_slice::<T>(&payload) {
                Ok(record) => self.front = Some((record, frame_len)),
                Err(e) => {
                    tracing::error!(
                        segment = %path.display(),
                        offset = self.read_offset,
                        error = %e,
                        "a spooled record cannot be read back; moving it to rejected/"
                    );
                    self.reject(id, &payload)?;
                    self.advance(frame_len)?;
                }
            }
        }
    }

    /// Drops the record [`Spool::front`] returned.
    ///
    /// # Errors
    /// Deleting a finished segment failed.
    pub fn pop_front(&mut self) -> Result<(), SpoolError> {
        if let Some((_, frame_len)) = self.front.take() {
            self.advance(frame_len)?;
        }
        Ok(())
    }

    /// Moves the record [`Spool::front`] returned to `rejected/` (as its
    /// JSON, for the operator) and drops it: what consumes the spool
    /// refused it for good.
    ///
    /// # Errors
    /// Writing the copy failed; the record stays at the front then.
    pub fn reject_front(&mut self) -> Result<PathBuf, SpoolError> {
        let Some((record, frame_len)) = self.front.take() else {
            return Err(SpoolError::io(
                &self.dir,
                io::Error::other("no record was read to reject"),
            ));
        };
        let payload = serde_json::to_vec(&record).map_err(SpoolError::Encode)?;
        let id = self.segments.front().map_or(0, |s| s.id);
        match self.reject(id, &payload) {
            Ok(path) => {
                self.advance(frame_len)?;
                Ok(path)
            }
            Err(e) => {
                self.front = Some((record, frame_len));
                Err(e)
            }
        }
    }

    fn advance(&mut self, frame_len: u64) -> Result<(), SpoolError> {
        self.read_offset += frame_len;
        self.popped_in_first += 1;
        let finished = self
            .segments
            .front()
            .is_some_and(|first| self.read_offset >= first.bytes);
        if finished {
            self.finish_first_segment()?;
        }
        Ok(())
    }

    /// Deletes the first segment, every record of which was popped.
    fn finish_first_segment(&mut self) -> Result<(), SpoolError> {
        let Some(first) = self.segments.pop_front() else {
            return Ok(());
        };
        if self
            .appender
            .as_ref()
            .is_some_and(|(id, _)| *id == first.id)
        {
            self.appender = None;
        }
        self.reader = None;
        self.read_offset = 0;
        self.popped_in_first = 0;
        let path = segment_path(&self.dir, first.id);
        fs::remove_file(&path).map_err(|e| SpoolError::io(&path, e))
    }

    fn reject(&self, segment: u64, payload: &[u8]) -> Result<PathBuf, SpoolError> {
        let dir = self.dir.join("rejected");
        fs::create_dir_all(&dir).map_err(|e| SpoolError::io(&dir, e))?;
        let path = dir.join(format!("{segment:020}-{:012}.json", self.read_offset));
        fs::write(&path, payload).map_err(|e| SpoolError::io(&path, e))?;
        Ok(path)
    }
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

/// Reads the frame at `offset`: its payload and its length with the header.
fn read_frame(file: &File, offset: u64) -> io::Result<(Vec<u8>, u64)> {
    let mut header = [0u8; HEADER as usize];
    file.read_exact_at(&mut header, offset)?;
    let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
    let mut payload = vec![0u8; len as usize];
    file.read_exact_at(&mut payload, offset + HEADER)?;
    if crc32fast::hash(&payload) != crc {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("checksum mismatch in the frame at {offset}"),
        ));
    }
    Ok((payload, HEADER + u64::from(len)))
}

/// Counts a segment's whole frames and cuts the file after the last one:
/// a torn or corrupt frame (the process died while appending it, so it
/// was never acknowledged) and anything after it are dropped.
fn check_segment(path: &Path) -> Result<(u64, u64), SpoolError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| SpoolError::io(path, e))?;
    let size = file.metadata().map_err(|e| SpoolError::io(path, e))?.len();
    let mut offset = 0;
    let mut records = 0;
    while offset < size {
        match read_frame(&file, offset) {
            Ok((_, frame_len)) => {
                offset += frame_len;
                records += 1;
            }
            Err(e) => {
                tracing::warn!(
                    segment = %path.display(),
                    offset,
                    dropped_bytes = size - offset,
                    error = %e,
                    "cutting off the spool segment's torn end"
                );
                file.set_len(offset).map_err(|e| SpoolError::io(path, e))?;
                file.sync_all().map_err(|e| SpoolError::io(path, e))?;
                break;
            }
        }
    }
    Ok((offset, records))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Rec {
        n: u64,
        text: String,
    }

    fn rec(n: u64) -> Rec {
        Rec {
            n,
            text: format!("record {n}"),
        }
    }

    fn drain(spool: &mut Spool<Rec>) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some(r) = spool.front().unwrap() {
            out.push(r.n);
            spool.pop_front().unwrap();
        }
        out
    }

    const SMALL: SpoolLimits = SpoolLimits {
        max_bytes: 1 << 20,
        segment_bytes: 200,
    };

    #[test]
    fn records_come_out_in_order_across_segments_and_segments_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), SMALL).unwrap();
        for n in 0..20 {
            spool.append(&rec(n)).unwrap();
        }
        assert_eq!(spool.len(), 20);
        let segments = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "seg")
            })
            .count();
        assert!(segments > 3, "200-byte segments rotate: {segments}");
        assert_eq!(drain(&mut spool), (0..20).collect::<Vec<_>>());
        assert!(spool.is_empty());
        assert_eq!(spool.bytes(), 0);
        let left = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "seg")
            })
            .count();
        assert_eq!(left, 0, "every finished segment is deleted");
    }

    #[test]
    fn appends_and_pops_interleave() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), SMALL).unwrap();
        let mut expected = Vec::new();
        let mut got = Vec::new();
        for n in 0..50 {
            spool.append(&rec(n)).unwrap();
            expected.push(n);
            if n % 3 == 0 {
                let r = spool.front().unwrap().unwrap().n;
                got.push(r);
                spool.pop_front().unwrap();
            }
        }
        got.extend(drain(&mut spool));
        assert_eq!(got, expected);
        // Usable again after being emptied.
        spool.append(&rec(99)).unwrap();
        assert_eq!(drain(&mut spool), vec![99]);
    }

    #[test]
    fn a_reopened_spool_has_every_record_not_popped_and_popped_ones_of_an_unfinished_segment_again()
    {
        let dir = tempfile::tempdir().unwrap();
        let limits = SpoolLimits {
            max_bytes: 1 << 20,
            segment_bytes: 1 << 20,
        };
        {
            let mut spool = Spool::open(dir.path(), limits).unwrap();
            for n in 0..10 {
                spool.append(&rec(n)).unwrap();
            }
            spool.front().unwrap();
            spool.pop_front().unwrap();
            assert_eq!(spool.len(), 9);
        }
        let mut spool = Spool::<Rec>::open(dir.path(), limits).unwrap();
        // At least once: the popped record of the unfinished segment is back.
        assert_eq!(drain(&mut spool), (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn a_torn_last_frame_is_cut_off_and_appends_go_on_after_it() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut spool = Spool::open(dir.path(), SpoolLimits::default()).unwrap();
            for n in 0..3 {
                spool.append(&rec(n)).unwrap();
            }
        }
        let path = segment_path(dir.path(), 1);
        let whole = fs::metadata(&path).unwrap().len();
        // The process died halfway through writing a fourth frame.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&100u32.to_le_bytes()).unwrap();
        file.write_all(&[1, 2, 3, 4, 5]).unwrap();
        drop(file);
        let mut spool = Spool::<Rec>::open(dir.path(), SpoolLimits::default()).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), whole);
        assert_eq!(spool.len(), 3);
        spool.append(&rec(3)).unwrap();
        assert_eq!(drain(&mut spool), vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_flipped_byte_ends_the_segment_there() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut spool = Spool::open(dir.path(), SpoolLimits::default()).unwrap();
            for n in 0..3 {
                spool.append(&rec(n)).unwrap();
            }
        }
        let path = segment_path(dir.path(), 1);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 0xff;
        fs::write(&path, bytes).unwrap();
        let mut spool = Spool::<Rec>::open(dir.path(), SpoolLimits::default()).unwrap();
        assert_eq!(drain(&mut spool), vec![0, 1]);
    }

    #[test]
    fn a_full_spool_refuses_without_writing_and_takes_records_again_once_drained() {
        let dir = tempfile::tempdir().unwrap();
        let limits = SpoolLimits {
            max_bytes: 300,
            segment_bytes: 100,
        };
        let mut spool = Spool::open(dir.path(), limits).unwrap();
        let mut n = 0;
        let err = loop {
            match spool.append(&rec(n)) {
                Ok(()) => n += 1,
                Err(e) => break e,
            }
        };
        assert!(matches!(err, SpoolError::Full { max: 300, .. }), "{err}");
        assert!(spool.bytes() <= 300);
        assert_eq!(spool.len(), n);
        assert_eq!(drain(&mut spool), (0..n).collect::<Vec<_>>());
        spool.append(&rec(1000)).unwrap();
        assert_eq!(drain(&mut spool), vec![1000]);
    }

    #[test]
    fn a_rejected_record_is_kept_aside_and_the_next_one_comes_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), SpoolLimits::default()).unwrap();
        spool.append(&rec(1)).unwrap();
        spool.append(&rec(2)).unwrap();
        assert_eq!(spool.front().unwrap().unwrap().n, 1);
        let kept = spool.reject_front().unwrap();
        let copy: Rec = serde_json::from_slice(&fs::read(kept).unwrap()).unwrap();
        assert_eq!(copy, rec(1));
        assert_eq!(drain(&mut spool), vec![2]);
    }

    #[test]
    fn a_second_process_cannot_open_the_same_spool() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Spool::<Rec>::open(dir.path(), SpoolLimits::default()).unwrap();
        let second = Spool::<Rec>::open(dir.path(), SpoolLimits::default());
        assert!(matches!(second, Err(SpoolError::Locked(_))));
    }

    #[test]
    fn a_record_of_another_shape_is_set_aside_not_lost_and_not_blocking() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut other = Spool::<String>::open(dir.path(), SpoolLimits::default()).unwrap();
            other.append(&"not a Rec".to_owned()).unwrap();
        }
        let mut spool = Spool::<Rec>::open(dir.path(), SpoolLimits::default()).unwrap();
        spool.append(&rec(7)).unwrap();
        assert_eq!(drain(&mut spool), vec![7]);
        let rejected: Vec<_> = fs::read_dir(dir.path().join("rejected"))
            .unwrap()
            .map(|e| fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        assert_eq!(rejected, vec!["\"not a Rec\"".to_owned()]);
    }
}
