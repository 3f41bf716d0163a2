"""Loopback stand-ins for Sentry, Datadog and New Relic intake."""
