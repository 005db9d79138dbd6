"""reclib: recommender systems on pandas and Spark, with a Rust core."""

__version__ = "0.1.0"
