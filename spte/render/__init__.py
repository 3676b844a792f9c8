"""Renderers: text, JSON, SVG and C, all reading the same tables."""
