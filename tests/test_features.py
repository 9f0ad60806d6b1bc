"""Preprocessing: fitted on the training split only, robust to unseen data, JSON round-trippable."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

import automl.encoders
import automl.features
from automl.config import TrainConfig
from automl.data import (
    ColumnKind,
    ColumnSpec,
    Schema,
    TaskType,
    infer_schema,
    load_dataset,
)
from automl.encoders import (
    MAX_ONEHOT_LEVELS,
    MAX_TEXT_WORDS,
    DatetimeEncoder,
    NumericEncoder,
    QuantileNormal,
    TextEncoder,
    encoder_from_dict,
    fit_encoder,
)
from automl.errors import DataError
from automl.features import Preprocessor, TensorSplits
from automl.metrics import primary_metric
from automl.networks import LinearSpec
from automl.splits import Splits, split
from automl.train import OptimSpec, fit, network_for


def _schema(task: TaskType = TaskType.BINARY, classes: tuple[str, ...] = ("a", "b"),
            **kinds: ColumnKind) -> Schema:
    columns = tuple(ColumnSpec(name=name, kind=kind) for name, kind in kinds.items())
    return Schema(target="y", task=task, columns=columns,
                  classes=classes if task.is_classification else ())


def _frame(n: int, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "x": rng.normal(size=n) + shift,
        "c": rng.choice(["red", "green", "blue"], size=n),
        "y": rng.choice(["a", "b"], size=n),
    })


# ---------------------------------------------------------------------------------- leakage
def test_fit_uses_training_rows_only() -> None:
    """Validation/test rows shifted by 1e6 change neither the fitted state nor train features."""
    schema = _schema(x=ColumnKind.NUMERIC, c=ColumnKind.CATEGORICAL)
    train = _frame(200)
    normal = Splits(train=train, val=_frame(50, seed=1), test=_frame(50, seed=2), seed=0)
    shifted = Splits(train=train, val=_frame(50, seed=1, shift=1e6),
                     test=_frame(50, seed=2, shift=-1e6), seed=0)

    pre_a, pre_b = Preprocessor(schema).fit(normal.train), Preprocessor(schema).fit(shifted.train)
    tensors_a, tensors_b = pre_a.tensors(normal), pre_b.tensors(shifted)

    assert pre_a.to_dict() == pre_b.to_dict()
    assert pre_b.state["x"].to_dict()["median"] == pytest.approx(float(np.median(train["x"])))
    assert pre_b.state["x"].to_dict()["quantiles"][0] == pytest.approx(train["x"].min())
    assert pre_b.state["x"].to_dict()["quantiles"][-1] == pytest.approx(train["x"].max())
    assert torch.equal(tensors_a.x_train, tensors_b.x_train)
    # Shifted rows land in the tail of the *training* distribution, not re-centred around 0.
    assert tensors_b.x_val[:, 0].min() > 4.0
    assert tensors_b.x_test[:, 0].max() < -4.0


def test_regression_target_is_standardised_with_training_statistics() -> None:
    schema = _schema(TaskType.REGRESSION, x=ColumnKind.NUMERIC)
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"x": rng.normal(size=100), "y": rng.normal(50.0, 10.0, size=100)})
    val = pd.DataFrame({"x": rng.normal(size=20), "y": np.full(20, 1000.0)})
    pre = Preprocessor(schema).fit(train)
    tensors = pre.tensors(Splits(train=train, val=val, test=val.iloc[:0], seed=0))

    assert pre.target_mean == pytest.approx(train["y"].mean())
    assert pre.target_std == pytest.approx(train["y"].std(ddof=0))
    assert tensors.y_train.dtype == torch.float32
    assert float(tensors.y_train.mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(tensors.y_train.std(unbiased=False)) == pytest.approx(1.0, abs=1e-4)
    expected_val = (1000.0 - pre.target_mean) / pre.target_std
    assert torch.allclose(tensors.y_val, torch.full((20,), expected_val), rtol=1e-5)
    assert (tensors.d_out, tensors.n_num, tensors.n_scalings, tensors.d_in) == (1, 1, 2, 2)
    assert (tensors.target_mean, tensors.target_std) == (pre.target_mean, pre.target_std)
    assert tensors.x_test.shape == (0, 2)


def test_constant_regression_target_does_not_divide_by_zero() -> None:
    schema = _schema(TaskType.REGRESSION, x=ColumnKind.NUMERIC)
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [5.0, 5.0, 5.0]})
    pre = Preprocessor(schema).fit(train)
    assert pre.target_std == 1.0
    assert np.all(np.isfinite(pre.encode_target(train["y"])))


# ------------------------------------------------------------------------ robustness at transform
def test_unseen_category_gives_all_zero_one_hot() -> None:
    schema = _schema(c=ColumnKind.CATEGORICAL)
    pre = Preprocessor(schema).fit(pd.DataFrame({"c": ["red", "green", "red", "blue"]}))
    out = pre.transform(pd.DataFrame({"c": ["purple", "green", " red "]}))
    assert out.shape == (3, 3)
    assert out[0].tolist() == [0.0, 0.0, 0.0]
    assert out[1].sum() == 1.0 and out[2].sum() == 1.0  # surrounding blanks are ignored
    assert pre.n_num == 0


def test_missing_numeric_values_get_indicator_and_median() -> None:
    schema = _schema(x=ColumnKind.NUMERIC)
    train = pd.DataFrame({"x": [1.0, 2.0, np.nan, 3.0, 4.0, np.nan, 5.0]})
    pre = Preprocessor(schema).fit(train)
    out = pre.transform(train)
    assert out.shape == (7, 3)  # value (quantile, robust) + missing indicator
    assert pre.n_num == 1
    assert out[:, 2].tolist() == [0, 0, 1, 0, 0, 1, 0]
    median_row = pre.transform(pd.DataFrame({"x": [3.0]}))
    np.testing.assert_allclose(out[2, :2], median_row[0, :2])  # the training median
    assert np.all(np.isfinite(out))


def test_words_among_numbers_are_missing_values_with_their_flag() -> None:
    schema = _schema(x=ColumnKind.NUMERIC)
    train = pd.DataFrame({"x": ["1", "2", "unknown", "3", "4", "n.a.", "5"]})
    pre = Preprocessor(schema).fit(train)
    out = pre.transform(train)
    assert out[:, 2].tolist() == [0, 0, 1, 0, 0, 1, 0]
    np.testing.assert_allclose(out, pre.transform(train.replace(["unknown", "n.a."], None)))


def test_a_one_value_flag_is_learned_from_its_blanks() -> None:
    schema = _schema(g=ColumnKind.BOOLEAN)
    train = pd.DataFrame({"g": ["garage", None, "garage", None]})
    pre = Preprocessor(schema).fit(train)
    assert pre.transform(train)[:, -1].tolist() == [0, 1, 0, 1]  # the flag tells them apart
    assert pre.unreadable(pd.DataFrame({"g": ["carport"]})) == ()  # given, whatever its word


def test_missing_values_unseen_in_training_are_imputed_without_new_columns() -> None:
    schema = _schema(x=ColumnKind.NUMERIC, b=ColumnKind.BOOLEAN)
    pre = Preprocessor(schema).fit(pd.DataFrame({"x": [1.0, 2.0, 3.0], "b": ["yes", "no", "no"]}))
    out = pre.transform(pd.DataFrame({"x": [np.nan, 2.0], "b": [None, "YES"]}))
    assert out.shape == (2, 3)
    assert np.all(np.isfinite(out))
    assert out[:, 2].tolist() == [0.0, 1.0]


def test_missing_categorical_values_become_their_own_level() -> None:
    schema = _schema(c=ColumnKind.CATEGORICAL)
    pre = Preprocessor(schema).fit(pd.DataFrame({"c": ["a", None, "b", "a"]}))
    out = pre.transform(pd.DataFrame({"c": [None, "a"]}))
    assert out.shape == (2, 3)
    assert out.sum(axis=1).tolist() == [1.0, 1.0]
    assert not np.array_equal(out[0], out[1])


def test_boolean_column_maps_to_zero_one_with_missing_indicator() -> None:
    schema = _schema(b=ColumnKind.BOOLEAN)
    frame = pd.DataFrame({"b": ["Yes", "no", None, "yes"]})
    pre = Preprocessor(schema).fit(frame)
    assert pre.transform(frame).tolist() == [[1, 0], [0, 0], [0, 1], [1, 0]]
    # a word that is neither yes nor no was read as no; it is missing now, and said
    new = pd.DataFrame({"b": ["maybe", " NO ", None, "1"]})
    assert pre.transform(new).tolist() == [[0, 1], [0, 0], [0, 1], [1, 0]]
    [unread] = pre.unreadable(new)
    assert str(unread) == "column 'b': 1 value is not a yes/no value (such as 'maybe'); " \
                          "predicted as if missing"
    older = encoder_from_dict({"kind": "boolean", "indicator": True})  # saved before yes_no
    assert older.transform(new.b).binary[1].tolist() == [0, 0, 1, 0]
    assert older.unreadable(new.b).empty


def test_missing_feature_column_raises_data_error_naming_it() -> None:
    schema = _schema(x=ColumnKind.NUMERIC, c=ColumnKind.CATEGORICAL)
    pre = Preprocessor(schema).fit(_frame(20))
    with pytest.raises(DataError, match="'c'"):
        pre.transform(_frame(5).drop(columns="c"))


def test_extra_and_reordered_columns_do_not_change_the_output() -> None:
    schema = _schema(x=ColumnKind.NUMERIC, c=ColumnKind.CATEGORICAL)
    frame = _frame(30)
    pre = Preprocessor(schema).fit(frame)
    shuffled = frame[["c", "y", "x"]].assign(extra=1.0)
    np.testing.assert_array_equal(pre.transform(shuffled), pre.transform(frame))


def test_a_frame_encoded_in_row_blocks_gives_the_matrix_of_one_pass(
        monkeypatch: pytest.MonkeyPatch) -> None:
    schema = _schema(x=ColumnKind.NUMERIC, c=ColumnKind.CATEGORICAL)
    frame = _frame(95).assign(x=lambda f: f["x"].mask(f.index % 7 == 0))  # gaps: a flag column
    pre = Preprocessor(schema).fit(frame)
    whole = pre.transform(frame)
    monkeypatch.setattr(automl.features, "TRANSFORM_ROWS", 10)  # ten blocks, the last of five
    np.testing.assert_array_equal(pre.transform(frame), whole)


# ------------------------------------------------------------------------------- column kinds
def test_datetime_column_expands_to_varying_date_parts() -> None:
    schema = _schema(d=ColumnKind.DATETIME)
    dates = pd.Series(["2020-01-15", "2021-03-02", "2022-07-30", "2023-12-01", "2024-05-19"])
    pre = Preprocessor(schema).fit(pd.DataFrame({"d": dates}))
    # All rows are at midnight: hour never varies, so it is not kept.
    assert list(pre.state["d"].to_dict()["parts"]) == ["year", "month", "day", "dayofweek"]
    out = pre.transform(pd.DataFrame({"d": dates}))
    assert out.shape == (5, 8) and pre.n_num == 4
    assert np.all(np.diff(out[:, 0]) > 0)  # year increases row by row
    assert np.all(np.diff(out[:, 4]) > 0)  # under both scalings
    unparseable = pre.transform(pd.DataFrame({"d": ["not a date"]}))
    assert np.all(np.isfinite(unparseable))


@pytest.mark.parametrize(("dates", "months"), [
    (["12/03/2024", "13/03/2024", "01/09/2024"], [3, 3, 9]),     # day/month: 13 says so
    (["03/12/2024", "03/13/2024", "09/01/2024"], [3, 3, 9]),     # month/day
    (["2024-03-12", "2024-03-13T10:00:00Z", "2024-09-01"], [3, 3, 9]),  # naive and Z mixed
])
def test_a_date_column_is_read_in_one_order(dates: list[str], months: list[int]) -> None:
    """Read one by one, ``12/03/2024`` was 3 December beside ``13/03/2024``, 13 March; the
    order is the column's, kept with the encoder, so new rows are read the same way."""
    encoder = DatetimeEncoder.fit(pd.Series(dates))
    assert automl.encoders._date_parts(pd.Series(dates), encoder.dayfirst)["month"].tolist() \
        == months
    saved = DatetimeEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
    assert saved.dayfirst == encoder.dayfirst == ("13/03/2024" in dates)
    legacy = {k: v for k, v in encoder.to_dict().items() if k != "dayfirst"}
    assert DatetimeEncoder.from_dict(legacy).dayfirst is False  # saved before: month first


