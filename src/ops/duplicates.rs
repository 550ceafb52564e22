//! The duplicate finder (MISSION §1): identical files by SHA-256, with the
//! copy recommended to keep. It only reads; it never deletes or moves.
//!
//! Files are grouped by size first and only same-size files are hashed, each
//! streamed through SHA-256 in 64 KiB blocks, so a large tree with few
//! collisions reads little. Symlinks are never followed (no loops), empty
//! files are counted but not paired (every empty file "equals" every other),
//! and unreadable entries are reported, not fatal.
//!
//! Which copy to keep: a path outside archive-like folders (`archive`,
//! `legacy`, `backup`, `old`, `copy`, `tmp`…) first, then the shallowest,
//! then the shortest, then the first in byte order — so the answer is
//! deterministic.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Folders never walked: build output, VCS data, dependencies, logs, audio.
pub const SKIPPED_DIRS: &[&str] = &[
    ".git",
    "target",
    "node_modules",
    "dist",
    ".local",
    "logs",
    "generated_audio",
    "tts_cache",
    "__pycache__",
];

const ARCHIVE_WORDS: &[&str] = &[
    "archive",
    "archived",
    "legacy",
    "backup",
    "backups",
    "old",
    "copy",
    "copies",
    "tmp",
    "temp",
    "deprecated",
    "attic",
    "bak",
];

#[derive(Debug, Serialize)]
pub struct Report {
    pub root: String,
    pub rule: &'static str,
    pub files_scanned: u64,
    pub bytes_hashed: u64,
    pub empty_files: u64,
    pub duplicates: Vec<Group>,
    pub errors: Vec<Problem>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Group {
    pub keep: String,
    pub copies: Vec<String>,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Serialize)]
pub struct Problem {
    pub path: String,
    pub error: String,
}

pub const KEEP_RULE: &str = "keep the copy outside archive/legacy/backup/old/copy/tmp folders, \
    then the shallowest path, then the shortest, then the first in byte order";

/// Walks `root` and reports the groups of identical non-empty files.
pub fn scan(root: &Path) -> Report {
    let mut by_size: HashMap<u64, Vec<PathBuf>> = HashMap::new();
    let mut errors = Vec::new();
    let mut files_scanned = 0;
    let mut empty_files = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                errors.push(problem(root, &dir, e));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    errors.push(problem(root, &dir, e));
                    continue;
                }
            };
            let path = entry.path();
            // file_type() does not follow symlinks: a link loop is never entered.
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_symlink() {
                continue;
            }
            if kind.is_dir() {
                let name = entry.file_name();
                if !SKIPPED_DIRS.iter().any(|s| name == *s) {
                    stack.push(path);
                }
            } else if kind.is_file() {
                files_scanned += 1;
                match entry.metadata() {
                    Ok(m) if m.len() == 0 => empty_files += 1,
                    Ok(m) => by_size.entry(m.len()).or_default().push(path),
                    Err(e) => errors.push(problem(root, &path, e)),
                }
            }
        }
    }

    let mut bytes_hashed = 0;
    let mut groups = Vec::new();
    for (size, paths) in by_size.into_iter().filter(|(_, p)| p.len() > 1) {
        let mut by_hash: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        for path in paths {
            match hash_file(&path) {
                Ok(hash) => {
                    bytes_hashed += size;
                    by_hash.entry(hash).or_default().push(path);
                }
                Err(e) => errors.push(problem(root, &path, e)),
            }
        }
        for (sha256, paths) in by_hash.into_iter().filter(|(_, p)| p.len() > 1) {
            let mut rel: Vec<String> = paths.iter().map(|p| relative(root, p)).collect();
            rel.sort_by_key(|p| keep_order(p));
            let keep = rel.remove(0);
            groups.push(Group {
                keep,
                copies: rel,
                size,
                sha256,
            });
        }
    }
    groups.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.keep.cmp(&b.keep)));
    errors.sort_by(|a, b| a.path.cmp(&b.path));
    Report {
        root: root.display().to_string(),
        rule: KEEP_RULE,
        files_scanned,
        bytes_hashed,
        empty_files,
        duplicates: groups,
        errors,
    }
}

fn keep_order(path: &str) -> (bool, usize, usize, String) {
    let archived = path.split('/').any(|part| {
        let lower = part.to_ascii_lowercase();
        ARCHIVE_WORDS.iter().any(|w| {
            lower == *w || lower.starts_with(&format!("{w}_")) || lower.ends_with(&format!("_{w}"))
        })
    });
    (
        archived,
        path.matches('/').count(),
        path.len(),
        path.to_string(),
    )
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

fn problem(root: &Path, path: &Path, e: std::io::Error) -> Problem {
    Problem {
        path: relative(root, path),
        error: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_outside_legacy_folders_is_kept_even_when_deeper() {
        let mut paths = ["legacy/a.py".to_string(), "server/media/a.py".to_string()];
        paths.sort_by_key(|p| keep_order(p));
        assert_eq!(paths[0], "server/media/a.py");
    }

    #[test]
    fn among_equals_the_shallowest_then_shortest_path_is_kept() {
        let mut paths = vec![
            "a/b/c.txt".to_string(),
            "z.txt".to_string(),
            "a/cc.txt".to_string(),
        ];
        paths.sort_by_key(|p| keep_order(p));
        assert_eq!(paths, vec!["z.txt", "a/cc.txt", "a/b/c.txt"]);
    }
}
