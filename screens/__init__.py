"""Textual screens and their stylesheets (installed as dse_tui.screens)."""
