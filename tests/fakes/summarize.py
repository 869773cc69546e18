"""Realistic multi-outlet articles for the summarize, relevance and render tests.

One developing story (a dockworkers' strike at the fictional Port of Halvern) as six outlets
reported it on one morning:

1. Meridian Wire's own report (the wire original),
2. Coastal Daily Record: an exact syndicated copy (``copy_of`` the wire, plus a newsletter line),
3. Northport Gazette: a shortened copy crediting the wire that dedupe did not link,
4. Harbor Times: an independent rewrite that shares the wire's quotes,
5. Valley Post: independent reporting, with a claim only it makes (Kestrel Lines diverting
   ships to Ostrava),
6. Evening Courier: a feed teaser crediting the wire (the page could not be fetched).

Plus two unrelated stories for relevance: a tram-line budget vote, and a stadium story that
mentions a "strike" in passing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain import Article, Story


def _paragraphs(*paragraphs: str) -> str:
    return "\n\n".join(paragraphs)


WIRE_TEXT = _paragraphs(
    (
        "HALVERN (Meridian Wire) — Dockworkers at the Port of Halvern walked off the job on "
        "Monday, halting cargo operations at the country's second-busiest container terminal "
        "after talks over pay and automation collapsed."
    ),
    (
        "The Halvern Dockworkers Union said about 3,200 of its members joined the strike, "
        "which began at 6 a.m. and is set to last 72 hours."
    ),
    (
        '"We have been patient for 18 months, and the port authority has given us nothing but'
        ' excuses," union leader Sam Beck told reporters outside the main gate.'
    ),
    (
        "Port authority chief Lena Ortiz said the authority had offered a 4% pay rise over "
        'two years and called the walkout "irresponsible at a time when shippers are already '
        'under strain."'
    ),
    (
        "At least 14 container ships were waiting at anchor outside the harbour by Monday "
        "afternoon, according to vessel-tracking data."
    ),
    (
        "The port handles roughly a fifth of the country's container imports, and economists "
        "warned that a prolonged stoppage could push up prices for consumer goods."
    ),
    "Reporting by Anna Keller; Editing by Tom Hale",
)

HARBOR_TEXT = _paragraphs(
    "By Maria Santos",
    (
        "Cargo handling at Halvern's port ground to a halt on Monday as thousands of "
        "dockworkers went on strike in a dispute over wages and the introduction of automated"
        " cranes."
    ),
    (
        '"We have been patient for 18 months, and the port authority has given us nothing but'
        ' excuses," said Sam Beck, who leads the Halvern Dockworkers Union.'
    ),
    "The port authority said it had offered workers a 4% pay rise spread over two years.",
    (
        "Ortiz, the authority's chief executive, described the strike as \"irresponsible at a "
        'time when shippers are already under strain."'
    ),
    (
        'Businesses near the harbour said trade had slowed sharply since the morning. "Nobody'
        ' is coming through the gates today," said Elif Demir, who runs a cafe opposite the '
        "container terminal."
    ),
    "Harbor Times reporter Maria Santos contributed to this report from Halvern.",
)

VALLEY_TEXT = _paragraphs(
    (
        "HALVERN — Shipping lines began diverting vessels away from Halvern on Monday as a "
        "strike by dockworkers shut the port's container terminals."
    ),
    (
        "Kestrel Lines, the region's largest container carrier, said three of its ships bound"
        " for Halvern had been rerouted to the port of Ostrava, about 180 kilometres to the "
        "north."
    ),
    (
        "At least 14 ships were anchored outside the harbour on Monday afternoon, harbour "
        "master Jonas Berg said."
    ),
    (
        "The union has said the strike will last 72 hours, but Berg said the backlog could "
        "take a week to clear."
    ),
    ("Transport minister Ilse Varga urged both sides to return to talks as soon as possible."),
    "Sign up for our newsletter to get the day's top stories in your inbox.",
)


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, 3, hour, minute, tzinfo=UTC)


def port_strike_articles() -> list[Article]:
    """The six articles of the port strike story, in publication order."""
    wire = Article(
        url="https://meridianwire.example/world/halvern-dockworkers-strike",
        title="Dockworkers strike halts cargo at Port of Halvern",
        text=WIRE_TEXT,
        outlet="Meridian Wire",
        published_at=_at(6, 10),
        origins=("Meridian Wire",),
        id=101,
    )
    syndicated = Article(
        url="https://coastaldailyrecord.example/news/2025/03/03/halvern-port-strike",
        title="Halvern dockworkers strike over pay, halting cargo - Coastal Daily Record",
        text=WIRE_TEXT
        + "\n\nSign up for our morning newsletter to get the day's top stories in your inbox.",
        outlet="Coastal Daily Record",
        published_at=_at(7, 5),
        origins=("Meridian Wire",),
        copy_of=101,
        id=102,
    )
    shortened = Article(
        url="https://northportgazette.example/business/port-of-halvern-shut",
        title="Port of Halvern shut as dockworkers strike",
        text="\n\n".join(WIRE_TEXT.split("\n\n")[:4])
        + "\n\n© 2025 Northport Gazette. All rights reserved.",
        outlet="Northport Gazette",
        published_at=_at(7, 40),
        origins=("Meridian Wire",),
        id=103,
    )
    rewrite = Article(
        url="https://harbortimes.example/2025/03/03/halvern-port-strike-union",
        title="Halvern port strike: union says members 'patient for 18 months'",
        text=HARBOR_TEXT,
        outlet="Harbor Times",
        published_at=_at(9, 15),
        id=104,
    )
    independent = Article(
        url="https://valleypost.example/news/ships-diverted-halvern-strike",
        title="Ships diverted to Ostrava as Halvern port strike bites",
        text=VALLEY_TEXT,
        outlet="Valley Post",
        published_at=_at(11, 30),
        id=105,
    )
    teaser = Article(
        url="https://eveningcourier.example/halvern-dockworkers-walk-out",
        title="Halvern dockworkers walk out as talks collapse",
        text="HALVERN (Meridian Wire) — Dockworkers at the Port of Halvern walked off the job on "
        "Monday, halting cargo operations at the country's second-busiest container terminal "
        "after talks over pay and automation collapsed.",
        outlet="Evening Courier",
        published_at=_at(12, 0),
        full_text=False,
        origins=("Meridian Wire",),
        id=106,
    )
    return [wire, syndicated, shortened, rewrite, independent, teaser]


def port_strike_story() -> Story:
    articles = port_strike_articles()
    return Story(
        id="s-0a1b2c3d4e5f",
        title=articles[0].title,
        created_at=_at(6, 10),
        updated_at=_at(12, 0),
        article_ids=[a.id for a in articles if a.id is not None],
    )


TRAM_TEXT = _paragraphs(
    (
        "The Halvern city council on Monday approved a 240 million euro budget for a new tram"
        " line linking the central station with the university campus."
    ),
    (
        "Councillors voted 31 to 12 in favour of the plan after a debate that lasted more "
        "than five hours."
    ),
    (
        "Construction is due to begin next spring, and the first trams are expected to run in"
        " 2028, Mayor Petra Lind said."
    ),
    "Opponents argued that the money would be better spent repairing existing bus routes.",
)

STADIUM_TEXT = _paragraphs(
    (
        "Fans at Halvern's Riverside Stadium were evacuated on Sunday evening after a power "
        "failure plunged the ground into darkness during the second half."
    ),
    (
        "Officials said a lightning strike on a nearby substation had cut electricity to the "
        "stadium and several surrounding streets."
    ),
    "The match will be replayed next month, the league said in a statement.",
    "Nobody was injured, police said.",
)


def tram_articles() -> list[Article]:
    return [
        Article(
            url="https://valleypost.example/news/halvern-tram-budget",
            title="Halvern council approves budget for new tram line",
            text=TRAM_TEXT,
            outlet="Valley Post",
            published_at=_at(10, 0),
            id=201,
        )
    ]


def stadium_articles() -> list[Article]:
    return [
        Article(
            url="https://harbortimes.example/sport/riverside-stadium-blackout",
            title="Riverside Stadium evacuated after blackout halts match",
            text=STADIUM_TEXT,
            outlet="Harbor Times",
            published_at=_at(8, 0),
            id=301,
        )
    ]
