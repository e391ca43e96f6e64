//! The check against small crates written to a temporary directory: each
//! kind of import that can close a circle is found, and the shapes that are
//! not circles between peers are not reported.

use std::path::PathBuf;

use module_cycles::{report, Target};

/// Writes `files` (path, text) under a fresh directory; returns its `lib.rs`.
fn krate(name: &str, files: &[(&str, &str)]) -> Target {
    let dir = std::env::temp_dir().join(format!("module-cycles-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    Target {
        name: name.to_owned(),
        root: dir.join("lib.rs"),
    }
}

fn circles(target: &Target) -> Option<String> {
    let found = report(target).unwrap();
    let _ = std::fs::remove_dir_all(PathBuf::from(&target.root).parent().unwrap());
    found
}

#[test]
fn two_modules_that_use_each_other() {
    let t = krate(
        "use-lines",
        &[
            ("lib.rs", "mod a;\nmod b;\n"),
            ("a.rs", "use crate::b::B;\npub struct A;\n"),
            ("b.rs", "use super::a::A;\npub struct B;\n"),
        ],
    );
    let report = circles(&t).expect("a circle");
    assert!(report.contains("crate::a, crate::b"), "{report}");
    assert!(report.contains("crate::a -> crate::b"), "{report}");
    assert!(report.contains("b.rs:1"), "{report}");
}

#[test]
fn a_circle_through_a_third_module_a_path_in_code_and_a_macro_body() {
    let t = krate(
        "three",
        &[
            ("lib.rs", "mod a;\nmod b;\nmod c;\n"),
            ("a.rs", "pub fn f() -> crate::b::B { todo!() }\n"),
            (
                "b.rs",
                "pub struct B;\npub fn g() { println!(\"{}\", crate::c::C); }\n",
            ),
            (
                "c.rs",
                "pub const C: u8 = 0;\nuse crate::a;\npub fn h() { a::f(); }\n",
            ),
        ],
    );
    let report = circles(&t).expect("a circle");
    assert!(report.contains("crate::a, crate::b, crate::c"), "{report}");
}

#[test]
fn a_re_export_of_the_root_leads_to_the_module_that_defines_it() {
    let t = krate(
        "reexport",
        &[
            ("lib.rs", "mod a;\nmod b;\npub use b::Thing;\n"),
            ("a.rs", "use crate::Thing;\npub fn f() {}\n"),
            ("b.rs", "pub struct Thing;\nfn g() { crate::a::f() }\n"),
        ],
    );
    assert!(circles(&t).is_some());
}

#[test]
fn nested_modules_lift_to_the_siblings_that_contain_them() {
    let t = krate(
        "nested",
        &[
            ("lib.rs", "mod ui;\nmod poll;\n"),
            ("ui/mod.rs", "mod table;\n"),
            (
                "ui/table.rs",
                "use crate::poll::every;\npub struct Table;\n",
            ),
            (
                "poll.rs",
                "pub fn every() {}\nmod inner { use crate::ui::table::Table; }\n",
            ),
        ],
    );
    let report = circles(&t).expect("a circle");
    assert!(report.contains("crate::poll, crate::ui"), "{report}");
}

#[test]
fn parents_children_and_one_way_imports_are_not_circles() {
    let t = krate(
        "dag",
        &[
            (
                "lib.rs",
                "mod a;\nmod b;\npub use a::A;\npub const NAME: &str = \"x\";\n",
            ),
            (
                "a.rs",
                "use crate::b::B;\nuse std::fmt;\npub struct A(B);\nfn n() -> &'static str { crate::NAME }\n\
                 #[cfg(test)]\nmod tests { use super::*; fn t() { let _ = A(crate::b::B); } }\n",
            ),
            ("b.rs", "pub struct B;\nmod inner { pub fn f() { super::super::NAME; } }\n"),
        ],
    );
    assert_eq!(circles(&t), None);
}
