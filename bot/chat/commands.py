"""The chat command grammar, its permissions and its replies: one for every platform.

An adapter turns a platform event into a ``ChatRequest`` (the text without the bot's
mention), awaits ``ChatCore.handle`` and renders the ``ChatReply``. The grammar::

    brief TOPIC
    ask TOPIC QUESTION                         answered from the channel's latest briefing
                                               of TOPIC (or its most relevant story)
    subscribe TOPIC [SCHEDULE] [TIME ZONE] [live] [quiet]
                                               default schedule: daily 08:00
    unsubscribe TOPIC
    list                                       this channel's subscriptions, next delivery
    sources TOPIC
    sources TOPIC add URL | sources TOPIC remove URL
    help

In a thread, a message whose first word is not a command is a question about the briefing
the bot posted there: ``BriefingService.answer`` answers it from that thread's stories'
sources only, with the thread's earlier questions as memory, and privately points to
``brief TOPIC`` when the thread has no briefing. Outside a thread, a question (several words
ending in ``?``) gets that pointer too; any other unknown first word is an unknown command.

``ask TOPIC QUESTION`` answers from the channel's latest briefing of TOPIC, or from the
topic's most relevant story when the channel has none; the reply (``ReplyKind.ANSWER`` with
``starts_thread``) is posted where a thread can start, and the adapter records it with
``BriefingService.record_answer`` so follow-ups in its thread continue from it. A
several-word topic is the longest run of leading words that names a tracked topic
(``ask baltic ports who is striking?``); otherwise the first word is the topic. A topic
that is not tracked and has more than one word goes in double quotes: ``ask "sunday league"
who won?``.

A topic may be several words. In ``subscribe``, the schedule starts at the first schedule
word after the topic's first word (``daily``, ``weekdays``, ``weekends``, ``weekly``,
``every`` or a day list such as ``mon-fri``; see ``bot.chat.schedule``), and a last word
with a ``/`` (or ``UTC``) is the time zone: ``subscribe baltic ports weekdays 07:30
Europe/Riga``. A topic with a schedule word in it goes in double quotes: ``subscribe "sunday
league" weekends 10:00``. The last words of ``subscribe`` may be options, in any order:
``live`` posts a story's material developments into its thread as they come (the
subscription's ``updates`` is "live"), and ``quiet`` posts nothing when a digest has nothing
new (``nothing_new`` is "silent"; by default it posts one line). A topic ending in one of
those words goes in double quotes. In ``sources``, ``add``/``remove`` is the word before the
last.

Subscribing, unsubscribing and changing sources need ``user_may_manage`` (the adapter decides
it from the platform's roles); a refusal is private, as is every error reply: only the asker
sees it. ``handle`` is the one error boundary: a ``BriefbotError`` becomes its message, any
other exception is logged with its traceback and an error id, and the reply is an apology
quoting that id. It never raises.
"""

from __future__ import annotations

import difflib
import enum
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.chat.schedule import (
    KEYWORDS,
    Schedule,
    near_schedule_word,
    parse_schedule,
    starts_schedule,
)
from bot.domain import Briefing, Channel, Subscription, Topic, topic_key
from bot.errors import BriefbotError, InvalidRequest
from bot.qa import Answer, Refusal
from bot.render.text import to_text
from bot.service import BriefingService, check_timezone

log = logging.getLogger(__name__)

COMMANDS = ("brief", "ask", "subscribe", "unsubscribe", "list", "sources", "help")
DEFAULT_SCHEDULE = "daily 08:00"
_TIME_WORD = re.compile(r"\d{1,2}:\d{2}")
_QUOTES = {'"': '"', "“": "”"}
_MANAGE = {
    "subscribe": "subscribe this channel",
    "unsubscribe": "unsubscribe this channel",
    "sources": "change a topic's sources",
}

