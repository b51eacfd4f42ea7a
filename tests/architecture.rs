//! The module graph as a test. Every path between top-level modules under
//! `src/` (`use crate::x::…`, `crate::x::f()` in code, `super::` chains that
//! climb out of a module, `sftpbox::x` in `main.rs`) is an edge `from → x`,
//! and each must be drawn in the graph of docs/ARCHITECTURE.md: the fenced
//! block opened with ```` ```modules ````, one `module → dep, dep` a line
//! (a module alone on its line depends on none). The drawing must also
//! place every module, point one way (no cycle), and draw no edge between
//! two existing modules that the code does not have, so that it stays the
//! real graph; an edge to a module not in `src/` yet is allowed ahead.
//!
//! The edges are read from the source text with comments, strings and
//! character literals blanked out, so a doc link or a message naming a
//! module is not a dependency. `cargo test --test architecture --
//! --nocapture` prints the edges found, sorted, one `from → to` a line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crate's `src/` folder.
fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The module path of a file under `src/`: `jail/open.rs` is `jail::open`,
/// `jail.rs` is `jail`, `main.rs` is `main` (the binary, a crate of its
/// own) and `lib.rs` is the crate root (empty).
fn module_path(relative: &Path) -> Vec<String> {
    let mut path: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    if path.last().is_some_and(|last| last == "mod") {
        path.pop();
    }
    if path == ["lib"] {
        path.clear();
    }
    path
}

