//! The shape of the code, checked on every test run (issue 14's "done when"):
//!
//! - **No import cycles.** The library's top-level modules form a one-way graph, and so do
//!   the files inside each module folder (siblings). A child may use its parent's items
//!   (`super::…`: the module's own vocabulary), and a parent uses its children; a sibling
//!   that imports back from a sibling, or two top-level modules that import each other, is
//!   a knot and fails here with the references that make it.
//! - **The library carries no front end**: no clap, indicatif or anyhow in `src/` outside
//!   the binary (`src/main.rs`, `src/cli/`).
//! - **Sizes**: no file in `src/` over 600 lines, no function over 100 lines, except those
//!   listed in [`LONG_FUNCTIONS`] with the reason.
//!
//! References are read with `syn` from every `use` and every path starting with `crate`,
//! `super` or `self`, in code that is not `#[cfg(test)]`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::spanned::Spanned;
use syn::visit::Visit;

/// Functions allowed over 100 lines, with why. Empty: none is.
const LONG_FUNCTIONS: &[(&str, &str)] = &[];
const MAX_FILE_LINES: usize = 600;
const MAX_FUNCTION_LINES: usize = 100;
/// Crates of the command line that the library must not use.
const FRONT_END_CRATES: &[&str] = &["clap", "indicatif", "anyhow", "console"];

/// A module path below the crate root: `["restore", "decode"]`.
type ModPath = Vec<String>;

struct SourceFile {
    module: ModPath,
    path: PathBuf,
    ast: syn::File,
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every file of the library, with its module path, skipping `#[cfg(test)] mod x;` files.
fn library_files() -> Vec<SourceFile> {
    let mut files = Vec::new();
    let mut queue = vec![(ModPath::new(), src().join("lib.rs"))];
    while let Some((module, path)) = queue.pop() {
        let text = std::fs::read_to_string(&path).unwrap();
        let ast = syn::parse_file(&text)
            .unwrap_or_else(|e| panic!("{}: does not parse: {e}", path.display()));
        for item in &ast.items {
            let syn::Item::Mod(m) = item else { continue };
            if m.content.is_some() || is_test(&m.attrs) {
                continue;
            }
            let name = m.ident.to_string();
            let dir = if path.ends_with("lib.rs") || path.ends_with("mod.rs") {
                path.parent().unwrap().to_path_buf()
            } else {
                path.with_extension("")
            };
            let child = [
                dir.join(format!("{name}.rs")),
                dir.join(&name).join("mod.rs"),
            ]
            .into_iter()
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{}: mod {name}: no file", path.display()));
            let mut child_module = module.clone();
            child_module.push(name);
            queue.push((child_module, child));
        }
        files.push(SourceFile { module, path, ast });
    }
    files.sort_by(|a, b| a.module.cmp(&b.module));
    files
}

fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| match &a.meta {
        syn::Meta::List(list) => list.path.is_ident("cfg") && list.tokens.to_string() == "test",
        _ => false,
    })
}

/// Collects the paths a file refers to (absolute, as module paths) and the external crates
/// it names, outside `#[cfg(test)]` items.
struct References<'a> {
    module: &'a ModPath,
    paths: Vec<(ModPath, usize)>,
    crates: BTreeSet<String>,
}

impl References<'_> {
    /// `super::a::b` in file module `m` → absolute; `None` for paths that are not ours.
    fn absolute(&self, segments: &[String]) -> Option<ModPath> {
        let first = segments.first()?;
        // The module a relative path starts from: a file `x.rs` is module x; `super` is
        // its parent.
        let mut base = self.module.clone();
        let mut rest = segments;
        match first.as_str() {
            "crate" => {
                base.clear();
                rest = &segments[1..];
            }
            "self" => rest = &segments[1..],
            "super" => {
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop()?;
                    rest = &rest[1..];
                }
            }
            _ => return None,
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    fn add(&mut self, segments: Vec<String>, line: usize) {
        if let Some(path) = self.absolute(&segments) {
            self.paths.push((path, line));
        } else if let Some(first) = segments.first() {
            self.crates.insert(first.clone());
        }
    }
}

