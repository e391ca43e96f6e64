//! The agent's one tool: an order's shipping state.

use serde::Deserialize;
use serde_json::json;

pub struct LookupOrder;

#[derive(Deserialize)]
pub struct OrderQuery {
    order_id: String,
}

#[derive(Debug, thiserror::Error)]
#[error("no such order")]
pub struct NoSuchOrder;

impl rig_core::tool::PortableTool for LookupOrder {
    const NAME: &'static str = "lookup_order";
    type Args = OrderQuery;
    type Output = String;
    type Error = NoSuchOrder;

    fn description(&self) -> String {
        "The shipping state of an order, by its id".into()
    }

    fn parameters(&self) -> serde_json::Value {
        json!({"type": "object", "properties": {"order_id": {"type": "string"}},
               "required": ["order_id"]})
    }

    async fn call(&self, args: OrderQuery) -> Result<String, NoSuchOrder> {
        if args.order_id.is_empty() {
            return Err(NoSuchOrder);
        }
        Ok(format!("order {} shipped yesterday", args.order_id))
    }
}
