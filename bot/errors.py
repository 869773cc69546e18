"""The exception tree of briefbot.

::

    BriefbotError                   base of everything raised on purpose
    ├── ConfigError                 bad or missing setting / topics file (exit code 2)
    │   ├── InvalidRequest          a request's argument is invalid (empty topic, bad zone)
    │   ├── StoreConfigError        DATABASE_URL or the data directory is unusable (also a
    │   │                           StoreError)
    │   └── PromptFileError         a prompt file or the prompts folder is missing or invalid
    │                               (also a PromptError)
    ├── SourceFetchError            one source could not be gathered (reported per source)
    │   ├── SourceHTTPError         non-2xx status (carries ``status_code``)
    │   ├── SourceTooLargeError     body over the size cap (carries ``limit``)
    │   ├── SourceRefusedError      the SSRF guard refused an address (bot.sources.safety)
    │   └── SourceFormatError       not a feed / malformed XML / bad JSON Lines
    ├── StoreError                  the database could not be read or written
    └── SummarizerError             a briefing could not be produced by a summarizer
        ├── PromptError             a prompt template is missing or invalid
        └── LLMError                the model call failed (raised by bot.llm.client)
            ├── LLMTimeout          no reply within BRIEFBOT_LLM_TIMEOUT (``timeout``)
            ├── LLMConnectionError  server unreachable or connection dropped (``base_url``)
            ├── LLMRateLimited      429 after all retries (``retry_after``, ``code``)
            ├── LLMServerError      5xx after all retries (``status``)
            ├── LLMRequestError     other 4xx: bad key, unknown model, bad request (``status``)
            │   ├── LLMContextLengthError           prompt longer than the context window
            │   └── LLMStructuredOutputUnsupported  json_schema rejected while forced
            ├── LLMRefusal          the model refused or a content filter stopped it
            ├── LLMTruncated        reply cut off at max_tokens (finish_reason "length")
            └── LLMInvalidOutput    not JSON matching the schema, even after one repair

Every message is redacted when the error is made (``bot.redact``): no URL userinfo, key or
token reaches a person, a log or the store through an error's text.

A configuration problem found by another area (the store's URL or directory, the prompt
files) is raised there as a ``ConfigError`` subclass that is also that area's error, so the
CLI exits 2 for it by its class, and code catching ``StoreError``/``PromptError`` still does.

The LLM errors live here, not beside the client, so the briefer can catch them without
importing the openai SDK; every one raised after the server answered carries the tokens
already spent (``.usage``) and the model that answered (``.model``). ``str(error)`` is the
operator's sentence (it may name the server); ``error.note`` is the cause in plain words for
a reader of a briefing, without addresses or the server's text.

Per-source errors never abort a run: the pipeline records them as
``SourceError`` entries and carries on with the other sources.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.redact import redact

if TYPE_CHECKING:
    from bot.summarize.ports import Usage


class BriefbotError(Exception):
    """Base class for errors raised on purpose by briefbot; its message is redacted."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact(arg) if isinstance(arg, str) else arg for arg in args))


class ConfigError(BriefbotError):
    """A setting or the topics file is invalid; the message names the key and the fix."""


class InvalidRequest(ConfigError):
    """A request's argument is invalid; the message names it and what to give instead."""


