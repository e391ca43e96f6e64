//! What EXPLAIN says about a statement: which indexes it reads, and whether
//! it falls back to a sequential scan of a large table.

use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};

const LARGE_TABLES: &[&str] = &[
    "ai_runtime_events",
    "persona_tasks",
    "task_transition_events",
];

#[derive(Default)]
pub struct PlanSummary {
    pub indexes: Vec<String>,
    pub seq_scans: Vec<String>,
}

impl PlanSummary {
    pub fn merge(&mut self, other: PlanSummary) {
        for i in other.indexes {
            if !self.indexes.contains(&i) {
                self.indexes.push(i);
            }
        }
        self.seq_scans.extend(other.seq_scans);
    }

    pub fn describe(&self) -> String {
        let short: Vec<String> = self
            .indexes
            .iter()
            .map(|i| {
                i.replace("ai_runtime_events_", "ev_")
                    .replace("persona_tasks_", "pt_")
                    .replace("task_transition_events_", "tte_")
                    .replace("_idx", "")
            })
            .collect();
        if self.seq_scans.is_empty() {
            short.join(",")
        } else {
            format!(
                "SEQ SCAN {} | {}",
                self.seq_scans.join(","),
                short.join(",")
            )
        }
    }
}

pub async fn explain(
    pool: &PgPool,
    mut q: QueryBuilder<'static, Postgres>,
) -> anyhow::Result<PlanSummary> {
    let plan: Value = q.build_query_scalar().fetch_one(pool).await?;
    let mut summary = PlanSummary::default();
    walk(&plan[0]["Plan"], &mut summary);
    Ok(summary)
}

fn walk(node: &Value, summary: &mut PlanSummary) {
    if let Some(index) = node["Index Name"].as_str() {
        if !summary.indexes.iter().any(|i| i == index) {
            summary.indexes.push(index.to_owned());
        }
    }
    if node["Node Type"] == "Seq Scan" {
        if let Some(relation) = node["Relation Name"].as_str() {
            if LARGE_TABLES.contains(&relation) {
                summary.seq_scans.push(relation.to_owned());
            }
        }
    }
    for child in node["Plans"].as_array().into_iter().flatten() {
        walk(child, summary);
    }
}
