"""Where state is kept: the store protocols and their SQLite and Redis backends."""
