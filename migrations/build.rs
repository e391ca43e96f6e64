//! `sqlx::migrate!` embeds the migration files it finds at compile time,
//! but Cargo does not know to look at that directory: without this, a new
//! migration file would be missing from a build until something else in
//! the crate changed.
fn main() {
    println!("cargo:rerun-if-changed=supabase/migrations");
}
