//! The crate's layers point one way (docs/design.md, "Layers").
//!
//! This reads the crate's own source: it follows the `mod` declarations from
//! `src/lib.rs`, collects every path that names a module of the crate
//! (`use crate::…`, `use crate::{a, b::{c, d}}`, `super::…`, `self::…`,
//! `crate::…` inside code, `use child::…`) with comments and string literals
//! left out, and fails on
//! (a) a module that names a module of a higher layer,
//! (b) a cycle between the crate's top-level modules, and
//! (c) a cycle between the modules of one folder (the children of one
//!     module, each counted with everything below it).
//!
//! A path counts where it is written: `crate::mcp::guard::X` is an import of
//! `mcp::guard` even when `X` is a re-export of something lower.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers from the bottom. A module may name modules of its own layer
/// or of layers below it; within a layer, only cycles are forbidden.
const LAYERS: &[&[&str]] = &[
    // Time, wire shapes, the validated configuration and the metrics
    // registry (the security crate is below them). `telemetry` names only
    // `config`, so every layer may count.
    &["clock", "wire", "config", "telemetry"],
    &["store"],
    // The domain.
    &[
        "network", "safety", "audit", "auth", "catalog", "declared", "drift", "demo",
    ],
    // The edge: HTTP plumbing (edge checks, rejections, rate limits, probes).
    &["http"],
    // The protocol: the `/mcp` endpoint, on top of the edge.
    &["mcp"],
    // The operator's console: it revokes tokens and drops the live sessions
    // of the protocol layer.
    &["admin"],
    // Wiring: the application state, the router, logging.
    &["app"],
    &["cli"],
    // `lib.rs` itself and its test-only modules.
    &["", "proptests"],
];

type Module = Vec<String>;

