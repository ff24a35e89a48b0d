"""The line as data: flow files, the agents directory, hours, audio, time to a person, and the live catalog."""
