//! The order tool the simulated provider's tool calls name (feature `rig`):
//! one rig tool, shared by the demo's rig worker and the capture tests.

use serde::Deserialize;
use serde_json::json;

/// What every order's state is, in the tool's answer (tests look for it).
pub const ORDER_STATE: &str = "shipped yesterday";

/// `lookup_order`: an order's shipping state, by its id.
pub struct LookupOrder;

/// The tool's arguments.
#[derive(Deserialize)]
pub struct OrderQuery {
    pub order_id: String,
}

/// Never returned: every order is found.
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
        Ok(format!("order {} {ORDER_STATE}", args.order_id))
    }
}
