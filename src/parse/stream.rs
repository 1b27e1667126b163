//! [`FrameStream`]: the parser over a `Stream` of byte chunks or an
//! `http_body::Body` (feature `stream`).

use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use futures_core::Stream;
use http_body::Body;

use super::{Frame, ParseError, Parser, ParserConfig};

pin_project_lite::pin_project! {
    /// Frames parsed from a stream of byte chunks: wraps any
    /// `Stream<Item = Result<Bytes, E>>` (or, through
    /// [`from_body`](FrameStream::from_body), any `http_body::Body`) and
    /// yields `Result<Frame, FrameStreamError<E>>`.
    ///
    /// `poll_next` returns
    ///
    /// - `Ready(Some(Ok(frame)))`: the next frame;
    /// - `Ready(Some(Err(FrameStreamError::Parse(_))))`: a limit was exceeded;
    ///   the parser skipped that event and the stream goes on;
    /// - `Ready(Some(Err(FrameStreamError::Source(_))))`: the source failed;
    ///   the stream goes on polling the source, most callers stop here;
    /// - `Ready(None)`: the source ended; an unfinished last event was
    ///   discarded ([`Parser::finish`]);
    /// - `Pending`: the source is pending.
    ///
    /// Every frame already parsed is yielded before the source is polled again.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use futures_util::{stream, StreamExt};
    /// use sse_session::{Frame, FrameStream};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let chunks = stream::iter([
    ///     Ok::<_, std::io::Error>(Bytes::from_static(b"data: hel")),
    ///     Ok(Bytes::from_static(b"lo\n\ndata: unfinished")),
    /// ]);
    /// let frames: Vec<_> = FrameStream::new(chunks).collect().await;
    /// assert_eq!(frames.len(), 1);
    /// assert!(matches!(&frames[0], Ok(Frame::Event(e)) if e.data() == "hello"));
    /// # });
    /// ```
    pub struct FrameStream<S> {
        #[pin]
        source: S,
        parser: Parser,
        source_done: bool,
    }
}

impl<S> FrameStream<S> {
    /// Parses `source` with the default limits.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use futures_util::stream;
    /// use sse_session::FrameStream;
    ///
    /// let frames = FrameStream::new(stream::empty::<Result<Bytes, std::io::Error>>());
    /// # let _ = frames;
    /// ```
    pub fn new(source: S) -> Self {
        FrameStream::with_parser(source, Parser::new())
    }

    /// Parses `source` with the given limits.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use futures_util::stream;
    /// use sse_session::{FrameStream, ParserConfig};
    ///
    /// let config = ParserConfig::default().max_line_len(64 * 1024);
    /// let frames = FrameStream::with_config(stream::empty::<Result<Bytes, std::io::Error>>(), config);
    /// # let _ = frames;
    /// ```
    pub fn with_config(source: S, config: ParserConfig) -> Self {
        FrameStream::with_parser(source, Parser::with_config(config))
    }

    fn with_parser(source: S, parser: Parser) -> Self {
        FrameStream {
            source,
            parser,
            source_done: false,
        }
    }

    /// The parser, e.g. for [`Parser::last_event_id`] to send as
    /// `Last-Event-ID` when reconnecting.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use futures_util::{stream, StreamExt};
    /// use sse_session::FrameStream;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let chunks = stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"id: 9\ndata: x\n\n"))]);
    /// let mut frames = FrameStream::new(chunks);
    /// while frames.next().await.is_some() {}
    /// assert_eq!(frames.parser().last_event_id(), "9");
    /// # });
    /// ```
    #[must_use]
    pub fn parser(&self) -> &Parser {
        &self.parser
    }

    /// The source back, with the parser (which may hold unparsed bytes).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use futures_util::stream;
    /// use sse_session::FrameStream;
    ///
    /// let frames = FrameStream::new(stream::empty::<Result<Bytes, std::io::Error>>());
    /// let (_source, parser) = frames.into_parts();
    /// assert_eq!(parser.last_event_id(), "");
    /// ```
    pub fn into_parts(self) -> (S, Parser) {
        (self.source, self.parser)
    }
}

impl<B> FrameStream<BodyData<B>> {
    /// Parses the data frames of an HTTP body (trailers are ignored), e.g. the
    /// body of a `text/event-stream` response from a hyper or reqwest client.
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// use http_body_util::Full;
    /// use sse_session::{Frame, FrameStream};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let body = Full::new(bytes::Bytes::from_static(b"event: ping\ndata: {}\n\n"));
    /// let mut frames = FrameStream::from_body(body);
    /// let Some(Ok(Frame::Event(e))) = frames.next().await else { panic!() };
    /// assert_eq!((e.event_type(), e.data()), ("ping", "{}"));
    /// assert!(frames.next().await.is_none());
    /// # });
    /// ```
    pub fn from_body(body: B) -> Self {
        FrameStream::new(BodyData::new(body))
    }
}

impl<S, E> Stream for FrameStream<S>
where
    S: Stream<Item = Result<Bytes, E>>,
{
    type Item = Result<Frame, FrameStreamError<E>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            match this.parser.next_frame() {
                Ok(Some(frame)) => return Poll::Ready(Some(Ok(frame))),
                Err(e) => return Poll::Ready(Some(Err(FrameStreamError::Parse(e)))),
                Ok(None) => {}
            }
            if *this.source_done {
                return Poll::Ready(None);
            }
            match ready!(this.source.as_mut().poll_next(cx)) {
                Some(Ok(chunk)) => this.parser.feed_bytes(chunk),
                Some(Err(e)) => return Poll::Ready(Some(Err(FrameStreamError::Source(e)))),
                None => {
                    this.parser.finish();
                    *this.source_done = true;
                }
            }
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for FrameStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameStream")
            .field("source", &self.source)
            .field("parser", &self.parser)
            .field("source_done", &self.source_done)
            .finish()
    }
}

