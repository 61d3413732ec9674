"""Reusable Keras layers written with ``keras.ops`` (serializable)."""
from hands_on_meta.layers.context import ContextConcat
from hands_on_meta.layers.conv import conv4, conv_block
from hands_on_meta.layers.distances import (
                                            CosineSimilarity,
                                            DiagonalMahalanobis,
                                            GaussianEmbedding,
                                            PairDistance,
                                            SquaredEuclidean,
                                            class_prototypes,
                                            soft_kmeans_refine,
)
from hands_on_meta.layers.matching import (
                                            AttentionLSTM,
                                            FullContextSupport,
                                            attention_readout,
)
from hands_on_meta.layers.normalization import ExactBatchNormalization, FusedBatchNormalization
from hands_on_meta.layers.relation import (
                                            RelationModule,
                                            RelationPairs,
                                            relation_embedding,
)
from hands_on_meta.layers.siamese import (
                                            ContrastiveLoss,
                                            contrastive_loss,
                                            softmax_distance_loss,
                                            triplet_loss,
)

__all__ = [
                                            "ExactBatchNormalization",
                                            "FusedBatchNormalization",
                                            "RelationModule",
                                            "RelationPairs",
                                            "SquaredEuclidean",
                                            "class_prototypes",
                                            "conv4",
                                            "conv_block",
                                            "relation_embedding",
]
__all__ += ["AttentionLSTM", "CosineSimilarity", "FullContextSupport", "attention_readout"]
__all__ += ["ContrastiveLoss", "PairDistance", "contrastive_loss", "softmax_distance_loss", "triplet_loss"]
__all__ += ["DiagonalMahalanobis", "GaussianEmbedding", "soft_kmeans_refine"]
__all__ += ["ContextConcat"]
