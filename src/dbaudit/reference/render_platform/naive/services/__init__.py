"""Business logic over the DAL: what a screen or an API endpoint needs, assembled in Python."""