def test_high_cardinality_categorical_is_a_level_code_and_a_frequency() -> None:
    rng = np.random.default_rng(0)
    levels = np.array([f"level{i}" for i in range(5000)])
    values = np.concatenate([levels, levels, rng.choice(levels[:100], size=5000), ["once"]])
    train = pd.DataFrame({"c": values})
    pre = Preprocessor(_schema(c=ColumnKind.CATEGORICAL)).fit(train)
    out = pre.transform(train)
    assert out.shape == (15_001, 3)  # the frequency under both scalings, then the code
    assert pre.n_num == 1  # the frequency feature comes first and is continuous
    frequency, codes = out[:, 0], out[:, 2]
    np.testing.assert_array_equal(out[:, 1], frequency)  # already in [0, 1]: both scalings
    assert frequency.min() >= 0.0 and frequency.max() == pytest.approx(1.0)
    common, rare = train["c"] == "level0", train["c"] == "level4999"
    assert frequency[common.to_numpy()].min() > frequency[rare.to_numpy()].max()
    # every level seen twice has a code of its own; the level seen once shares code 0
    assert pre.cardinalities == (5001,)
    assert sorted(np.unique(codes[:-1])) == list(range(1, 5001)) and codes[-1] == 0.0
    assert all(len(set(codes[(train["c"] == lv).to_numpy()])) == 1 for lv in levels[:50])
    assert pre.transform(pd.DataFrame({"c": ["never seen"]})).tolist() == [[0.0, 0.0, 0.0]]


