"""Train/test splitters of interaction logs (EVALUATION.md §3), on pandas and Spark alike.

Every splitter is built with its parameters and applied with ``split(log) -> (train, test)``;
a pandas log gives pandas frames, a Spark log lazy Spark frames, and the same seed gives the
same rows on both engines.

* :class:`UserSplitter`: the last (or random) rows of every user;
* :class:`DateSplitter`: every row from a point in time on;
* :class:`RandomSplitter`: random rows;
* :class:`NewUsersSplitter`: the users who appeared last, whole;
* :class:`ColdUserRandomSplitter`: random users, whole.
"""

from reclib.splitters.base import Splitter
from reclib.splitters.by_time import DateSplitter, NewUsersSplitter
from reclib.splitters.randomized import ColdUserRandomSplitter, RandomSplitter
from reclib.splitters.user import UserSplitter

__all__ = [
    "Splitter",
    "UserSplitter",
    "DateSplitter",
    "RandomSplitter",
    "NewUsersSplitter",
    "ColdUserRandomSplitter",
]