fn use_paths(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            use_paths(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let mut path = prefix.clone();
            if n.ident != "self" {
                path.push(n.ident.to_string());
            }
            out.push(path);
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix.clone();
            path.push(r.ident.to_string());
            out.push(path);
        }
        syn::UseTree::Glob(_) => out.push(prefix.clone()),
        syn::UseTree::Group(g) => {
            for tree in &g.items {
                use_paths(tree, prefix, out);
            }
        }
    }
}

impl<'ast> Visit<'ast> for References<'_> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs = match item {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Use(u) => &u.attrs,
            _ => return syn::visit::visit_item(self, item),
        };
        if !is_test(attrs) {
            syn::visit::visit_item(self, item);
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        let mut paths = Vec::new();
        use_paths(&item.tree, &mut Vec::new(), &mut paths);
        let line = item.span().start().line;
        for path in paths {
            self.add(path, line);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        if segments.len() > 1 {
            self.add(segments, path.span().start().line);
        }
        syn::visit::visit_path(self, path);
    }
}

/// The module a path lands in: its longest prefix that is a file of ours.
fn resolve<'m>(path: &[String], modules: &'m BTreeSet<ModPath>) -> Option<&'m ModPath> {
    (0..=path.len())
        .rev()
        .find_map(|n| modules.get(&path[..n].to_vec()))
}

/// An edge between two nodes and where it is made (file:line → target).
type Edges = BTreeMap<(String, String), Vec<String>>;

/// Every reference of every file, as (from file module, to module, where).
fn references(files: &[SourceFile]) -> Vec<(ModPath, ModPath, String)> {
    let modules: BTreeSet<ModPath> = files.iter().map(|f| f.module.clone()).collect();
    let mut out = Vec::new();
    for file in files {
        let mut refs = References {
            module: &file.module,
            paths: Vec::new(),
            crates: BTreeSet::new(),
        };
        refs.visit_file(&file.ast);
        for (path, line) in refs.paths {
            if let Some(target) = resolve(&path, &modules) {
                let at = format!(
                    "{}:{line} uses {}",
                    file.path.strip_prefix(src()).unwrap().display(),
                    path.join("::")
                );
                out.push((file.module.clone(), target.clone(), at));
            }
        }
    }
    out
}

