"""The leaderboard's Alembic revisions, oldest first by number (loaded by path, not imported)."""
