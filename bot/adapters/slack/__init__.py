"""The Slack adapter: Block Kit rendering and the Slack app."""
