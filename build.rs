//! Records, at build time, what the "no legacy imports" audit found in the
//! sources this binary was built from, so `deploy-check` can report it even
//! where no source checkout exists.

// Shared with the binary; the build only needs the scan, not the record.
#[allow(dead_code)]
#[path = "src/ops/import_audit.rs"]
mod import_audit;

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let found = import_audit::scan_tree(root);
    println!(
        "cargo:rustc-env=AGENTLOCATOR_LEGACY_IMPORTS={}",
        found.len()
    );
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=crates");
}
