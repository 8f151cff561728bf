"""The state stores actors use: the journal (SQLite) and the balance board (in memory or shared memory)."""
