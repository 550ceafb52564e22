//! The spool's files: this instance's segment, the segments it adopted,
//! appending (fsync'd, never a half line left behind), reading what has not
//! landed, and removing what has. Everything here is blocking file I/O,
//! called from `spawn_blocking` under the one lock appends take.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::MutexGuard;
use std::sync::atomic::Ordering;

use super::{Inner, SEGMENT_PREFIX, SEGMENT_SUFFIX, SpoolError};

#[derive(Default)]
pub(super) struct Files {
    /// This instance's segment, created on the first write after the
    /// previous one was replayed and removed.
    own: Option<Segment>,
    /// Segments of instances that are gone, oldest first.
    adopted: Vec<Segment>,
    /// Bytes of all of them together.
    bytes: u64,
}

pub(super) struct Segment {
    path: PathBuf,
    /// Open for as long as the segment is ours: it holds the lock.
    file: File,
    len: u64,
    /// Offset of the first line that has not landed.
    landed_to: u64,
}

pub(super) fn inner_io(inner: &Inner, source: io::Error) -> SpoolError {
    SpoolError::Io {
        dir: inner.dir.clone(),
        source,
    }
}

/// Files only the service's user may read: they hold phone numbers.
pub(super) fn create_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options
}

impl Files {
    fn segment(&mut self, path: &Path) -> Option<&mut Segment> {
        self.adopted
            .iter_mut()
            .chain(self.own.iter_mut())
            .find(|s| s.path == path)
    }
}

/// Lines read from one segment: each with the offset just past it.
pub(super) struct Batch {
    pub(super) path: PathBuf,
    pub(super) lines: Vec<(u64, Vec<u8>)>,
}

impl Inner {
    pub(super) fn files(&self) -> MutexGuard<'_, Files> {
        // A panic while holding it left plain numbers behind: still usable.
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a line to this instance's segment and fsyncs it. A failed
    /// write is cut off again, so no half line is ever followed by another.
    pub(super) fn append_line(&self, line: &[u8]) -> Result<(), SpoolError> {
        let mut files = self.files();
        let len = line.len() as u64;
        if files.bytes + len > self.max_bytes {
            return Err(SpoolError::Full {
                max_bytes: self.max_bytes,
            });
        }
        if files.own.is_none() {
            files.own = Some(self.new_segment().map_err(|e| inner_io(self, e))?);
        }
        let Some(own) = files.own.as_mut() else {
            unreachable!("created above");
        };
        let written = (&own.file)
            .write_all(line)
            .and_then(|()| own.file.sync_data());
        if let Err(e) = written {
            let _ = own.file.set_len(own.len);
            return Err(inner_io(self, e));
        }
        own.len += len;
        files.bytes += len;
        self.waiting.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn new_segment(&self) -> io::Result<Segment> {
        let mut dir = fs::DirBuilder::new();
        dir.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            dir.mode(0o700);
        }
        dir.create(&self.dir)?;
        let name = format!(
            "{SEGMENT_PREFIX}{}{SEGMENT_SUFFIX}",
            uuid::Uuid::now_v7().hyphenated()
        );
        let path = self.dir.join(name);
        let file = create_options()
            .create_new(true)
            .append(true)
            .read(true)
            .open(&path)?;
        file.try_lock().map_err(io::Error::from)?;
        // The new name must survive a power cut too, not only the bytes.
        File::open(&self.dir)?.sync_all()?;
        Ok(Segment {
            path,
            file,
            len: 0,
            landed_to: 0,
        })
    }

    /// Locks and adopts every segment no live instance holds; returns how
    /// many writes they bring.
    pub(super) fn adopt_orphans(&self) -> usize {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut names: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(SEGMENT_PREFIX) && n.ends_with(SEGMENT_SUFFIX))
            })
            .collect();
        names.sort();
        let mut files = self.files();
        let mut brought = 0;
        for path in names {
            let ours = files
                .own
                .iter()
                .chain(files.adopted.iter())
                .any(|s| s.path == path);
            if ours {
                continue;
            }
            let Ok(file) = OpenOptions::new().read(true).write(true).open(&path) else {
                continue;
            };
            // Held: a live instance writes there.
            if file.try_lock().is_err() {
                continue;
            }
            let Ok(bytes) = fs::read(&path) else {
                continue;
            };
            let lines = bytes.iter().filter(|b| **b == b'\n').count();
            files.bytes += bytes.len() as u64;
            files.adopted.push(Segment {
                path,
                file,
                len: bytes.len() as u64,
                landed_to: 0,
            });
            brought += lines;
        }
        files.adopted.sort_by(|a, b| a.path.cmp(&b.path));
        self.waiting.fetch_add(brought, Ordering::SeqCst);
        brought
    }

    /// The whole lines not yet landed of the oldest segment that has any.
    pub(super) fn next_batch(&self) -> io::Result<Option<Batch>> {
        let files = self.files();
        let next = files
            .adopted
            .iter()
            .chain(files.own.iter())
            .find(|s| s.landed_to < s.len);
        let Some(segment) = next else {
            return Ok(None);
        };
        let (path, from, to) = (segment.path.clone(), segment.landed_to, segment.len);
        // Read under the lock, up to the length seen here: appends wait the
        // few milliseconds it takes; lines appended after it come in the
        // next batch.
        let mut file = File::open(&path)?;
        file.seek(SeekFrom::Start(from))?;
        let mut bytes = Vec::new();
        file.take(to - from).read_to_end(&mut bytes)?;
        drop(files);
        let mut lines = Vec::new();
        let mut offset = from;
        let mut rest = &bytes[..];
        while let Some(at) = rest.iter().position(|b| *b == b'\n') {
            offset += at as u64 + 1;
            lines.push((offset, rest[..at].to_vec()));
            rest = &rest[at + 1..];
        }
        if lines.is_empty() {
            // Only an unfinished last line: its instance died while writing
            // it, before its webhook was answered (Twilio gave up or retries).
            tracing::warn!(segment = %path.display(), bytes = rest.len(), "an unfinished line at the end of a spool segment is dropped");
            self.mark_partial_done(&path, to);
            self.remove_if_landed(&path)?;
            return self.next_batch();
        }
        Ok(Some(Batch { path, lines }))
    }

    pub(super) fn mark_landed(&self, path: &Path, end: u64) {
        let mut files = self.files();
        if let Some(s) = files.segment(path)
            && end > s.landed_to
        {
            s.landed_to = end;
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn mark_partial_done(&self, path: &Path, end: u64) {
        let mut files = self.files();
        if let Some(s) = files.segment(path) {
            s.landed_to = s.landed_to.max(end);
        }
    }

    /// Removes a segment once every line of it has landed. This instance's
    /// own segment is removed only if nothing was appended meanwhile (the
    /// check and the removal happen under the lock appends take).
    pub(super) fn remove_if_landed(&self, path: &Path) -> io::Result<()> {
        let mut files = self.files();
        let done = |s: &Segment| s.path == path && s.landed_to >= s.len;
        if let Some(i) = files.adopted.iter().position(done) {
            let segment = files.adopted.remove(i);
            files.bytes -= segment.len;
            fs::remove_file(&segment.path)?;
        } else if files.own.as_ref().is_some_and(done)
            && let Some(segment) = files.own.take()
        {
            files.bytes -= segment.len;
            fs::remove_file(&segment.path)?;
        }
        Ok(())
    }
}
