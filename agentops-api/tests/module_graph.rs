//! The modules of `agentops-api` depend on each other one way only.
//!
//! From the bottom up: the foundations (`config`, `error`, `metrics`, `coalesce`,
//! `storage`, `redis_client`, `rate_limit`), then `store` (the database), `events` (the
//! log's delivery: hub, fan-out, filters, the WebSocket protocol), `domain`
//! (the use cases, on a narrow [`Context`](agentops_api::domain::Context)), `auth`, then
//! the HTTP layer (`state`, `extract`, `routes`, `openapi`) and what runs beside it
//! (`reaper`). This test reads the sources (`crate::…` paths outside comments
//! and test modules), builds the graph between top-level modules, and fails on any cycle
//! and on the edges the layering forbids, naming the files that make them. Its own tests
//! plant a cycle and a forbidden edge and check that they are caught.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `from → to` for each top-level module, with the files that make each edge.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// Edges the layering forbids even where they make no cycle (yet).
const FORBIDDEN: &[(&str, &str)] = &[
    ("routes", "store"),
    ("openapi", "store"),
    ("extract", "store"),
    ("domain", "state"),
    ("domain", "auth"),
    ("domain", "extract"),
    ("domain", "routes"),
    ("events", "domain"),
    ("events", "state"),
    ("events", "auth"),
    ("events", "routes"),
    ("store", "domain"),
    ("store", "events"),
    ("store", "state"),
    ("auth", "state"),
    ("auth", "routes"),
];

/// The graph of the crate whose sources are in `src`.
fn graph(src: &Path) -> Graph {
    let mut modules = BTreeSet::new();
    for entry in std::fs::read_dir(src).expect("src/ is readable") {
        let entry = entry.expect("a directory entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() {
            modules.insert(name);
        } else if let Some(module) = name.strip_suffix(".rs")
            && module != "lib"
            && module != "main"
        {
            modules.insert(module.to_owned());
        }
    }
    let mut graph = Graph::new();
    let mut files = Vec::new();
    collect(src, &mut files);
    for file in files {
        let relative = file.strip_prefix(src).expect("under src/");
        let top = relative
            .components()
            .next()
            .map(|c| {
                c.as_os_str()
                    .to_string_lossy()
                    .trim_end_matches(".rs")
                    .to_owned()
            })
            .unwrap_or_default();
        if !modules.contains(&top) {
            continue;
        }
        let code = without_comments_and_tests(&std::fs::read_to_string(&file).expect("UTF-8"));
        for target in referenced_modules(&code) {
            if target != top && modules.contains(&target) {
                graph
                    .entry(top.clone())
                    .or_default()
                    .entry(target)
                    .or_default()
                    .insert(relative.display().to_string());
            }
        }
    }
    graph
}

fn collect(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The code without `//` comments (doc comments included), `/* */` comments, string
/// contents, and the items marked `#[cfg(test)]` (test modules and helpers).
fn without_comments_and_tests(source: &str) -> String {
    without_test_items(&without_comments(source))
}

/// `code` without each item that follows a `#[cfg(test)]`: up to its `;`, or through its
/// `{ … }` block.
fn without_test_items(code: &str) -> String {
    const MARK: &str = "#[cfg(test)]";
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find(MARK) {
        out.push_str(&rest[..at]);
        let item = &rest[at + MARK.len()..];
        let end = match item.find(['{', ';']) {
            Some(open) if item[open..].starts_with('{') => {
                open + 1 + matching_brace(&item[open + 1..]) + 1
            }
            Some(semicolon) => semicolon + 1,
            None => item.len(),
        };
        rest = &item[end.min(item.len())..];
    }
    out.push_str(rest);
    out
}

/// `source` without comments and with string literals emptied.
fn without_comments(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            // A char literal ('"', '\'', '\n'), not a lifetime ('a): skipped whole, so a
            // quote inside it starts no string.
            '\'' if is_char_literal(&chars) => {
                if chars.next() == Some('\\') {
                    chars.next();
                }
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                }
            }
            '"' => {
                out.push('"');
                let mut escaped = false;
                for c in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                out.push('"');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Whether the text after a `'` is a char literal's rest (`x'` or `\…'`) rather than a
/// lifetime's name.
fn is_char_literal(rest: &std::iter::Peekable<std::str::Chars<'_>>) -> bool {
    let mut ahead = rest.clone();
    match ahead.next() {
        Some('\\') => true,
        Some(_) => ahead.next() == Some('\''),
        None => false,
    }
}

/// The top-level modules `code` names through `crate::`: `crate::store::…`,
/// `use crate::{auth, store::x}`.
fn referenced_modules(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        // Not `agentops_crate::`, say: the word must start at `crate`.
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = matching_brace(group);
            for item in top_level_items(&group[..end]) {
                found.insert(item);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// Where the `{` group that `text` starts inside of closes.
fn matching_brace(text: &str) -> usize {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    text.len()
}

/// The first path segment of each item of a `use` group: `a, b::c, d::{e, f}` → a, b, d.
fn top_level_items(group: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut start = true;
    let mut current = String::new();
    for c in group.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                if !current.is_empty() {
                    items.push(std::mem::take(&mut current));
                }
                start = true;
                continue;
            }
            _ => {}
        }
        if depth == 0 && start {
            if c.is_alphanumeric() || c == '_' {
                current.push(c);
            } else if !current.is_empty() {
                items.push(std::mem::take(&mut current));
                start = false;
            }
        }
    }
    if !current.is_empty() {
        items.push(current);
    }
    items.retain(|item| item != "self");
    items
}

/// The strongly connected components of more than one module (each a cycle), sorted.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph.get(v).into_iter().flat_map(|edges| edges.keys()) {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut tarjan = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !tarjan.index.contains_key(v.as_str()) {
            tarjan.visit(v);
        }
    }
    tarjan.found.sort();
    tarjan.found
}