HELP = """\
Commands:
  brief <topic>                                  brief a topic now
  ask <topic> <question>                         a question about the topic's latest briefing
  subscribe <topic> [schedule] [time zone]       a digest on a schedule (default daily 08:00)
            [live] [quiet]                       live: post updates into a story's thread as
                                                 they come; quiet: no line when nothing is new
  unsubscribe <topic>                            stop a digest
  list                                           this channel's digests and when they come next
  sources <topic>                                the feeds a topic is gathered from
  sources <topic> add <feed url>                 add a feed (checked first)
  sources <topic> remove <feed url>              take a feed off
  help                                           this list
Schedules: daily 08:00, weekdays 07:30, weekends 10:00, weekly mon 09:00, mon,wed,fri 18:00,
every 6h. Time zones are IANA names such as Europe/London. Put a topic containing a day name
in double quotes: subscribe "sunday league" weekends 10:00.
Questions: ask in the thread of a briefing I posted, or say ask <topic> <question>; I answer
from the story's sources only. "What's the latest?" gathers the topic's news first."""

ASK_IN_THREAD = (
    "I answer questions in the thread of a briefing I posted, from that briefing's sources. "
    "Say brief <topic> to get a briefing, then ask your question in its thread."
)


class ReplyKind(enum.StrEnum):
    TEXT = "text"
    BRIEFING = "briefing"
    ANSWER = "answer"  # a follow-up question in a briefing's thread, answered from its sources
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One message to the bot, platform-neutral: who asked, where, and what."""

    channel: Channel
    user_id: str
    user_may_manage: bool
    text: str
    thread_id: str | None = None


@dataclass(frozen=True, slots=True)
class ChatReply:
    """What to answer: plain ``text`` always (a briefing's and an answer's too), the
    ``briefing`` or ``answer`` itself for renderers that lay it out, and whether only the
    asker should see it. ``starts_thread``: an answer of ``ask TOPIC``, posted where a
    thread can start and recorded with ``BriefingService.record_answer``."""

    kind: ReplyKind
    text: str
    briefing: Briefing | None = None
    private: bool = False
    answer: Answer | None = None
    starts_thread: bool = False


def _text(text: str) -> ChatReply:
    return ChatReply(ReplyKind.TEXT, text)


def _error(text: str) -> ChatReply:
    return ChatReply(ReplyKind.ERROR, text, private=True)


class ChatCore:
    """The chat commands over one ``BriefingService``."""

    def __init__(
        self,
        service: BriefingService,
        *,
        default_timezone: str = "UTC",
        max_text: int = 2000,
    ) -> None:
        self.service = service
        self.default_timezone = check_timezone(default_timezone)
        self.max_text = max_text

    async def handle(self, request: ChatRequest) -> ChatReply:
        """Answer one request; never raises (see the module docstring)."""
        try:
            return await self._dispatch(request)
        except BriefbotError as exc:
            return _error(str(exc))
        except Exception:
            error_id = secrets.token_hex(4)
            log.exception(
                "chat request failed (error %s): %r in %s",
                error_id,
                request.text[:80],
                request.channel.label,
            )
            return _error(
                f"Sorry, something went wrong on my side (error {error_id}). "
                "Please try again later, or tell the operator that error id."
            )

    async def _dispatch(self, request: ChatRequest) -> ChatReply:
        text = request.text.strip()
        if len(text) > self.max_text:
            raise InvalidRequest(
                f"That message is {len(text)} characters long; I read at most "
                f"{self.max_text}. Send a shorter command (say help for the list)."
            )
        command, _, args = text.partition(" ")
        command = command.lower()
        args = args.strip()
        if command in ("", "help"):
            return _text(HELP)
        if command not in COMMANDS and request.thread_id is not None:
            return await self._answer(request.channel, request.thread_id, text)
        if command not in COMMANDS and _is_question(text):
            return _error(ASK_IN_THREAD)
        if command not in COMMANDS:
            close = difflib.get_close_matches(command, COMMANDS, n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]}?" if close else ""
            raise InvalidRequest(
                f"I don't know the command {command!r}.{hint} Say help for the commands."
            )
        if command in _MANAGE and not request.user_may_manage and _changes(command, args):
            return _error(
                f"Only people who may manage this channel can {_MANAGE[command]}; "
                "ask one of them to do it."
            )
        if command == "brief":
            return await self._brief(request.channel, args)
        if command == "ask":
            return await self._ask(request.channel, args)
        if command == "subscribe":
            return await self._subscribe(request, args)
        if command == "unsubscribe":
            return await self._unsubscribe(request.channel, args)
        if command == "list":
            return await self._list(request.channel)
        return await self._sources(args, request.user_id)

    # ------------------------------------------------------------------ brief
    async def _brief(self, channel: Channel, args: str) -> ChatReply:
        name = _topic_name(args, "brief")
        topics = await self.service.topics()
        tracked = topics.get(topic_key(name))
        if tracked is not None:
            briefing = await self.service.brief(tracked, channel)
        elif self.service.settings.discovery:
            briefing = await self.service.brief(name, channel, discovery=True)
        else:
            return _text(_untracked(name, topics))
        return ChatReply(ReplyKind.BRIEFING, to_text(briefing), briefing)

    # ------------------------------------------------------------------ follow-up questions
    async def _answer(self, channel: Channel, thread_id: str, question: str) -> ChatReply:
        answer = await self.service.answer(channel, question, thread_id=thread_id)
        if answer.reason is Refusal.NO_STORY:
            return _error(ASK_IN_THREAD)
        if answer.reason in (Refusal.TOO_LONG, Refusal.EMPTY):
            return _error(answer.text)
        return ChatReply(ReplyKind.ANSWER, answer.text, answer=answer)

    async def _ask(self, channel: Channel, args: str) -> ChatReply:
        topics = await self.service.topics()
        name, question = split_ask(args, topics)
        tracked = topics.get(topic_key(name))
        if tracked is None and not self.service.settings.discovery:
            return _text(_untracked(name, topics))
        answer = await self.service.answer(channel, question, topic=tracked or name)
        if answer.reason in (Refusal.TOO_LONG, Refusal.EMPTY, Refusal.NO_STORY):
            return _error(answer.text)
        return ChatReply(ReplyKind.ANSWER, answer.text, answer=answer, starts_thread=True)

    # ------------------------------------------------------------------ subscriptions
    async def _subscribe(self, request: ChatRequest, args: str) -> ChatReply:
        args, live, quiet = split_options(args)
        name, schedule_text, zone_text = split_subscribe(args)
        schedule = parse_schedule(schedule_text or DEFAULT_SCHEDULE)
        zone = check_timezone(zone_text) if zone_text else self.default_timezone
        topics = await self.service.topics()
        if topic_key(name) not in topics and not self.service.settings.discovery:
            return _error(_untracked(name, topics))
        subscription = await self.service.subscribe(
            request.channel,
            name,
            schedule=schedule.text,
            timezone=zone,
            created_by=request.user_id,
            nothing_new="silent" if quiet else "line",
            updates="live" if live else "off",
        )
        when = _next_delivery(schedule, subscription.timezone, self.service.clock())
        return _text(
            f"Subscribed this channel to {subscription.topic}: {schedule.text} "
            f"({subscription.timezone}){_options_text(subscription)}. "
            f"The next digest comes {when}."
        )

    async def _unsubscribe(self, channel: Channel, args: str) -> ChatReply:
        name = _topic_name(args, "unsubscribe")
        if not await self.service.unsubscribe(channel, topic_key(name)):
            raise InvalidRequest(
                f"This channel has no subscription to {topic_key(name)!r}; say list to see "
                "its subscriptions."
            )
        return _text(f"Unsubscribed this channel from {topic_key(name)}.")

    async def _list(self, channel: Channel) -> ChatReply:
        subscriptions = await self.service.subscriptions(channel)
        if not subscriptions:
            return _text(
                "This channel has no subscriptions. Subscribe it with, e.g., "
                "subscribe ukraine daily 08:00 Europe/Kyiv."
            )
        now = self.service.clock()
        lines = ["This channel's subscriptions:"]
        lines.extend(_subscription_line(sub, now) for sub in subscriptions)
        return _text("\n".join(lines))

    # ------------------------------------------------------------------ sources
    async def _sources(self, args: str, user_id: str) -> ChatReply:
        name, action, url = split_sources(args)
        if action is None:
            topics = await self.service.topics()
            topic = topics.get(topic_key(name))
            if topic is None:
                return _text(_untracked(name, topics))
            return _text(_sources_text(topic))
        if action == "remove":
            topic = await self.service.remove_chat_source(name, url, removed_by=user_id)
            return _text(f"Removed {_clean_url(url)} from {topic.name}. " + _sources_text(topic))
        topic, found = await self.service.add_chat_source(name, url, added_by=user_id)
        articles = "1 article" if found == 1 else f"{found} articles"
        return _text(
            f"Added {_clean_url(url)} to {topic.name} (the feed has {articles} now). "
            + _sources_text(topic)
        )


# ---------------------------------------------------------------------- parsing
def _is_question(text: str) -> bool:
    """A message of several words ending in a question mark (outside a thread: not a
    command, and not a question the bot can answer there)."""
    return text.rstrip().endswith("?") and len(text.split()) > 1


def _changes(command: str, args: str) -> bool:
    """Whether the command changes something (``sources TOPIC`` alone only reads)."""
    if command != "sources":
        return True
    return any(word.lower() in ("add", "remove") for word in args.split()[-2:])


def _take_quoted(args: str) -> tuple[str | None, str]:
    """A leading double-quoted topic and the rest, or ``(None, args)``."""
    if not args or args[0] not in _QUOTES:
        return None, args
    end = args.find(_QUOTES[args[0]], 1)
    if end == -1:
        raise InvalidRequest(
            "The topic's closing quote is missing; write it like "
            'subscribe "sunday league" weekends 10:00.'
        )
    return args[1:end], args[end + 1 :].strip()


def _topic_name(args: str, command: str) -> str:
    quoted, rest = _take_quoted(args)
    name = quoted if quoted is not None else rest
    if not topic_key(name):
        raise InvalidRequest(f"The topic is empty; name one, e.g. {command} ukraine.")
    return name


def _looks_like_zone(word: str) -> bool:
    return "/" in word or word.upper() == "UTC"


OPTIONS = ("live", "quiet")  # subscribe's last words: live updates, silent when nothing new


def split_options(args: str) -> tuple[str, bool, bool]:
    """``subscribe``'s arguments without its trailing options, and whether they asked for
    ``live`` updates and ``quiet`` (silent) nothing-new digests. The first word is always
    the topic's: ``subscribe live`` subscribes to the topic "live"."""
    words = args.split()
    found: set[str] = set()
    while len(words) > 1 and words[-1].lower() in OPTIONS:
        found.add(words.pop().lower())
    return " ".join(words), "live" in found, "quiet" in found


