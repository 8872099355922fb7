"""Benchmarks that drive the screens (AppTest): tooling for the command line, outside the services,
which never import Streamlit."""