def test_level_codes_come_last_and_survive_a_saved_state() -> None:
    schema = _schema(c=ColumnKind.CATEGORICAL, x=ColumnKind.NUMERIC, b=ColumnKind.CATEGORICAL)
    train = pd.DataFrame({"c": [f"l{i % 40}" for i in range(200)],
                          "x": np.arange(200.0), "b": list("ab") * 100})
    pre = Preprocessor(schema).fit(train)
    again = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    out = pre.transform(train)
    assert again.cardinalities == pre.cardinalities == (41,)
    np.testing.assert_array_equal(again.transform(train), out)
    assert out.shape == (200, 2 * 2 + 2 + 1)  # c's frequency and x, twice; b one-hot; c's code
    assert set(out[:, -1]) == set(map(float, range(1, 41)))
    labelled = train.assign(y="a")
    assert pre.tensors(Splits(train=labelled, val=labelled, test=labelled,
                              seed=0)).cardinalities == (41,)


def test_an_encoder_saved_before_embeddings_one_hots_as_it_did() -> None:
    state = {"kind": "categorical", "levels": ["a", "b"], "log_counts": {"a": 2.0, "b": 1.0}}
    encoder = encoder_from_dict(state)
    assert encoder.to_dict() == state and encoder.cardinality == 0
    cont, bits, codes = encoder.transform(pd.Series(["a", "b", "z"]))
    assert [b.tolist() for b in bits] == [[1, 0, 0], [0, 1, 0]] and codes == ()
    assert cont[0].quantile.tolist() == [1.0, 0.5, 0.0]


