"""Every loss, metric, optimizer and learning-rate schedule class turns into plain data and back
(``serialize`` -> JSON -> ``deserialize``): one row per public class, with arguments other than the
defaults; ``test_the_tables_have_every_class`` fails when a new class has no row."""
import json

import pytest

import graphc as gc

S = gc.optimizers.schedules


@gc.utils.register_serializable(package="ConfigTest")
def halved_error(y_true, y_pred):
    return gc.reduce_mean(gc.square(y_pred - y_true), -1) * 0.5


TABLES = {
    "loss": (gc.losses, gc.losses.Loss, gc.losses.serialize, gc.losses.deserialize, {
        "BinaryCrossentropy": lambda: gc.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
        "CategoricalCrossentropy": lambda: gc.losses.CategoricalCrossentropy(label_smoothing=0.2, reduction="sum"),
        "CosineSimilarity": lambda: gc.losses.CosineSimilarity(axis=1),
        "Hinge": lambda: gc.losses.Hinge(name="h"),
        "Huber": lambda: gc.losses.Huber(delta=0.3),
        "KLDivergence": lambda: gc.losses.KLDivergence(reduction="none"),
        "LogCosh": lambda: gc.losses.LogCosh(),
        "LossFunctionWrapper": lambda: gc.losses.LossFunctionWrapper(halved_error, name="halved"),
        "MeanAbsoluteError": lambda: gc.losses.MeanAbsoluteError(),
        "MeanSquaredError": lambda: gc.losses.MeanSquaredError(name="m"),
        "Poisson": lambda: gc.losses.Poisson(),
        "SparseCategoricalCrossentropy": lambda: gc.losses.SparseCategoricalCrossentropy(from_logits=True),
        "SquaredHinge": lambda: gc.losses.SquaredHinge(reduction="sum"),
        "CategoricalHinge": lambda: gc.losses.CategoricalHinge(name="ch"),
        "MeanAbsolutePercentageError": lambda: gc.losses.MeanAbsolutePercentageError(),
        "MeanSquaredLogarithmicError": lambda: gc.losses.MeanSquaredLogarithmicError(reduction="none"),
    }),
    "metric": (gc.metrics, gc.metrics.Metric, gc.metrics.serialize, gc.metrics.deserialize, {
        "AUC": lambda: gc.metrics.AUC(num_thresholds=50, curve="PR"),
        "Accuracy": lambda: gc.metrics.Accuracy(name="a"),
        "BinaryAccuracy": lambda: gc.metrics.BinaryAccuracy(threshold=0.3),
        "CategoricalAccuracy": lambda: gc.metrics.CategoricalAccuracy(),
        "Mean": lambda: gc.metrics.Mean(name="avg", dtype="float64"),
        "MeanAbsoluteError": lambda: gc.metrics.MeanAbsoluteError(),
        "MeanIoU": lambda: gc.metrics.MeanIoU(num_classes=4, ignore_class=0),
        "MeanMetricWrapper": lambda: gc.metrics.MeanMetricWrapper(halved_error),
        "MeanSquaredError": lambda: gc.metrics.MeanSquaredError(),
        "Precision": lambda: gc.metrics.Precision(thresholds=[0.2, 0.7], class_id=1),
        "Recall": lambda: gc.metrics.Recall(top_k=2),
        "RootMeanSquaredError": lambda: gc.metrics.RootMeanSquaredError(),
        "SparseCategoricalAccuracy": lambda: gc.metrics.SparseCategoricalAccuracy(),
        "Sum": lambda: gc.metrics.Sum(),
        "TopKCategoricalAccuracy": lambda: gc.metrics.TopKCategoricalAccuracy(k=3),
        "SparseTopKCategoricalAccuracy": lambda: gc.metrics.SparseTopKCategoricalAccuracy(k=2, name="top2"),
        "BinaryCrossentropy": lambda: gc.metrics.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
        "CategoricalCrossentropy": lambda: gc.metrics.CategoricalCrossentropy(label_smoothing=0.2),
        "SparseCategoricalCrossentropy": lambda: gc.metrics.SparseCategoricalCrossentropy(from_logits=True),
        "KLDivergence": lambda: gc.metrics.KLDivergence(),
        "Poisson": lambda: gc.metrics.Poisson(dtype="float64"),
        "Hinge": lambda: gc.metrics.Hinge(),
        "LogCoshError": lambda: gc.metrics.LogCoshError(),
        "CosineSimilarity": lambda: gc.metrics.CosineSimilarity(axis=0),
        "SquaredHinge": lambda: gc.metrics.SquaredHinge(),
        "CategoricalHinge": lambda: gc.metrics.CategoricalHinge(name="ch"),
        "MeanAbsolutePercentageError": lambda: gc.metrics.MeanAbsolutePercentageError(),
        "MeanSquaredLogarithmicError": lambda: gc.metrics.MeanSquaredLogarithmicError(dtype="float64"),
        "TruePositives": lambda: gc.metrics.TruePositives(),
        "FalsePositives": lambda: gc.metrics.FalsePositives(thresholds=[0.2, 0.8]),
        "TrueNegatives": lambda: gc.metrics.TrueNegatives(thresholds=0.3, name="tn"),
        "FalseNegatives": lambda: gc.metrics.FalseNegatives(),
    }),
    "optimizer": (gc.optimizers, gc.optimizers.Optimizer, gc.optimizers.serialize, gc.optimizers.deserialize, {
        "Adadelta": lambda: gc.optimizers.Adadelta(0.5, rho=0.8),
        "Adagrad": lambda: gc.optimizers.Adagrad(0.2, initial_accumulator_value=0.3),
        "Adam": lambda: gc.optimizers.Adam(S.CosineDecay(0.1, 100, alpha=0.1), amsgrad=True, clipnorm=1.0),
        "AdamW": lambda: gc.optimizers.AdamW(0.01, weight_decay=0.1, use_ema=True),
        "Adamax": lambda: gc.optimizers.Adamax(0.02, beta_1=0.8),
        "Ftrl": lambda: gc.optimizers.Ftrl(0.1, l1_regularization_strength=0.01, beta=0.5),
        "Lion": lambda: gc.optimizers.Lion(0.001, beta_2=0.95),
        "Nadam": lambda: gc.optimizers.Nadam(S.ExponentialDecay(0.1, 10, 0.5, staircase=True)),
        "RMSprop": lambda: gc.optimizers.RMSprop(0.01, momentum=0.5, centered=True, global_clipnorm=2.0),
        "SGD": lambda: gc.optimizers.SGD(0.1, momentum=0.9, nesterov=True, clipvalue=0.5),
    }),
    "schedule": (S, S.LearningRateSchedule, S.serialize, S.deserialize, {
        "CosineDecay": lambda: S.CosineDecay(0.5, 20, alpha=0.2),
        "ExponentialDecay": lambda: S.ExponentialDecay(0.5, 20, 0.9, staircase=True),
        "InverseTimeDecay": lambda: S.InverseTimeDecay(0.5, 20, 0.9),
        "PiecewiseConstantDecay": lambda: S.PiecewiseConstantDecay([10, 20], [0.3, 0.2, 0.1]),
    }),
}


def _classes(module, base) -> set[str]:
    return {c.__name__ for name in dir(module) if not name.startswith("_")
            and isinstance(c := getattr(module, name), type) and issubclass(c, base) and c is not base}


@pytest.mark.parametrize("kind", sorted(TABLES))
def test_the_tables_have_every_class(kind):
    module, base, _, _, table = TABLES[kind]
    assert _classes(module, base) == set(table), f"{kind}: {sorted(_classes(module, base) ^ set(table))}"


CASES = [(kind, name) for kind in sorted(TABLES) for name in sorted(TABLES[kind][4])]


@pytest.mark.parametrize("kind,name", CASES, ids=[f"{k}-{n}" for k, n in CASES])
def test_serialize_json_deserialize_round_trip(kind, name):
    _, _, serialize, deserialize, table = TABLES[kind]
    obj = table[name]()
    config = serialize(obj)
    assert config["class_name"] == name and json.loads(json.dumps(config)) == config
    again = deserialize(json.loads(json.dumps(config)))
    assert type(again) is type(obj) and serialize(again) == config