/// The cycles of a directed graph, as strongly connected components of two or more nodes.
fn cycles(edges: &Edges) -> Vec<Vec<String>> {
    let nodes: BTreeSet<&String> = edges.keys().flat_map(|(a, b)| [a, b]).collect();
    let reach = |from: &String| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(n) = stack.pop() {
            for (a, b) in edges.keys() {
                if *a == n && seen.insert(b.clone()) {
                    stack.push(b.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&String, BTreeSet<String>> =
        nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut components: BTreeSet<Vec<String>> = BTreeSet::new();
    for n in &nodes {
        let component: Vec<String> = nodes
            .iter()
            .filter(|m| reachable[*n].contains(**m) && reachable[**m].contains(*n))
            .map(|m| (*m).clone())
            .collect();
        if component.len() > 1 {
            components.insert(component);
        }
    }
    components.into_iter().collect()
}

fn describe(cycle: &[String], edges: &Edges) -> String {
    let mut text = format!("cycle between {}:", cycle.join(", "));
    for ((a, b), at) in edges {
        if cycle.contains(a) && cycle.contains(b) {
            text.push_str(&format!("\n    {a} -> {b}: {}", at.join("; ")));
        }
    }
    text
}

#[test]
fn top_level_modules_and_sibling_files_form_no_cycle() {
    let files = library_files();
    let refs = references(&files);
    // Groups: the crate root's children (top-level modules), and each folder module's
    // children. A reference counts between two distinct children of the same parent.
    let parents: BTreeSet<ModPath> = files
        .iter()
        .filter(|f| f.path.ends_with("mod.rs") || f.path.ends_with("lib.rs"))
        .map(|f| f.module.clone())
        .collect();
    let mut problems = Vec::new();
    for parent in &parents {
        let mut edges = Edges::new();
        for (from, to, at) in &refs {
            let child = |m: &ModPath| {
                (m.len() > parent.len() && m.starts_with(parent)).then(|| m[parent.len()].clone())
            };
            if let (Some(a), Some(b)) = (child(from), child(to))
                && a != b
            {
                edges.entry((a, b)).or_default().push(at.clone());
            }
        }
        for cycle in cycles(&edges) {
            let name = if parent.is_empty() {
                "crate".to_string()
            } else {
                parent.join("::")
            };
            problems.push(format!("in {name}: {}", describe(&cycle, &edges)));
        }
    }
    assert!(
        problems.is_empty(),
        "import cycles:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_library_uses_no_command_line_crate() {
    let mut problems = Vec::new();
    for file in library_files() {
        let mut refs = References {
            module: &file.module,
            paths: Vec::new(),
            crates: BTreeSet::new(),
        };
        refs.visit_file(&file.ast);
        for name in FRONT_END_CRATES {
            if refs.crates.contains(*name) {
                problems.push(format!("{}: uses {name}", file.path.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every function with a body, and its length in lines (signature to closing brace).
struct Functions(Vec<(String, usize, usize)>);

impl Functions {
    fn add(&mut self, name: String, sig: &syn::Signature, block: &syn::Block) {
        let start = sig.span().start().line;
        let end = block.brace_token.span.close().end().line;
        self.0.push((name, start, end + 1 - start));
    }
}

impl<'ast> Visit<'ast> for Functions {
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.add(f.sig.ident.to_string(), &f.sig, &f.block);
        syn::visit::visit_item_fn(self, f);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.add(f.sig.ident.to_string(), &f.sig, &f.block);
        syn::visit::visit_impl_item_fn(self, f);
    }

    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if let Some(block) = &f.default {
            self.add(f.sig.ident.to_string(), &f.sig, block);
        }
        syn::visit::visit_trait_item_fn(self, f);
    }
}

/// Every `.rs` file under `src/`, the binary's and test modules' included.
fn all_source_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![src()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn no_file_over_600_lines_and_no_function_over_100() {
    let mut problems = Vec::new();
    for path in all_source_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        let rel = path.strip_prefix(src()).unwrap().display().to_string();
        let lines = text.lines().count();
        if lines > MAX_FILE_LINES {
            problems.push(format!("{rel}: {lines} lines (at most {MAX_FILE_LINES})"));
        }
        let ast = syn::parse_file(&text).unwrap();
        let mut functions = Functions(Vec::new());
        functions.visit_file(&ast);
        for (name, line, length) in functions.0 {
            let allowed = LONG_FUNCTIONS
                .iter()
                .any(|(f, _)| *f == format!("{rel}::{name}"));
            if length > MAX_FUNCTION_LINES && !allowed {
                problems.push(format!(
                    "{rel}:{line}: fn {name} is {length} lines (at most {MAX_FUNCTION_LINES})"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "too long:\n{}", problems.join("\n"));
}

/// The checker itself finds what it is for: a two-module knot, and none in a chain.
#[test]
fn the_cycle_finder_finds_a_knot_and_passes_a_chain() {
    let mut edges = Edges::new();
    edges.insert(("decode".into(), "extract".into()), vec!["a".into()]);
    edges.insert(("extract".into(), "write".into()), vec!["b".into()]);
    assert!(cycles(&edges).is_empty());
    edges.insert(("write".into(), "decode".into()), vec!["c".into()]);
    assert_eq!(
        cycles(&edges),
        [vec![
            "decode".to_string(),
            "extract".to_string(),
            "write".to_string()
        ]]
    );
}
