//! A crate's module tree, read from its source files: every module with the
//! names it imports (`use` lines) and the paths its code mentions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::Visit;

/// A module's absolute path below the crate root (`[]` is the root).
pub type ModPath = Vec<String>;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing {path}: {source}")]
    Parse { path: PathBuf, source: syn::Error },
    #[error("module `{name}` declared in {parent} has no file (looked for {candidates})")]
    MissingFile {
        name: String,
        parent: PathBuf,
        candidates: String,
    },
}

/// Where something was written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
}

/// One name a `use` line brings in: `name` is `None` for a glob.
#[derive(Debug, Clone)]
pub struct Import {
    pub name: Option<String>,
    pub target: Vec<String>,
    pub at: Location,
}

/// A path written in code (types, expressions, macro bodies).
#[derive(Debug, Clone)]
pub struct Mention {
    pub segments: Vec<String>,
    pub at: Location,
}

#[derive(Debug, Default)]
pub struct Module {
    pub children: BTreeSet<String>,
    pub imports: Vec<Import>,
    pub mentions: Vec<Mention>,
}

/// Every module of one crate, by path.
#[derive(Debug, Default)]
pub struct Crate {
    pub modules: BTreeMap<ModPath, Module>,
}

impl Crate {
    /// Reads the crate whose root file is `root` (a `lib.rs`, `main.rs`, a
    /// test's or a bench's file), following `mod` declarations.
    pub fn load(root: &Path) -> Result<Crate, LoadError> {
        let mut krate = Crate::default();
        let dir = root.parent().unwrap_or(Path::new(".")).to_path_buf();
        krate.load_file(root, Vec::new(), &dir)?;
        Ok(krate)
    }

    fn load_file(&mut self, file: &Path, path: ModPath, dir: &Path) -> Result<(), LoadError> {
        let text = std::fs::read_to_string(file).map_err(|source| LoadError::Read {
            path: file.to_path_buf(),
            source,
        })?;
        let parsed = syn::parse_file(&text).map_err(|source| LoadError::Parse {
            path: file.to_path_buf(),
            source,
        })?;
        self.load_items(&parsed.items, path, file, dir)
    }

    /// `dir` is where the files of this module's `mod x;` children live.
    fn load_items(
        &mut self,
        items: &[syn::Item],
        path: ModPath,
        file: &Path,
        dir: &Path,
    ) -> Result<(), LoadError> {
        let mut collector = Collector {
            file,
            module: Module::default(),
        };
        for item in items {
            if let syn::Item::Mod(_) = item {
                continue;
            }
            collector.visit_item(item);
        }
        let mut module = collector.module;
        for item in items {
            let syn::Item::Mod(m) = item else { continue };
            let name = m.ident.to_string();
            module.children.insert(name.clone());
            let mut child = path.clone();
            child.push(name.clone());
            match &m.content {
                Some((_, inner)) => self.load_items(inner, child, file, &dir.join(&name))?,
                None => {
                    let child_file = module_file(m, &name, file, dir)?;
                    let child_dir = if child_file.file_name().is_some_and(|f| f == "mod.rs") {
                        child_file.parent().unwrap_or(dir).to_path_buf()
                    } else {
                        child_file.with_extension("")
                    };
                    self.load_file(&child_file, child, &child_dir)?;
                }
            }
        }
        self.modules.insert(path, module);
        Ok(())
    }
}

/// The file of `mod name;`: `#[path = "..."]`, else `name.rs` or `name/mod.rs`.
fn module_file(
    m: &syn::ItemMod,
    name: &str,
    parent: &Path,
    dir: &Path,
) -> Result<PathBuf, LoadError> {
    for attr in &m.attrs {
        if let syn::Meta::NameValue(nv) = &attr.meta {
            if nv.path.is_ident("path") {
                if let syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) = &nv.value
                {
                    let base = parent.parent().unwrap_or(Path::new("."));
                    return Ok(base.join(s.value()));
                }
            }
        }
    }
    let candidates = [
        dir.join(format!("{name}.rs")),
        dir.join(name).join("mod.rs"),
    ];
    candidates
        .iter()
        .find(|c| c.is_file())
        .cloned()
        .ok_or_else(|| LoadError::MissingFile {
            name: name.to_owned(),
            parent: parent.to_path_buf(),
            candidates: candidates
                .iter()
                .map(|c| c.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Collects one module's imports and mentions; stops at nested modules,
/// which are modules of their own.
struct Collector<'a> {
    file: &'a Path,
    module: Module,
}

impl Collector<'_> {
    fn at(&self, span: proc_macro2::Span) -> Location {
        Location {
            file: self.file.to_path_buf(),
            line: span.start().line,
        }
    }

    fn imports(&mut self, tree: &syn::UseTree, prefix: &mut Vec<String>, at: &Location) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.imports(&p.tree, prefix, at);
                prefix.pop();
            }
            syn::UseTree::Name(n) if n.ident == "self" => self.module.imports.push(Import {
                name: prefix.last().cloned(),
                target: prefix.clone(),
                at: at.clone(),
            }),
            syn::UseTree::Name(n) => {
                let mut target = prefix.clone();
                target.push(n.ident.to_string());
                self.module.imports.push(Import {
                    name: Some(n.ident.to_string()),
                    target,
                    at: at.clone(),
                });
            }
            syn::UseTree::Rename(r) => {
                let mut target = prefix.clone();
                target.push(r.ident.to_string());
                self.module.imports.push(Import {
                    name: Some(r.rename.to_string()),
                    target,
                    at: at.clone(),
                });
            }
            syn::UseTree::Glob(_) => self.module.imports.push(Import {
                name: None,
                target: prefix.clone(),
                at: at.clone(),
            }),
            syn::UseTree::Group(g) => {
                for tree in &g.items {
                    self.imports(tree, prefix, at);
                }
            }
        }
    }

    /// `crate::a::b`, `super::x`, `self::y` (and `$crate::...`) inside
    /// macro bodies, which syn leaves as tokens.
    fn mentions_in_tokens(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                TokenTree::Group(g) => self.mentions_in_tokens(g.stream()),
                TokenTree::Ident(id)
                    if matches!(id.to_string().as_str(), "crate" | "super" | "self") =>
                {
                    let mut segments = vec![id.to_string()];
                    let mut j = i + 1;
                    while let (
                        Some(TokenTree::Punct(a)),
                        Some(TokenTree::Punct(b)),
                        Some(TokenTree::Ident(next)),
                    ) = (tokens.get(j), tokens.get(j + 1), tokens.get(j + 2))
                    {
                        if a.as_char() != ':' || b.as_char() != ':' {
                            break;
                        }
                        segments.push(next.to_string());
                        j += 3;
                    }
                    if segments.len() > 1 {
                        let at = self.at(id.span());
                        self.module.mentions.push(Mention { segments, at });
                    }
                    i = j;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
    }
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item_mod(&mut self, _: &'ast syn::ItemMod) {}

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        if u.leading_colon.is_none() {
            let at = self.at(u.use_token.span);
            self.imports(&u.tree, &mut Vec::new(), &at);
        }
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        if p.leading_colon.is_none() && p.segments.len() > 1 {
            let segments = p.segments.iter().map(|s| s.ident.to_string()).collect();
            let at = self.at(p.segments[0].ident.span());
            self.module.mentions.push(Mention { segments, at });
        }
        syn::visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        self.visit_path(&m.path);
        self.mentions_in_tokens(m.tokens.clone());
    }
}
