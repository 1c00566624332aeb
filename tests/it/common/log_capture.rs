//! Every log line of one test, at TRACE, into a buffer the test searches. The tests share one
//! process and so one tracing subscriber, installed once: it formats only the lines of threads
//! that belong to a capturing test, and writes each into that test's buffer. [`run_logged`]
//! runs a test on its own tokio runtime whose every thread (the test's, the workers', the
//! blocking pool's) is that test's; [`capture_thread`] captures the calling thread alone (a
//! current-thread runtime runs everything there). Lines of tests running beside it never land
//! in a test's buffer.
//!
//! (One global subscriber rather than one scoped subscriber per test: with scoped subscribers,
//! a callsite first hit on a thread without one can be cached as "never" while a single scoped
//! subscriber exists, and that test then misses its own lines.)

use std::cell::RefCell;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex, Once};

use tracing_subscriber::filter::dynamic_filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use super::lock;

/// One test's buffer of log lines.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&lock(&self.0)).into_owned()
    }

    /// Everything logged so far, after checking that it contains each of `expected` (lines the
    /// test must have caused, so that a check of what the logs lack proves something).
    pub fn text_containing(&self, expected: &[&str]) -> String {
        let text = self.text();
        for expected in expected {
            assert!(
                text.contains(expected),
                "the logs lack {expected:?}: the test would prove little"
            );
        }
        text
    }

    /// How many logged lines contain `needle`.
    pub fn lines_with(&self, needle: &str) -> usize {
        self.text()
            .lines()
            .filter(|line| line.contains(needle))
            .count()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        lock(&self.0).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

/// The runtime a logged test runs on.
#[derive(Clone, Copy, Debug)]
pub enum Flavor {
    /// Everything on the test's own thread (`#[tokio::test]`'s default).
    CurrentThread,
    /// Two worker threads (`#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`).
    TwoWorkers,
}

thread_local! {
    /// The buffer of the test this thread works for, if that test captures its lines.
    static THREAD_CAPTURE: RefCell<Option<Capture>> = const { RefCell::new(None) };
}

/// The current thread's buffer.
fn thread_capture() -> Option<Capture> {
    THREAD_CAPTURE.with(|slot| slot.borrow().clone())
}

/// Makes `capture` (or nothing) the current thread's buffer; returns the one it replaces.
fn set_thread_capture(capture: Option<Capture>) -> Option<Capture> {
    THREAD_CAPTURE.with(|slot| std::mem::replace(&mut *slot.borrow_mut(), capture))
}

/// Where the global subscriber writes a line: the buffer of the thread that logged it.
struct ThreadWriter;

impl<'a> MakeWriter<'a> for ThreadWriter {
    type Writer = Box<dyn Write + 'a>;

    fn make_writer(&'a self) -> Self::Writer {
        match thread_capture() {
            Some(capture) => Box::new(capture),
            None => Box::new(std::io::sink()),
        }
    }
}

/// Installs the process's one subscriber (and the `log` bridge) the first time it is called:
/// TRACE and up, for threads with a buffer only.
fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(ThreadWriter)
            .finish()
            .with(dynamic_filter_fn(|_, _| thread_capture().is_some()))
            .try_init()
            .unwrap_or_else(|e| panic!("global subscriber: {e}"));
    });
}

/// The calling thread's lines go to a buffer while this lives.
#[must_use = "lines are captured only while it lives"]
pub struct ThreadCapture {
    /// The buffer.
    pub log: Capture,
    /// The thread's buffer before (restored on drop).
    previous: Option<Capture>,
}

impl Drop for ThreadCapture {
    fn drop(&mut self) {
        set_thread_capture(self.previous.take());
    }
}

/// Captures the calling thread's log lines (a current-thread runtime's, all of them) until
/// the returned guard is dropped.
pub fn capture_thread() -> ThreadCapture {
    install();
    let log = Capture::default();
    let previous = set_thread_capture(Some(log.clone()));
    ThreadCapture { log, previous }
}

/// Runs `test` to its end on a new runtime of `flavor` and hands it the buffer every log line
/// (TRACE and up, `log` records too) of that runtime's threads goes to.
pub fn run_logged<F, Fut>(flavor: Flavor, test: F)
where
    F: FnOnce(Capture) -> Fut,
    Fut: Future<Output = ()>,
{
    let this_thread = capture_thread();
    let log = this_thread.log.clone();
    let mut builder = match flavor {
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        Flavor::TwoWorkers => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(2);
            builder
        }
    };
    let on_start = log.clone();
    let runtime = builder
        .enable_all()
        .on_thread_start(move || {
            set_thread_capture(Some(on_start.clone()));
        })
        .on_thread_stop(|| {
            set_thread_capture(None);
        })
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    runtime.block_on(test(log));
    // The runtime's threads stop (and log) before this thread's capture ends.
    drop(runtime);
    drop(this_thread);
}