/// `source` with comments, string literals and character literals replaced
/// by spaces (newlines kept); lifetimes stay.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(source.len());
    let blank = |out: &mut String, from: usize, to: usize| {
        for i in from..to.min(chars.len()) {
            out.push(if at(i) == '\n' { '\n' } else { ' ' });
        }
    };
    let mut i = 0;
    while i < chars.len() {
        let c = at(i);
        let previous_is_ident = i > 0 && is_ident(at(i - 1));
        if c == '/' && at(i + 1) == '/' {
            let end = (i..chars.len())
                .find(|&j| at(j) == '\n')
                .unwrap_or(chars.len());
            blank(&mut out, i, end);
            i = end;
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            let mut j = i;
            while j < chars.len() {
                if at(j) == '/' && at(j + 1) == '*' {
                    depth += 1;
                    j += 2;
                } else if at(j) == '*' && at(j + 1) == '/' {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if !previous_is_ident && (c == 'r' || (c == 'b' && at(i + 1) == 'r')) && {
            let start = if c == 'b' { i + 2 } else { i + 1 };
            let hashes = (start..chars.len()).take_while(|&j| at(j) == '#').count();
            at(start + hashes) == '"'
        } {
            // A raw string: r"…", r#"…"#, br"…".
            let start = if c == 'b' { i + 2 } else { i + 1 };
            let hashes = (start..chars.len()).take_while(|&j| at(j) == '#').count();
            let body = start + hashes + 1;
            let end = (body..chars.len())
                .find(|&j| at(j) == '"' && (1..=hashes).all(|k| at(j + k) == '#'))
                .map_or(chars.len(), |j| j + 1 + hashes);
            blank(&mut out, i, end);
            i = end;
        } else if c == '"' {
            let mut j = i + 1;
            while j < chars.len() && at(j) != '"' {
                j += if at(j) == '\\' { 2 } else { 1 };
            }
            blank(&mut out, i, j + 1);
            i = j + 1;
        } else if c == '\'' && at(i + 1) == '\\' {
            // An escaped character literal: '\n', '\'', '\u{7f}'.
            let end = (i + 3..chars.len())
                .find(|&j| at(j) == '\'')
                .map_or(chars.len(), |j| j + 1);
            blank(&mut out, i, end);
            i = end;
        } else if c == '\'' && at(i + 2) == '\'' {
            blank(&mut out, i, i + 3);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// A token of blanked code: a word, `::`, or one other character.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    PathSep,
    Punct(char),
}

fn tokens(code: &str) -> Vec<Token> {
    let chars: Vec<char> = code.chars().collect();
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = at(i);
        if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let end = (i..chars.len())
                .find(|&j| !(at(j).is_alphanumeric() || at(j) == '_'))
                .unwrap_or(chars.len());
            tokens.push(Token::Word(
                chars.get(i..end).unwrap_or_default().iter().collect(),
            ));
            i = end;
        } else if c == ':' && at(i + 1) == ':' {
            tokens.push(Token::PathSep);
            i += 2;
        } else {
            tokens.push(Token::Punct(c));
            i += 1;
        }
    }
    tokens
}

fn is_word(token: Option<&Token>, word: &str) -> bool {
    matches!(token, Some(Token::Word(w)) if w == word)
}

/// The first segment of each branch of the use group whose `{` is at
/// `open`; `self` stands for the group's own prefix.
fn group_heads(tokens: &[Token], open: usize) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expecting_head = true;
    for token in tokens.get(open..).unwrap_or_default() {
        match token {
            Token::Punct('{') => {
                depth += 1;
                if depth == 1 {
                    expecting_head = true;
                }
            }
            Token::Punct('}') => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            Token::Punct(',') if depth == 1 => expecting_head = true,
            Token::Word(word) if depth == 1 && expecting_head => {
                heads.push(word.clone());
                expecting_head = false;
            }
            _ => {
                if depth == 1 {
                    expecting_head = false;
                }
            }
        }
    }
    heads
}

/// The top-level modules that the code of the file at `module` (its
/// module path) names through `crate::`, `super::` or `self::` paths
/// (and, in the binary, `sftpbox::`).
fn referenced_modules(module: &[String], code: &str) -> BTreeSet<String> {
    let tokens = tokens(code);
    let is_binary = module == ["main"];
    let mut found = BTreeSet::new();
    // Inline `mod name { … }` blocks, with the brace depth inside each.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0_usize;
    let mut index = 0;
    while index < tokens.len() {
        let token = tokens.get(index);
        let before = index.checked_sub(1).and_then(|i| tokens.get(i));
        match token {
            Some(Token::Punct('{')) => depth += 1,
            Some(Token::Punct('}')) => {
                depth = depth.saturating_sub(1);
                while inline.last().is_some_and(|&(_, inner)| inner > depth) {
                    inline.pop();
                }
            }
            Some(Token::Word(word)) if word == "mod" => {
                if let (Some(Token::Word(name)), Some(Token::Punct('{'))) =
                    (tokens.get(index + 1), tokens.get(index + 2))
                {
                    inline.push((name.clone(), depth + 1));
                }
            }
            _ => {}
        }
        let starts_path = before != Some(&Token::PathSep) && before != Some(&Token::Punct('$'));
        let root_word = if is_binary { "sftpbox" } else { "crate" };
        let mut here: Vec<String> = module.to_vec();
        here.extend(inline.iter().map(|(name, _)| name.clone()));
        let base: Option<(Vec<String>, usize)> =
            if !starts_path || tokens.get(index + 1) != Some(&Token::PathSep) {
                None
            } else if is_word(token, root_word) {
                Some((Vec::new(), index + 2))
            } else if is_word(token, "self") {
                Some((here.clone(), index + 2))
            } else if is_word(token, "super") {
                let mut base = here.clone();
                let mut next = index;
                while is_word(tokens.get(next), "super")
                    && tokens.get(next + 1) == Some(&Token::PathSep)
                {
                    base.pop();
                    next += 2;
                }
                Some((base, next))
            } else {
                None
            };
        if let Some((base, rest)) = base {
            let heads = match (base.first(), tokens.get(rest)) {
                (Some(top), _) => vec![top.clone()],
                (None, Some(Token::Word(word))) => vec![word.clone()],
                (None, Some(Token::Punct('{'))) => group_heads(&tokens, rest),
                (None, _) => Vec::new(),
            };
            found.extend(heads);
        }
        index += 1;
    }
    found
}

/// The top-level modules of the crate: `src/x.rs` or `src/x/mod.rs`, and
/// the binary `main`.
fn top_level_modules(files: &[PathBuf], src: &Path) -> BTreeSet<String> {
    files
        .iter()
        .filter_map(|file| module_path(file.strip_prefix(src).ok()?).first().cloned())
        .collect()
}

/// Every edge between two different top-level modules, with a file that makes it.
fn edges_in_code() -> BTreeMap<(String, String), PathBuf> {
    let src = src_dir();
    let files = rust_files(&src);
    let modules = top_level_modules(&files, &src);
    let mut edges = BTreeMap::new();
    for file in &files {
        let Ok(relative) = file.strip_prefix(&src) else {
            continue;
        };
        let module = module_path(relative);
        // The crate root only declares the modules.
        let Some(from) = module.first() else {
            continue;
        };
        let Ok(source) = std::fs::read_to_string(file) else {
            continue;
        };
        for to in referenced_modules(&module, &code_only(&source)) {
            if &to != from && modules.contains(&to) {
                edges
                    .entry((from.clone(), to))
                    .or_insert_with(|| relative.to_path_buf());
            }
        }
    }
    edges
}

/// The graph drawn in docs/ARCHITECTURE.md: each module with what it may use.
fn drawn_graph() -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ARCHITECTURE.md");
    let text =
        std::fs::read_to_string(&path).map_err(|err| format!("{}: {err}", path.display()))?;
    parse_graph(&text)
}

