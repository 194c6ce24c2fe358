"""Connection management review: live server settings and connection states."""
