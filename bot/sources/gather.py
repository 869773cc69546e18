"""Gather articles from the operator's sources and from keyless discovery.

``gather(specs, settings)`` takes feed URLs and local paths (see
``bot.sources.local``) and returns every article it could read plus one
``SourceError`` per problem; ``discover(query, settings)`` does the same for
GDELT and Google News search. Neither raises for a per-source problem: a dead
host, a 404, a timeout, an HTML page where a feed should be, malformed XML, a
body over the size cap, a bad JSON line or an unfetchable article page all
become ``SourceError`` entries (and a log line) while the other sources carry on.

Feed items that carry only a teaser (``bot.sources.feeds.is_teaser``) are
completed from their article page with trafilatura unless
``settings.fetch_full_text`` is off. A page that fails leaves the article with
its teaser, ``full_text=False`` and an error naming the page URL.

Articles keep the link exactly as the source gave it (``url`` and
``original_url``); ``source`` is the spec (or discovery request URL) it came
from. Outlet: the item's ``<source>``, else the page's ``og:site_name``, else
the link's host without ``www.``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

import httpcore2
import httpx2

from bot.config import Settings
from bot.domain import Article, Progress, SourceError
from bot.errors import SourceFetchError
from bot.sources.discovery import (
    DISCOVERY_MAX_RESULTS,
    gdelt_request_url,
    google_news_request_url,
    parse_gdelt,
)
from bot.sources.extract import PageContent, extract_page
from bot.sources.feeds import FeedItem, ParsedFeed, parse_feed
from bot.sources.http import FEED_ACCEPT, JSON_ACCEPT, PAGE_ACCEPT, Fetcher, Validators, make_client
from bot.sources.labels import host_outlet
from bot.sources.local import (
    JSONL_SUFFIXES,
    is_url_spec,
    local_files,
    read_capped,
    read_jsonl,
    spec_path,
)
from bot.sources.records import article_problem, shorten
from bot.sources.safety import Origin, Resolver, origin_of
from bot.sources.tls import tls_context

log = logging.getLogger(__name__)

TITLE_FALLBACK_CHARS = 120


@dataclass(slots=True)
class GatherResult:
    """Articles gathered and the per-source errors met on the way."""

    articles: list[Article] = field(default_factory=list)
    errors: list[SourceError] = field(default_factory=list)

    def extend(self, other: GatherResult) -> None:
        self.articles.extend(other.articles)
        self.errors.extend(other.errors)


class FeedStateStore(Protocol):
    """Conditional-GET memory: the validators last seen for each feed URL."""

    def get(self, url: str) -> tuple[str | None, str | None] | None:
        """``(etag, last_modified)`` remembered for ``url``, or ``None``."""
        ...

    def set(self, url: str, etag: str | None, last_modified: str | None) -> None:
        """Remember the validators of the latest successful fetch of ``url``."""
        ...


class InMemoryFeedState:
    """A ``FeedStateStore`` in a dict (tests, one-off runs)."""

    def __init__(self) -> None:
        self._state: dict[str, tuple[str | None, str | None]] = {}

    def get(self, url: str) -> tuple[str | None, str | None] | None:
        return self._state.get(url)

    def set(self, url: str, etag: str | None, last_modified: str | None) -> None:
        self._state[url] = (etag, last_modified)


# Page extraction is CPU-bound (the GIL gains nothing from more threads) and
# trafilatura keeps module-level state, so pages are extracted one at a time in a
# thread of their own, off the event loop.
_EXTRACTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="briefbot-extract")


def _extract_one(body: bytes, url: str, content_type: str, charset: str | None) -> PageContent:
    return extract_page(body, url=url, content_type=content_type, charset=charset)


def _fallback_title(text: str, link: str) -> str:
    first = text.split("\n\n", 1)[0].strip()
    if not first:
        return link
    if len(first) <= TITLE_FALLBACK_CHARS:
        return first
    return first[:TITLE_FALLBACK_CHARS].rsplit(" ", 1)[0] + "…"


class _Run:
    """One gather or discovery run: the shared fetcher, settings and feed state."""

    def __init__(
        self,
        fetcher: Fetcher,
        settings: Settings,
        feed_state: FeedStateStore | None,
        untrusted: Collection[str] = (),
    ) -> None:
        self.fetcher = fetcher
        self.settings = settings
        self.feed_state = feed_state
        self.untrusted = frozenset(untrusted)

    # ------------------------------------------------------------ one spec
    async def spec(self, spec: str) -> GatherResult:
        """Everything one spec yields; every problem becomes a ``SourceError``."""
        if is_url_spec(spec):
            return await self._guarded(spec, self._feed_url(spec))
        return await self._guarded(spec, self._local(spec))

    async def _guarded(self, where: str, job: Awaitable[GatherResult]) -> GatherResult:
        try:
            return await job
        except SourceFetchError as exc:
            return self._failed(where, str(exc))
        except Exception as exc:  # a bug or a library surprise must not end the run
            log.exception("unexpected error while gathering %s", where)
            return self._failed(where, f"unexpected error: {type(exc).__name__}: {exc}")

    @staticmethod
    def _failed(where: str, message: str) -> GatherResult:
        log.warning("%s: %s", where, message)
        return GatherResult(errors=[SourceError(where, message)])

    async def _feed_url(self, url: str) -> GatherResult:
        stored = self.feed_state.get(url) if self.feed_state is not None else None
        chat = url in self.untrusted
        # A feed added from chat has no trusted origin (every fetch of it and of its
        # pages is checked) unless the operator allows private sources.
        vouched = not chat or self.settings.allow_private_sources
        origin = origin_of(url) if vouched else None
        fetched = await self.fetcher.get(
            url,
            origin=origin,
            trusted=vouched,
            chat=chat,
            validators=Validators(*stored) if stored else None,
            accept=FEED_ACCEPT,
        )
        if fetched.not_modified:
            log.info("%s: not modified since the last fetch", url)
            return GatherResult()
        parsed = await asyncio.to_thread(
            parse_feed,
            fetched.body,
            source=url,
            base_url=fetched.url,
            header_charset=fetched.charset,
        )
        if self.feed_state is not None:
            new = fetched.validators
            if (new.etag, new.last_modified) != (stored or (None, None)):
                self.feed_state.set(url, new.etag, new.last_modified)
        return await self.complete(parsed, source=url, where=url, origin=origin, chat=chat)

    async def _local(self, spec: str) -> GatherResult:
        files = local_files(spec)
        in_directory = spec_path(spec).is_dir()
        result = GatherResult()
        for path in files:
            where = str(path) if in_directory else spec
            try:
                if path.suffix.lower() in JSONL_SUFFIXES:
                    local = await asyncio.to_thread(
                        read_jsonl,
                        path,
                        source=spec,
                        where=where,
                        max_body_bytes=self.settings.max_body_bytes,
                    )
                    result.articles.extend(local.articles)
                    for error in local.errors:
                        log.warning("%s: %s", error.source, error.error)
                    result.errors.extend(local.errors)
                    continue
                body = await asyncio.to_thread(
                    read_capped, path, self.settings.max_body_bytes, where=where
                )
                parsed = await asyncio.to_thread(parse_feed, body, source=where)
                result.extend(await self.complete(parsed, source=spec, where=where, origin=None))
            except SourceFetchError as exc:
                result.extend(self._failed(where, str(exc)))
            except Exception as exc:  # one file of a directory must not lose the others
                log.exception("unexpected error while reading %s", where)
                result.extend(self._failed(where, f"unexpected error: {type(exc).__name__}: {exc}"))
        return result

    # ------------------------------------------------------------ items -> articles
    async def complete(
        self,
        parsed: ParsedFeed,
        *,
        source: str,
        where: str,
        origin: Origin | None,
        chat: bool = False,
    ) -> GatherResult:
        """Articles for a parsed feed, fetching pages of teaser items (concurrently).

        ``origin`` is the trusted origin pages may be on without a check; ``chat``
        marks the items of a feed added from chat.

        Every article passes ``bot.sources.records.article_problem``; an item that
        does not is reported (``where``, its number and link, the problem) and skipped.
        """
        result = GatherResult()
        for problem in parsed.problems:
            result.extend(self._failed(where, problem))
        done = await asyncio.gather(
            *(self._article(item, source=source, origin=origin, chat=chat) for item in parsed.items)
        )
        for number, (item, outcome) in enumerate(zip(parsed.items, done, strict=True), start=1):
            if isinstance(outcome, str):
                result.extend(
                    self._failed(
                        where, f"item {number} ({shorten(item.link)}): {outcome}; item skipped"
                    )
                )
                continue
            article, error = outcome
            result.articles.append(article)
            if error is not None:
                log.warning("%s: %s", error.source, error.error)
                result.errors.append(error)
        return result

    @staticmethod
    def _build(
        item: FeedItem, source: str, page: PageContent | None, *, page_text: bool = False
    ) -> Article:
        """The item's article; ``page`` fills in what the item lacks, and its text replaces
        the teaser when ``page_text``."""
        if page is not None and page_text:
            text, full_text = page.text, True
        else:
            text, full_text = item.text, not item.is_teaser
        title = item.title or (page.title if page and page.title else "")
        title = title or _fallback_title(text, item.link)
        return Article(
            url=item.link,
            original_url=item.link,
            title=title,
            text=text or title,
            outlet=item.outlet or (page.site_name if page else None) or host_outlet(item.link),
            published_at=item.published_at,
            full_text=full_text,
            language=item.language or (page.language if page else None),
            source=source,
        )

    async def _article(
        self, item: FeedItem, *, source: str, origin: Origin | None, chat: bool
    ) -> tuple[Article, SourceError | None] | str:
        """The item's article and an error about its page, or why the item cannot be kept."""
        limit = self.settings.max_body_bytes
        article = self._build(item, source, None)
        if problem := article_problem(article, max_text_bytes=limit):
            return problem  # checked before its page is fetched
        if not (item.is_teaser and self.settings.fetch_full_text):
            return article, None
        try:
            page = await self._page(item.link, origin, chat)
        except SourceFetchError as exc:
            return article, SourceError(item.link, f"{exc}; kept the teaser text instead")
        except Exception as exc:  # extraction libraries may fail in unforeseen ways
            log.exception("unexpected error while extracting %s", item.link)
            return article, SourceError(
                item.link,
                f"unexpected error while extracting the page ({type(exc).__name__}: {exc}); "
                "kept the teaser text instead",
            )
        if len(page.text.split()) < len(item.text.split()):
            chosen = self._build(item, source, page)
            error: SourceError | None = SourceError(
                item.link,
                "the page's text is shorter than the feed teaser (a paywall or not an "
                "article?); kept the teaser text instead",
            )
        else:
            chosen, error = self._build(item, source, page, page_text=True), None
        if problem := article_problem(chosen, max_text_bytes=limit):
            return article, SourceError(
                item.link, f"from the page, {problem}; kept the feed's item instead"
            )
        return chosen, error

    async def _page(self, link: str, origin: Origin | None, chat: bool) -> PageContent:
        fetched = await self.fetcher.get(link, origin=origin, chat=chat, accept=PAGE_ACCEPT)
        return await asyncio.get_running_loop().run_in_executor(
            _EXTRACTOR,
            _extract_one,
            fetched.body,
            fetched.url,
            fetched.content_type,
            fetched.charset,
        )

    # ------------------------------------------------------------ discovery
    async def gdelt(self, query: str) -> GatherResult:
        url = gdelt_request_url(query, self.settings)
        return await self._guarded(url, self._gdelt(url, query))

    async def _gdelt(self, url: str, query: str) -> GatherResult:
        fetched = await self.fetcher.get(
            url, origin=origin_of(self.settings.gdelt_url), trusted=True, accept=JSON_ACCEPT
        )
        items = parse_gdelt(fetched.body, source=url)
        log.info("GDELT found %d articles for %r", len(items), query)
        origin = origin_of(self.settings.gdelt_url)
        return await self.complete(ParsedFeed(items), source=url, where=url, origin=origin)

    async def google_news(self, query: str) -> GatherResult:
        url = google_news_request_url(query, self.settings)
        return await self._guarded(url, self._google_news(url, query))

    async def _google_news(self, url: str, query: str) -> GatherResult:
        fetched = await self.fetcher.get(
            url, origin=origin_of(self.settings.google_news_url), trusted=True, accept=FEED_ACCEPT
        )
        parsed = await asyncio.to_thread(
            parse_feed,
            fetched.body,
            source=url,
            base_url=fetched.url,
            header_charset=fetched.charset,
            allow_empty=True,
        )
        parsed.items = parsed.items[:DISCOVERY_MAX_RESULTS]
        log.info("Google News found %d articles for %r", len(parsed.items), query)
        origin = origin_of(self.settings.google_news_url)
        return await self.complete(parsed, source=url, where=url, origin=origin)


