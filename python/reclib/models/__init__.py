"""The model zoo.  Every model shares the API of :class:`reclib.models.base.Recommender`."""

from reclib.models.als import ALSWrap
from reclib.models.base import Recommender
from reclib.models.cluster import ClusterRec
from reclib.models.hybrid import HybridRecommender
from reclib.models.implicit_wrap import ImplicitWrap
from reclib.models.knn import KNN
from reclib.models.lightfm_wrap import LightFMWrap
from reclib.models.neural import MultVAE, NeuroMF  # torch is imported only when they run
from reclib.models.popularity import PopRec, UserPopRec, Wilson
from reclib.models.random_rec import RandomRec
from reclib.models.rules import AssociationRulesItemRec
from reclib.models.slim import ADMMSLIM, SLIM
from reclib.models.word2vec import Word2VecRec

__all__ = [
    "Recommender", "PopRec", "UserPopRec", "Wilson", "RandomRec", "KNN",
    "ALSWrap", "ImplicitWrap", "LightFMWrap", "HybridRecommender", "NeuroMF", "MultVAE",
    "Word2VecRec", "ClusterRec", "SLIM", "ADMMSLIM", "AssociationRulesItemRec",
]