/// Parses the ```` ```modules ```` block of `markdown`.
fn parse_graph(markdown: &str) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let mut lines = markdown
        .lines()
        .skip_while(|line| line.trim() != "```modules");
    if lines.next().is_none() {
        return Err("no ```modules block".into());
    }
    let is_name =
        |name: &str| !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    let mut graph = BTreeMap::new();
    for line in lines.take_while(|line| line.trim() != "```") {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (module, uses) = line
            .split_once('→')
            .or_else(|| line.split_once("->"))
            .unwrap_or((line, ""));
        let module = module.trim();
        let uses: BTreeSet<String> = uses
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(String::from)
            .collect();
        if let Some(bad) = std::iter::once(module)
            .chain(uses.iter().map(String::as_str))
            .find(|name| !is_name(name))
        {
            return Err(format!("`{bad}` is not a module name, in: {line}"));
        }
        if graph.insert(module.to_owned(), uses).is_some() {
            return Err(format!("{module} is drawn twice"));
        }
    }
    Ok(graph)
}

/// A cycle of `graph`, if it has one, as the modules along it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        graph: &BTreeMap<String, BTreeSet<String>>,
        module: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|seen| seen == module) {
            let mut cycle = path.split_off(start);
            cycle.push(module.to_owned());
            return Some(cycle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_owned());
        for next in graph.get(module).into_iter().flatten() {
            if let Some(cycle) = visit(graph, next, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(module.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|module| visit(graph, module, &mut Vec::new(), &mut done))
}

#[test]
fn every_edge_in_the_code_is_drawn_in_architecture_md() {
    let edges = edges_in_code();
    assert!(!edges.is_empty(), "no edges found under src/");
    for (from, to) in edges.keys() {
        println!("{from} → {to}");
    }
    let graph = drawn_graph().unwrap();
    let undrawn: Vec<String> = edges
        .iter()
        .filter(|((from, to), _)| !graph.get(from).is_some_and(|uses| uses.contains(to)))
        .map(|((from, to), file)| format!("{from} → {to} (src/{})", file.display()))
        .collect();
    assert!(
        undrawn.is_empty(),
        "edges the graph in docs/ARCHITECTURE.md does not allow:\n{}",
        undrawn.join("\n")
    );
}

#[test]
fn the_drawing_places_every_module_and_only_edges_the_code_has() {
    let src = src_dir();
    let modules = top_level_modules(&rust_files(&src), &src);
    let graph = drawn_graph().unwrap();
    let missing: Vec<&String> = modules.iter().filter(|m| !graph.contains_key(*m)).collect();
    assert!(missing.is_empty(), "modules not drawn: {missing:?}");
    let edges = edges_in_code();
    let stale: Vec<String> = graph
        .iter()
        .flat_map(|(from, uses)| uses.iter().map(move |to| (from, to)))
        .filter(|&(from, to)| modules.contains(from) && modules.contains(to))
        .filter(|&(from, to)| !edges.contains_key(&(from.clone(), to.clone())))
        .map(|(from, to)| format!("{from} → {to}"))
        .collect();
    assert!(
        stale.is_empty(),
        "drawn in docs/ARCHITECTURE.md but not in the code (remove them):\n{}",
        stale.join("\n")
    );
}

#[test]
fn the_drawn_graph_points_one_way() {
    let graph = drawn_graph().unwrap();
    let undeclared: Vec<&String> = graph
        .values()
        .flatten()
        .filter(|to| !graph.contains_key(*to))
        .collect();
    assert!(
        undeclared.is_empty(),
        "used but not drawn as modules: {undeclared:?}"
    );
    assert_eq!(find_cycle(&graph), None, "the graph has a cycle");
}

#[test]
fn lib_rs_names_every_module() {
    let src = src_dir();
    let modules = top_level_modules(&rust_files(&src), &src);
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let header: String = lib
        .lines()
        .take_while(|line| line.starts_with("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    let unnamed: Vec<&String> = modules
        .iter()
        .filter(|module| !header.contains(&format!("`{module}`")))
        .collect();
    assert!(unnamed.is_empty(), "lib.rs's //! does not name {unnamed:?}");
}

#[cfg(test)]
mod reading {
    use super::*;

    fn found(module: &str, code: &str) -> Vec<String> {
        let module: Vec<String> = module.split("::").map(String::from).collect();
        referenced_modules(&module, &code_only(code))
            .into_iter()
            .collect()
    }

    #[test]
    fn use_groups_give_each_head() {
        let code = "use crate::{accounts::{self, Accounts}, config::Limits};";
        assert_eq!(found("server", code), ["accounts", "config"]);
    }

    #[test]
    fn paths_in_expressions_count() {
        let code = "fn f() { let x = crate::jail::escaped(b\"a\"); }";
        assert_eq!(found("exec", code), ["jail"]);
    }

    #[test]
    fn comments_and_strings_do_not_count() {
        let code = "//! see [`crate::scp`]\n/* crate::sftp::x */ fn f() { \
                    let s = \"crate::jail::x\"; let r = r#\"crate::accounts\"#; let c = '\"'; }";
        assert_eq!(found("exec", code), Vec::<String>::new());
    }

    #[test]
    fn super_chains_resolve_against_the_module_path() {
        let code = "use super::Quota; mod tests { use super::super::Jail; }";
        assert_eq!(found("jail::scan", code), ["jail"]);
        assert_eq!(found("jail::scan", "use super::super::Jail;"), ["Jail"]);
        assert_eq!(found("exec", "use super::scp::run;"), ["scp"]);
    }

    #[test]
    fn pub_crate_and_dollar_crate_are_not_paths() {
        let code = "pub(crate) fn f() {} macro_rules! m { () => { $crate::jail::x } }";
        assert_eq!(found("exec", code), Vec::<String>::new());
    }

    #[test]
    fn the_graph_block_is_parsed_and_cycles_are_found() {
        let text = "text\n```modules\na → b, c\nb -> c\nc\n```\nmore";
        let graph = parse_graph(text).unwrap();
        assert_eq!(graph.len(), 3);
        assert!(graph["a"].contains("c") && graph["c"].is_empty());
        assert_eq!(find_cycle(&graph), None);
        let cyclic = parse_graph("```modules\na → b\nb → a\n```").unwrap();
        assert_eq!(find_cycle(&cyclic).unwrap(), ["a", "b", "a"]);
        assert!(parse_graph("```modules\na → B\n```").is_err());
        assert!(parse_graph("```modules\na\na\n```").is_err());
    }

    #[test]
    fn lifetimes_do_not_start_character_literals() {
        let code = "fn f<'a>(x: &'a str) -> &'a str { crate::listing::g(x) }";
        assert_eq!(found("sftp", code), ["listing"]);
    }
}
