//! The `Layer`: classify by target, capture into an owned [`Captured`], push to the queue.
//!
//! This is the only code that runs on application threads. It does no I/O, takes no lock
//! shared with the flusher and does no Discord formatting: field values are copied once
//! into the capture's buffer (they borrow from the caller's stack), numbers as their bits
//! and the rest as text, and span context is formatted once per span and shared by `Arc`.

use std::cell::Cell;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record as SpanValues};
use tracing_core::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{Extensions, ExtensionsMut, LookupSpan, SpanRef};
use tracing_subscriber::Layer;

use crate::capture::Captured;
use crate::config::DiscordLayerBuilder;
use crate::flusher::DiscordHandle;
use crate::log_records::{is_log_callsite, verdict_by_named_target};
use crate::queue::Queues;
use crate::stats::DropReason;
use crate::timing::{SpanTiming, TimedSpans};
use crate::{Class, ConfigError, DiscordGuard};

/// Crates whose events are never captured: the HTTP stack the flusher uses (it may emit from
/// its own threads, such as a DNS resolver's) and this crate itself. Capturing them would
/// feed the layer its own traffic.
const IGNORED_CRATES: &[&str] = &[
    "tracing_discord",
    "reqwest",
    "hyper",
    "hyper_util",
    "hyper_rustls",
    "h2",
    "http_body_util",
    "rustls",
    "tokio_rustls",
    "webpki",
    "tokio",
    "mio",
    "want",
    "tower",
    "governor",
];

