"""Who you are and what you may do. Only ``session.py`` (the login glue) imports Streamlit."""
