//! The architecture's invariants, read from the source (ARCHITECTURE.md,
//! "Layers"): which top-level modules may use which, no import circles, no
//! file over 600 lines, every `unsafe` with its SAFETY note.
//!
//! A module's uses are every `crate::NAME` path in its files (and `super::`
//! inside `commands`/`daemon` counts as itself), so a `use`, a path in an
//! expression and a doc link all count: that over-counts, never misses.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module may use its own layer and the ones
/// below; `core` is pure (no I/O), `engine` rates one file, `edges` do I/O,
/// `face` is the command line and the daemon.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "core",
        &[
            "money", "numbers", "csvscan", "timefmt", "tariff", "rating", "formats", "ids", "fraud", "billing", "rows",
            "totals", "suggest", "exit",
        ],
    ),
    ("settings", &["config"]),
    ("edges", &["input", "output", "state", "alerts", "telemetry"]),
    ("engine", &["pipeline", "job", "fraud_job", "outbox", "invoicing", "spool", "generate", "rerate"]),
    ("face", &["daemon", "commands", "cli"]),
];

/// Files larger than this have two jobs (DESIGN.md: "about 600 lines").
const MAX_LINES: usize = 600;

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file belongs to (`src/tariff/load.rs` -> `tariff`).
fn module_of(file: &Path) -> String {
    let rel = file.strip_prefix(src()).unwrap();
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// Top-level modules each module's files name as `crate::X`.
fn uses() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let m = module_of(&f);
        if m == "main" || m == "lib" {
            continue;
        }
        let text = fs::read_to_string(&f).unwrap();
        let entry = graph.entry(m.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() && name != m {
                entry.insert(name);
            }
        }
    }
    graph
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, ms)| ms.contains(&module))
}

#[test]
fn every_module_has_a_layer_and_uses_only_its_layer_and_below() {
    let graph = uses();
    let mut wrong = Vec::new();
    for (m, used) in &graph {
        let Some(own) = layer_of(m) else {
            wrong.push(format!("{m} is in no layer (add it to LAYERS and to ARCHITECTURE.md)"));
            continue;
        };
        for u in used {
            match layer_of(u) {
                Some(l) if l <= own => {}
                Some(l) => wrong.push(format!("{m} ({}) uses {u} ({})", LAYERS[own].0, LAYERS[l].0)),
                None => {} // an external path such as crate::foo in a doc example
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn no_import_circles_between_modules() {
    let graph = uses();
    // Depth-first search for a back edge.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(m) {
            Some(1) => {
                let at = path.iter().position(|p| p == m).unwrap();
                let mut cycle = path[at..].to_vec();
                cycle.push(m.to_string());
                return Some(cycle);
            }
            Some(2) => return None,
            _ => {}
        }
        state.insert(m.to_string(), 1);
        path.push(m.to_string());
        for u in graph.get(m).into_iter().flatten() {
            if graph.contains_key(u) {
                if let Some(c) = visit(u, graph, state, path) {
                    return Some(c);
                }
            }
        }
        path.pop();
        state.insert(m.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in graph.keys() {
        let mut path = Vec::new();
        if let Some(cycle) = visit(m, &graph, &mut state, &mut path) {
            panic!("import circle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn no_source_file_is_over_the_limit() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let long: Vec<String> = files
        .iter()
        .map(|f| (f, fs::read_to_string(f).unwrap().lines().count()))
        .filter(|(_, n)| *n > MAX_LINES)
        .map(|(f, n)| format!("{} ({n} lines)", f.strip_prefix(src()).unwrap().display()))
        .collect();
    assert!(long.is_empty(), "files with two jobs: {long:?}");
}

#[test]
fn every_unsafe_block_has_a_safety_note() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut missing = Vec::new();
    for f in files {
        let text = fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let code = l.split("//").next().unwrap();
            if !code.contains("unsafe {") && !code.contains("unsafe{") {
                continue;
            }
            // The note is on the lines just above (a comment block), or on the same line.
            let above =
                lines[..i].iter().rev().take_while(|l| l.trim_start().starts_with("//")).any(|l| l.contains("SAFETY:"));
            if !above && !l.contains("SAFETY:") {
                missing.push(format!("{}:{}", f.strip_prefix(src()).unwrap().display(), i + 1));
            }
        }
    }
    assert!(missing.is_empty(), "unsafe without a SAFETY note: {missing:?}");
}