/// The error of a [`FrameStream`].
///
/// ```
/// use sse_session::{FrameStreamError, ParserConfig, Parser};
///
/// let mut p = Parser::with_config(ParserConfig::default().max_line_len(1));
/// p.feed(b"ab");
/// let err: FrameStreamError<std::io::Error> = FrameStreamError::Parse(p.next_frame().unwrap_err());
/// assert_eq!(err.to_string(), "line exceeds 1-byte limit");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameStreamError<E> {
    /// The source stream or body failed.
    Source(E),
    /// The parser hit a limit.
    Parse(ParseError),
}

impl<E: fmt::Display> fmt::Display for FrameStreamError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameStreamError::Source(e) => write!(f, "event stream source failed: {e}"),
            FrameStreamError::Parse(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl<E> std::error::Error for FrameStreamError<E>
where
    E: std::error::Error + 'static,
{
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FrameStreamError::Source(e) => Some(e),
            FrameStreamError::Parse(e) => Some(e),
        }
    }
}

pin_project_lite::pin_project! {
    /// The data frames of an `http_body::Body` as a `Stream` of `Bytes`
    /// (trailers and empty frames are skipped). Made by
    /// [`FrameStream::from_body`].
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// use http_body_util::Full;
    /// use sse_session::BodyData;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut chunks = BodyData::new(Full::new(bytes::Bytes::from_static(b"data: x\n\n")));
    /// assert_eq!(chunks.next().await.unwrap().unwrap(), &b"data: x\n\n"[..]);
    /// assert!(chunks.next().await.is_none());
    /// # });
    /// ```
    #[derive(Debug)]
    pub struct BodyData<B> {
        #[pin]
        body: B,
    }
}

impl<B> BodyData<B> {
    /// Wraps a body.
    ///
    /// ```
    /// let chunks = sse_session::BodyData::new(http_body_util::Empty::<bytes::Bytes>::new());
    /// # let _ = chunks;
    /// ```
    pub fn new(body: B) -> Self {
        BodyData { body }
    }

    /// The body back.
    ///
    /// ```
    /// let chunks = sse_session::BodyData::new(http_body_util::Empty::<bytes::Bytes>::new());
    /// let _body = chunks.into_inner();
    /// ```
    pub fn into_inner(self) -> B {
        self.body
    }
}

impl<B: Body> Stream for BodyData<B> {
    type Item = Result<Bytes, B::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            match ready!(this.body.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(mut data) = frame.into_data() {
                        let len = data.remaining();
                        if len > 0 {
                            return Poll::Ready(Some(Ok(data.copy_to_bytes(len))));
                        }
                    }
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => return Poll::Ready(None),
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn collect<S: Stream + Unpin>(mut s: S) -> Vec<S::Item> {
        let mut cx = Context::from_waker(Waker::noop());
        let mut out = Vec::new();
        loop {
            match Pin::new(&mut s).poll_next(&mut cx) {
                Poll::Ready(Some(item)) => out.push(item),
                Poll::Ready(None) => return out,
                Poll::Pending => panic!("in-memory source is never pending"),
            }
        }
    }

    struct Chunks(Vec<Result<Bytes, &'static str>>);

    impl Stream for Chunks {
        type Item = Result<Bytes, &'static str>;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Ready(if self.0.is_empty() {
                None
            } else {
                Some(self.0.remove(0))
            })
        }
    }

    #[test]
    fn source_errors_pass_through_and_parsing_goes_on() {
        let source = Chunks(vec![
            Ok(Bytes::from_static(b"data: a\r")),
            Err("reset"),
            Ok(Bytes::from_static(b"\ndata: b\n\n: tail\ndata: lost")),
        ]);
        let items = collect(FrameStream::new(source));
        assert_eq!(
            items,
            [
                Err(FrameStreamError::Source("reset")),
                Ok(Frame::Event(crate::MessageEvent::new("", "a\nb", ""))),
                Ok(Frame::Comment(crate::Comment::new("tail"))),
            ]
        );
    }

    #[test]
    fn limit_errors_are_items() {
        let source = Chunks(vec![Ok(Bytes::from_static(
            b"data: toolong\n\ndata: ok\n\n",
        ))]);
        let config = ParserConfig::default().max_line_len(8);
        let items = collect(FrameStream::with_config(source, config));
        assert_eq!(items.len(), 2);
        assert!(matches!(&items[0], Err(FrameStreamError::Parse(e)) if e.limit() == 8));
        assert!(matches!(&items[1], Ok(Frame::Event(e)) if e.data() == "ok"));
    }

    #[test]
    fn body_trailers_and_empty_frames_are_skipped() {
        use http_body_util::{BodyExt, StreamBody};
        let frames = futures_util::stream::iter([
            Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from_static(
                b"data: ",
            ))),
            Ok(http_body::Frame::data(Bytes::new())),
            Ok(http_body::Frame::data(Bytes::from_static(b"x\n\n"))),
            Ok(http_body::Frame::trailers(http::HeaderMap::new())),
        ]);
        let body = StreamBody::new(frames).boxed();
        let items = collect(FrameStream::from_body(body));
        assert_eq!(
            items,
            [Ok(Frame::Event(crate::MessageEvent::new("", "x", "")))]
        );
    }
}
