"""Reusable Streamlit pieces: guards, layout, tables, labels."""
