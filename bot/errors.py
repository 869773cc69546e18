"""The exception tree of briefbot.

::

    BriefbotError                   base of everything raised on purpose
    ├── ConfigError                 bad or missing setting / topics file (exit code 2)
    ├── SourceFetchError            one source could not be gathered (reported per source)
    │   ├── SourceHTTPError         non-2xx status (carries ``status_code``)
    │   ├── SourceTooLargeError     body over the size cap (carries ``limit``)
    │   └── SourceFormatError       not a feed / malformed XML / bad JSON Lines
    ├── StoreError                  the database could not be read or written
    └── SummarizerError             a briefing could not be produced by a summarizer
        ├── PromptError             a prompt template is missing or invalid
        └── LLMError                the model call failed (bot.summarize.llm_client)
            ├── LLMTimeout, LLMConnectionError, LLMRateLimited(retry_after),
            │   LLMServerError(status), LLMRefusal, LLMTruncated, LLMInvalidOutput
            └── LLMRequestError(status)
                ├── LLMContextLengthError
                └── LLMStructuredOutputUnsupported

The LLM errors live next to the client that raises them; every one carries the
tokens already spent (``.usage``) so the briefer can account for them.

Per-source errors never abort a run: the pipeline records them as
``SourceError`` entries and carries on with the other sources.
"""

from __future__ import annotations


class BriefbotError(Exception):
    """Base class for errors raised on purpose by briefbot."""


class ConfigError(BriefbotError):
    """A setting or the topics file is invalid; the message names the key and the fix."""


class SourceFetchError(BriefbotError):
    """A source (feed, page, file, discovery API) could not be gathered."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(message)
        self.source = source
        self.message = message

    def __str__(self) -> str:
        return self.message


class SourceHTTPError(SourceFetchError):
    def __init__(self, source: str, status_code: int, message: str | None = None) -> None:
        super().__init__(source, message or f"HTTP {status_code} from {source}")
        self.status_code = status_code


class SourceTooLargeError(SourceFetchError):
    def __init__(self, source: str, limit: int) -> None:
        super().__init__(source, f"response body exceeds the size cap of {limit} bytes")
        self.limit = limit


class SourceFormatError(SourceFetchError):
    """The body was fetched but is not what was expected (not a feed, malformed XML, ...)."""


class StoreError(BriefbotError):
    """The database could not be read or written."""


class SummarizerError(BriefbotError):
    """A summarizer could not produce a briefing."""


class PromptError(SummarizerError):
    """A prompt template is missing, unreadable, or uses unknown/missing variables."""
