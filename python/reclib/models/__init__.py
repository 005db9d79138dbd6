"""The model zoo.  Every model shares the API of :class:`reclib.models.base.Recommender`."""

from reclib.models.base import Recommender
from reclib.models.knn import KNN
from reclib.models.popularity import PopRec, UserPopRec, Wilson
from reclib.models.random_rec import RandomRec

__all__ = ["Recommender", "PopRec", "UserPopRec", "Wilson", "RandomRec", "KNN"]
