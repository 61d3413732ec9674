"""``protonet-omniglot``: prototypical networks on Omniglot (Snell et al. 2017, sec. 3.1).

The conv4 encoder (64-d embeddings), squared Euclidean distance, 60-way training episodes with 5
query points per class, one model trained with 1 shot and one with 5 (shot matched to the test
shot, as in the paper), Adam 1e-3 halved every 2000 episodes, trained on the train+val classes.
Budget: 6,000 episodes for the 1-shot model (about 29 minutes on 2 CPU cores) and 5,000 for the 5-shot
one (the paper trains until the validation loss stops improving, far longer).
"""
from typing import ClassVar

from hands_on_meta.layers import conv4
from hands_on_meta.learners import GaussianProtoNet, ProtoNet, SemiProtoNet
from hands_on_meta.recipes import register
from hands_on_meta.recipes.fewshot import Evaluation, FewShotRecipe, ModelTraining
from hands_on_meta.transductive import Transductive


@register
class ProtoNetOmniglot(FewShotRecipe):
    name = "protonet-omniglot"
    algorithm = "ProtoNet"
    description = "prototypical network, Omniglot 5/20-way 1/5-shot, 600 test episodes each"
    defaults: ClassVar[dict] = {**FewShotRecipe.defaults, "train": {"1shot": ModelTraining(60, 1, 5, steps=6000),
                                          "5shot": ModelTraining(60, 5, 5, steps=5000)},
                                "steps": 6000}

    def build(self, cfg, name, setting):
        return ProtoNet(conv4(batch_norm="fused"))


@register
class GaussianProtoNetOmniglot(FewShotRecipe):
    """``gaussian-protonet-omniglot``: Gaussian prototypical networks (Fort 2017), radius and
    diagonal precision, against a plain ProtoNet with the same encoder and the same budget. The
    encoder's 64 outputs are shared out: radius = 63-d embedding + 1 precision unit, diagonal = 32 + 32,
    plain = 64-d embedding (so all three have exactly the same parameters)."""

    name = "gaussian-protonet-omniglot"
    algorithm = "Gaussian ProtoNet"
    algorithms: ClassVar[dict] = {"plain": "ProtoNet", "radius": "Gaussian ProtoNet (radius)",
                                  "diagonal": "Gaussian ProtoNet (diagonal)"}
    description = "Gaussian ProtoNet (radius, diagonal) vs ProtoNet, same budget, Omniglot"
    defaults: ClassVar[dict] = {
        **FewShotRecipe.defaults, "steps": 2000,
        "train": {name: ModelTraining(20, 5, 5) for name in ("plain", "radius", "diagonal")},
        "eval": [Evaluation(way, shot, name, setting="same-budget comparison")
                 for name in ("plain", "radius", "diagonal") for way, shot in ((5, 1), (20, 1), (20, 5))]}

    def build(self, cfg, name, setting):
        encoder = conv4(batch_norm="fused")
        return ProtoNet(encoder) if name == "plain" else GaussianProtoNet(encoder, covariance=name)


UNLABELED = {"n_unlabeled": 5, "n_distractors": 5}


@register
class SemiProtoNetOmniglot(FewShotRecipe):
    """``semi-protonet-omniglot``: semi-supervised prototypical networks (Ren et al. 2018). Training
    and test episodes carry 5 unlabelled drawings of each episode class plus 5 of each of 5 distractor
    classes. Compared at 5-way 1-shot: ProtoNet (ignores unlabelled data), ProtoNet with soft k-means
    refinement at test time only, and models trained with refinement, without and with a distractor
    cluster; all with the same budget."""

    name = "semi-protonet-omniglot"
    algorithm = "Semi-supervised ProtoNet"
    algorithms: ClassVar[dict] = {"protonet": "ProtoNet", "softkmeans": "Semi-supervised ProtoNet (soft k-means)",
                                  "distractor": "Semi-supervised ProtoNet (soft k-means + distractor cluster)"}
    variant_algorithms: ClassVar[dict] = {"refine": "ProtoNet + test-time soft k-means"}
    description = "semi-supervised ProtoNet with unlabelled data and distractors, Omniglot 5-way 1-shot"
    defaults: ClassVar[dict] = {
        **FewShotRecipe.defaults, "steps": 2000, "test_query": 10,
        "train": {name: ModelTraining(20, 1, 5) for name in ("protonet", "softkmeans", "distractor")},
        "eval": [Evaluation(5, 1, "protonet", setting="no unlabelled data")] + [
            Evaluation(5, 1, model, variant, setting, options)
            for model, variant in (("protonet", "refine"), ("softkmeans", ""), ("distractor", ""))
            for options, setting in ((UNLABELED, "5 unlabelled/class + 5 distractor classes"),
                                     ({"n_unlabeled": 5}, "5 unlabelled/class, no distractors"))]}

    def build(self, cfg, name, setting):
        if name == "protonet":
            return ProtoNet(conv4(batch_norm="fused"))
        return SemiProtoNet(conv4(batch_norm="fused"), distractor_cluster=name == "distractor")

    def episode_options(self, cfg, name):
        return {} if name == "protonet" else UNLABELED

    def variants(self, cfg):
        """Also ``"refine"``: a ProtoNet's encoder in a semi-supervised ProtoNet (soft k-means at test time only)."""
        return {"transductive": Transductive, "refine": lambda protonet: SemiProtoNet(protonet.encoder)}
