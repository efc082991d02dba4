//! Request bodies in (JSON with exact 400/413 answers) and streamed responses out.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc::Receiver;

use crate::error::{ApiError, Dialect};
use crate::pool::{Event, Ticket};

/// A JSON body: syntax and type errors are 400 with serde's message, a body over the limit
/// is 413. (axum's own `Json` answers 422 and needs a content type; Ollama clients send none.)
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let dialect = if req.uri().path().starts_with("/v1/") {
            Dialect::OpenAi
        } else {
            Dialect::Ollama
        };
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the request body is over the server's limit",
                )
            } else {
                ApiError::bad_request(format!("cannot read the request body: {r}"))
            }
            .dialect(dialect)
        })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")).dialect(dialect))
    }
}

/// The first event of a job: waits in the queue (dropping the future cancels the job).
pub(crate) async fn first_event(
    rx: &mut Receiver<Event>,
    dialect: Dialect,
) -> Result<Event, ApiError> {
    match rx.recv().await {
        Some(Event::Failed(e)) => Err(e.dialect(dialect)),
        Some(ev) => Ok(ev),
        None => Err(ApiError::internal("the model's worker stopped").dialect(dialect)),
    }
}

/// Everything until `Done`, for answers that are not streamed.
pub(crate) async fn collect(
    first: Event,
    rx: &mut Receiver<Event>,
    dialect: Dialect,
) -> Result<(String, secllama_runner::Done, Duration), ApiError> {
    let mut text = String::new();
    let mut ev = first;
    loop {
        match ev {
            Event::Piece(p) => text.push_str(&p),
            Event::Done(done, load) => return Ok((text, done, load)),
            Event::Failed(e) => return Err(e.dialect(dialect)),
            Event::Loaded(_) | Event::Embedded(..) => {}
        }
        ev = rx
            .recv()
            .await
            .ok_or_else(|| ApiError::internal("the model's worker stopped").dialect(dialect))?;
    }
}

/// A streamed body: `render` turns each event into bytes; the stream ends after `Done` or
/// `Failed`. The ticket lives as long as the body, so a client that goes away cancels the
/// generation.
pub(crate) fn stream(
    first: Event,
    rx: Receiver<Event>,
    ticket: Ticket,
    render: impl FnMut(Event) -> Bytes + Send + 'static,
) -> Body {
    let state = Some((Some(first), rx, ticket, render));
    let s = futures_util::stream::unfold(state, |state| async move {
        let (pending, mut rx, ticket, mut render) = state?;
        let ev = match pending {
            Some(ev) => ev,
            None => rx
                .recv()
                .await
                .unwrap_or_else(|| Event::Failed(ApiError::internal("the model's worker stopped"))),
        };
        let end = matches!(ev, Event::Done(..) | Event::Failed(_) | Event::Embedded(..));
        let bytes = render(ev);
        let next = (!end).then_some((None, rx, ticket, render));
        Some((Ok::<_, Infallible>(bytes), next))
    });
    Body::from_stream(s)
}
