"""Applications that ship with dbaudit: the demo, the test corpus and the benchmark workload."""
