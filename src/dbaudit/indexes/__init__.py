"""Index health checks and the planner-judged index advisor."""
