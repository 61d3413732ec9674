"""Meta-learners: ``keras.Model`` subclasses that train and test on episodes.

Two families, told apart by their base class: :class:`GradientBasedLearner` (an inner loop adapts a
network to each task: MAML and its variants) and :class:`MetricLearner` (examples are embedded and
compared: ProtoNet, matching, relation and Siamese networks).
"""
from hands_on_meta.learners.adml import ADML
from hands_on_meta.learners.base import EpisodicLearner
from hands_on_meta.learners.caml import CAML
from hands_on_meta.learners.gradient_based import GradientBasedLearner
from hands_on_meta.learners.imaml import IMAML
from hands_on_meta.learners.maml import MAML
from hands_on_meta.learners.matching import MatchingNet
from hands_on_meta.learners.meta_sgd import MetaSGD
from hands_on_meta.learners.metric import MetricLearner
from hands_on_meta.learners.proto_maml import ProtoMAML
from hands_on_meta.learners.protonet import GaussianProtoNet, ProtoNet, SemiProtoNet
from hands_on_meta.learners.relation import RelationNet, ZeroShotRelationNet
from hands_on_meta.learners.reptile import Reptile
from hands_on_meta.learners.siamese import SiameseNetwork

__all__ = ["ADML", "CAML", "IMAML", "MAML", "EpisodicLearner", "GaussianProtoNet", "GradientBasedLearner",
           "MatchingNet", "MetaSGD", "MetricLearner", "ProtoMAML", "ProtoNet", "RelationNet", "Reptile",
           "SemiProtoNet", "SiameseNetwork", "ZeroShotRelationNet"]
