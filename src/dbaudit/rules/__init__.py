"""The rule set: one module per rule, and ``registry.RULES``, the table of them."""