def test_low_cardinality_categorical_has_one_column_per_level() -> None:
    train = pd.DataFrame({"c": [f"l{i % MAX_ONEHOT_LEVELS}" for i in range(100)]})
    pre = Preprocessor(_schema(c=ColumnKind.CATEGORICAL)).fit(train)
    out = pre.transform(train)
    assert out.shape == (100, MAX_ONEHOT_LEVELS) and pre.n_num == 0
    assert np.all(out.sum(axis=1) == 1.0)


def test_continuous_features_come_first() -> None:
    schema = _schema(c=ColumnKind.CATEGORICAL, b=ColumnKind.BOOLEAN, x=ColumnKind.NUMERIC)
    frame = pd.DataFrame({"c": ["a", "b", "a", "c"], "b": ["y", "n", "n", "y"],
                          "x": [0.1, 5.0, 2.0, 3.0]})
    out = Preprocessor(schema).fit(frame).transform(frame)
    assert out.shape == (4, 6)
    for column in (0, 1):  # the numeric column, under each scaling
        assert not set(np.unique(out[:, column])) <= {0.0, 1.0}
    assert set(np.unique(out[:, 2:])) <= {0.0, 1.0}


def test_robust_scaling_keeps_a_column_linear_and_clips_outliers_softly() -> None:
    x = np.concatenate([np.arange(100.0), [1e6]])
    pre = Preprocessor(_schema(x=ColumnKind.NUMERIC)).fit(pd.DataFrame({"x": x}))
    robust = pre.transform(pd.DataFrame({"x": [40.0, 50.0, 60.0, 1e6, 1e9]}))[:, 1]
    assert robust[1] == pytest.approx(0.0, abs=1e-6)  # the median
    assert robust[2] - robust[1] == pytest.approx(robust[1] - robust[0], rel=1e-2)  # linear
    assert abs(robust[0]) < 0.25  # 10 units from the median, the IQR is 50
    assert 2.9 < robust[3] <= robust[4] <= 3.0  # outliers end at the soft bound


