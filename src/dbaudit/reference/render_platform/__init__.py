"""The reference application: an AI image-rendering product's data layer, written twice.

``naive`` has the mistakes dbaudit looks for; ``optimized`` has them fixed. Both share
``schema`` (tables), ``datagen`` (deterministic data), ``results`` (what operations return)
and ``operations`` (the table of operations with their expected round trips).
"""
