"""The line's metrics, computed from calls' records (pure): count problems, not calls."""
