//! Shoppers sharded over several nodes: a shopper's request that reaches another node is
//! answered `307 Temporary Redirect` with `Location` on the owning node (307 keeps the method
//! and the body, so a retried POST is the same POST, with the same idempotency key).
//!
//! The owner is `lantern_core::sharding::node_of(shopper, n_nodes)`, computed from the bearer
//! token's shopper id alone, so every node agrees without asking anyone. Only shopper tokens are
//! redirected: a shopper's coupons, quotes and orders live on their node, which keeps per-shopper
//! caps exact. Operators' and merchants' requests are served where they land; a missing or bad
//! token is left to the handler, which answers 401 as usual.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lantern_auth::Role;
use lantern_core::sharding::{NODES_MAX, node_of};

use crate::{ApiError, App};

/// The response header naming the node that owns the shopper.
pub const OWNER_NODE_HEADER: &str = "lantern-node";

/// The nodes of a cluster, in node order, and which one this is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardMap {
    /// Each node's base URL (`http://host:port`), as shoppers reach it.
    pub nodes: Vec<String>,
    pub node_index: u32,
}

impl ShardMap {
    /// Checks the map; the message names what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let n_nodes = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
        if !(1..=NODES_MAX).contains(&n_nodes) {
            return Err(format!("cluster.nodes must list 1..={NODES_MAX} node URLs"));
        }
        if self.node_index >= n_nodes {
            return Err(format!(
                "cluster.node_index {} is not below the {n_nodes} nodes listed",
                self.node_index
            ));
        }
        if let Some(bad) = self.nodes.iter().find(|url| {
            !(url.starts_with("http://") || url.starts_with("https://"))
                || HeaderValue::from_str(url).is_err()
        }) {
            return Err(format!("cluster.nodes entry {bad:?} is not an http:// or https:// base URL"));
        }
        Ok(())
    }

    fn n_nodes(&self) -> u32 {
        u32::try_from(self.nodes.len()).unwrap_or(NODES_MAX)
    }
}

/// Middleware: passes a request through unless it is a shopper's whose node is another one.
pub async fn redirect_to_owner(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let Some(shards) = app.config.shards.as_ref() else { return next.run(request).await };
    let Ok(claims) = app.caller(request.headers()) else { return next.run(request).await };
    let Role::Shopper(shopper) = claims.role else { return next.run(request).await };
    let owner = node_of(shopper, shards.n_nodes());
    if owner == shards.node_index {
        return next.run(request).await;
    }
    let base = shards.nodes[owner as usize].trim_end_matches('/');
    let path = request.uri().path_and_query().map_or("/", |path| path.as_str());
    let location = format!("{base}{path}");
    let mut response = ApiError::new(
        StatusCode::TEMPORARY_REDIRECT,
        "wrong_node",
        format!("{shopper} is served by node {owner} at {base}; send the same request there (Location)"),
    )
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(axum::http::header::LOCATION, value);
    }
    response.headers_mut().insert(OWNER_NODE_HEADER, HeaderValue::from(owner));
    response
}
