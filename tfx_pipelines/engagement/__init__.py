"""The engagement model: P(open within 24h | user, channel, content, send hour)."""
