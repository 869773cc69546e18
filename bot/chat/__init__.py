"""The platform-neutral chat core: one command grammar, permissions and replies for every
chat platform. The Slack and Discord adapters translate their events into a ``ChatRequest``,
call ``ChatCore.handle`` and render the ``ChatReply``; nothing here imports a platform SDK.
"""