def split_subscribe(args: str) -> tuple[str, str | None, str | None]:
    """``subscribe``'s arguments as (topic, schedule text or None, time zone or None)."""
    quoted, rest = _take_quoted(args)
    words = rest.split()
    zone = None
    if words and _looks_like_zone(words[-1]) and (quoted is not None or len(words) > 1):
        zone = words.pop()
    if quoted is not None:
        name, tail = quoted, words
    else:
        start = _schedule_start(words)
        name, tail = " ".join(words[:start]), words[start:]
    if not topic_key(name):
        raise InvalidRequest(
            "The topic is empty; name one, e.g. subscribe ukraine daily 08:00 Europe/Kyiv."
        )
    return name, " ".join(tail) or None, zone


def _schedule_start(words: list[str]) -> int:
    """Where the schedule starts in ``subscribe``'s words (``len(words)`` when there is none);
    a time among the topic words is an error naming the likely fix."""
    if words and words[0].lower() in KEYWORDS:
        return 0  # no topic before the schedule
    for index, word in enumerate(words):
        if index > 0 and starts_schedule(word):
            return index
        if _TIME_WORD.fullmatch(word):
            if index >= 2 and near_schedule_word(words[index - 1]):
                parse_schedule(" ".join(words[index - 1 :]))  # a misspelt day: "mnday 08:00"
            parse_schedule(word)  # names the problem: a time needs its days
    return len(words)


