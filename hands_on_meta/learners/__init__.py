"""Meta-learners: ``keras.Model`` subclasses that train and test on episodes."""
from hands_on_meta.learners.base import EpisodicLearner
from hands_on_meta.learners.maml import MAML
from hands_on_meta.learners.protonet import ProtoNet

__all__ = ["MAML", "EpisodicLearner", "ProtoNet"]