@asynccontextmanager
async def _fetcher(
    settings: Settings,
    client: httpx2.AsyncClient | None,
    resolver: Resolver | None,
    network: httpcore2.AsyncNetworkBackend | None,
) -> AsyncIterator[Fetcher]:
    async with AsyncExitStack() as stack:
        await asyncio.to_thread(tls_context)  # made once, off the event loop
        if client is None:
            client = await stack.enter_async_context(make_client(settings))
        fetcher = Fetcher(client, settings, resolver=resolver, network=network)
        stack.push_async_callback(fetcher.aclose)
        yield fetcher


async def _run_all(
    jobs: Sequence[tuple[str, Callable[[], Awaitable[GatherResult]]]],
    progress: Progress | None,
) -> GatherResult:
    """Run the jobs concurrently; report progress as each ends; merge results in job order."""
    total, done = len(jobs), 0

    async def run(name: str, job: Callable[[], Awaitable[GatherResult]]) -> GatherResult:
        nonlocal done
        result = await job()
        done += 1
        if progress is not None:
            try:
                progress(name, done, total)
            except Exception:  # a broken progress display must not lose the gathered news
                log.exception("the progress callback failed for %s", name)
        return result

    merged = GatherResult()
    for result in await asyncio.gather(*(run(name, job) for name, job in jobs)):
        merged.extend(result)
    return merged


