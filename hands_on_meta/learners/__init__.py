"""Meta-learners: ``keras.Model`` subclasses that train and test on episodes."""
from hands_on_meta.learners.adml import ADML
from hands_on_meta.learners.base import EpisodicLearner
from hands_on_meta.learners.caml import CAML
from hands_on_meta.learners.imaml import IMAML
from hands_on_meta.learners.maml import MAML
from hands_on_meta.learners.matching import MatchingNet
from hands_on_meta.learners.meta_sgd import MetaSGD
from hands_on_meta.learners.proto_maml import ProtoMAML
from hands_on_meta.learners.protonet import GaussianProtoNet, ProtoNet, SemiProtoNet
from hands_on_meta.learners.relation import RelationNet, ZeroShotRelationNet
from hands_on_meta.learners.reptile import Reptile
from hands_on_meta.learners.siamese import SiameseNetwork

__all__ = ["MAML", "EpisodicLearner", "ProtoNet"]
__all__ += ["MatchingNet"]
__all__ += ["SiameseNetwork"]
__all__ += ["RelationNet", "ZeroShotRelationNet"]
__all__ += ["GaussianProtoNet", "SemiProtoNet"]
__all__ += ["MetaSGD", "Reptile"]
__all__ += ["CAML"]
__all__ += ["ADML", "IMAML", "ProtoMAML"]
