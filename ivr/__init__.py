"""The phone line: flows (the line as data), call (pure logic), store (Redis), dispatcher (worker), tools (CLI)."""
