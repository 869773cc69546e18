"""Gathering articles: feeds, local files, article pages and keyless discovery.

The public surface is ``bot.sources.gather``: ``gather``, ``discover``,
``GatherResult``, ``FeedStateStore`` and ``InMemoryFeedState``. The modules:

- ``gather``: runs a gather or discovery, turns every problem into a ``SourceError``;
- ``http``: one safe fetch (timeouts, size cap, checked redirects, conditional GET);
- ``safety``: the SSRF guard for URLs that come from third parties;
- ``feeds``: RSS/Atom parsing with feedparser and the teaser heuristic;
- ``extract``: HTML fragments and article pages to plain text (trafilatura);
- ``charset``: bytes to text without mojibake;
- ``local``: feed and JSON Lines files, directories, ``file://`` URLs (regular files only, capped);
- ``records``: the checks every article passes before it leaves (encoding, sizes, dates);
- ``discovery``: GDELT DOC 2.0 and Google News search requests and responses;
- ``labels``: outlet names from hosts, language codes from tags.
"""
