"""The story ``dbaudit demo`` tells: the reference app audited, measured and reported."""