thread_local! {
    /// Set for the whole life of the flusher thread: nothing it emits is captured.
    static ON_FLUSHER_THREAD: Cell<bool> = const { Cell::new(false) };
    /// Set while this thread captures an event, so an event emitted by a field's `Debug`
    /// impl is counted instead of recursing.
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as the flusher: the layer ignores everything emitted on it.
pub(crate) fn mark_flusher_thread() {
    ON_FLUSHER_THREAD.with(|f| f.set(true));
}

fn on_flusher_thread() -> bool {
    ON_FLUSHER_THREAD.with(Cell::get)
}

/// `target` equals `prefix` or continues with `::`.
fn has_prefix(target: &str, prefix: &str) -> bool {
    target
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

/// The first bytes of the ignored crates' names, one bit each (all are ASCII letters).
const IGNORED_FIRST_BYTES: u128 = {
    let mut mask = 0u128;
    let mut i = 0;
    while i < IGNORED_CRATES.len() {
        mask |= 1 << IGNORED_CRATES[i].as_bytes()[0];
        i += 1;
    }
    mask
};

fn is_ignored(target: &str) -> bool {
    // Most targets start with a letter no ignored crate starts with: one bit test.
    let first = target.as_bytes().first().copied().unwrap_or(0);
    first < 128
        && IGNORED_FIRST_BYTES & (1 << first) != 0
        && IGNORED_CRATES.iter().any(|c| has_prefix(target, c))
}

/// The `tracing-subscriber` layer that ships events to Discord.
///
/// Built with [`DiscordLayer::builder`] or [`DiscordLayer::from_env`]; composes like any
/// layer (per-layer filters, `EnvFilter`, `reload`, several layers side by side).
#[derive(Clone)]
pub struct DiscordLayer {
    queues: Arc<Queues>,
    /// Classification prefixes, longest first.
    prefixes: Arc<[(String, Class)]>,
    enabled: [bool; 3],
    handle: DiscordHandle,
    /// Which spans are timed; `None` when span timings are off.
    timing: Option<Arc<TimedSpans>>,
    /// What each callsite's events come to (see [`Verdicts`]).
    verdicts: Arc<Verdicts>,
    /// How often a span's fields were recorded after its creation (see
    /// [`SpanContext::generation`]).
    span_records: Arc<AtomicU64>,
}

/// Slots in the verdict cache; a power of two.
const VERDICT_SLOTS: usize = 256;

/// The class an event is captured into, or that it is not captured (ignored crate, class
/// switched off), remembered by callsite: deciding walks the ignore list and the routing
/// table, and a callsite's metadata, target included, never changes. A slot holds the
/// metadata's address with the verdict in its low bits (metadata is at least 8-aligned on
/// 64-bit targets; where it is not, nothing is cached). Colliding callsites overwrite each
/// other's slot and are decided again.
struct Verdicts(Box<[AtomicUsize]>);

/// What becomes of a callsite's events.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Verdict {
    /// From a crate whose events are never captured (see [`IGNORED_CRATES`]).
    Ignored,
    /// Of a class switched off.
    Off,
    /// Captured into this class.
    Capture(Class),
    /// A `log` record's callsite: each record is judged by the target it names.
    PerRecord,
}

/// The low bits of a slot that hold the verdict (0 in an empty slot).
const VERDICT_BITS: usize = 0b111;

impl Verdict {
    fn encode(self) -> usize {
        match self {
            Verdict::Capture(class) => class.index() + 1,
            Verdict::Off => 4,
            Verdict::Ignored => 5,
            Verdict::PerRecord => 6,
        }
    }

    fn decode(bits: usize) -> Option<Verdict> {
        match bits {
            1..=3 => Some(Verdict::Capture(Class::ALL[bits - 1])),
            4 => Some(Verdict::Off),
            5 => Some(Verdict::Ignored),
            6 => Some(Verdict::PerRecord),
            _ => None,
        }
    }
}

impl Verdicts {
    fn new() -> Self {
        Verdicts((0..VERDICT_SLOTS).map(|_| AtomicUsize::new(0)).collect())
    }

    /// The verdict for `meta`, from the cache or from `decide`.
    fn get(
        &self,
        meta: &'static tracing_core::Metadata<'static>,
        decide: impl FnOnce() -> Verdict,
    ) -> Verdict {
        let address = std::ptr::from_ref(meta) as usize;
        if address & VERDICT_BITS != 0 {
            return decide();
        }
        // Fibonacci hashing: neighbouring callsites land far apart.
        let hash = (address as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56;
        let slot = &self.0[hash as usize % VERDICT_SLOTS];
        let cached = slot.load(Ordering::Relaxed);
        if cached & !VERDICT_BITS == address {
            if let Some(verdict) = Verdict::decode(cached & VERDICT_BITS) {
                return verdict;
            }
        }
        let verdict = decide();
        slot.store(address | verdict.encode(), Ordering::Relaxed);
        verdict
    }
}

impl fmt::Debug for DiscordLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordLayer")
            .field("prefixes", &self.prefixes)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl DiscordLayer {
    /// Starts a configuration; see [`DiscordLayerBuilder`].
    pub fn builder() -> DiscordLayerBuilder {
        DiscordLayerBuilder::default()
    }

    /// Builds the layer from the environment (see [`DiscordLayerBuilder::with_env`] for
    /// every variable). Every class needs a channel or a webhook, unless `DISCORD_SKIP`
    /// names it.
    pub fn from_env() -> Result<(DiscordLayer, DiscordGuard), ConfigError> {
        DiscordLayerBuilder::default().with_env()?.build()
    }

    pub(crate) fn new(
        queues: Arc<Queues>,
        prefixes: Vec<(String, Class)>,
        enabled: [bool; 3],
        handle: DiscordHandle,
    ) -> Self {
        DiscordLayer {
            queues,
            prefixes: prefixes.into(),
            enabled,
            handle,
            timing: None,
            verdicts: Arc::new(Verdicts::new()),
            span_records: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Turns span timings on for diagnostics spans and `timed` names.
    pub(crate) fn with_timing(mut self, timed: Option<TimedSpans>) -> Self {
        self.timing = timed.map(Arc::new);
        self
    }

    /// Tells this layer's span extensions from another Discord layer's on the same
    /// registry: the address of the queues it feeds (clones share it).
    fn key(&self) -> usize {
        Arc::as_ptr(&self.queues) as usize
    }

    /// A handle for statistics and flushing, usable after the layer is installed.
    pub fn handle(&self) -> DiscordHandle {
        self.handle.clone()
    }

    /// What becomes of events with this target.
    fn decide(&self, target: &str) -> Verdict {
        if is_ignored(target) {
            return Verdict::Ignored;
        }
        let class = self.classify(target);
        if self.enabled[class.index()] {
            Verdict::Capture(class)
        } else {
            Verdict::Off
        }
    }

    /// The class an event with this target belongs to.
    pub fn classify(&self, target: &str) -> Class {
        self.prefixes
            .iter()
            .find(|(p, _)| has_prefix(target, p))
            .map_or(Class::Log, |(_, c)| *c)
    }
}

/// A span extension of each Discord layer on the registry, by layer key: extensions are
/// keyed by type, and several Discord layers may share one registry (inserting a type
/// twice panics).
struct PerLayer<T>(smallvec::SmallVec<[(usize, T); 1]>);

fn own<'a, T: Send + Sync + 'static>(ext: &'a Extensions<'_>, key: usize) -> Option<&'a T> {
    ext.get::<PerLayer<T>>()?
        .0
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

fn own_mut<'a, T: Send + Sync + 'static>(
    ext: &'a mut ExtensionsMut<'_>,
    key: usize,
) -> Option<&'a mut T> {
    ext.get_mut::<PerLayer<T>>()?
        .0
        .iter_mut()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// Sets this layer's `T` (replacing its own, never another layer's).
fn insert_own<T: Send + Sync + 'static>(ext: &mut ExtensionsMut<'_>, key: usize, value: T) {
    match ext.get_mut::<PerLayer<T>>() {
        Some(all) => match all.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => all.0.push((key, value)),
        },
        None => ext.insert(PerLayer(smallvec::smallvec![(key, value)])),
    }
}

/// The span's context, formatted once: `name{field=value ...}`; and the contexts from the
/// root to this span, which every event inside it shares (one reference count more an
/// event, where collecting the chain cost a walk up the tree and an allocation).
struct SpanContext {
    name: &'static str,
    fields: String,
    rendered: Arc<str>,
    chain: Arc<[Arc<str>]>,
    /// [`DiscordLayer::span_records`] when `chain` was made: a span whose fields were
    /// recorded since may be one of its ancestors, with a new text.
    generation: u64,
    /// Whether a span was made inside this one. A span recorded before it has children
    /// (the usual `Span::current().record(..)` in a handler) only makes its own chain
    /// again; one with children makes every chain stale.
    has_children: AtomicBool,
}

impl SpanContext {
    fn render(name: &str, fields: &str) -> Arc<str> {
        if fields.is_empty() {
            Arc::from(name)
        } else {
            Arc::from(format!("{name}{{{fields}}}"))
        }
    }
}

/// Appends `key=value` pairs, space separated, to a string.
struct SpanFieldWriter<'a>(&'a mut String);

impl Visit for SpanFieldWriter<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        let _ = write!(self.0, "{}={}", field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        let _ = write!(self.0, "{}={:?}", field.name(), value);
    }
}