def test_a_constant_column_scales_to_zero() -> None:
    pre = Preprocessor(_schema(x=ColumnKind.NUMERIC)).fit(pd.DataFrame({"x": [7.0] * 5}))
    out = pre.transform(pd.DataFrame({"x": [7.0, 8.0, np.nan]}))
    assert out[:, 1].tolist() == [0.0, 0.0, 0.0]


def test_a_preprocessor_saved_before_two_scalings_keeps_its_one_block() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "b": ["y", "n", "n", "y"]})
    pre = Preprocessor(_schema(x=ColumnKind.NUMERIC, b=ColumnKind.BOOLEAN)).fit(frame)
    saved = pre.to_dict()
    del saved["scalings"]  # what bundles saved before this version hold
    old = Preprocessor.from_dict(saved)
    assert old.n_scalings == 1
    np.testing.assert_array_equal(old.transform(frame), pre.transform(frame)[:, [0, 2]])


# ------------------------------------------------------------------------------- persistence
def test_to_dict_from_dict_round_trip_gives_identical_transform() -> None:
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({
        "x": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
        "c": rng.choice(["a", "b", None], size=n),
        "h": [f"h{i}" for i in rng.integers(0, 100, size=n)],
        "d": pd.date_range("2020-01-01", periods=n, freq="13h").astype(str),
        "b": rng.choice(["true", "false"], size=n),
        "y": rng.normal(size=n),
    })
    schema = _schema(TaskType.REGRESSION, x=ColumnKind.NUMERIC, c=ColumnKind.CATEGORICAL,
                     h=ColumnKind.CATEGORICAL, d=ColumnKind.DATETIME, b=ColumnKind.BOOLEAN)
    pre = Preprocessor(schema).fit(frame)
    restored = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))

    new_rows = frame.assign(c=["zzz"] * n, x=frame["x"] * 3)
    for rows in (frame, new_rows):
        np.testing.assert_array_equal(restored.transform(rows), pre.transform(rows))
    np.testing.assert_array_equal(restored.encode_target(frame["y"]),
                                  pre.encode_target(frame["y"]))
    assert restored.n_num == pre.n_num
    assert restored.schema == schema
    assert restored.describe() == pre.describe()


# ---------------------------------------------------------------------- tensors from a real CSV
@pytest.mark.parametrize(("task", "d_out"), [("binary", 2), ("multiclass", 3), ("regression", 1)])
def test_tensors_from_csv_have_consistent_shapes(make_csv: Callable[..., Path], task: str,
                                                 d_out: int) -> None:
    dataset = load_dataset(make_csv(task=task, n_rows=90, missing=True), "y")
    splits = split(dataset.frame, dataset.schema, seed=0, val_fraction=0.2, test_fraction=0.2)
    pre = Preprocessor(dataset.schema).fit(splits.train)
    tensors = pre.tensors(splits)

    assert isinstance(tensors, TensorSplits)
    # x1 and x2 under two scalings (+ x1's missing flag if train has gaps), three colours
    n_flags = int(splits.train["x1"].isna().any())
    assert tensors.d_in == 4 + n_flags + 3 and tensors.n_num == 2
    assert tensors.d_out == d_out
    for part, frame in (("train", splits.train), ("val", splits.val), ("test", splits.test)):
        x, y = getattr(tensors, f"x_{part}"), getattr(tensors, f"y_{part}")
        assert x.shape == (len(frame), tensors.d_in) and x.dtype == torch.float32
        assert y.shape == (len(frame),) and torch.isfinite(x).all()
        expected = torch.int64 if d_out > 1 else torch.float32
        assert y.dtype == expected
    if d_out > 1:
        assert set(tensors.y_train.tolist()) == set(range(d_out))