def split_ask(args: str, topics: dict[str, Topic]) -> tuple[str, str]:
    """``ask``'s arguments as (topic, question): a double-quoted topic, else the longest run
    of leading words naming a tracked topic, else the first word."""
    quoted, rest = _take_quoted(args)
    if quoted is not None:
        name, question = quoted, rest
    else:
        words = rest.split()
        count = next(
            (n for n in range(len(words) - 1, 1, -1) if topic_key(" ".join(words[:n])) in topics),
            1,
        )
        name, question = " ".join(words[:count]), " ".join(words[count:])
    if not topic_key(name):
        raise InvalidRequest(
            "Name the topic, then the question: ask ukraine what did Press TV say?"
        )
    if not question.strip():
        raise InvalidRequest(
            f"Ask a question after the topic, e.g. ask {topic_key(name)} what happened today?"
        )
    return name, question


def split_sources(args: str) -> tuple[str, str | None, str]:
    """``sources``' arguments as (topic, "add" | "remove" | None, url or "")."""
    quoted, rest = _take_quoted(args)
    words = rest.split()
    action: str | None = None
    url = ""
    if words and words[-1].lower() in ("add", "remove"):
        raise InvalidRequest(
            f"Give the feed's URL after {words[-1].lower()}, e.g. "
            f"sources ukraine {words[-1].lower()} https://example.com/feed.xml."
        )
    if len(words) >= 2 and words[-2].lower() in ("add", "remove"):
        action, url = words[-2].lower(), words[-1]
        words = words[:-2]
    name = quoted if quoted is not None else " ".join(words)
    if quoted is not None and words:
        raise InvalidRequest(
            f"{' '.join(words)!r} after the quoted topic is not add or remove; write e.g. "
            'sources "sunday league" add https://example.com/feed.xml.'
        )
    if not topic_key(name):
        raise InvalidRequest("The topic is empty; name one, e.g. sources ukraine.")
    return name, action, url


