"""``matching-omniglot`` and ``matching-fce-omniglot``: matching networks on Omniglot (Vinyals et al.
2016), with simple embeddings (f = g = conv4) and with full-context embeddings (bidirectional LSTM
over the support set, attention LSTM with ``processing_steps`` steps for the queries).

Training. The simple recipe's 1-shot model trains like the ``protonet-omniglot`` one, on 60-way
1-shot 5-query episodes (with one example per class, a matching network with simple embeddings is a
prototypical network with a scaled cosine); ``1shot-5way`` is the paper's 5-way 1-shot setting,
recorded with the setting "trained 5-way"; the 5-shot model trains on 5-way 5-shot 15-query
episodes; 6000 episodes each. The FCE recipe trains both its models on 5-way episodes (its LSTM reads
the support set as a sequence, whose length would change between training and test otherwise).
Adam 1e-3 halved every 2000 episodes, train+val classes; the same models are tested on 20-way
episodes. Support sets keep the class-by-class order of :func:`~hands_on_meta.episodes.episode_dataset`
at training and test time (the full-context embedding depends on that order; notebook 4.8 measures
what shuffling it at test time does).

Two deviations from the paper, both about the cosine. Signed embeddings (``final_relu``, default
False): the encoder is conv4 without the ReLU of its last block. After a ReLU and max-pooling every
embedding is non-negative, so any two make an angle of at most 90 degrees and the cosine uses only
[0, 1]. A learned scale (``learned_scale``, initialised at 10) multiplies the cosines before the
softmax: a softmax over plain cosines can never be sharp (at most e^2 : 1). Notebook 4.9 measures
both; ``--set final_relu=1`` trains the usual conv4, ``--set learned_scale=0`` the paper's plain cosine.
RESULTS.md ("How the settings were chosen") has the pilot runs behind these choices.
"""
from typing import ClassVar

from hands_on_meta.layers import conv4
from hands_on_meta.learners import MatchingNet
from hands_on_meta.recipes import register
from hands_on_meta.recipes.fewshot import (
    STANDARD_EVAL,
    TRANSDUCTIVE_EVAL,
    Evaluation,
    FewShotRecipe,
    ModelTraining,
)


@register
class MatchingOmniglot(FewShotRecipe):
    name = "matching-omniglot"
    algorithm = "MatchingNet"
    description = "matching network (simple embeddings), Omniglot 5/20-way 1/5-shot, 600 test episodes each"
    fce = False
    defaults: ClassVar[dict] = {
        **FewShotRecipe.defaults,
        "train": {"1shot": ModelTraining(60, 1, 5, steps=6000), "5shot": ModelTraining(5, 5, 15, steps=6000),
                  "1shot-5way": ModelTraining(5, 1, 15, steps=6000)},
        "eval": [*STANDARD_EVAL, *(Evaluation(way, 1, "1shot-5way", setting="trained 5-way") for way in (5, 20)),
                 *TRANSDUCTIVE_EVAL],
        "steps": 6000, "steps_per_epoch": 500, "processing_steps": 5, "learned_scale": 10.0,
        "batch_norm": "fused", "final_relu": False,
    }
    quick: ClassVar[dict] = {**FewShotRecipe.quick,
                             "train": {"1shot": ModelTraining(10, 1, 5), "5shot": ModelTraining(5, 5, 5),
                                       "1shot-5way": ModelTraining(5, 1, 15)}}

    def build(self, cfg, name, setting):
        encoder = conv4(batch_norm=cfg["batch_norm"], final_relu=bool(cfg["final_relu"]))
        return MatchingNet(encoder, fce=self.fce, processing_steps=cfg["processing_steps"],
                           learned_scale=cfg["learned_scale"] or None)


@register
class MatchingFCEOmniglot(MatchingOmniglot):
    name = "matching-fce-omniglot"
    algorithm = "MatchingNet-FCE"
    description = ("matching network with full-context embeddings, Omniglot 5/20-way 1/5-shot, "
                   "600 test episodes each")
    fce = True
    defaults: ClassVar[dict] = {**MatchingOmniglot.defaults, "train": {"1shot": ModelTraining(5, 1, 15), "5shot": ModelTraining(5, 5, 15)},
                                "eval": STANDARD_EVAL + TRANSDUCTIVE_EVAL, "batch_norm": "exact", "steps": 6000}
    quick: ClassVar[dict] = {**FewShotRecipe.quick, "train": {"1shot": ModelTraining(5, 1, 15),
                                                              "5shot": ModelTraining(5, 5, 5)}}
