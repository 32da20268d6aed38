"""What DigitPad keeps: the corrections database (SQLAlchemy Core tables, Alembic migrations, an engine whose
queries run off the event loop)."""
