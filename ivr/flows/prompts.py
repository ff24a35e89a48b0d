"""Sentences the line itself says on every flow, so ivr.flows.timing can count how long they take."""

ZERO_OUT_HINT = "Press 0 or say agent at any time for a person."
CONNECTING_LINE = "Connecting you to a person."  # said when a caller presses 0