/// One named path: where it is written and the crate module it names.
#[derive(Debug)]
struct Edge {
    from: Module,
    to: Module,
    file: PathBuf,
    line: usize,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn show(m: &[String]) -> String {
    if m.is_empty() {
        "crate".to_string()
    } else {
        m.join("::")
    }
}

/// The source with comments, string and char literals blanked out (line
/// breaks kept, so line numbers stay right).
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let keep_lines = |out: &mut String, text: &[u8]| {
        for &c in text {
            if c == b'\n' {
                out.push('\n');
            }
        }
    };
    while i < b.len() {
        let prev_ident = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let start = i;
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
            keep_lines(&mut out, &b[start..i]);
        } else if !prev_ident && raw_string_start(&b[i..]).is_some() {
            let (open, hashes) = raw_string_start(&b[i..]).unwrap_or_default();
            let start = i;
            i += open;
            let mut close = vec![b'"'];
            close.extend(std::iter::repeat_n(b'#', hashes));
            while i < b.len() && !b[i..].starts_with(&close) {
                i += 1;
            }
            i = (i + close.len()).min(b.len());
            out.push_str("\"\"");
            keep_lines(&mut out, &b[start..i]);
        } else if b[i] == b'"' {
            let start = i;
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(b.len());
            out.push_str("\"\"");
            keep_lines(&mut out, &b[start..i]);
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\u{1F600}'); a lifetime has no closing quote.
            let end = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..]
                    .iter()
                    .position(|&c| c == b'\'')
                    .map(|p| i + 2 + p)
            } else {
                let ch = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                (b.get(i + 1 + ch) == Some(&b'\'')).then_some(i + 1 + ch)
            };
            match end {
                Some(end) => {
                    out.push_str("' '");
                    i = end + 1;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            let ch = src[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// `r"`, `r#"`, `br"`…: the length of the opening and the number of `#`.
fn raw_string_start(b: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    if b.first() == Some(&b'b') {
        i += 1;
    }
    if b.get(i) != Some(&b'r') {
        return None;
    }
    i += 1;
    let hashes = b[i..].iter().take_while(|&&c| c == b'#').count();
    i += hashes;
    (b.get(i) == Some(&b'"')).then_some((i + 1, hashes))
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The identifier starting at `i`, if any.
fn ident_at(s: &[u8], i: usize) -> Option<&str> {
    let first = *s.get(i)?;
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return None;
    }
    let end = i + s[i..].iter().take_while(|&&c| is_ident_byte(c)).count();
    std::str::from_utf8(&s[i..end]).ok()
}

fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && s[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// The paths of a use tree (or of a plain path) starting at `i`:
/// `a::b::{c, d::{e, f}}` gives `a::b::c`, `a::b::d::e`, `a::b::d::f`.
fn use_tree(s: &[u8], i: usize, prefix: &[String], out: &mut Vec<Vec<String>>) -> usize {
    let mut segs = prefix.to_vec();
    let mut i = skip_ws(s, i);
    loop {
        if s.get(i) == Some(&b'{') {
            i += 1;
            loop {
                i = skip_ws(s, i);
                while s.get(i) == Some(&b',') {
                    i = skip_ws(s, i + 1);
                }
                match s.get(i) {
                    Some(b'}') => return i + 1,
                    None => return i,
                    _ => {}
                }
                let before = i;
                i = use_tree(s, i, &segs, out);
                if i == before {
                    i += 1;
                }
            }
        }
        let Some(id) = ident_at(s, i) else {
            out.push(segs);
            return i;
        };
        segs.push(id.to_string());
        i = skip_ws(s, i + id.len());
        if s[i..].starts_with(b"::") {
            i = skip_ws(s, i + 2);
            if s.get(i) == Some(&b'*') {
                out.push(segs);
                return i + 1;
            }
            continue;
        }
        // `… as name`: the rename is not a path.
        if ident_at(s, i) == Some("as") {
            let name = skip_ws(s, i + 2);
            i = name + ident_at(s, name).map_or(0, str::len);
        }
        out.push(segs);
        return i;
    }
}

/// The crate's module tree: module path → file, following `mod` items from
/// `lib.rs` (with `#[path]`).
fn module_files() -> BTreeMap<Module, PathBuf> {
    let mut files = BTreeMap::new();
    let mut todo = vec![(Vec::<String>::new(), src_dir().join("lib.rs"))];
    while let Some((module, file)) = todo.pop() {
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let code = strip(&text);
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        // Children of `a.rs` live in `a/`; those of `lib.rs` and `mod.rs` next to it.
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let child_dir = if stem == "lib" || stem == "mod" {
            dir.clone()
        } else {
            dir.join(stem)
        };
        let mut pending_path: Option<String> = None;
        for line in text.lines() {
            let t = line.trim();
            if let Some(rest) = t.strip_prefix("#[path = \"") {
                pending_path = rest.split('"').next().map(str::to_string);
                continue;
            }
            let decl = t
                .trim_start_matches("pub(crate) ")
                .trim_start_matches("pub ")
                .strip_prefix("mod ")
                .and_then(|r| r.strip_suffix(';'));
            match decl {
                Some(name) if code.contains(&format!("mod {name};")) => {
                    let path = match pending_path.take() {
                        Some(p) => dir.join(p),
                        None => child_dir.join(format!("{name}.rs")),
                    };
                    let mut child = module.clone();
                    child.push(name.to_string());
                    todo.push((child, path));
                }
                _ if !t.starts_with("#[") => pending_path = None,
                _ => {}
            }
        }
        files.insert(module, file);
    }
    files
}

/// The longest module of the crate that `path` starts with.
fn resolve(modules: &BTreeMap<Module, PathBuf>, path: &[String]) -> Module {
    (0..=path.len())
        .rev()
        .map(|k| path[..k].to_vec())
        .find(|m| modules.contains_key(m))
        .unwrap_or_default()
}

/// Every path to a module of the crate, written in `file` (module `module`).
fn edges_of(modules: &BTreeMap<Module, PathBuf>, module: &Module, file: &Path) -> Vec<Edge> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let code = strip(&text);
    let s = code.as_bytes();
    let mut edges = Vec::new();
    // Inline modules (`mod tests { … }`) change what `super` means.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut line = 1;
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'\n' => line += 1,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            _ => {}
        }
        let at_word = i == 0 || !(is_ident_byte(s[i - 1]) || s[i - 1] == b':');
        let Some(id) = at_word.then(|| ident_at(s, i)).flatten() else {
            i += 1;
            continue;
        };
        let mut here = module.clone();
        here.extend(inline.iter().map(|(m, _)| m.clone()));
        let after = skip_ws(s, i + id.len());
        if id == "mod"
            && let Some(name) = ident_at(s, after)
        {
            let next = skip_ws(s, after + name.len());
            if s.get(next) == Some(&b'{') {
                inline.push((name.to_string(), depth));
                depth += 1;
                i = next + 1;
                continue;
            }
        }
        // `use child::…` names a child module by its bare name.
        let relative_use = id == "use" && {
            let name = ident_at(s, after).unwrap_or_default();
            let mut child = here.clone();
            child.push(name.to_string());
            !matches!(name, "crate" | "super" | "self") && modules.contains_key(&child)
        };
        let rooted = matches!(id, "crate" | "super" | "self") && s[after..].starts_with(b"::");
        if !(rooted || relative_use) {
            i += id.len();
            continue;
        }
        let start = if relative_use { after } else { i };
        let mut paths = Vec::new();
        let end = use_tree(s, start, &[], &mut paths);
        for path in paths {
            let mut base = if path.first().map(String::as_str) == Some("crate") {
                Vec::new()
            } else {
                here.clone()
            };
            let mut rest = if path.first().map(String::as_str) == Some("crate") {
                &path[1..]
            } else {
                &path[..]
            };
            while let Some(first) = rest.first() {
                match first.as_str() {
                    "super" => {
                        base.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            let to = resolve(modules, &base);
            if &to != module {
                edges.push(Edge {
                    from: here.clone(),
                    to,
                    file: file.to_path_buf(),
                    line,
                });
            }
        }
        // Count the lines the tree spanned.
        line += s[i..end].iter().filter(|&&c| c == b'\n').count();
        i = end;
    }
    edges
}

fn all_edges() -> (BTreeMap<Module, PathBuf>, Vec<Edge>) {
    let modules = module_files();
    let edges = modules
        .iter()
        .flat_map(|(m, f)| edges_of(&modules, m, f))
        .collect();
    (modules, edges)
}

fn layer_of(module: &[String]) -> usize {
    let top = module.first().map(String::as_str).unwrap_or("");
    LAYERS
        .iter()
        .position(|l| l.contains(&top))
        .unwrap_or_else(|| panic!("module `{top}` has no layer in tests/layers.rs"))
}

fn at(e: &Edge) -> String {
    let file = e.file.strip_prefix(src_dir()).unwrap_or(&e.file);
    format!(
        "src/{}:{}: {} -> {}",
        file.display(),
        e.line,
        show(&e.from),
        show(&e.to)
    )
}

/// The edges of a graph that lie on a cycle: `a -> b` where `b` leads back
/// to `a`.
fn on_cycles(edges: &BTreeSet<(String, String)>) -> BTreeSet<(String, String)> {
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(n) = todo.pop() {
            if n == to {
                return true;
            }
            if seen.insert(n.clone()) {
                todo.extend(
                    edges
                        .iter()
                        .filter(|(a, _)| *a == n)
                        .map(|(_, b)| b.clone()),
                );
            }
        }
        false
    };
    edges
        .iter()
        .filter(|(a, b)| reaches(b, a))
        .cloned()
        .collect()
}

#[test]
fn the_module_tree_is_read() {
    let (modules, edges) = all_edges();
    // A sample of what the scanner must see, so that a broken scanner
    // cannot pass the checks below by seeing nothing.
    for m in [
        "config",
        "mcp::handler",
        "auth::upstream::login",
        "config::tests",
    ] {
        let m: Module = m.split("::").map(str::to_string).collect();
        assert!(modules.contains_key(&m), "module {} not found", show(&m));
    }
    let named = |from: &str, to: &str| {
        edges
            .iter()
            .any(|e| show(&e.from) == from && show(&e.to) == to)
    };
    assert!(
        named("mcp::handler", "catalog"),
        "use crate::catalog::… not seen"
    );
    assert!(named("app", "mcp::handler") || named("app", "mcp"));
    assert!(edges.len() > 300, "only {} paths found", edges.len());
}

#[test]
fn no_module_names_a_higher_layer() {
    let (_, edges) = all_edges();
    let upward: BTreeSet<String> = edges
        .iter()
        .filter(|e| layer_of(&e.from) < layer_of(&e.to))
        .map(at)
        .collect();
    let upward: Vec<String> = upward.into_iter().collect();
    assert!(
        upward.is_empty(),
        "imports from a lower layer to a higher one:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_cycles_between_modules_or_between_the_files_of_a_folder() {
    let (_, edges) = all_edges();
    // Group the edges by the folder (module) where the two ends part: for
    // `a::b::c -> a::d::e` that is `a`, with `b -> d` between its children.
    let mut by_folder: BTreeMap<Module, Vec<(String, String, &Edge)>> = BTreeMap::new();
    for e in &edges {
        let common = e.from.iter().zip(&e.to).take_while(|(a, b)| a == b).count();
        if common < e.from.len() && common < e.to.len() {
            by_folder
                .entry(e.from[..common].to_vec())
                .or_default()
                .push((e.from[common].clone(), e.to[common].clone(), e));
        }
    }
    let mut found = Vec::new();
    for (folder, list) in &by_folder {
        let graph: BTreeSet<(String, String)> = list
            .iter()
            .map(|(a, b, _)| (a.clone(), b.clone()))
            .collect();
        let on_cycle = on_cycles(&graph);
        if on_cycle.is_empty() {
            continue;
        }
        let names: BTreeSet<&str> = on_cycle.iter().map(|(a, _)| a.as_str()).collect();
        let names: Vec<&str> = names.into_iter().collect();
        found.push(format!(
            "in {}: a cycle through {}",
            show(folder),
            names.join(", ")
        ));
        let lines: BTreeSet<String> = list
            .iter()
            .filter(|(a, b, _)| on_cycle.contains(&(a.clone(), b.clone())))
            .map(|(_, _, e)| format!("    {}", at(e)))
            .collect();
        found.extend(lines);
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn use_groups_comments_and_strings_are_read_right() {
    let mut paths = Vec::new();
    let code = strip("crate::{a::{b, c as d}, e::*, f}; // crate::g\n\"crate::h\" /* crate::i */");
    use_tree(code.as_bytes(), 0, &[], &mut paths);
    let paths: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        paths,
        ["crate::a::b", "crate::a::c", "crate::e", "crate::f"]
    );
    assert!(!code.contains("crate::g") && !code.contains("crate::h") && !code.contains("crate::i"));
    assert_eq!(code.lines().count(), 2, "line breaks are kept");
    // A lifetime is not a char literal: the path after it is still seen.
    assert!(strip("fn f<'a>(x: &'a crate::b::C) {}").contains("crate::b::C"));
}
