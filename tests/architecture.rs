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
//! References are read with `syn` from every `use` and every path of ours (`crate::`,
//! `super::`, `self::`, a child module's name, a name a `use` brought in), in code that is
//! not `#[cfg(test)]`, including the tokens of macro invocations and attributes and the
//! bodies of inline modules. A reference through a re-export (`pub use child::Item` in a
//! parent, `pub use` at the crate root) counts where the item is defined. The binary's
//! files (`main.rs`, `cli/`) are not checked: nothing imports them. The checker's own tests
//! tie each kind of knot in a small made-up crate and expect it found.

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

/// Collects the paths a file refers to (absolute, as module paths), the names its `use`
/// items bring in (for re-exports), and the external crates it names, outside
/// `#[cfg(test)]` items. Paths inside macro invocations and attributes are read from their
/// tokens.
struct References<'a> {
    module: &'a ModPath,
    /// Every module of the crate, to tell `child::item` (relative) from `some_crate::item`.
    modules: &'a BTreeSet<ModPath>,
    /// Inline modules (`mod x { … }`) entered, below the file's module.
    scope: Vec<String>,
    paths: Vec<(ModPath, usize)>,
    /// `use` items of the file's own module (not of inline modules): local name → path.
    imports: BTreeMap<String, ModPath>,
    crates: BTreeSet<String>,
}

impl<'a> References<'a> {
    fn new(module: &'a ModPath, modules: &'a BTreeSet<ModPath>) -> Self {
        References {
            module,
            modules,
            scope: Vec::new(),
            paths: Vec::new(),
            imports: BTreeMap::new(),
            crates: BTreeSet::new(),
        }
    }

    /// `super::a::b` where it is written → absolute; `None` for paths that are not ours.
    fn absolute(&self, segments: &[String]) -> Option<ModPath> {
        let first = segments.first()?;
        // The module a relative path starts from: the file's module and the inline modules
        // around the path; `super` is its parent.
        let mut base = self.module.clone();
        base.extend(self.scope.iter().cloned());
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
            name => {
                let mut child = base.clone();
                child.push(name.to_string());
                if self.modules.contains(&child) {
                    // `child::item`: a module of ours below this one.
                } else if let Some(imported) =
                    self.imports.get(name).filter(|_| self.scope.is_empty())
                {
                    // `name::item` where `use …::name` brought a module of ours in.
                    base = imported.clone();
                    rest = &segments[1..];
                } else {
                    return None;
                }
            }
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

    /// Paths in raw tokens (macro bodies, attributes): every `a::b::c` run of identifiers.
    fn scan(&mut self, tokens: proc_macro2::TokenStream) {
        let mut run: Vec<String> = Vec::new();
        let mut line = 0;
        let mut colons = 0;
        let flush = |run: &mut Vec<String>, line: usize, this: &mut Self| {
            if run.len() > 1 {
                this.add(std::mem::take(run), line);
            }
            run.clear();
        };
        for tree in tokens {
            match tree {
                proc_macro2::TokenTree::Ident(ident) => {
                    if colons != 2 {
                        flush(&mut run, line, self);
                        line = ident.span().start().line;
                    }
                    run.push(ident.to_string());
                    colons = 0;
                }
                proc_macro2::TokenTree::Punct(p) if p.as_char() == ':' && !run.is_empty() => {
                    colons += 1;
                }
                proc_macro2::TokenTree::Group(group) => {
                    flush(&mut run, line, self);
                    colons = 0;
                    self.scan(group.stream());
                }
                _ => {
                    flush(&mut run, line, self);
                    colons = 0;
                }
            }
        }
        flush(&mut run, line, self);
    }
}

fn use_paths(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<(String, Vec<String>)>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            use_paths(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let mut path = prefix.clone();
            let local = if n.ident == "self" {
                prefix.last().cloned().unwrap_or_default()
            } else {
                path.push(n.ident.to_string());
                n.ident.to_string()
            };
            out.push((local, path));
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix.clone();
            path.push(r.ident.to_string());
            out.push((r.rename.to_string(), path));
        }
        syn::UseTree::Glob(_) => out.push((String::new(), prefix.clone())),
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
            syn::Item::Struct(s) => &s.attrs,
            syn::Item::Enum(e) => &e.attrs,
            syn::Item::Const(c) => &c.attrs,
            syn::Item::Static(s) => &s.attrs,
            _ => return syn::visit::visit_item(self, item),
        };
        if !is_test(attrs) {
            syn::visit::visit_item(self, item);
        }
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        self.scope.push(item.ident.to_string());
        syn::visit::visit_item_mod(self, item);
        self.scope.pop();
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        let mut paths = Vec::new();
        use_paths(&item.tree, &mut Vec::new(), &mut paths);
        let line = item.span().start().line;
        for (local, path) in paths {
            if self.scope.is_empty()
                && !local.is_empty()
                && let Some(absolute) = self.absolute(&path)
            {
                self.imports.insert(local, absolute);
            }
            self.add(path, line);
        }
    }

    fn visit_item_extern_crate(&mut self, item: &'ast syn::ItemExternCrate) {
        self.crates.insert(item.ident.to_string());
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        if segments.len() > 1 {
            self.add(segments, path.span().start().line);
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.scan(mac.tokens.clone());
        syn::visit::visit_macro(self, mac);
    }

    fn visit_attribute(&mut self, attr: &'ast syn::Attribute) {
        if let syn::Meta::List(list) = &attr.meta {
            self.scan(list.tokens.clone());
        }
        syn::visit::visit_attribute(self, attr);
    }
}

