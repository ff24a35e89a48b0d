"""The ops tools: the `ivr` command, flow pictures and the terminal phone."""