def test_docstring_example_of_inferred_schema() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0, None, 4.0], "c": list("abab"), "y": [0, 1, 0, 1]})
    assert Preprocessor(infer_schema(df, "y")).fit(df).transform(df).shape == (4, 5)


# ------------------------------------------------------------------------------- column encoders
def test_a_column_of_durations_reads_new_rows_as_it_learned_them() -> None:
    """Fitted on ``2h 50m`` beside ``45m``, a column reads a batch of ``45m`` alone (which,
    on its own, would be 45 of a unit ``m``) as 0.75 hours, after a save and load too."""
    train = pd.Series(["2h 50m", "19h", "45m", "1h 5m", "7h"] * 20)
    encoder = encoder_from_dict(json.loads(json.dumps(NumericEncoder.fit(train).to_dict())))
    assert isinstance(encoder, NumericEncoder) and encoder.hours
    batch = pd.Series(["45m", "45m", "n/a"])
    got = encoder.transform(batch).continuous[0].quantile
    assert got[0] == got[1] == encoder.transform(train.iloc[[2]]).continuous[0].quantile[0] < 0
    assert encoder.unreadable(batch).tolist() == ["n/a"]


def test_a_saved_state_of_the_first_format_gives_the_same_features() -> None:
    """A bundle's column JSON as saved before the typed encoders: the outputs it gave then."""
    state = {"kind": "numeric", "quantiles": [0.0, 0.0, 1.0, 2.5, 10.0], "median": 1.0,
             "indicator": True}
    encoder = encoder_from_dict(state)
    assert isinstance(encoder, NumericEncoder) and encoder.to_dict() == state
    x = pd.Series([-1.0, 0.0, 0.5, 1.0, 2.5, 3.0, 10.0, 11.0, np.nan])
    cont, bits, _ = encoder.transform(x)
    before = [-5.1993375821928165, -1.1503493803760079, -0.31863936396437514, 0.0,
              0.6744897501960817, 0.7279132908816441, 5.199337582290661, 5.199337582290661, 0.0]
    np.testing.assert_allclose(cont[0].quantile, before, rtol=0, atol=1e-6)
    assert bits[0].tolist() == [0] * 8 + [1]


def test_every_encoder_reads_back_its_own_json() -> None:
    frame = pd.DataFrame({"x": [1.0, None, 3.0], "d": ["2020-01-01", "2021-06-02", None],
                          "b": ["yes", None, "no"], "c": ["a", "b", "a"]})
    frame["t"] = ["Mr. John Smith", "Miss Ann Smith", None]
    kinds = {"x": ColumnKind.NUMERIC, "d": ColumnKind.DATETIME, "b": ColumnKind.BOOLEAN,
             "c": ColumnKind.CATEGORICAL, "t": ColumnKind.TEXT}
    for name, kind in kinds.items():
        encoder = fit_encoder(kind, frame[name])
        saved = json.loads(json.dumps(encoder.to_dict()))
        assert saved["kind"] == kind.value
        assert encoder_from_dict(saved) == encoder


def test_typical_values_are_ones_the_column_could_hold() -> None:
    assert fit_encoder(ColumnKind.NUMERIC, pd.Series([1.0, 5.0, 2.0])).typical() == 2.0
    assert fit_encoder(ColumnKind.CATEGORICAL, pd.Series(list("abb"))).typical() == "b"
    assert fit_encoder(ColumnKind.BOOLEAN, pd.Series(["yes", "no"])).typical() == "true"
    assert fit_encoder(ColumnKind.DATETIME, pd.Series(["2020-01-01"])).typical() == "2000-01-01"
    assert fit_encoder(ColumnKind.TEXT, pd.Series(["a red car", "a blue car"])).typical() == ""


