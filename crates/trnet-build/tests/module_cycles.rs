//! No module of a workspace crate imports a module that imports it back (ARCHITECTURE.md: dependencies
//! point one way). Checked from the sources: for every crate (and the addon's `src/`), the top-level
//! modules and the `crate::…` paths each one names, resolving names that `lib.rs` re-exports to the module
//! that defines them. It lives in this crate because it is the one that builds without libtorch or ONNX
//! Runtime, so the check costs nothing to compile.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module name → the source text of its file(s) (`m.rs`, or everything under `m/`).
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            out.insert(name, read_tree(&path));
        } else if path.extension().is_some_and(|e| e == "rs") && name != "lib" && name != "main" {
            out.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    out
}

fn read_tree(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            text += &read_tree(&path);
        } else if path.extension().is_some_and(|e| e == "rs") {
            text += &std::fs::read_to_string(&path).unwrap();
        }
    }
    text
}

/// The first path segment of every `crate::…` path in `text` outside comments; a `crate::{a, b::c}` group
/// gives each of its items.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            // `trnet_dsp::…` or `my_crate::…` end in "crate::" too; only the keyword counts.
            let before = rest[..at].chars().next_back();
            rest = &rest[at + "crate::".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let mut depth = 1;
                let end = group.find(|c| {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    depth == 0
                });
                let inner = &group[..end.unwrap_or(group.len())];
                let mut depth = 0;
                for item in inner.split(|c| {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    c == ',' && depth == 0
                }) {
                    out.insert(ident(item.trim()));
                }
            } else {
                out.insert(ident(rest));
            }
        }
    }
    out.remove("");
    out
}

fn ident(s: &str) -> String {
    s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// Names `lib.rs` re-exports (`pub use m::{A, B}` / `pub use m::A`) → the module `m` they come from.
fn reexports(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in lib.lines().map(str::trim) {
        let Some(path) = line.strip_prefix("pub use ").and_then(|l| l.strip_suffix(';')) else { continue };
        let Some((module, names)) = path.split_once("::") else { continue };
        for name in names.trim_matches(|c| c == '{' || c == '}').split(',') {
            let name = name.rsplit("::").next().unwrap().trim();
            let name = name.rsplit(" as ").next().unwrap().trim();
            out.insert(name.to_string(), module.to_string());
        }
    }
    out
}

/// Module → the modules it names.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules(src);
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap_or_default();
    let via_lib = reexports(&lib);
    mods.iter()
        .map(|(name, text)| {
            let uses = crate_paths(text)
                .into_iter()
                .filter_map(|first| if mods.contains_key(&first) { Some(first) } else { via_lib.get(&first).cloned() })
                .filter(|m| m != name)
                .collect();
            (name.clone(), uses)
        })
        .collect()
}

/// One cycle as a path `a → b → … → a`, if there is any.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(node: &str, graph: &BTreeMap<String, BTreeSet<String>>, stack: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|start| visit(start, graph, &mut Vec::new(), &mut done))
}

fn source_dirs() -> Vec<PathBuf> {
    // The manifest dir cargo gives at run time: the compile-time one goes stale when the checkout moves and cargo
    // reuses the test binary (its fingerprint does not include the path); the fixture paths of the other tests alike.
    let root = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("../..");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("crates")).unwrap().map(|e| e.unwrap().path().join("src")).filter(|p| p.is_dir()).collect();
    dirs.push(root.join("src"));
    dirs.sort();
    dirs
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let dirs = source_dirs();
    assert!(dirs.iter().any(|d| d.ends_with("trnet-train/src")), "{dirs:?}");
    for dir in dirs {
        let g = graph(&dir);
        if let Some(cycle) = find_cycle(&g) {
            panic!("{}: module cycle {}", dir.display(), cycle.join(" → "));
        }
    }
}

#[test]
fn the_checker_sees_imports_groups_reexports_and_cycles() {
    let text = "use crate::a::X;\nuse crate::{Error, b::{Y, Z}, c};\n// crate::commented\nlet v = crate::d::f(trnet_crate::e::g);";
    assert_eq!(crate_paths(text), ["Error", "a", "b", "c", "d"].map(String::from).into_iter().collect());
    let lib = "pub use error::Error;\npub use trainer::{train, TrainHooks};";
    let r = reexports(lib);
    assert_eq!((r["Error"].as_str(), r["TrainHooks"].as_str()), ("error", "trainer"));
    let g: BTreeMap<String, BTreeSet<String>> = [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"]), ("d", vec![])]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
        .collect();
    assert_eq!(find_cycle(&g).unwrap().join(" → "), "a → b → c → a");
    let mut acyclic = g.clone();
    acyclic.get_mut("c").unwrap().clear();
    assert_eq!(find_cycle(&acyclic), None);
}