/// Every problem of `graph`, one line each (empty when the layering holds).
fn problems(graph: &Graph) -> Vec<String> {
    let mut problems = Vec::new();
    for cycle in cycles(graph) {
        let members: BTreeSet<&String> = cycle.iter().collect();
        let mut edges = Vec::new();
        for from in &cycle {
            for (to, files) in &graph[from] {
                if members.contains(to) {
                    let files: Vec<&str> = files.iter().map(String::as_str).collect();
                    edges.push(format!("{from} → {to} ({})", files.join(", ")));
                }
            }
        }
        problems.push(format!(
            "cycle between {}: {}",
            cycle.join(", "),
            edges.join("; ")
        ));
    }
    for (from, to) in FORBIDDEN {
        if let Some(files) = graph.get(*from).and_then(|edges| edges.get(*to)) {
            let files: Vec<&str> = files.iter().map(String::as_str).collect();
            problems.push(format!("{from} must not use {to} ({})", files.join(", ")));
        }
    }
    problems
}

#[test]
fn the_modules_of_the_api_crate_form_no_cycle_and_keep_their_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph(&src);
    // The scan sees the crate: the known one-way edges are there.
    assert!(graph["routes"].contains_key("domain"), "{graph:?}");
    assert!(graph["domain"].contains_key("store"), "{graph:?}");
    let problems = problems(&graph);
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// Writes `files` (path under `src/`, contents) into a fresh directory; returns it.
fn crate_of(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (path, contents) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
    }
    dir
}

#[test]
fn a_planted_cycle_is_found_with_the_files_that_make_it() {
    let dir = crate_of(&[
        ("lib.rs", "pub mod auth;\npub mod state;\npub mod config;\n"),
        ("config.rs", "pub struct Config;\n"),
        (
            "auth.rs",
            "use crate::{config::Config, state::AppState};\npub fn f(_: &AppState) {}\n",
        ),
        ("state/mod.rs", "mod keys;\n"),
        ("state/keys.rs", "pub struct Keys(crate::auth::Cache);\n"),
    ]);
    let graph = graph(dir.path());
    assert_eq!(
        cycles(&graph),
        vec![vec!["auth".to_owned(), "state".to_owned()]]
    );
    let problems = problems(&graph);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("state → auth (state/keys.rs)")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p == "auth must not use state (auth.rs)"),
        "{problems:?}"
    );
}

#[test]
fn comments_strings_and_test_modules_make_no_edge() {
    let dir = crate_of(&[
        (
            "lib.rs",
            "pub mod config;\npub mod domain;\npub mod state;\n",
        ),
        ("config.rs", ""),
        ("state.rs", "use crate::domain::Context;\n"),
        (
            "domain.rs",
            "//! See [`crate::state::AppState`].\n\
             /// Also crate::state.\n\
             pub struct Context; /* crate::state */\n\
             const NOTE: &str = \"crate::state\";\n\
             const QUOTE: char = '\"'; fn f<'a>(x: &'a str) -> &'a str { x }\n\
             pub fn after_a_quote_char() -> crate::config::Config { Config }\n\
             #[cfg(test)]\nmod tests { use crate::state::AppState; fn f() { crate::state::g(); } }\n\
             #[cfg(test)]\nuse crate::state::Other;\n\
             pub fn after_the_tests() -> crate::config::Config { Config }\n",
        ),
    ]);
    let graph = graph(dir.path());
    assert!(cycles(&graph).is_empty(), "{graph:?}");
    assert!(problems(&graph).is_empty(), "{graph:?}");
    assert!(graph["state"].contains_key("domain"));
    // What follows a test item is still read.
    assert!(graph["domain"].contains_key("config"), "{graph:?}");
}

#[test]
fn use_groups_name_each_first_segment() {
    assert_eq!(
        top_level_items("self, auth::{Caller, x}, store::{self, events::Y}, error"),
        vec!["auth", "store", "error"]
    );
    assert_eq!(
        referenced_modules(
            "use crate::{auth, store::x};\nlet a = crate::events::f(); my_crate::nope();"
        ),
        ["auth", "events", "store"].map(str::to_owned).into()
    );
}