/// Clears `CAPTURING` even if a field's `Debug` impl panics.
struct CapturingGuard;

impl Drop for CapturingGuard {
    fn drop(&mut self) {
        CAPTURING.with(|c| c.set(false));
    }
}

impl<S> Layer<S> for DiscordLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        if on_flusher_thread() || is_ignored(meta.target()) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut fields = String::new();
        attrs.record(&mut SpanFieldWriter(&mut fields));
        let rendered = SpanContext::render(meta.name(), &fields);
        let generation = self.span_records.load(Ordering::Relaxed);
        let mut chain = self.contexts_above(&span, true);
        chain.push(Arc::clone(&rendered));
        insert_own(
            &mut span.extensions_mut(),
            self.key(),
            SpanContext {
                name: meta.name(),
                fields,
                rendered,
                chain: chain.into(),
                generation,
                has_children: AtomicBool::new(false),
            },
        );
        self.start_timing(&span, meta);
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.with_timing_of(id, &ctx, SpanTiming::enter);
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        self.with_timing_of(id, &ctx, SpanTiming::exit);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        self.finish_timing(&id, &ctx);
    }

    fn on_record(&self, id: &Id, values: &SpanValues<'_>, ctx: Context<'_, S>) {
        if on_flusher_thread() {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        if own::<SpanContext>(&span.extensions(), self.key()).is_none() {
            return;
        }
        // Formatted before the span's extensions are locked: a value's `Debug` may emit an
        // event or open a span inside this span, which read them (a deadlock under the
        // lock), or panic, which would poison them for every later event in the span.
        let mut added = String::new();
        values.record(&mut SpanFieldWriter(&mut added));
        if added.is_empty() {
            return;
        }
        let mut ext = span.extensions_mut();
        let Some(context) = own_mut::<SpanContext>(&mut ext, self.key()) else {
            return;
        };
        if !context.fields.is_empty() {
            context.fields.push(' ');
        }
        context.fields.push_str(&added);
        context.rendered = SpanContext::render(context.name, &context.fields);
        drop(ext);
        // Read after the new text is in place; a child marks its parent before it reads
        // the parent's text (`contexts_above`): either this sees the mark, or the child
        // sees the new text.
        if own::<SpanContext>(&span.extensions(), self.key())
            .is_some_and(|c| c.has_children.load(Ordering::SeqCst))
        {
            // Its descendants' chains hold its old text: all are made again when next used.
            self.span_records.fetch_add(1, Ordering::Relaxed);
        } else {
            self.remake_chain(&span);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let target = meta.target();
        if on_flusher_thread() {
            return;
        }
        let cached = self.verdicts.get(meta, || {
            if is_log_callsite(meta) {
                Verdict::PerRecord
            } else {
                self.decide(target)
            }
        });
        // A `log` record is judged by the target it names, which differs record by record;
        // the flusher gives it that target, file and line (`log_records::adopt_origin`).
        let verdict = match cached {
            Verdict::PerRecord => verdict_by_named_target(event, |named| self.decide(named))
                .unwrap_or_else(|| self.decide(target)),
            v => v,
        };
        if verdict == Verdict::Ignored {
            return;
        }
        if *meta.level() == Level::ERROR {
            self.mark_timed_spans(event, &ctx);
        }
        let Verdict::Capture(class) = verdict else {
            return;
        };
        if CAPTURING.with(|c| c.replace(true)) {
            self.queues.count_dropped(class, DropReason::Reentrant);
            return;
        }
        let capturing = CapturingGuard;
        let home = self.queues.home_shard();
        // Level, target, file, line and field names stay in `meta`; the flusher reads them.
        let mut captured =
            Captured::event(class, event, home as u16, self.queues.value_buffer(home));
        captured.spans = self.span_chain(event, &ctx);
        drop(capturing);
        self.queues.push_from(home, captured);
    }
}

/// Span chains: each span keeps the contexts from the root to itself, and an event shares
/// its innermost span's.
impl DiscordLayer {
    /// The contexts of `span`'s ancestors, outermost first (spans of ignored crates have
    /// none); for a new span (`mark_parent`), its parent is marked as having children first.
    /// Innermost first, then reversed in place: `from_root` would allocate a buffer of its
    /// own to walk the other way.
    fn contexts_above<S>(&self, span: &SpanRef<'_, S>, mark_parent: bool) -> Vec<Arc<str>>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let mut chain: Vec<Arc<str>> = Vec::new();
        for ancestor in span.scope().skip(1) {
            if let Some(c) = own::<SpanContext>(&ancestor.extensions(), self.key()) {
                if mark_parent && chain.is_empty() {
                    // Before its text is read (see `on_record`); its own ancestors were
                    // marked when it was made.
                    c.has_children.store(true, Ordering::SeqCst);
                }
                chain.push(Arc::clone(&c.rendered));
            }
        }
        chain.reverse();
        chain
    }

    /// The chain of the innermost span with a context that `event` is in, made again first
    /// when a span was recorded since it was made.
    fn span_chain<S>(&self, event: &Event<'_>, ctx: &Context<'_, S>) -> Option<Arc<[Arc<str>]>>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let generation = self.span_records.load(Ordering::Relaxed);
        for span in ctx.event_span(event)?.scope() {
            let ext = span.extensions();
            let Some(context) = own::<SpanContext>(&ext, self.key()) else {
                continue;
            };
            if context.generation == generation {
                return Some(Arc::clone(&context.chain));
            }
            drop(ext);
            return self.remake_chain(&span);
        }
        None
    }

    /// Makes `span`'s chain again from its ancestors' texts and its own, and returns it.
    fn remake_chain<S>(&self, span: &SpanRef<'_, S>) -> Option<Arc<[Arc<str>]>>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        // Read before the ancestors' texts: an ancestor recorded while they are read leaves
        // this chain stale, made again at its next use, even if an event in between stamped
        // the newer generation.
        let generation = self.span_records.load(Ordering::Relaxed);
        let mut chain = self.contexts_above(span, false);
        // Room for its own text, so that nothing is allocated under the lock.
        chain.reserve(1);
        let mut ext = span.extensions_mut();
        let context = own_mut::<SpanContext>(&mut ext, self.key())?;
        // Its text as it is now, under the lock that stores the chain: another thread may
        // have recorded the span since the caller looked.
        chain.push(Arc::clone(&context.rendered));
        context.chain = chain.into();
        context.generation = generation;
        Some(Arc::clone(&context.chain))
    }
}

