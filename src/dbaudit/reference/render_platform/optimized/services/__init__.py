"""Business logic over the batched DAL: fetch by sets, group in Python, run independent queries
concurrently."""