# ---------------------------------------------------------------------- replies
def _untracked(name: str, topics: dict[str, Topic]) -> str:
    key = topic_key(name)
    if not topics:
        return (
            f"I don't track {key!r}, no topic is tracked yet, and news discovery is off. "
            f"Someone who may manage this channel can add a feed: sources {key} add <feed url>."
        )
    close = difflib.get_close_matches(key, list(topics), n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]}?" if close else ""
    return (
        f"I don't track {key!r}, and news discovery is off.{hint} "
        f"Tracked topics: {', '.join(sorted(topics))}."
    )


def _clean_url(url: str) -> str:
    return url.strip().strip("<>")


def _sources_text(topic: Topic) -> str:
    found = "feeds: " + ", ".join(topic.sources) if topic.sources else "no feeds"
    discovery = " Discovery is on." if topic.discovery else ""
    return f"{topic.name} has {found}.{discovery}"


def _next_delivery(schedule: Schedule, zone_name: str, now: datetime) -> str:
    zone = ZoneInfo(zone_name)
    local = schedule.next_after(now, zone).astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %H:%M} {local.tzname()}"


def _subscription_line(subscription: Subscription, now: datetime) -> str:
    try:
        schedule = parse_schedule(subscription.schedule)
    except InvalidRequest:
        return (
            f"• {subscription.topic}: {subscription.schedule!r} ({subscription.timezone}) is "
            "not a schedule I understand; subscribe again to replace it."
        )
    when = _next_delivery(schedule, subscription.timezone, now)
    return (
        f"• {subscription.topic}: {schedule.text} ({subscription.timezone})"
        f"{_options_text(subscription)}, next {when}"
    )


def _options_text(subscription: Subscription) -> str:
    """ " · live updates · quiet when nothing new" (empty for the defaults)."""
    parts = []
    if subscription.updates == "live":
        parts.append("live updates")
    if subscription.nothing_new == "silent":
        parts.append("quiet when nothing new")
    return "".join(f" · {part}" for part in parts)


def needs_manager(text: str) -> bool:
    """Whether ``text`` is a command that only a manager may run, so an adapter looks the
    user's roles up (``users.info``) only when they matter."""
    command, _, args = text.strip().partition(" ")
    return command.lower() in _MANAGE and _changes(command.lower(), args.strip())


def command_word(text: str) -> str:
    """The command ``text`` starts with, lower-cased ("" when it is not one of ours)."""
    word = text.strip().partition(" ")[0].lower()
    return word if word in COMMANDS else ""


def slash_to_command(text: str) -> str:
    """A slash command's text as a chat command, the same on every platform with one
    ``/brief``: a command word passes as it is, anything else is a topic to brief
    (``/brief ukraine`` is ``brief ukraine``), and nothing at all is help."""
    cleaned = text.strip()
    if not cleaned:
        return "help"
    if command_word(cleaned):
        return cleaned
    return f"brief {cleaned}"
