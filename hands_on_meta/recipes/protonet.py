"""``protonet-omniglot``: prototypical networks on Omniglot (Snell et al. 2017, sec. 3.1).

The conv4 encoder (64-d embeddings), squared Euclidean distance, 60-way training episodes with 5
query points per class, one model trained with 1 shot and one with 5 (shot matched to the test
shot, as in the paper), Adam 1e-3 halved every 2000 episodes, trained on the train+val classes.
"""
from hands_on_meta.layers import conv4
from hands_on_meta.learners import ProtoNet
from hands_on_meta.recipes import register
from hands_on_meta.recipes.fewshot import FewShotRecipe


@register
class ProtoNetOmniglot(FewShotRecipe):
    name = "protonet-omniglot"
    algorithm = "ProtoNet"
    description = "prototypical network, Omniglot 5/20-way 1/5-shot, 600 test episodes each"

    def build(self, cfg, way, shot):
        return ProtoNet(conv4())
