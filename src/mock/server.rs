//! HTTP plumbing: the emulator's own thread and current-thread runtime, the hyper
//! connection loop, stalls and latency, and conversion to and from hyper types.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{oneshot, watch};

use super::control;
use super::payload::Body;
use super::reply::{Delivery, Reply};
use super::routes::{self, Request, Triage};
use super::state::State;

/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// State shared by the server thread and the [`MockDiscord`](super::MockDiscord) handle.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Everything the emulator knows.
    state: Mutex<State>,
    /// `true` while Discord-API requests must be held unanswered.
    pub stalled: watch::Sender<bool>,
    /// Bumped by `MockDiscord::release_hung` to answer requests held by `AfterCommit::Hang`.
    pub hung: watch::Sender<u64>,
    /// Largest request body read (`MockConfig::max_request_bytes`).
    max_request_bytes: usize,
}

impl Shared {
    /// Wraps a fresh state.
    pub(crate) fn new(state: State) -> Self {
        let max_request_bytes = state.config.max_request_bytes;
        Self {
            state: Mutex::new(state),
            stalled: watch::Sender::new(false),
            hung: watch::Sender::new(0),
            max_request_bytes,
        }
    }

    /// Locks the state. A panic elsewhere cannot poison the emulator for good.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Counts one Discord-API request as in flight while it lives.
struct InFlight(Arc<Shared>);

impl InFlight {
    /// Counts a request in, updating the peak.
    fn enter(shared: &Arc<Shared>) -> Self {
        let mut state = shared.lock();
        state.in_flight += 1;
        state.max_in_flight = state.max_in_flight.max(state.in_flight);
        drop(state);
        Self(Arc::clone(shared))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
    }
}

/// The error that makes hyper close a connection without answering.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for DropConnection {}

/// The running server; dropping it stops the thread and closes every connection.
#[derive(Debug)]
pub(crate) struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Fires on drop to stop the accept loop.
    shutdown: Option<oneshot::Sender<()>>,
    /// The server thread.
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds 127.0.0.1:0 and starts serving on a new thread; returns once the socket is bound.
    pub(crate) fn start(shared: Arc<Shared>) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind((IpAddr::from([127, 0, 0, 1]), 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<io::Result<()>>(1);
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("tracing-discord-mock".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(error) => {
                            let _ = ready_tx.send(Err(error));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    tokio::select! {
                        () = accept_loop(listener, shared) => {}
                        _ = shutdown_rx => {}
                    }
                });
                // Dropping the runtime here cancels every connection task, stalled ones included.
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Self {
                addr,
                shutdown: Some(shutdown_tx),
                thread: Some(thread),
            }),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(io::Error::other(
                "the emulator thread exited during start-up",
            )),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts connections forever, one task per connection.
async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(ACCEPT_BACKOFF).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |request| serve(Arc::clone(&shared), request, peer.ip()));
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Answers one HTTP request; `Err` closes the connection without an answer.
async fn serve(
    shared: Arc<Shared>,
    request: hyper::Request<Incoming>,
    peer: IpAddr,
) -> Result<Response<Full<Bytes>>, DropConnection> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let is_control = path.starts_with(control::PREFIX);
    let _in_flight = (!is_control).then(|| InFlight::enter(&shared));
    let mut hung = shared.hung.subscribe();
    let triage = if is_control {
        Triage::Proceed
    } else {
        let mut stalled = shared.stalled.subscribe();
        // Err only if the sender is gone, which cannot happen while `shared` lives.
        let _ = stalled.wait_for(|stalled| !*stalled).await;
        let latency = shared.lock().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        routes::triage(
            &mut shared.lock(),
            parts.method.as_str(),
            &path,
            peer,
            Instant::now(),
        )
    };
    let body = if triage.skips_body() {
        drop(body);
        Body::Complete(Vec::new())
    } else {
        match Limited::new(body, shared.max_request_bytes).collect().await {
            Ok(collected) => Body::Complete(collected.to_bytes().to_vec()),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => Body::TooLarge,
            // The client went away mid-body: nobody is left to answer.
            Err(_) => return Ok(to_response(Reply::error(400, 0, "400: Bad Request"))),
        }
    };
    let request = Request {
        method: parts.method.as_str().to_string(),
        path,
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
        peer,
    };
    if is_control {
        let reply = control::answer(&mut shared.lock(), &request);
        return Ok(to_response(reply));
    }
    // Only releases from now on answer a request held below.
    hung.mark_unchanged();
    let reply = routes::answer(&mut shared.lock(), &request, Instant::now(), triage);
    match reply.delivery {
        Delivery::Send => Ok(to_response(reply)),
        Delivery::Drop => Err(DropConnection),
        Delivery::Hang => {
            // Held until `release_hung`; the emulator stopping cancels this task.
            if hung.changed().await.is_err() {
                return Err(DropConnection);
            }
            Ok(to_response(reply))
        }
    }
}

/// Builds the HTTP response: `Via: 1.1 google` unless the answer plays Cloudflare, and the
/// body's content type.
fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(reply.status)
        .ok()
        .filter(|s| s.as_u16() >= 200)
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if reply.via {
        headers.insert("via", HeaderValue::from_static("1.1 google"));
    }
    let bodiless = status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    if let Some(page) = reply.html.filter(|_| !bodiless) {
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=UTF-8"),
        );
        *response.body_mut() = Full::new(Bytes::from(page));
    } else if let Some(body) = reply.body.filter(|_| !bodiless) {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        *response.body_mut() = Full::new(Bytes::from(body.to_string()));
    }
    for (name, value) in reply.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(name, value);
        }
    }
    response
}
