"""Feature services: what web routes, Slack listeners and RQ jobs call."""