class SourceFetchError(BriefbotError):
    """A source (feed, page, file, discovery API) could not be gathered."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(message)
        self.source = redact(source)
        self.message = redact(message)

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


class SourceRefusedError(SourceFetchError):
    """A URL nobody vouches for leads to an address that is not public (the SSRF guard)."""


class SourceFormatError(SourceFetchError):
    """The body was fetched but is not what was expected (not a feed, malformed XML, ...)."""


class StoreError(BriefbotError):
    """The database could not be read or written."""


class StoreConfigError(ConfigError, StoreError):
    """The database cannot be used because of the configuration: ``DATABASE_URL`` is not a
    database URL or names a driver that is not installed, or the SQLite file or its
    directory (``BRIEFBOT_DATA_DIR``) cannot be created or opened."""


class SummarizerError(BriefbotError):
    """A summarizer could not produce a briefing."""


class PromptError(SummarizerError):
    """A prompt template is missing, unreadable, or uses unknown/missing variables."""


class PromptFileError(ConfigError, PromptError):
    """A prompt file or the prompts folder (``BRIEFBOT_PROMPTS_DIR``) is missing, unreadable
    or invalid, found when the prompts are loaded at start-up."""


class LLMError(SummarizerError):
    """The LLM could not produce a usable reply; the message names the cause and the fix."""

    usage: Usage | None = None  # tokens already spent when the failure came after a reply
    model: str | None = None  # the model the server said answered, when it did

    @property
    def note(self) -> str:
        """The cause in plain words for a visible note (no address, no server text)."""
        return "the model call failed"


class LLMTimeout(LLMError):
    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(
            f"The model server at {base_url} sent no reply within {timeout:g} s "
            "(BRIEFBOT_LLM_TIMEOUT)."
        )
        self.base_url = redact(base_url)
        self.timeout = timeout

    @property
    def note(self) -> str:
        return f"the model server did not answer in {self.timeout:g} s"


DROPPED = "the connection dropped"  # LLMConnectionError.reason for a reply cut off


class LLMConnectionError(LLMError):
    def __init__(self, base_url: str, detail: str, *, reason: str = "") -> None:
        super().__init__(f"Could not talk to the model server at {base_url}: {detail}.")
        self.base_url = redact(base_url)
        self.reason = reason  # plain words: "connection refused", "no connection within 5 s"

    @property
    def note(self) -> str:
        if self.reason == DROPPED:
            return "the connection to the model server dropped"
        if self.reason:
            return f"the model server could not be reached ({self.reason})"
        return "the model server could not be reached"


class LLMRateLimited(LLMError):
    def __init__(self, message: str, *, retry_after: float | None, code: str | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.code = code

    @property
    def note(self) -> str:
        if self.code == "insufficient_quota":
            return "the model account has run out of quota"
        return "the model server is rate limiting requests"


class LLMServerError(LLMError):
    def __init__(self, status: int, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after

    @property
    def note(self) -> str:
        return f"the model server failed (HTTP {self.status})"


class LLMRequestError(LLMError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status

    @property
    def note(self) -> str:
        return f"the model server refused the request (HTTP {self.status})"


class LLMContextLengthError(LLMRequestError):
    """The prompt does not fit the model's context window (lower BRIEFBOT_PROMPT_TOKEN_BUDGET)."""

    @property
    def note(self) -> str:
        return "the prompt was too long for the model"


class LLMStructuredOutputUnsupported(LLMRequestError):
    """The server rejects ``response_format: json_schema``."""

    @property
    def note(self) -> str:
        return "the model server does not support structured output"


class LLMRefusal(LLMError):
    def __init__(self, refusal: str) -> None:
        super().__init__(f"The model declined to answer: {refusal}")
        self.refusal = refusal

    @property
    def note(self) -> str:
        return "the model declined to answer"


class LLMTruncated(LLMError):
    def __init__(self, max_tokens: int, content: str) -> None:
        super().__init__(
            f"The model's reply was cut off at the {max_tokens}-token limit "
            "(BRIEFBOT_MAX_COMPLETION_TOKENS)."
        )
        self.max_tokens = max_tokens
        self.content = content

    @property
    def note(self) -> str:
        return f"the model's reply was cut off at the {self.max_tokens}-token limit"


class LLMInvalidOutput(LLMError):
    def __init__(self, message: str, *, content: str = "", problem: str = "") -> None:
        super().__init__(message)
        self.content = content
        self.problem = problem

    @property
    def note(self) -> str:
        return "the model's reply was not a valid briefing"
