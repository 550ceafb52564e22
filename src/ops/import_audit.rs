//! The "no legacy imports" check (MISSION §1): nothing may import a legacy
//! copy of a component. Scans Rust sources for `legacy` modules or paths.

use std::path::Path;

/// The offending lines (`path:line: text`) under `root`'s `src/` and
/// `crates/*/src/`, plus any `legacy/` folder there.
pub fn scan_tree(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.join("src"), root.join("crates")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                let name = entry.file_name();
                if name == "target" {
                    continue;
                }
                if name == "legacy" {
                    found.push(format!("{}: a legacy folder", path.display()));
                }
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && let Ok(text) = std::fs::read_to_string(&path)
            {
                found.extend(
                    offending_lines(&text).map(|(n, l)| format!("{}:{n}: {l}", path.display())),
                );
            }
        }
    }
    found.sort();
    found
}

/// Lines that import or declare a legacy module.
pub fn offending_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(|(i, line)| {
        let code = line.split("//").next().unwrap_or_default().trim();
        let is_import = code.starts_with("use ")
            || code.starts_with("pub use ")
            || code.starts_with("mod ")
            || code.starts_with("pub mod ");
        let names_legacy = code
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .any(|w| w == "legacy" || w.starts_with("legacy_") || w.ends_with("_legacy"));
        (is_import && names_legacy).then_some((i + 1, line.trim()))
    })
}

/// How many legacy imports the build script found in the sources this
/// binary was compiled from.
pub fn build_record() -> usize {
    option_env!("AGENTLOCATOR_LEGACY_IMPORTS")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_of_legacy_modules_are_found_and_mentions_in_prose_are_not() {
        let text = "use crate::legacy::media_ws;\n// the legacy folder is gone\nmod legacy_tts;\nlet legacy = 1;\n";
        let lines: Vec<usize> = offending_lines(text).map(|(n, _)| n).collect();
        assert_eq!(lines, vec![1, 3]);
    }

    #[test]
    fn this_source_tree_has_no_legacy_imports() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert_eq!(scan_tree(root), Vec::<String>::new());
    }
}