async def gather(
    specs: Sequence[str],
    settings: Settings,
    *,
    feed_state: FeedStateStore | None = None,
    progress: Progress | None = None,
    client: httpx2.AsyncClient | None = None,
    untrusted: Collection[str] = (),
    resolver: Resolver | None = None,
    network: httpcore2.AsyncNetworkBackend | None = None,
) -> GatherResult:
    """Gather the articles of every spec (feed URL, feed/JSON Lines file, or directory).

    The feed URLs in ``untrusted`` came from chat, not from the operator: they, their
    redirects and their article links are fetched only from public addresses (unless
    ``BRIEFBOT_ALLOW_PRIVATE_SOURCES``), over connections pinned to the checked
    address (``bot.sources.safety``); a refusal is that source's ``SourceError``.

    ``progress(source, done, total)`` is called as each spec finishes.
    ``client`` lets the caller share an ``httpx2.AsyncClient`` for the operator's
    sources; otherwise one is made and closed here. Checked requests resolve with
    ``resolver`` (default: the OS) and connect through ``network`` (default:
    httpcore2's anyio backend).
    """
    unique = list(dict.fromkeys(spec.strip() for spec in specs if spec.strip()))
    async with _fetcher(settings, client, resolver, network) as fetcher:
        run = _Run(fetcher, settings, feed_state, untrusted={u.strip() for u in untrusted})
        return await _run_all([(spec, _bind(run.spec, spec)) for spec in unique], progress)


async def discover(
    query: str,
    settings: Settings,
    *,
    client: httpx2.AsyncClient | None = None,
    progress: Progress | None = None,
    resolver: Resolver | None = None,
    network: httpcore2.AsyncNetworkBackend | None = None,
) -> GatherResult:
    """Search the discovery services in ``settings.discovery`` (GDELT, Google News) for ``query``.

    Results are untrusted: their pages must be on public addresses (or on the
    service's own host:port). ``progress`` is called as each service finishes.
    """
    if not query.strip():
        return GatherResult(errors=[SourceError("discovery", "the discovery query is empty")])
    async with _fetcher(settings, client, resolver, network) as fetcher:
        run = _Run(fetcher, settings, None)
        services = {"gdelt": run.gdelt, "googlenews": run.google_news}
        jobs = [
            (name, _bind(services[name], query))
            for name in dict.fromkeys(settings.discovery)
            if name in services
        ]
        return await _run_all(jobs, progress)


def _bind(
    function: Callable[[str], Awaitable[GatherResult]], argument: str
) -> Callable[[], Awaitable[GatherResult]]:
    def call() -> Awaitable[GatherResult]:
        return function(argument)

    return call
