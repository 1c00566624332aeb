//! The listening socket: starting, stopping (for [`Fault::Down`](crate::Fault::Down)) and
//! rebinding the same port (the socket's own parts are in `socket.rs`).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::faults::Fault;
use crate::server::router;
use crate::socket::{ConnInfo, MockListener, Running, ServerSlot};
use crate::state::Shared;

/// How long a stop waits for the listener to close before aborting the serving task.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// Rebinding the port: attempts and pause between them (about 2 s in all).
const BIND_ATTEMPTS: u32 = 100;
const BIND_PAUSE: Duration = Duration::from_millis(20);

/// Starts serving on an already bound listener.
pub(crate) fn spawn(shared: &Arc<Shared>, slot: &mut ServerSlot, listener: TcpListener) {
    slot.last_generation += 1;
    let generation = slot.last_generation;
    let (closed_tx, listener_closed) = oneshot::channel();
    let listener = MockListener::new(listener, closed_tx);
    let app = router(Arc::clone(shared)).into_make_service_with_connect_info::<ConnInfo>();
    let mut control = shared.control.subscribe();
    let signal = async move {
        // An error means the issuer is gone: stop as well.
        let _ = control
            .wait_for(|c| c.closing || c.stopped_up_to >= generation)
            .await;
    };
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await
        {
            tracing::debug!(%error, "mock issuer listener ended");
        }
    });
    slot.running = Some(Running {
        generation,
        listener_closed,
        task,
    });
}

/// Makes the listener match the faults: stopped while either fault is
/// [`Fault::Down`](crate::Fault::Down), listening otherwise. Reads the faults under the slot
/// lock, so concurrent calls settle on the latest faults.
pub(crate) async fn reconcile(shared: &Arc<Shared>) -> io::Result<()> {
    let mut slot = shared.server.lock().await;
    let down = {
        let state = shared.lock();
        [
            state.verify_fault,
            state.jwks_fault,
            state.token_fault,
            state.opaque.introspection_fault,
            state.opaque.bitrix24_fault,
        ]
        .contains(&Fault::Down)
    };
    if down {
        stop(shared, &mut slot).await;
        Ok(())
    } else {
        ensure_up(shared, &mut slot).await
    }
}

/// Stops the listener (if running) and returns once its socket is closed, so that new
/// connections are refused. Requests in progress are answered; idle connections close.
async fn stop(shared: &Shared, slot: &mut ServerSlot) {
    let Some(running) = slot.running.take() else {
        return;
    };
    let generation = running.generation;
    shared
        .control
        .send_modify(|c| c.stopped_up_to = c.stopped_up_to.max(generation));
    if tokio::time::timeout(STOP_GRACE, running.listener_closed)
        .await
        .is_err()
    {
        running.task.abort();
        let _ = tokio::time::timeout(STOP_GRACE, running.task).await;
    }
}

/// Binds the issuer's port again (if nothing is serving and the issuer is not closing).
///
/// There is a race no code here can close: while the port is free, another socket on the
/// machine (say, an outgoing connection given that port as its ephemeral local port) may
/// take it. Binding is retried for about two seconds, then the error is returned.
async fn ensure_up(shared: &Arc<Shared>, slot: &mut ServerSlot) -> io::Result<()> {
    if slot.running.is_some() || shared.is_closing() {
        return Ok(());
    }
    let mut last_error = None;
    for _ in 0..BIND_ATTEMPTS {
        // tokio sets SO_REUSEADDR on Unix, so connections in TIME_WAIT do not block this.
        match TcpListener::bind(shared.config.addr).await {
            Ok(listener) => {
                spawn(shared, slot, listener);
                return Ok(());
            }
            Err(error) => last_error = Some(error),
        }
        tokio::time::sleep(BIND_PAUSE).await;
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("could not bind the mock issuer port")))
}

/// Stops serving for good, waiting (bounded) for requests in progress.
pub(crate) async fn shutdown(shared: &Shared) {
    shared.control.send_modify(|c| c.closing = true);
    let mut slot = shared.server.lock().await;
    let Some(running) = slot.running.take() else {
        return;
    };
    let _ = tokio::time::timeout(STOP_GRACE, running.listener_closed).await;
    let mut task = running.task;
    if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
        task.abort();
    }
}

/// Stops serving without waiting (for `Drop`).
pub(crate) fn shutdown_now(shared: &Shared) {
    shared.control.send_modify(|c| c.closing = true);
    // Nobody else can hold the lock while the handle is being dropped; if someone did, the
    // `closing` signal above still stops the listener.
    if let Ok(mut slot) = shared.server.try_lock()
        && let Some(running) = slot.running.take()
    {
        running.task.abort();
    }
}
