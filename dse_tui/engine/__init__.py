"""The in-process engine. Never imports Textual; talks to the UI through plain events."""