/// Span timings: spans whose target classifies as diagnostics, or whose name is listed,
/// carry a [`SpanTiming`] from creation to close; the close goes to the flusher as a small
/// `Copy` value. Only spans with a timing pay for it (one extensions lookup otherwise).
impl DiscordLayer {
    fn start_timing<S>(
        &self,
        span: &tracing_subscriber::registry::SpanRef<'_, S>,
        meta: &tracing_core::Metadata<'_>,
    ) where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let Some(timed) = &self.timing else { return };
        if self.classify(meta.target()) == Class::Diagnostics || timed.named(meta.name()) {
            insert_own(&mut span.extensions_mut(), self.key(), SpanTiming::new());
        }
    }

    fn with_timing_of<S>(&self, id: &Id, ctx: &Context<'_, S>, f: impl FnOnce(&SpanTiming))
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        self.with_timed_span(id, ctx, |_, timing| f(timing));
    }

    /// A timed span's close goes to the flusher (one lookup, as for entering).
    fn finish_timing<S>(&self, id: &Id, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        self.with_timed_span(id, ctx, |name, timing| {
            self.queues.push_span_close(timing.close(name));
        });
    }

    /// Runs `f` with the span's name and timing when timings are on and the span is timed.
    fn with_timed_span<S>(
        &self,
        id: &Id,
        ctx: &Context<'_, S>,
        f: impl FnOnce(&'static str, &SpanTiming),
    ) where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        if self.timing.is_none() || on_flusher_thread() {
            return;
        }
        if let Some(span) = ctx.span(id) {
            if let Some(timing) = own::<SpanTiming>(&span.extensions(), self.key()) {
                f(span.name(), timing);
            }
        }
    }

    /// An ERROR marks every timed span it happened in; only ERRORs walk the scope.
    fn mark_timed_spans<S>(&self, event: &Event<'_>, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        if self.timing.is_none() {
            return;
        }
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                if let Some(timing) = own::<SpanTiming>(&span.extensions(), self.key()) {
                    timing.mark_error();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_whole_path_segments() {
        assert!(has_prefix("analytics", "analytics"));
        assert!(has_prefix("analytics::commands", "analytics"));
        assert!(!has_prefix("analytics_extra", "analytics"));
        assert!(!has_prefix("my::analytics", "analytics"));
    }

    struct TestCallsite;
    static CALLSITE: TestCallsite = TestCallsite;

    impl tracing_core::Callsite for TestCallsite {
        fn set_interest(&self, _: tracing_core::Interest) {}
        fn metadata(&self) -> &tracing_core::Metadata<'_> {
            unreachable!("the verdict cache reads only the address")
        }
    }

    fn leaked_metadata() -> &'static tracing_core::Metadata<'static> {
        Box::leak(Box::new(tracing_core::Metadata::new(
            "first",
            "analytics",
            Level::INFO,
            None,
            None,
            None,
            tracing_core::field::FieldSet::new(&[], tracing_core::identify_callsite!(&CALLSITE)),
            tracing_core::metadata::Kind::EVENT,
        )))
    }

    #[test]
    fn verdicts_are_decided_once_a_callsite_and_encoded_faithfully() {
        let verdicts = Verdicts::new();
        let meta = leaked_metadata();
        let mut decided = 0;
        for _ in 0..3 {
            let v = verdicts.get(meta, || {
                decided += 1;
                Verdict::Capture(Class::Diagnostics)
            });
            assert_eq!(v, Verdict::Capture(Class::Diagnostics));
        }
        assert_eq!(decided, 1);
        for v in [
            Verdict::Ignored,
            Verdict::Off,
            Verdict::Capture(Class::Analytics),
            Verdict::Capture(Class::Diagnostics),
            Verdict::Capture(Class::Log),
            Verdict::PerRecord,
        ] {
            assert_eq!(Verdict::decode(v.encode()), Some(v));
        }
        assert_eq!(Verdict::decode(0), None);
    }

    #[test]
    fn http_stack_and_self_are_ignored() {
        for t in [
            "reqwest::connect",
            "hyper_util::client",
            "h2",
            "rustls::conn",
            "tracing_discord::flusher",
        ] {
            assert!(is_ignored(t), "{t}");
        }
        assert!(!is_ignored("my_bot"));
        assert!(!is_ignored("hyperion"));
        assert!(!is_ignored(""));
        assert!(!is_ignored("été"));
        assert!(!is_ignored("analytics"));
    }
}