def test_quantiles_use_every_training_row() -> None:
    """scikit-learn subsamples 10 000 rows by default; here every row counts, as before."""
    x = np.random.default_rng(0).lognormal(size=30_000)
    fitted = QuantileNormal.fit(x)
    np.testing.assert_allclose(fitted.quantiles, np.quantile(x, np.linspace(0, 1, 1000)),
                               rtol=1e-12)
    assert QuantileNormal.fit(np.array([np.nan, 4.0])).quantiles == (4.0, 4.0)


def test_tied_ends_keep_their_mid_rank() -> None:
    """Zero-inflated values share a middling score; scikit-learn's transform would give -5.2."""
    x = np.where(np.arange(1000) < 400, 0.0, np.linspace(1.0, 2.0, 1000))
    z = QuantileNormal.fit(x).normal(np.array([0.0, 2.0]))
    assert z[0] == pytest.approx(-0.84, abs=0.01) and z[1] > 3.0


def test_a_signal_in_every_level_of_a_many_level_categorical_is_learned(
        one_torch_thread: None) -> None:
    """80 levels, each with its own effect on the target: the network's validation ROC-AUC comes
    within 0.03 of the true effects' own (one-hot on the 32 most frequent levels lost 48)."""
    rng = np.random.default_rng(0)
    effects = rng.normal(0.0, 1.5, 80)
    codes = rng.integers(0, 80, 6000)
    y = np.where(rng.random(6000) < 1 / (1 + np.exp(-effects[codes])), "b", "a")
    frame = pd.DataFrame({"c": [f"level{c}" for c in codes], "y": y})
    train, val = frame.iloc[:4200], frame.iloc[4200:]
    pre = Preprocessor(_schema(c=ColumnKind.CATEGORICAL)).fit(train)
    data = pre.tensors(Splits(train=train, val=val, test=val, seed=0))
    metric = primary_metric(TaskType.BINARY, "roc_auc")
    torch.manual_seed(0)
    result = fit(network_for(LinearSpec(), data), data, task=TaskType.BINARY, metric=metric,
                 optim=OptimSpec(name="adamw", lr=0.05, batch_size=128),
                 cfg=TrainConfig(max_epochs=15, patience=15, device="cpu"))
    ceiling = roc_auc_score(val["y"] == "b", effects[codes[4200:]])
    assert pre.cardinalities == (81,)
    assert result.best_score > ceiling - 0.03


def test_numbers_in_another_unit_than_the_training_ones_are_not_read() -> None:
    """Fitted on ``1248 CC``, a column reads ``1200 cc`` and ``1500`` but not ``1.2 L`` (it
    was read as 1.2 CC), after a save and load too; a model saved before units were kept reads
    any. Fitted on ``GB`` and ``TB``, it reads ``512 MB`` as 0.512 GB, but not ``3 kg``.
    Fitted on ratings out of 5, it does not read ``9/10`` as 9."""
    train = pd.Series([f"{800 + 7 * i} CC" for i in range(100)])
    fitted = NumericEncoder.fit(train)
    encoder = encoder_from_dict(json.loads(json.dumps(fitted.to_dict())))
    assert encoder == fitted and fitted.units == ("cc",)
    batch = pd.Series(["1200 cc", "1.2 L", "1500", "n/a"])
    assert encoder.unreadable(batch).tolist() == ["1.2 L", "n/a"]
    got = encoder.transform(batch).continuous[0].quantile
    assert got[1] == got[3] == encoder.transform(pd.Series([None])).continuous[0].quantile[0]
    assert got[0] != got[1]
    older = {k: v for k, v in fitted.to_dict().items() if k != "units"}
    assert encoder_from_dict(older).unreadable(batch).tolist() == ["n/a"]
    storage = NumericEncoder.fit(pd.Series([f"{2 ** (i % 5 + 5)} GB" for i in range(99)]
                                           + ["1 TB"]))
    assert storage.units == ("gb", "tb")
    assert storage.unreadable(pd.Series(["512 MB", "2 TB", "3 kg"])).tolist() == ["3 kg"]
    robust = storage.transform(pd.Series(["512 MB", "0.512 GB", "1 TB", "1000 GB"])
                               ).continuous[0].robust
    assert robust[0] == robust[1] and robust[2] == robust[3] and robust[0] != robust[2]
    ratings = NumericEncoder.fit(pd.Series([f"{i / 10:.1f}/5" for i in range(10, 50)]))
    assert ratings.units == ("/5",)
    assert ratings.unreadable(pd.Series(["4.5/5", "4", "9/10"])).tolist() == ["9/10"]