/// The module a path lands in: its longest prefix that is a file of ours, following
/// re-exports (`pub use child::Item` in a parent, `use` items in general) to the module that
/// defines the item, so a reference through a parent's re-export counts where it lands.
fn resolve(
    path: &[String],
    modules: &BTreeSet<ModPath>,
    imports: &BTreeMap<ModPath, BTreeMap<String, ModPath>>,
) -> Option<ModPath> {
    let mut path = path.to_vec();
    for _ in 0..8 {
        let n = (0..=path.len())
            .rev()
            .find(|n| modules.contains(&path[..*n].to_vec()))?;
        let module = path[..n].to_vec();
        let Some(next) = path.get(n) else {
            return Some(module);
        };
        match imports.get(&module).and_then(|m| m.get(next)) {
            Some(target) if target != &path[..=n] => {
                let mut followed = target.clone();
                followed.extend(path[n + 1..].iter().cloned());
                path = followed;
            }
            _ => return Some(module),
        }
    }
    None
}

/// A reference: the file's module, the module it lands in, and where it is made.
type Reference = (ModPath, ModPath, String);
/// A front-end crate named: the file and the crate.
type FrontEnd = (String, String);
/// A made-up file: its path below src/ and its source.
type Made = (&'static str, &'static str);
/// A knot to tie: the file, its index in the made-up crate, and the code added to it.
type Knot = (&'static str, usize, &'static str);

/// An edge between two nodes and where it is made (file:line → target).
type Edges = BTreeMap<(String, String), Vec<String>>;

