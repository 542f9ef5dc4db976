//! JSON batching (`POST /$batch`). (Stage 1 stub.)

use std::sync::Arc;

use crate::error::GraphError;
use crate::graph::{GraphRequest, GraphResponse};
use crate::server::{error_response, Ids, Shared};

pub(crate) async fn handle(_shared: &Arc<Shared>, _req: &GraphRequest, ids: &Ids) -> GraphResponse {
    error_response(
        &GraphError::new(
            400,
            "BadRequest",
            "$batch is not supported yet by graph-sim.",
        ),
        ids,
    )
}
