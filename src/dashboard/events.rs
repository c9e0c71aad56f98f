//! `GET /dashboard/api/events`: the live trace as Server-Sent Events. Each `trace` event is one
//! JSON [`TraceEvent`](crate::hub::TraceEvent); a `dropped` event says how many lines this
//! viewer lost by falling behind (connections never wait for a viewer). The stream ends at
//! shutdown so it cannot hold the server open.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use futures_util::stream;
use tokio_util::sync::CancellationToken;

use super::session::Viewer;
use crate::hub::{TraceWatcher, Watched};
use crate::state::AppState;

/// How often an idle stream sends a comment, so proxies and browsers keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub(super) async fn events(
    _viewer: Viewer,
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let watcher = state.hubs.trace().watch();
    let events = stream::unfold(
        (watcher, state.shutdown.clone()),
        |(mut watcher, shutdown)| async move {
            let event = next(&mut watcher, &shutdown).await?;
            Some((Ok(event), (watcher, shutdown)))
        },
    );
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

async fn next(watcher: &mut TraceWatcher, shutdown: &CancellationToken) -> Option<Event> {
    let watched = tokio::select! {
        watched = watcher.next() => watched?,
        () = shutdown.cancelled() => return None,
    };
    Some(match watched {
        Watched::Event(event) => Event::default()
            .event("trace")
            .json_data(&*event)
            .unwrap_or_else(|_| Event::default().event("trace")),
        Watched::Dropped(count) => Event::default().event("dropped").data(count.to_string()),
    })
}
