"""Tables and storage. Nothing here imports Streamlit."""
