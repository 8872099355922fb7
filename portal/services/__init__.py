"""What happens: one module per capability, plain functions, no Streamlit."""