/// Every reference of every file, as (from file module, to module, where), and the front-end
/// crates each file names.
fn references(files: &[SourceFile]) -> (Vec<Reference>, Vec<FrontEnd>) {
    let modules: BTreeSet<ModPath> = files.iter().map(|f| f.module.clone()).collect();
    let mut collected = Vec::new();
    let mut imports = BTreeMap::new();
    for file in files {
        let mut refs = References::new(&file.module, &modules);
        refs.visit_file(&file.ast);
        imports.insert(file.module.clone(), std::mem::take(&mut refs.imports));
        collected.push((file, refs.paths, refs.crates));
    }
    let mut out = Vec::new();
    let mut front_end = Vec::new();
    for (file, paths, crates) in collected {
        let rel = file
            .path
            .strip_prefix(src())
            .unwrap_or(&file.path)
            .display()
            .to_string();
        for (path, line) in paths {
            if let Some(target) = resolve(&path, &modules, &imports) {
                let at = format!("{rel}:{line} uses {}", path.join("::"));
                out.push((file.module.clone(), target, at));
            }
        }
        for name in FRONT_END_CRATES {
            if crates.contains(*name) {
                front_end.push((rel.clone(), (*name).to_string()));
            }
        }
    }
    (out, front_end)
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

/// The import cycles among `files`: between the crate root's children (top-level
/// modules) and between the children of each folder module. A reference counts between two
/// distinct children of the same parent.
fn cycle_problems(files: &[SourceFile]) -> Vec<String> {
    let (refs, _) = references(files);
    let parents: BTreeSet<ModPath> = files
        .iter()
        .filter(|f| f.path.ends_with("mod.rs") || f.path.ends_with("lib.rs"))
        .map(|f| f.module.clone())
        .collect();
    let mut problems = Vec::new();
    for parent in &parents {
        let mut edges = Edges::new();
        let child = |m: &ModPath| {
            (m.len() > parent.len() && m.starts_with(parent)).then(|| m[parent.len()].clone())
        };
        for (from, to, at) in &refs {
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
    problems
}

#[test]
fn top_level_modules_and_sibling_files_form_no_cycle() {
    let problems = cycle_problems(&library_files());
    assert!(
        problems.is_empty(),
        "import cycles:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_library_uses_no_command_line_crate() {
    let (_, front_end) = references(&library_files());
    let problems: Vec<String> = front_end
        .iter()
        .map(|(file, name)| format!("{file}: uses {name}"))
        .collect();
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

/// A crate made of `(path below src/, source)` pairs, for testing the checker itself.
fn synthetic(files: &[(&str, &str)]) -> Vec<SourceFile> {
    files
        .iter()
        .map(|(rel, text)| {
            let stem = rel.trim_end_matches(".rs");
            let module: ModPath = stem
                .split('/')
                .filter(|s| *s != "mod" && *s != "lib")
                .map(String::from)
                .collect();
            SourceFile {
                module,
                path: src().join(rel),
                ast: syn::parse_file(text).unwrap(),
            }
        })
        .collect()
}

/// A small crate without a cycle, and `(what is added, where)` for each way of making one
/// that the checker must see: through a parent's re-export, inside a macro, through a
/// crate-root re-export, from an inline module.
fn knots() -> (Vec<Made>, Vec<Knot>) {
    let base = vec![
        ("lib.rs", "pub mod restore; pub mod run; pub mod storage;"),
        (
            "restore/mod.rs",
            "mod halt; mod paths; use halt::Halt; pub fn f(h: Halt) {}",
        ),
        (
            "restore/halt.rs",
            "use super::paths::UnsafePath; pub struct Halt(UnsafePath);",
        ),
        ("restore/paths.rs", "pub struct UnsafePath;"),
        ("run.rs", "use crate::storage::Op; pub fn host_name() {}"),
        ("storage.rs", "pub struct Op;"),
    ];
    let knots = vec![
        ("restore/paths.rs", 3, "fn knot(h: &super::Halt) {}"),
        (
            "restore/paths.rs",
            3,
            "fn knot() { let _ = format!(\"{:?}\", crate::restore::halt::Halt::new()); }",
        ),
        ("storage.rs", 5, "fn knot() { crate::host_name() }"),
        (
            "storage.rs",
            5,
            "mod inner { fn knot() { super::super::run::host_name() } }",
        ),
    ];
    (base, knots)
}

/// The checker itself finds what it is for: each way of tying a knot, in a crate that has
/// none until then.
#[test]
fn the_checker_finds_knots_however_they_are_tied() {
    let (base, knots) = knots();
    assert_eq!(cycle_problems(&synthetic(&base)), Vec::<String>::new());
    let mut missed = Vec::new();
    for (file, base_index, code) in knots {
        let mut files: Vec<(&str, String)> =
            base.iter().map(|(p, t)| (*p, t.to_string())).collect();
        assert_eq!(files[base_index].0, file);
        files[base_index].1.push_str(code);
        if file == "storage.rs" && code.contains("crate::host_name") {
            files[0].1.push_str(" pub use run::host_name;");
        }
        let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
        if cycle_problems(&synthetic(&files)).is_empty() {
            missed.push(code);
        }
    }
    assert!(missed.is_empty(), "knots not found: {missed:#?}");
}

/// Front-end crates are found in attributes, in macro bodies and as `extern crate`.
#[test]
fn the_checker_finds_front_end_crates_wherever_they_are_named() {
    for code in [
        "#[derive(clap::ValueEnum)] enum Mode { A }",
        "fn f() { let _ = format!(\"{}\", anyhow::anyhow!(\"x\")); }",
        "extern crate indicatif;",
        "fn f() -> console::Term { todo!() }",
    ] {
        let files = synthetic(&[("lib.rs", code)]);
        let (_, front_end) = references(&files);
        assert_eq!(front_end.len(), 1, "not found in: {code}");
    }
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
