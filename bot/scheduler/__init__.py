"""The scheduler: polling sources, digests on each subscription's schedule, live updates,
each delivered exactly once (``bot.scheduler.deliver``), run by one leader per database."""