# ------------------------------------------------------------------------------------- text
def _names(n: int, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    titles, firsts = rng.choice(["Mr.", "Mrs.", "Miss"], n), rng.choice(["Ann", "Bob"], n)
    return pd.Series([f"{t} {f} Surname{i}"
                      for i, (t, f) in enumerate(zip(titles, firsts, strict=True))])


def test_a_text_column_is_its_frequent_words_learned_from_training_rows_only() -> None:
    """Words in 2% of the training rows or more become 0/1 features; a word in every row
    (``dear``), a stop word (``the``), a rare one (each surname) and one only later rows hold
    (``doctor``) do not."""
    train = pd.DataFrame({"t": "dear " + pd.Series(["the ", ""] * 100) + _names(200),
                          "y": ["a", "b"] * 100})
    pre = Preprocessor(_schema(t=ColumnKind.TEXT)).fit(train)
    words = pre.state["t"].words
    assert sorted(words) == ["ann", "bob", "miss", "mr", "mrs"]
    counts = [train["t"].str.lower().str.contains(rf"\b{w}\b").sum() for w in words]
    assert counts == sorted(counts, reverse=True)  # most frequent first
    later = pd.DataFrame({"t": ["DOCTOR Bob (mr) Smith", None, ""]})
    np.testing.assert_array_equal(pre.transform(later), [
        [w in ("bob", "mr") for w in words], [0] * 5, [0] * 5])
    assert pre.describe() == [("t", "text", f"5 words in 2% of the rows or more, each 0/1: "
                                            f"{', '.join(words)}")]


def test_a_text_column_keeps_its_most_frequent_words_only() -> None:
    """Word ``wJ`` is in the rows ``i`` with ``i % 50 <= J``: ``w49`` in all (dropped), then
    the next most frequent are kept, and named so, most frequent first."""
    many = pd.Series([" ".join(f"w{j}" for j in range(i % 50, 50)) for i in range(500)])
    encoder = TextEncoder.fit(many)
    assert encoder.words == tuple(f"w{j}" for j in range(48, 48 - MAX_TEXT_WORDS, -1))
    assert encoder.describe() == (f"{MAX_TEXT_WORDS} words in 2% of the rows or more, each 0/1: "
                                  "w48, w47, w46, w45, w44, ...")


def test_a_text_column_without_a_frequent_word_gives_no_feature() -> None:
    unique = pd.Series([f"note number{i} alone{i}" for i in range(200)])
    for values in (unique.str.replace("note ", ""), pd.Series([None, "", "!"] * 10)):
        encoder = TextEncoder.fit(values)
        assert encoder.words == () and encoder.transform(values) == ([], [], ())
        assert encoder.describe() == "no word in 2% of the rows: nothing learned"


def test_a_word_that_tells_the_class_is_learned(one_torch_thread: None) -> None:
    """The class follows the title in a name column (as survival on the Titanic): the linear
    model reads it from the words (every name is unique, so as a category it would be lost)."""
    names = _names(2000)
    women = names.str.startswith(("Mrs.", "Miss"))
    rng = np.random.default_rng(1)
    y = np.where(women ^ (rng.random(2000) < 0.1), "b", "a")
    frame = pd.DataFrame({"t": names, "y": y})
    train, val = frame.iloc[:1500], frame.iloc[1500:]
    pre = Preprocessor(_schema(t=ColumnKind.TEXT)).fit(train)
    data = pre.tensors(Splits(train=train, val=val, test=val, seed=0))
    torch.manual_seed(0)
    result = fit(network_for(LinearSpec(), data), data, task=TaskType.BINARY,
                 metric=primary_metric(TaskType.BINARY, "accuracy"),
                 optim=OptimSpec(name="adamw", lr=0.05, batch_size=128),
                 cfg=TrainConfig(max_epochs=10, patience=10, device="cpu"))
    assert result.best_score > 0.85  # 0.9 of the labels follow the title
