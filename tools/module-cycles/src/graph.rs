//! Who imports whom, and the circles.
//!
//! Every import or mention is resolved to the module that defines the name
//! (re-exports are followed, so `crate::Thing` re-exported by the root counts
//! as an import of the module that defines `Thing`). An edge between two
//! modules is lifted to the two sibling modules that contain them, below
//! their closest common ancestor: `a::x -> b::y` counts as `a -> b`. Edges
//! between a module and its own ancestor or descendant (a `tests` child's
//! `use super::*`, a parent's `pub use child::Thing`) are not imports between
//! peers and are left out. A circle is a strongly connected set of siblings.

use std::collections::BTreeMap;

use crate::tree::{Crate, Location, ModPath};

/// Re-exports followed at most this deep (a loop of `pub use` would be a
/// compile error anyway).
const MAX_HOPS: usize = 16;

/// `from -> to` between sibling modules, with the first place that makes it.
pub type Edges = BTreeMap<(ModPath, ModPath), Location>;

pub fn edges(krate: &Crate) -> Edges {
    let mut edges = Edges::new();
    for (from, module) in &krate.modules {
        let imports = module.imports.iter().map(|i| (&i.target, &i.at));
        let mentions = module.mentions.iter().map(|m| (&m.segments, &m.at));
        for (segments, at) in imports.chain(mentions) {
            let Some(to) = defining_module(krate, from, segments, 0) else {
                continue;
            };
            if let Some(edge) = lift(from, &to) {
                edges.entry(edge).or_insert_with(|| at.clone());
            }
        }
    }
    edges
}

/// The module that defines what `segments`, written in module `at`, names;
/// `None` for another crate, the prelude or a local name.
fn defining_module(
    krate: &Crate,
    at: &ModPath,
    segments: &[String],
    hops: usize,
) -> Option<ModPath> {
    if hops > MAX_HOPS {
        return None;
    }
    let absolute = absolute(krate, at, segments, hops)?;
    // The longest prefix that is a module; the segment after it is an item.
    let depth = (0..=absolute.len())
        .rev()
        .find(|&n| krate.modules.contains_key(&absolute[..n]))?;
    let module = absolute[..depth].to_vec();
    if let Some(item) = absolute.get(depth) {
        let reexport = krate.modules[&module]
            .imports
            .iter()
            .find(|i| i.name.as_deref() == Some(item.as_str()));
        if let Some(import) = reexport {
            let mut through = import.target.clone();
            through.extend_from_slice(&absolute[depth + 1..]);
            return defining_module(krate, &module, &through, hops + 1).or(Some(module));
        }
    }
    Some(module)
}

/// `segments` as a path from the crate root, when it stays in the crate.
fn absolute(krate: &Crate, at: &ModPath, segments: &[String], hops: usize) -> Option<Vec<String>> {
    if hops > MAX_HOPS {
        return None;
    }
    let first = segments.first()?;
    let mut base = at.clone();
    let mut rest = segments;
    match first.as_str() {
        "crate" | "$crate" => {
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
        name if krate.modules[at].children.contains(name) => {}
        name => {
            // A name this module imports: `use crate::sink; sink::Shared`.
            let import = krate.modules[at]
                .imports
                .iter()
                .find(|i| i.name.as_deref() == Some(name))?;
            let mut through = import.target.clone();
            through.extend_from_slice(&segments[1..]);
            return absolute(krate, at, &through, hops + 1);
        }
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// `from -> to` lifted to siblings below their closest common ancestor;
/// `None` when one contains the other.
fn lift(from: &ModPath, to: &ModPath) -> Option<(ModPath, ModPath)> {
    let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    if common == from.len() || common == to.len() {
        return None;
    }
    Some((from[..=common].to_vec(), to[..=common].to_vec()))
}

/// The strongly connected sets of two or more modules (Tarjan), each sorted.
pub fn cycles(edges: &Edges) -> Vec<Vec<ModPath>> {
    let mut next: BTreeMap<&ModPath, Vec<&ModPath>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        next.entry(from).or_default().push(to);
        next.entry(to).or_default();
    }
    let mut tarjan = Tarjan {
        next: &next,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeMap::new(),
        found: Vec::new(),
    };
    for node in next.keys() {
        if !tarjan.index.contains_key(node) {
            tarjan.visit(node);
        }
    }
    tarjan.found
}

struct Tarjan<'a> {
    next: &'a BTreeMap<&'a ModPath, Vec<&'a ModPath>>,
    index: BTreeMap<&'a ModPath, usize>,
    low: BTreeMap<&'a ModPath, usize>,
    stack: Vec<&'a ModPath>,
    on_stack: BTreeMap<&'a ModPath, bool>,
    found: Vec<Vec<ModPath>>,
}

impl<'a> Tarjan<'a> {
    fn visit(&mut self, node: &'a ModPath) {
        let n = self.index.len();
        self.index.insert(node, n);
        self.low.insert(node, n);
        self.stack.push(node);
        self.on_stack.insert(node, true);
        for &to in &self.next[node] {
            if !self.index.contains_key(to) {
                self.visit(to);
                let low = self.low[node].min(self.low[to]);
                self.low.insert(node, low);
            } else if self.on_stack.get(to).copied().unwrap_or(false) {
                let low = self.low[node].min(self.index[to]);
                self.low.insert(node, low);
            }
        }
        if self.low[node] == self.index[node] {
            let mut set = Vec::new();
            while let Some(top) = self.stack.pop() {
                self.on_stack.insert(top, false);
                set.push(top.clone());
                if top == node {
                    break;
                }
            }
            if set.len() > 1 {
                set.sort();
                self.found.push(set);
            }
        }
    }
}
