"""Alerts on a change of a sync's status, sent by webhook (Slack-compatible) and email (SMTP).

  settings.py   the [alerts] table of workspace.toml (config.py parses it through here)
  monitor.py    `Alerts`: observe runs and schedules, raise an alert per change, deliver and retry
  messages.py   what an alert says
  channels.py   sending one alert through one channel

The state they keep is in state/alert_log.py. This file imports nothing: config.py imports settings.py, and the
rest reaches the state store, which imports config.py. Use `sync_core.Alerts`.
"""
